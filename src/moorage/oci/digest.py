"""Content digests (``algorithm:encoded``) as the OCI image spec defines them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from moorage.errors import DigestInvalid

# The registered algorithms and the exact shape of their encoded part.
ALGORITHMS: dict[str, re.Pattern[str]] = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, value: str) -> Digest:
        """Parse and validate; any malformed or unsupported digest is DIGEST_INVALID (400)."""
        if not _GRAMMAR.fullmatch(value):
            raise DigestInvalid("invalid digest format", detail={"digest": value[:200]})
        algorithm, _, encoded = value.partition(":")
        pattern = ALGORITHMS.get(algorithm)
        if pattern is None:
            raise DigestInvalid(
                f"unsupported digest algorithm {algorithm!r}", detail={"digest": value[:200]}
            )
        if not pattern.fullmatch(encoded):
            raise DigestInvalid("invalid digest encoding", detail={"digest": value[:200]})
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())


def is_digest(reference: str) -> bool:
    """True when a manifest reference is a digest rather than a tag."""
    return ":" in reference
