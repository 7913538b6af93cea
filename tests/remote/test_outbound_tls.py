"""HTTPS to a pinned address: the TLS server name and the certificate check use the host name,
the TCP connection the checked address (a real TLS server on 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest

from moorage.remote import outbound
from moorage.remote.addresses import Address, parse_networks
from tests.events.receiver import receiving
from tests.services.tls import self_signed

LOOPBACK = outbound.Guard(parse_networks(["127.0.0.1/32"]), "webhookAllowedNetworks")


def _certificate(directory: Path, dns_name: str) -> tuple[str, ssl.SSLContext, list[str]]:
    """A self-signed certificate for ``dns_name`` only; a server context that records the SNI."""
    cert_path, key_path = self_signed(directory, host=dns_name)
    pem = cert_path.read_text()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
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
