"""Digests as the OCI image spec defines them: ``algorithm:encoded``, registered algorithms only."""

from __future__ import annotations

import hashlib

import pytest

from moorage.errors import DigestInvalid
from moorage.oci.digest import Digest, is_digest

HEX256 = hashlib.sha256(b"hello").hexdigest()
HEX512 = hashlib.sha512(b"hello").hexdigest()


def test_sha256() -> None:
    d = Digest.parse(f"sha256:{HEX256}")
    assert d.algorithm == "sha256"
    assert d.hex == HEX256
    assert str(d) == f"sha256:{HEX256}"
    assert d == Digest.of(b"hello")
    assert d == Digest.parse(str(d))
    assert hash(d) == hash(Digest.of(b"hello"))


def test_sha512() -> None:
    d = Digest.parse(f"sha512:{HEX512}")
    assert (d.algorithm, d.hex) == ("sha512", HEX512)
    assert d == Digest.of(b"hello", "sha512")
    assert d != Digest.of(b"hello")


def test_of_empty() -> None:
    assert str(Digest.of(b"")) == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256",
        "sha256:",
        ":" + HEX256,
        HEX256,
        "sha256:" + HEX256[:-1],  # too short
        "sha256:" + HEX256 + "0",  # too long
        "sha256:" + HEX256[:-1] + "g",  # not hex
        "sha256:" + HEX512,  # sha512 length under sha256
        "sha512:" + HEX256,  # sha256 length under sha512
        "sha256::" + HEX256,
        "sha256:" + HEX256 + "\n",
        " sha256:" + HEX256,
        "sha256 :" + HEX256,
        "sha256:" + HEX256 + " ",
        "sha256:" + HEX256[:32] + "/" + HEX256[33:],
        "sha256:../../etc/passwd",
        "SHA256:" + HEX256,  # the algorithm part is lower case
        "sha256-:" + HEX256,
        "+sha256:" + HEX256,
        "sha256:" + HEX256 + "\x00",
    ],
)
def test_malformed(value: str) -> None:
    with pytest.raises(DigestInvalid):
        Digest.parse(value)


@pytest.mark.parametrize(
    "value",
    [
        "sha256:" + HEX256.upper(),
        "sha256:" + HEX256[:10].upper() + HEX256[10:],
        "sha512:" + HEX512.upper(),
    ],
)
def test_uppercase_hex_is_invalid(value: str) -> None:
    # The spec: sha256/sha512 encoded parts MUST be lower-case hex.
    with pytest.raises(DigestInvalid):
        Digest.parse(value)


@pytest.mark.parametrize(
    "value",
    [
        "md5:" + hashlib.md5(b"x").hexdigest(),
        "sha1:" + hashlib.sha1(b"x").hexdigest(),
        "sha384:" + hashlib.sha384(b"x").hexdigest(),
        "blake3:" + "a" * 64,
        "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
    ],
)
def test_unsupported_algorithm(value: str) -> None:
    with pytest.raises(DigestInvalid, match="unsupported"):
        Digest.parse(value)


def test_error_detail_is_bounded() -> None:
    with pytest.raises(DigestInvalid) as info:
        Digest.parse("sha256:" + "a" * 10_000)
    assert info.value.status == 400
    assert info.value.code == "DIGEST_INVALID"
    assert len(info.value.detail["digest"]) <= 200


def test_unknown_algorithm_for_of() -> None:
    with pytest.raises(ValueError):
        Digest.of(b"x", "no-such-hash")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (f"sha256:{HEX256}", True),
        ("sha256:short", True),  # digest-shaped: parsed (and refused) as a digest, not a tag
        ("latest", False),
        ("v1.2.3", False),
        ("sha256", False),
    ],
)
def test_is_digest(reference: str, expected: bool) -> None:
    assert is_digest(reference) is expected
