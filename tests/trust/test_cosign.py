"""cosign signatures made as SIGNATURE_SPEC.md says, checked against registered keys: every key
type cosign signs with verifies; a wrong key, a changed payload, a payload for another digest
or a missing annotation do not, each with its reason."""

from __future__ import annotations

import base64

import pytest

from moorage.trust.signatures import cosign
from tests.trust.signature_craft import (
    COSIGN_SIG,
    cosign_sign,
    key_id,
    new_key,
    public_pem,
    simple_signing,
)

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def _trusted(*keys: object) -> list[cosign.TrustedKey]:
    return [cosign.load_public_key(public_pem(k).encode()) for k in keys]


@pytest.mark.parametrize("kind", ["ecdsa", "rsa", "ed25519"])
def test_a_signature_verifies_with_its_key(kind: str) -> None:
    key = new_key(kind)
    payload = simple_signing(DIGEST)
    verdict = cosign.verify(
        payload, {COSIGN_SIG: cosign_sign(key, payload)}, DIGEST, _trusted(new_key(), key), "m"
    )
    assert verdict.verified, verdict.reason
    assert verdict.signers == (key_id(key),)
    assert verdict.kind == "cosign" and verdict.reason == ""


def test_key_id_is_the_sha256_of_the_spki() -> None:
    key = new_key()
    assert cosign.load_public_key(public_pem(key).encode()).key_id == key_id(key)


def test_a_wrong_key_does_not_verify() -> None:
    payload = simple_signing(DIGEST)
    verdict = cosign.verify(
        payload, {COSIGN_SIG: cosign_sign(new_key(), payload)}, DIGEST, _trusted(new_key()), "m"
    )
    assert not verdict.verified
    assert verdict.reason == "no registered public key verifies the signature"
    assert verdict.signers == ()


def test_no_keys_registered_says_so() -> None:
    payload = simple_signing(DIGEST)
    verdict = cosign.verify(payload, {COSIGN_SIG: cosign_sign(new_key(), payload)}, DIGEST, [], "m")
    assert not verdict.verified and "no cosign public key is registered" in verdict.reason


def test_a_changed_payload_does_not_verify() -> None:
    key = new_key()
    signature = cosign_sign(key, simple_signing(DIGEST))
    changed = simple_signing(DIGEST, reference="registry.example.com/team/other")
    verdict = cosign.verify(changed, {COSIGN_SIG: signature}, DIGEST, _trusted(key), "m")
    assert not verdict.verified
    assert verdict.reason == "no registered public key verifies the signature"


def test_a_signature_for_another_digest_names_the_signer_but_is_not_verified() -> None:
    key = new_key()
    payload = simple_signing(OTHER)
    verdict = cosign.verify(
        payload, {COSIGN_SIG: cosign_sign(key, payload)}, DIGEST, _trusted(key), "m"
    )
    assert not verdict.verified
    assert verdict.reason == f"the payload signs {OTHER}, not this manifest"
    assert verdict.signers == (key_id(key),)


@pytest.mark.parametrize(
    ("annotations", "payload", "reason"),
    [
        ({}, simple_signing(DIGEST), f"the layer has no {COSIGN_SIG} annotation"),
        (
            {COSIGN_SIG: "not base64!"},
            simple_signing(DIGEST),
            "the signature annotation is not base64",
        ),
        ({COSIGN_SIG: "AAAA"}, b"[1, 2", "the payload is not JSON"),
        ({COSIGN_SIG: "AAAA"}, b"[" * 200_000, "the payload is not JSON"),
        (
            {COSIGN_SIG: "AAAA"},
            b'{"critical": {"type": "atomic container signature"}}',
            "the payload's critical.type is not 'cosign container image signature'",
        ),
    ],
)
def test_malformed_signatures_say_why(
    annotations: dict[str, str], payload: bytes, reason: str
) -> None:
    verdict = cosign.verify(payload, annotations, DIGEST, _trusted(new_key()), "m")
    assert not verdict.verified and verdict.reason == reason


def test_the_spec_examples_capitalised_digest_key_is_read() -> None:
    key = new_key()
    payload = simple_signing(DIGEST).replace(b"docker-manifest-digest", b"Docker-manifest-digest")
    verdict = cosign.verify(
        payload, {COSIGN_SIG: cosign_sign(key, payload)}, DIGEST, _trusted(key), "m"
    )
    assert verdict.verified


def test_tag_scheme() -> None:
    assert cosign.signature_tag(DIGEST) == f"sha256-{'ab' * 32}.sig"


@pytest.mark.parametrize(
    "pem",
    [
        "hello",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
        + "\n-----END PUBLIC KEY-----\n",
    ],
)
def test_bad_pem_is_refused(pem: str) -> None:
    with pytest.raises(cosign.KeyInvalid):
        cosign.load_public_key(pem.encode())
