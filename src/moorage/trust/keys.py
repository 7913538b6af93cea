"""TUF public keys as Notary writes them, their ids, and signature checks with ``cryptography``.

A key is ``{"keytype": ..., "keyval": {"public": base64, "private": null}}``; its id is the
SHA-256 of that object's canonical JSON. Key types: ``ecdsa`` and ``rsa`` (DER
SubjectPublicKeyInfo), ``ecdsa-x509`` and ``rsa-x509`` (a PEM certificate), ``ed25519`` (the raw
32 bytes). Signature methods: ``ecdsa`` (raw ``r||s`` over SHA-256, not DER), ``rsapss``
(PSS-SHA256, salt 32), ``rsapkcs1v15`` and ``eddsa``; RSA keys under 2048 bits are refused, as
Notary's verifiers do.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from moorage.trust import canonical

ECDSA, ECDSA_X509, RSA, RSA_X509, ED25519 = "ecdsa", "ecdsa-x509", "rsa", "rsa-x509", "ed25519"
KEY_TYPES = frozenset({ECDSA, ECDSA_X509, RSA, RSA_X509, ED25519})
X509_TYPES = frozenset({ECDSA_X509, RSA_X509})
MIN_RSA_BITS = 2048


class KeyUnusable(ValueError):
    """A key that cannot be read or used."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    keytype: str
    public: bytes  # ``keyval.public`` decoded

    @property
    def key_id(self) -> str:
        return key_id(self.keytype, self.public)

    def to_json(self) -> dict[str, Any]:
        return {
            "keytype": self.keytype,
            "keyval": {"private": None, "public": base64.b64encode(self.public).decode()},
        }

    def certificate(self) -> x509.Certificate:
        """The leaf certificate of an x509 key (the first of its PEM bundle)."""
        if self.keytype not in X509_TYPES:
            raise KeyUnusable(f"a {self.keytype} key is no certificate")
        try:
            certs = x509.load_pem_x509_certificates(self.public)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyUnusable("the key's certificate does not parse") from exc
        return certs[0]

    def crypto_key(self) -> Any:
        """The ``cryptography`` public key."""
        try:
            if self.keytype in X509_TYPES:
                return self.certificate().public_key()
            if self.keytype == ED25519:
                return ed25519.Ed25519PublicKey.from_public_bytes(self.public)
            if self.keytype in (ECDSA, RSA):
                return serialization.load_der_public_key(self.public)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyUnusable(f"the {self.keytype} key does not parse") from exc
        raise KeyUnusable(f"unknown key type {self.keytype}")


def key_id(keytype: str, public: bytes) -> str:
    """Notary's key id: SHA-256 of the canonical JSON of the key with no private part."""
    doc = {
        "keytype": keytype,
        "keyval": {"private": None, "public": base64.b64encode(public).decode()},
    }
    return hashlib.sha256(canonical.encode(doc)).hexdigest()


def parse_key(doc: Any) -> PublicKey:
    if not isinstance(doc, dict) or not isinstance(doc.get("keyval"), dict):
        raise KeyUnusable("a key must be an object with keytype and keyval")
    keytype = doc.get("keytype")
    public = doc["keyval"].get("public")
    if not isinstance(keytype, str) or not isinstance(public, str):
        raise KeyUnusable("a key needs keytype and keyval.public")
    try:
        raw = base64.b64decode(public, validate=True)
    except binascii.Error as exc:
        raise KeyUnusable("keyval.public is not base64") from exc
    return PublicKey(keytype, raw)


def _ecdsa_verify(key: ec.EllipticCurvePublicKey, sig: bytes, msg: bytes) -> None:
    size = (key.curve.key_size + 7) // 8
    if len(sig) != 2 * size:
        raise InvalidSignature("ecdsa signature of the wrong length")
    r = int.from_bytes(sig[:size], "big")
    s = int.from_bytes(sig[size:], "big")
    key.verify(utils.encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))


def verify(key: PublicKey, method: str, sig: bytes, msg: bytes) -> bool:
    """Whether ``sig`` (by ``method``) is ``key``'s signature of ``msg``."""
    try:
        public = key.crypto_key()
        method = method.lower()
        if method == "ecdsa" and isinstance(public, ec.EllipticCurvePublicKey):
            _ecdsa_verify(public, sig, msg)
        elif method == "eddsa" and isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(sig, msg)
        elif method in ("rsapss", "rsapkcs1v15") and isinstance(public, rsa.RSAPublicKey):
            if public.key_size < MIN_RSA_BITS or len(sig) < MIN_RSA_BITS // 8:
                return False
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
                if method == "rsapss"
                else padding.PKCS1v15()
            )
            public.verify(sig, msg, pad, hashes.SHA256())
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def certificate_problem(
    cert: x509.Certificate, *, check_expiry: bool, now: dt.datetime
) -> str | None:
    """Why Notary would refuse ``cert`` as a root key (None: acceptable)."""
    if check_expiry:
        if now < cert.not_valid_before_utc:
            return "certificate is not valid yet"
        if now > cert.not_valid_after_utc:
            return "certificate has expired"
    algorithm = cert.signature_hash_algorithm
    if algorithm is not None and algorithm.name == "sha1":
        return "certificate is signed with SHA-1"
    try:
        public = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "certificate's key is of an unsupported type"
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < MIN_RSA_BITS:
        return "certificate's RSA key is under 2048 bits"
    return None


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode()


# ---- the server's own keys (notary-signer's: ecdsa P-256) ------------------------------------


@dataclass(frozen=True, slots=True)
class PrivateKey:
    public: PublicKey
    pem: bytes  # PKCS#8, unencrypted (sealed before it is stored)

    def sign(self, msg: bytes) -> dict[str, str]:
        """A TUF signature object over ``msg``: ``ecdsa``, raw ``r||s``."""
        key = serialization.load_pem_private_key(self.pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = utils.decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return {
            "keyid": self.public.key_id,
            "method": "ecdsa",
            "sig": base64.b64encode(raw).decode(),
        }


def generate_ecdsa() -> PrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return PrivateKey(PublicKey(ECDSA, der), pem)
