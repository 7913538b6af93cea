"""Notation JWS signatures made as the Notary Project's specification says, checked against
registered roots: a good chain verifies; an untrusted root, an expired leaf, a changed
payload, another digest, an expired signature, an unknown critical header or a wrong key do
not, each with its reason."""

from __future__ import annotations

import base64
import datetime as dt
import json

import cbor2

from moorage.trust.signatures import notation, notation_cose
from tests.trust.signature_craft import NOW, OCI_MANIFEST, Pki, cose_envelope, jws_envelope

DIGEST = "sha256:" + "ab" * 32
TARGET = notation.Target(OCI_MANIFEST, DIGEST, 1234)
DESCRIPTOR = {"mediaType": OCI_MANIFEST, "digest": DIGEST, "size": 1234}
PKI = Pki()


def _verify(envelope: bytes, *roots: Pki, now: dt.datetime = NOW) -> notation.Verdict:
    return notation.verify_jws(envelope, TARGET, [p.root for p in roots], now, "sig")


def test_a_signature_chaining_to_a_registered_root_verifies() -> None:
    verdict = _verify(jws_envelope(PKI, DESCRIPTOR), Pki(), PKI)
    assert verdict.verified, verdict.reason
    assert verdict.kind == "notation"
    assert verdict.signers == (PKI.subject,)
    assert "CN=wabbit-networks.io" in verdict.signers[0]


def test_an_untrusted_root_is_not_verified() -> None:
    verdict = _verify(jws_envelope(PKI, DESCRIPTOR), Pki())
    assert not verdict.verified
    assert verdict.reason.startswith("the certificate chain is not trusted")
    assert verdict.signers == (PKI.subject,)


def test_no_roots_registered_says_so() -> None:
    verdict = _verify(jws_envelope(PKI, DESCRIPTOR))
    assert not verdict.verified and "no root certificate is registered" in verdict.reason


def test_an_expired_leaf_is_not_verified() -> None:
    expired = Pki(leaf_days=-1)
    verdict = _verify(jws_envelope(expired, DESCRIPTOR), expired)
    assert not verdict.verified
    assert "not valid at validation time" in verdict.reason


def test_a_chain_valid_once_is_refused_later() -> None:
    verdict = _verify(jws_envelope(PKI, DESCRIPTOR), PKI, now=NOW + dt.timedelta(days=60))
    assert not verdict.verified and "not trusted" in verdict.reason


def test_a_changed_payload_is_not_verified() -> None:
    doc = json.loads(jws_envelope(PKI, DESCRIPTOR))
    other = {"targetArtifact": {**DESCRIPTOR, "size": 1}}
    doc["payload"] = base64.urlsafe_b64encode(json.dumps(other).encode()).rstrip(b"=").decode()
    verdict = _verify(json.dumps(doc).encode(), PKI)
    assert not verdict.verified
    assert verdict.reason == "the signature does not verify with the signing certificate"


def test_a_signature_for_another_digest_is_not_verified() -> None:
    other = {**DESCRIPTOR, "digest": "sha256:" + "cd" * 32}
    verdict = _verify(jws_envelope(PKI, other), PKI)
    assert not verdict.verified
    assert verdict.reason == f"the payload signs {other['digest']}, not this manifest"


def test_another_size_is_not_verified() -> None:
    verdict = _verify(jws_envelope(PKI, {**DESCRIPTOR, "size": 99}), PKI)
    assert not verdict.verified and "size or mediaType" in verdict.reason


def test_an_expired_signature_is_not_verified() -> None:
    verdict = _verify(jws_envelope(PKI, DESCRIPTOR, expiry=NOW - dt.timedelta(hours=1)), PKI)
    assert not verdict.verified and verdict.reason.startswith("the signature expired at")
    fresh = _verify(jws_envelope(PKI, DESCRIPTOR, expiry=NOW + dt.timedelta(days=1)), PKI)
    assert fresh.verified, fresh.reason


def test_an_unknown_critical_header_fails() -> None:
    envelope = jws_envelope(
        PKI, DESCRIPTOR, extra_critical={"io.cncf.notary.verificationPlugin": "com.example"}
    )
    verdict = _verify(envelope, PKI)
    assert not verdict.verified and "is not understood here" in verdict.reason


def test_a_leaf_from_another_key_does_not_verify() -> None:
    doc = json.loads(jws_envelope(PKI, DESCRIPTOR))
    stranger = Pki()
    doc["header"]["x5c"][0] = json.loads(jws_envelope(stranger, DESCRIPTOR))["header"]["x5c"][0]
    verdict = _verify(json.dumps(doc).encode(), PKI, stranger)
    assert not verdict.verified
    assert verdict.reason == "the signature does not verify with the signing certificate"


def test_envelopes_that_are_not_notation_jws_say_why() -> None:
    doc = json.loads(jws_envelope(PKI, DESCRIPTOR))
    assert "not flattened" in _verify(json.dumps({**doc, "signatures": []}).encode(), PKI).reason
    assert "x5c" in _verify(json.dumps({**doc, "header": {}}).encode(), PKI).reason
    assert "is not JSON" in _verify(b"{", PKI).reason
    assert "is not JSON" in _verify(b"[" * 200_000, PKI).reason  # too deep: refused, no crash


def _cose(envelope: bytes, *roots: Pki, now: dt.datetime = NOW) -> notation.Verdict:
    return notation.verify(
        notation_cose.parse_cose, envelope, TARGET, [p.root for p in roots], now, "sig"
    )


def test_a_cose_envelope_verifies_by_the_same_rules() -> None:
    verdict = _cose(cose_envelope(PKI, DESCRIPTOR), PKI)
    assert verdict.verified, verdict.reason
    assert verdict.signers == (PKI.subject,)
    assert "not trusted" in _cose(cose_envelope(PKI, DESCRIPTOR), Pki()).reason
    other = cose_envelope(PKI, {**DESCRIPTOR, "digest": "sha256:" + "cd" * 32})
    assert "not this manifest" in _cose(other, PKI).reason
    expired = cose_envelope(PKI, DESCRIPTOR, expiry=NOW - dt.timedelta(hours=1))
    assert _cose(expired, PKI).reason.startswith("the signature expired at")


def test_a_changed_cose_payload_does_not_verify() -> None:
    tag = cbor2.loads(cose_envelope(PKI, DESCRIPTOR))
    body, unprotected, _, signature = tag.value
    changed = json.dumps({"targetArtifact": {**DESCRIPTOR, "size": 1}}).encode()
    forged = cbor2.dumps(cbor2.CBORTag(18, [body, unprotected, changed, signature]))
    verdict = _cose(forged, PKI)
    assert not verdict.verified
    assert verdict.reason == "the signature does not verify with the signing certificate"


def test_what_is_not_a_cose_sign1_says_why() -> None:
    assert _cose(b"\xff\x00", PKI).reason == "the envelope is not CBOR"
    assert "COSE_Sign1_Tagged" in _cose(cbor2.dumps([1, 2, 3, 4]), PKI).reason
    tag = cbor2.loads(cose_envelope(PKI, DESCRIPTOR))
    detached = cbor2.dumps(cbor2.CBORTag(18, [tag.value[0], tag.value[1], None, tag.value[3]]))
    assert _cose(detached, PKI).reason == "a detached payload is not supported"
