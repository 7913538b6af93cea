"""HTTPS to a pinned address: the TLS server name and the certificate check use the host name,
the TCP connection the checked address (a real TLS server on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from moorage.remote import outbound
from moorage.remote.addresses import Address, parse_networks
from tests.events.receiver import receiving

LOOPBACK = outbound.Guard(parse_networks(["127.0.0.1/32"]), "webhookAllowedNetworks")


def _certificate(directory: Path, dns_name: str) -> tuple[str, ssl.SSLContext, list[str]]:
    """A self-signed certificate for ``dns_name`` only; a server context that records the SNI."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (directory / "cert.pem").write_text(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    names: list[str] = []

    def sni(_sock: object, server_name: str | None, _ctx: object) -> None:
        names.append(server_name or "")

    server.sni_callback = sni
    return pem, server, names


@pytest.fixture()
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(outbound, "resolve", resolve)


async def test_https_uses_the_host_name_for_sni_and_the_certificate(
    tmp_path: Path, pinned: None
) -> None:
    pem, server, names = _certificate(tmp_path, "hooks.example")
    with receiving(tls=server) as rec:
        target = await outbound.check(f"https://hooks.example:{rec.port}/tls", LOOPBACK)
        answer = await outbound.post(target, b"{}", {}, tls_cert=pem, seconds=5)
        assert answer == outbound.Answer(200, None)
        (got,) = await rec.arrived("/tls")
        assert got.headers["Host"] == f"hooks.example:{rec.port}"
    assert names == ["hooks.example"]


async def test_a_certificate_for_another_name_is_refused(tmp_path: Path, pinned: None) -> None:
    pem, server, _ = _certificate(tmp_path, "hooks.example")
    with receiving(tls=server) as rec:
        target = await outbound.check(f"https://other.example:{rec.port}/tls", LOOPBACK)
        answer = await outbound.post(target, b"{}", {}, tls_cert=pem, seconds=5)
        assert answer.code is None
        assert answer.error is not None and "certificate" in answer.error.lower()
        assert rec.at("/tls") == []
