"""Whether a Docker Content Trust signer is one an administrator registered.

A Notary signature verifies against the keys its GUN's own root names, and that root belongs to
whoever first published trust data for the repository: anyone with push access. So a verified
Notary target shows *that* the keys of the GUN signed it, not that someone the administrators
trust did. A Notary signer is *registered* when a valid signature of its role comes from a key
registered in the repository's (or its namespace's) signature trust: the same public key (its
SHA-256 SubjectPublicKeyInfo key id, as for cosign), or a certificate equal to, or issued by,
a registered certificate. The pull policy counts only registered signers; cosign and Notation
signatures verify only against registered material in the first place.

The checks are ``cryptography``'s (key serialisation, ``verify_directly_issued_by``); only the
rule of which signature counts is written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from moorage.trust.keys import X509_TYPES, KeyUnusable, PublicKey, verify
from moorage.trust.metadata import MetadataInvalid, Signed
from moorage.trust.signatures import cosign
from moorage.trust.signatures.trust_stores import Material

_PEM_BLOCK = b"-----BEGIN "


def _issued_by_registered(cert: x509.Certificate, roots: tuple[x509.Certificate, ...]) -> bool:
    for root in roots:
        if cert == root:
            return True
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return True
    return False


def _registered(public: Any, cert: x509.Certificate | None, material: Material) -> bool:
    try:
        if cosign.key_id(public) in {k.key_id for k in material.keys}:
            return True
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return cert is not None and _issued_by_registered(cert, material.roots)


def key_registered(key: PublicKey, material: Material) -> bool:
    """Whether the Notary ``key`` is registered material (or certified by it)."""
    try:
        public = key.crypto_key()
        cert = key.certificate() if key.keytype in X509_TYPES else None
    except KeyUnusable:
        return False
    return _registered(public, cert, material)


def role_signed_by_registered(
    meta: Signed, keys: Mapping[str, PublicKey], material: Material
) -> bool:
    """Whether a valid signature of ``meta`` comes from one of ``keys`` (the keys its parent
    gives the role) that is registered. A role that merely *lists* a registered public key
    beside its own does not count: the registered key must have signed."""
    if not material.keys and not material.roots:
        return False
    try:
        msg = meta.signed_bytes()
    except MetadataInvalid:
        return False
    for sig in meta.signatures:
        key = keys.get(sig.key_id)
        if key is None or key.key_id != sig.key_id or not key_registered(key, material):
            continue
        if verify(key, sig.method, sig.sig, msg):
            return True
    return False


def pem_registered(pem: bytes, material: Material) -> bool:
    """Whether one of the PEM blocks (certificates or public keys: the keys that signed a
    recorded Notary role, already checked against its signatures) is registered."""
    for block in pem.split(_PEM_BLOCK)[1:]:
        data = _PEM_BLOCK + block
        try:
            if data.startswith(b"-----BEGIN CERTIFICATE-----"):
                cert = x509.load_pem_x509_certificate(data)
                if _registered(cert.public_key(), cert, material):
                    return True
            elif _registered(serialization.load_pem_public_key(data), None, material):
                return True
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    return False
