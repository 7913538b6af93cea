"""Notation signatures (the Notary Project's signature specification and its JWS envelope),
checked against registered X.509 root certificates.

A signature manifest names the signed manifest as its ``subject`` and has artifactType
(``config.mediaType``) ``application/vnd.cncf.notary.signature``; its one layer is the
envelope. JWS (``application/jose+json``) is the flattened JSON serialization:
``{"payload", "protected", "header", "signature"}`` and nothing else. The protected header
(base64url JSON) must carry ``cty: application/vnd.cncf.notary.payload.v1+json``, an ``alg`` of
PS256/PS384/PS512/ES256/ES384/ES512 matching the signing key (RSA 2048/3072/4096, P-256/384/521),
and ``crit`` naming ``io.cncf.notary.signingScheme`` (``notary.x509`` or
``notary.x509.signingAuthority``); a critical header not understood here (a verification
plugin's) fails verification, as the spec requires. The unprotected header's ``x5c`` is the
chain, leaf first (base64 DER). The signature covers ``ASCII(protected "." payload)``; ES* are
raw ``r||s``, PS* use a salt as long as the hash. The payload's ``targetArtifact`` must match
the manifest's media type, digest and size; ``io.cncf.notary.expiry``, when present, must not
have passed.

The chain is verified with ``cryptography.x509.verification`` (PolicyBuilder): the envelope's
certificates after the leaf are intermediates, the registered roots the store, validity at the
time of verification (no authentic timestamp is read: Notation's rule without a TSA), CA
certificates under cryptography's WebPKI CA profile (basicConstraints cA, keyUsage
keyCertSign). The leaf's rules of the spec are checked here by hand, since cryptography's
client profile would ask for clientAuth: keyUsage digitalSignature and nothing of a CA's or an
encipherer's, not a CA, and no serverAuth/clientAuth/emailProtection/timeStamping/any EKU.
SHA-1 signed certificates are refused. The checks after parsing are shared with COSE
envelopes (``notation_cose``): ``parse_jws`` and ``notation_cose.parse_cose`` both give an
``Envelope``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from moorage.trust.signatures.verdict import NOTATION, Verdict, refused

ARTIFACT_TYPE = "application/vnd.cncf.notary.signature"
JWS = "application/jose+json"
COSE = "application/cose"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
SIGNING_SCHEME = "io.cncf.notary.signingScheme"
EXPIRY = "io.cncf.notary.expiry"
SCHEMES = frozenset({"notary.x509", "notary.x509.signingAuthority"})
UNDERSTOOD_CRITICAL = frozenset({SIGNING_SCHEME, EXPIRY, "io.cncf.notary.authenticSigningTime"})
MAX_ENVELOPE = 256 * 1024
MAX_CHAIN = 10

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_RSA_BITS = {"PS256": 2048, "PS384": 3072, "PS512": 4096}
_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_BAD_EKU = frozenset(
    {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.TIME_STAMPING,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }
)


class EnvelopeInvalid(ValueError):
    """An envelope that is not a Notary Project JWS signature, or does not verify."""


@dataclass(frozen=True, slots=True)
class Target:
    """The manifest a signature should sign."""

    media_type: str
    digest: str
    size: int


def subject_of(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _b64url(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise EnvelopeInvalid(f"{what} must be a base64url string")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeInvalid(f"{what} is not base64url") from exc


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EnvelopeInvalid(f"{what} is not JSON") from exc
    if not isinstance(doc, dict):
        raise EnvelopeInvalid(f"{what} must be a JSON object")
    return doc


def _chain(header: Any) -> list[x509.Certificate]:
    if not isinstance(header, dict):
        raise EnvelopeInvalid("the unprotected header must be an object")
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise EnvelopeInvalid("the unprotected header needs x5c: the certificate chain")
    try:
        ders = [base64.b64decode(item, validate=True) for item in x5c]
    except (binascii.Error, ValueError, TypeError) as exc:
        raise EnvelopeInvalid("an x5c entry is not a base64 DER certificate") from exc
    return certificates(ders)


def certificates(ders: Sequence[bytes]) -> list[x509.Certificate]:
    """A chain of DER certificates, leaf first (at most ``MAX_CHAIN``)."""
    if not ders or len(ders) > MAX_CHAIN:
        raise EnvelopeInvalid(f"a certificate chain of 1 to {MAX_CHAIN} certificates is needed")
    try:
        return [x509.load_der_x509_certificate(der) for der in ders]
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise EnvelopeInvalid("a certificate of the chain is not DER") from exc


def _check_protected(protected: dict[str, Any]) -> str:
    """The ``alg``, once the protected header is one this verifier understands."""
    if protected.get("cty") != PAYLOAD_TYPE:
        raise EnvelopeInvalid(f"the protected header's cty is not {PAYLOAD_TYPE}")
    alg = protected.get("alg")
    if alg not in _RSA_BITS and alg not in _CURVES:
        raise EnvelopeInvalid(f"unsupported alg {str(alg)[:20]!r}")
    crit = protected.get("crit")
    if not isinstance(crit, list) or SIGNING_SCHEME not in crit:
        raise EnvelopeInvalid(f"crit must name {SIGNING_SCHEME}")
    for name in crit:
        if name not in UNDERSTOOD_CRITICAL:
            raise EnvelopeInvalid(f"critical header {str(name)[:80]!r} is not understood here")
        if name not in protected:
            raise EnvelopeInvalid(f"critical header {str(name)[:80]!r} is missing")
    if protected.get(SIGNING_SCHEME) not in SCHEMES:
        raise EnvelopeInvalid("unknown signing scheme")
    return str(alg)


def _check_signature(leaf: x509.Certificate, alg: str, signing_input: bytes, sig: bytes) -> None:
    key = leaf.public_key()
    digest = _HASHES[alg[2:]]()
    try:
        if alg in _RSA_BITS:
            if not isinstance(key, rsa.RSAPublicKey) or key.key_size != _RSA_BITS[alg]:
                raise EnvelopeInvalid(f"{alg} does not match the signing certificate's key")
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            key.verify(sig, signing_input, pss, digest)
            return
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _CURVES[alg]:
            raise EnvelopeInvalid(f"{alg} does not match the signing certificate's key")
        size = (key.curve.key_size + 7) // 8
        if len(sig) != 2 * size:
            raise EnvelopeInvalid("the ECDSA signature is not r||s")
        r, s = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
        key.verify(utils.encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
    except InvalidSignature as exc:
        raise EnvelopeInvalid("the signature does not verify with the signing certificate") from exc


def _check_leaf(leaf: x509.Certificate) -> None:
    """The spec's leaf rules (cryptography's client profile is not the code-signing one)."""
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound as exc:
        raise EnvelopeInvalid("the signing certificate has no keyUsage") from exc
    ku = usage.value
    if not usage.critical or not ku.digital_signature:
        raise EnvelopeInvalid("the signing certificate's keyUsage needs digitalSignature, critical")
    if ku.key_encipherment or ku.data_encipherment or ku.key_cert_sign or ku.crl_sign:
        raise EnvelopeInvalid("the signing certificate's keyUsage allows more than signing")
    try:
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise EnvelopeInvalid("the signing certificate is a CA")
    except x509.ExtensionNotFound:
        pass
    try:
        eku = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = set()
    if eku & _BAD_EKU:
        raise EnvelopeInvalid("the signing certificate's extendedKeyUsage is not for code signing")


def _check_chain(
    certs: list[x509.Certificate], roots: Sequence[x509.Certificate], now: dt.datetime
) -> None:
    for cert in certs:
        algorithm = cert.signature_hash_algorithm
        if algorithm is not None and isinstance(algorithm, hashes.SHA1):
            raise EnvelopeInvalid("a certificate of the chain is SHA-1 signed")
    builder = (
        verification.PolicyBuilder()
        .store(verification.Store(list(roots)))
        .time(now)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
    )
    try:
        builder.build_client_verifier().verify(certs[0], certs[1:])
    except verification.VerificationError as exc:
        raise EnvelopeInvalid(f"the certificate chain is not trusted: {exc}") from exc


def _check_target(payload: dict[str, Any], target: Target) -> None:
    artifact = payload.get("targetArtifact")
    if not isinstance(artifact, dict):
        raise EnvelopeInvalid("the payload has no targetArtifact")
    digest = artifact.get("digest")
    if digest != target.digest:
        raise EnvelopeInvalid(f"the payload signs {str(digest)[:80]}, not this manifest")
    if artifact.get("size") != target.size or artifact.get("mediaType") != target.media_type:
        raise EnvelopeInvalid("the payload's targetArtifact size or mediaType differ")


def _check_expiry(protected: dict[str, Any], now: dt.datetime) -> None:
    """``io.cncf.notary.expiry``: RFC 3339 in JWS, an epoch date/time (a datetime) in COSE."""
    value = protected.get(EXPIRY)
    if value is None:
        return
    try:
        expiry = (
            value
            if isinstance(value, dt.datetime)
            else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
    except ValueError as exc:
        raise EnvelopeInvalid("io.cncf.notary.expiry is not an RFC 3339 time") from exc
    if expiry.tzinfo is None or now >= expiry:
        raise EnvelopeInvalid(f"the signature expired at {value}")


@dataclass(frozen=True, slots=True)
class Envelope:
    """An envelope's parts whatever its encoding: the protected header by name (``alg`` as
    JWS names it, ``cty``, ``crit``, the ``io.cncf.notary`` headers), the chain (leaf first),
    the bytes signed, the signature and the payload."""

    protected: dict[str, Any]
    certs: list[x509.Certificate]
    signed_bytes: bytes
    signature: bytes
    payload: bytes


def parse_jws(envelope: bytes) -> Envelope:
    doc = _json_object(envelope, "the envelope")
    if set(doc) - {"payload", "protected", "header", "signature"}:
        raise EnvelopeInvalid("the envelope is not flattened JWS JSON")
    certs = _chain(doc.get("header"))
    protected_b64, payload_b64 = doc.get("protected"), doc.get("payload")
    protected = _json_object(_b64url(protected_b64, "protected"), "the protected header")
    return Envelope(
        protected,
        certs,
        f"{protected_b64}.{payload_b64}".encode("ascii", "replace"),
        _b64url(doc.get("signature"), "signature"),
        _b64url(payload_b64, "payload"),
    )


def _check(
    envelope: Envelope, target: Target, roots: Sequence[x509.Certificate], now: dt.datetime
) -> None:
    alg = _check_protected(envelope.protected)
    _check_signature(envelope.certs[0], alg, envelope.signed_bytes, envelope.signature)
    _check_target(_json_object(envelope.payload, "the payload"), target)
    _check_expiry(envelope.protected, now)
    _check_leaf(envelope.certs[0])
    if not roots:
        raise EnvelopeInvalid(
            "no root certificate is registered for this repository or its namespace"
        )
    _check_chain(envelope.certs, roots, now)


def verify(
    parser: Callable[[bytes], Envelope],
    raw: bytes,
    target: Target,
    roots: Sequence[x509.Certificate],
    now: dt.datetime,
    source: str,
) -> Verdict:
    """One envelope read by ``parser`` and checked against ``roots``: verified, or not with the
    reason (the leaf's subject named as soon as the envelope parses)."""
    signers: tuple[str, ...] = ()
    try:
        envelope = parser(raw)
        signers = (subject_of(envelope.certs[0]),)
        _check(envelope, target, roots, now)
    except EnvelopeInvalid as exc:
        return refused(NOTATION, str(exc), source, signers)
    return Verdict(NOTATION, signers, True, "", source)


def verify_jws(
    envelope: bytes,
    target: Target,
    roots: Sequence[x509.Certificate],
    now: dt.datetime,
    source: str,
) -> Verdict:
    return verify(parse_jws, envelope, target, roots, now, source)


def load_certificate(pem: bytes) -> x509.Certificate:
    """One PEM certificate (a trust store root); ``ValueError`` otherwise."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError("not a PEM certificate (-----BEGIN CERTIFICATE-----)") from exc
    if len(certs) != 1:
        raise ValueError("register one certificate at a time")
    return certs[0]
