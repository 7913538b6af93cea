"""What one signature comes to in a signature view: its kind (``notary``, ``cosign``,
``notation``), who signed (Notary roles, cosign key ids, Notation certificate subjects),
whether it verified, and why not. Plain values: the API models build the wire shape."""

from __future__ import annotations

from dataclasses import dataclass

NOTARY, COSIGN, NOTATION = "notary", "cosign", "notation"


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str
    signers: tuple[str, ...]
    verified: bool
    reason: str = ""  # empty when verified
    source: str = ""  # where it was found: a signature manifest's digest, a Notary role


def refused(kind: str, reason: str, source: str, signers: tuple[str, ...] = ()) -> Verdict:
    return Verdict(kind, signers, False, reason, source)
