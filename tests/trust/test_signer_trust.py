"""Which Docker Content Trust signers count as registered: the same public key, the same
certificate, or a certificate a registered root issued; a key merely listed beside the one
that signed does not."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from moorage.trust.keys import ECDSA_X509, PublicKey
from moorage.trust.metadata import parse
from moorage.trust.signatures import cosign
from moorage.trust.signatures.signer_trust import (
    key_registered,
    pem_registered,
    role_signed_by_registered,
)
from moorage.trust.signatures.trust_stores import Material
from tests.trust.craft import Signer, envelope, targets

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issued(issuer: ec.EllipticCurvePrivateKey, issuer_cn: str, cn: str) -> PublicKey:
    """An ecdsa-x509 Notary key whose certificate ``issuer`` signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(issuer_cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .sign(issuer, hashes.SHA256())
    )
    return PublicKey(ECDSA_X509, cert.public_bytes(serialization.Encoding.PEM))


def _root_cert(key: ec.EllipticCurvePrivateKey, cn: str) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def test_a_public_key_counts_by_its_key_id() -> None:
    signer = Signer()
    trusted = Material(
        (
            cosign.TrustedKey(
                cosign.key_id(signer.private.public_key()), signer.private.public_key()
            ),
        ),
        (),
    )
    assert key_registered(signer.public, trusted)
    assert not key_registered(Signer().public, trusted)
    assert not key_registered(signer.public, Material((), ()))


def test_a_certificate_counts_when_registered_or_issued_by_a_registered_root() -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _root_cert(ca_key, "Team CA")
    issued = _issued(ca_key, "Team CA", "releaser")
    stranger = _issued(ec.generate_private_key(ec.SECP256R1()), "Team CA", "releaser")
    assert key_registered(issued, Material((), (ca,)))
    assert not key_registered(stranger, Material((), (ca,)))  # same issuer name, other key
    itself = x509.load_pem_x509_certificate(issued.public)
    assert key_registered(issued, Material((), (itself,)))
    assert pem_registered(issued.public, Material((), (ca,)))
    assert not pem_registered(stranger.public, Material((), (ca,)))
    assert not pem_registered(b"-----BEGIN CERTIFICATE-----\nnot base64\n", Material((), (ca,)))


def test_the_registered_key_must_have_signed_the_role() -> None:
    registered, own = Signer(), Signer()
    trusted = Material(
        (
            cosign.TrustedKey(
                cosign.key_id(registered.private.public_key()), registered.private.public_key()
            ),
        ),
        (),
    )
    keys = {s.key_id: s.public for s in (registered, own)}
    by_own = parse("targets", envelope(targets(1, {"v1": b"x"}), own))
    by_registered = parse("targets", envelope(targets(1, {"v1": b"x"}), registered))
    assert not role_signed_by_registered(by_own, keys, trusted)  # listed, never signed
    assert role_signed_by_registered(by_registered, keys, trusted)
    # a signature that does not verify counts for nothing
    forged = parse(
        "targets",
        envelope(targets(1, {"v1": b"x"}), registered).replace(b'"v1"', b'"v2"', 1),
    )
    assert not role_signed_by_registered(forged, keys, trusted)
