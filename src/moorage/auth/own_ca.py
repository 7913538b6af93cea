"""The registry's own certificate authority (DTR's ``dtr-ca``) and the server certificates it signs.

With ``tls: auto`` and no certificate supplied, the first replica to start creates a root CA
(EC P-256, 10 years) with ``cryptography``'s x509 builder; its certificate and its private key
(sealed with the replica's secret key, ``moorage.auth.secretbox``) are one JSON document in
``site_settings`` under the key ``own_ca``, so every replica of the database signs with the same
CA and clients trust one ``ca.crt``. Of replicas starting together, one creates it: the insert is
serialized as the token signing key's is (``Database.serialize``) and every replica then reads
the row that won. Each replica signs its own server certificate (EC P-256, 90 days) for its own
names and addresses, kept in files (``cli/tls_setup``), never in the database.

Nothing cryptographic is hand-written: keys, signatures and certificate encoding are
``cryptography``'s. What is written here is the choice of names and extensions (what Go's
crypto/x509, used by docker, skopeo and podman, and OpenSSL verify) and when to renew.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from moorage.auth.secretbox import SecretBox
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import ConfigError, MoorageError

SETTINGS_KEY = "own_ca"
CA_LIFETIME = dt.timedelta(days=3650)
SERVER_LIFETIME = dt.timedelta(days=90)
RENEW_BEFORE = dt.timedelta(days=30)
# Certificates start a little in the past: a client whose clock is behind still accepts them.
BACKDATE = dt.timedelta(minutes=5)
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class OwnCaUnreadable(MoorageError):
    code, status, default_message = (
        "OWN_CA_UNREADABLE",
        500,
        "the registry's own CA stored in the database cannot be read",
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pem_of_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_of_certificate(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class OwnCa:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return pem_of_certificate(self.certificate)


@dataclass(frozen=True)
class ServerCertificate:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return pem_of_certificate(self.certificate)

    @property
    def key_pem(self) -> bytes:
        return pem_of_key(self.key)


def make_ca(*, now: dt.datetime | None = None) -> OwnCa:
    """A new root CA: EC P-256, valid ten years, allowed to sign server certificates only
    (path length 0)."""
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Moorage"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Moorage registry CA {serial % 10**8:08d}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return OwnCa(cert, key)


def general_name(value: str) -> x509.GeneralName:
    """A subject alternative name: an IP address, else a DNS name (``*.`` allowed first);
    anything else is a ConfigError naming it."""
    text = value.strip().strip("[]")
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        pass
    host = text.rstrip(".").lower()
    labels = host.split(".")
    if labels and labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]
    if not host or len(host) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ConfigError(f"not a host name or IP address for the certificate: {value!r}")
    return x509.DNSName(host)


def unique_names(values: list[str]) -> list[x509.GeneralName]:
    """Each value as a subject alternative name, once, in the order given."""
    out: list[x509.GeneralName] = []
    for value in values:
        name = general_name(value)
        if name not in out:
            out.append(name)
    return out


def make_server_certificate(
    ca: OwnCa, names: list[x509.GeneralName], *, now: dt.datetime | None = None
) -> ServerCertificate:
    """A server certificate for ``names`` signed by ``ca``: EC P-256, 90 days, serverAuth."""
    if not names:
        raise ConfigError("a server certificate needs at least one host name or address")
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    first = names[0].value
    common = str(first)[:64]
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + SERVER_LIFETIME, ca.certificate.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return ServerCertificate(cert, key)


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` signed ``cert`` (its issuer name and its signature)."""
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def renewal_reason(
    cert: x509.Certificate | None,
    ca: x509.Certificate,
    names: list[x509.GeneralName],
    *,
    now: dt.datetime | None = None,
) -> str | None:
    """Why the server certificate must be made again (None: it is good): missing, signed by
    another CA, not for exactly these names, or less than 30 days left."""
    if cert is None:
        return "no server certificate yet"
    if not signed_by(cert, ca):
        return "the server certificate is not signed by the registry's CA"
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "the server certificate names no host"
    if set(alt) != set(names):
        return "the registry's host names or addresses changed"
    left = cert.not_valid_after_utc - (now or _now())
    if left < RENEW_BEFORE:
        return f"the server certificate expires in {max(left.days, 0)} days"
    return None


# ---- stored in the database -------------------------------------------------------------------


def _document(ca: OwnCa, box: SecretBox) -> str:
    return json.dumps(
        {
            "certificate": ca.pem.decode(),
            "keySealed": box.seal(pem_of_key(ca.key).decode()),
        }
    )


def _parse(raw: str, box: SecretBox) -> OwnCa:
    try:
        doc = json.loads(raw)
        cert = x509.load_pem_x509_certificate(doc["certificate"].encode())
        sealed = doc["keySealed"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OwnCaUnreadable(
            f"the stored CA ({SETTINGS_KEY!r} in site_settings) is damaged"
        ) from exc
    key = serialization.load_pem_private_key(box.open(sealed).encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise OwnCaUnreadable("the stored CA key does not match its certificate")
    return OwnCa(cert, key)


_SELECT = select(t.site_settings.c.value).where(t.site_settings.c.key == SETTINGS_KEY)


async def stored_certificate(db: Database) -> bytes | None:
    """The CA certificate (PEM) when the registry has made its own CA; the key stays sealed."""
    async with db.read() as conn:
        raw = (await conn.execute(_SELECT)).scalar()
    if raw is None:
        return None
    try:
        pem: str = json.loads(raw)["certificate"]
        x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OwnCaUnreadable(
            f"the stored CA ({SETTINGS_KEY!r} in site_settings) is damaged"
        ) from exc
    return pem.encode()


async def load_or_create(db: Database, box: SecretBox) -> tuple[OwnCa, bool]:
    """The registry's CA, made on first use (True when this call made it). Replicas starting
    together on one database all get the one that was stored first."""
    async with db.read() as conn:
        raw = (await conn.execute(_SELECT)).scalar()
    created = False
    if raw is None:
        fresh = make_ca()
        async with db.write() as conn:
            await db.serialize(conn, "own-ca")
            raw = (await conn.execute(_SELECT)).scalar()
            if raw is None:
                await conn.execute(
                    db.insert(t.site_settings)
                    .values(key=SETTINGS_KEY, value=_document(fresh, box))
                    .on_conflict_do_nothing(index_elements=["key"])
                )
                raw = (await conn.execute(_SELECT)).scalar()
                created = True
    assert raw is not None
    return _parse(raw, box), created
