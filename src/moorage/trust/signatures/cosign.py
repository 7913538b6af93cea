"""cosign signatures (sigstore's SIGNATURE_SPEC.md), read from the manifests that carry them and
checked against registered public keys.

A cosign signature manifest is an OCI image manifest whose layers are simple-signing payloads
(``application/vnd.dev.cosign.simplesigning.v1+json``: JSON whose
``critical.image.docker-manifest-digest`` names the signed manifest and whose
``critical.type`` is ``cosign container image signature``); each layer's annotation
``dev.cosignproject.cosign/signature`` holds the base64 signature over the payload's exact
bytes. It is found at the tag ``sha256-<hex>.sig`` of the signed digest, or as a referrer
(artifactType ``application/vnd.dev.cosign.artifact.sig.v1+json``, ``subject`` the image).

The signature carries no key identity; each registered key is tried. Schemes, as cosign's
default verifiers use them: ECDSA (any curve) with SHA-256 and an ASN.1 DER signature, RSA
PKCS#1 v1.5 with SHA-256, Ed25519 over the payload. A key's id is the SHA-256 (hex) of its DER
SubjectPublicKeyInfo. Keyless signatures (a Fulcio certificate in the layer's annotations and
a Rekor bundle) are not verified: they show as not verified, with that reason.

Written by hand (not sigstore-python): that library verifies keyless bundles against the
public-good Fulcio and Rekor; here only the published payload format and the registry's own
keys count.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from moorage.trust.signatures.verdict import COSIGN, Verdict, refused

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIGNATURE_TYPE = "cosign container image signature"
MAX_PAYLOAD = 64 * 1024  # a simple-signing payload is a few hundred bytes
MIN_RSA_BITS = 2048


class KeyInvalid(ValueError):
    """A public key that does not parse or cannot be used."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    key_id: str
    key: PublicKeyTypes


def signature_tag(digest: str) -> str:
    """The tag cosign's tag-based discovery puts a digest's signatures under."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}.sig"


def key_id(key: PublicKeyTypes) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def describe(key: PublicKeyTypes) -> str:
    """A key's type in words (the trust store's ``subject`` of a key)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(key).__name__


def load_public_key(pem: bytes) -> TrustedKey:
    """A PEM ``PUBLIC KEY`` (PKIX) of a type cosign signs with; ``KeyInvalid`` otherwise."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyInvalid("not a PEM public key (-----BEGIN PUBLIC KEY-----)") from exc
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise KeyInvalid(f"RSA keys need at least {MIN_RSA_BITS} bits")
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise KeyInvalid("cosign keys are ECDSA, RSA or Ed25519")
    return TrustedKey(key_id(key), key)


def _verifies(key: PublicKeyTypes, signature: bytes, payload: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, payload)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _lower_keys(value: Any) -> dict[str, Any]:
    """A JSON object with its keys lower-cased (the spec's own example spells
    ``Docker-manifest-digest``; cosign reads either, as Go's JSON decoder does)."""
    return {str(k).lower(): v for k, v in value.items()} if isinstance(value, dict) else {}


def signed_digest(payload: bytes) -> str:
    """The manifest digest a simple-signing payload names; ``ValueError`` with the reason when
    it is no cosign payload."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError("the payload is not JSON") from exc
    critical = _lower_keys(_lower_keys(doc).get("critical"))
    if critical.get("type") != SIGNATURE_TYPE:
        raise ValueError(f"the payload's critical.type is not {SIGNATURE_TYPE!r}")
    digest = _lower_keys(critical.get("image")).get("docker-manifest-digest")
    if not isinstance(digest, str) or not digest:
        raise ValueError("the payload names no critical.image.docker-manifest-digest")
    return digest


def verify(
    payload: bytes,
    annotations: dict[str, str],
    target: str,
    keys: Sequence[TrustedKey],
    source: str,
) -> Verdict:
    """One signed layer: ``payload`` its bytes, ``annotations`` the layer's, ``target`` the
    digest it should sign; verified when a registered key verifies it and it names ``target``."""
    encoded = annotations.get(SIGNATURE_ANNOTATION)
    if not encoded:
        return refused(COSIGN, f"the layer has no {SIGNATURE_ANNOTATION} annotation", source)
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return refused(COSIGN, "the signature annotation is not base64", source)
    try:
        named = signed_digest(payload)
    except ValueError as exc:
        return refused(COSIGN, str(exc), source)
    signer = next((k for k in keys if _verifies(k.key, signature, payload)), None)
    if signer is None:
        if not keys:
            reason = "no cosign public key is registered for this repository or its namespace"
        elif CERTIFICATE_ANNOTATION in annotations:
            reason = (
                "keyless (certificate) signatures are not verified; no registered key verifies it"
            )
        else:
            reason = "no registered public key verifies the signature"
        return refused(COSIGN, reason, source)
    if named != target:
        return refused(
            COSIGN, f"the payload signs {named[:80]}, not this manifest", source, (signer.key_id,)
        )
    return Verdict(COSIGN, (signer.key_id,), True, "", source)
