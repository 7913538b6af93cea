"""Forwarded headers count only from trusted proxies (``trusted_proxies``, moorage.http.proxies).

Through the real app in process: the token realm, the UI's Secure cookie and the access log's
client address follow ``X-Forwarded-*`` / ``Forwarded`` from a trusted peer, and an untrusted
peer can spoof neither its address nor the scheme.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorage.config import load_settings
from moorage.errors import ConfigError
from moorage.http.proxies import TrustedProxies, parse_forwarded
from tests.conftest import RunningRegistry
from tests.inprocess import InProcessApp, running_app

pytestmark = pytest.mark.one_database  # what it shows does not depend on the database


REALM = re.compile(r'realm="([^"]+)"')


def realm_of(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    found = REALM.search(response.headers["www-authenticate"])
    assert found, response.headers["www-authenticate"]
    return found.group(1)


def client_for(app: InProcessApp, peer: str) -> httpx.AsyncClient:
    """An anonymous client whose connection comes from ``peer``."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.app, client=(peer, 41000)),
        base_url="http://moorage.internal:5000",
        timeout=30.0,
    )


def access_lines(caplog: pytest.LogCaptureFixture, path: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "moorage.access" and getattr(r, "path", "") == path
    ]


@pytest.fixture()
async def behind_proxy(tmp_path: Path) -> AsyncIterator[InProcessApp]:
    """The app trusting 10.0.0.0/8 and 127.0.0.1 as proxies."""
    async with running_app(tmp_path / "data", trusted_proxies=["10.0.0.0/8", "127.0.0.1"]) as app:
        yield app


TLS_HEADERS = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "registry.example.com:8443",
    "X-Forwarded-For": "203.0.113.7",
}


async def test_trusted_proxy_sets_realm_scheme_host_and_client(
    behind_proxy: InProcessApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="moorage.access")
    async with client_for(behind_proxy, "10.1.2.3") as c:
        r = await c.get("/v2/", headers=TLS_HEADERS)
    assert realm_of(r) == "https://registry.example.com:8443/auth/token"
    (line,) = access_lines(caplog, "/v2/")
    assert line.remote == "203.0.113.7"  # type: ignore[attr-defined]
    assert line.proxy == "10.1.2.3"  # type: ignore[attr-defined]


async def test_x_forwarded_port_and_default_ports(behind_proxy: InProcessApp) -> None:
    async with client_for(behind_proxy, "127.0.0.1") as c:
        r = await c.get(
            "/v2/",
            headers={
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "reg.example",
                "X-Forwarded-Port": "8443",
            },
        )
        assert realm_of(r) == "https://reg.example:8443/auth/token"
        r = await c.get(
            "/v2/",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "reg.example:443"},
        )
        assert realm_of(r) == "https://reg.example/auth/token"
        # Only the scheme forwarded (nginx passing Host on): the Host header stands.
        r = await c.get("/v2/", headers={"X-Forwarded-Proto": "https", "Host": "reg.example"})
        assert realm_of(r) == "https://reg.example/auth/token"


async def test_rfc7239_forwarded_wins_over_x_forwarded(
    behind_proxy: InProcessApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="moorage.access")
    headers = {
        "Forwarded": 'for="[2001:db8:cafe::17]:4711";proto=https;host="reg.example:9443"',
        "X-Forwarded-Proto": "http",
        "X-Forwarded-For": "198.51.100.1",
    }
    async with client_for(behind_proxy, "10.0.0.5") as c:
        r = await c.get("/v2/", headers=headers)
    assert realm_of(r) == "https://reg.example:9443/auth/token"
    (line,) = access_lines(caplog, "/v2/")
    assert line.remote == "2001:db8:cafe::17"  # type: ignore[attr-defined]


async def test_chain_skips_trusted_hops_and_ignores_client_written_entries(
    behind_proxy: InProcessApp, caplog: pytest.LogCaptureFixture
) -> None:
    """The client wrote ``6.6.6.6`` itself; the edge proxy appended the real address, an inner
    trusted proxy appended the edge's. The first untrusted address from the right is the client."""
    caplog.set_level(logging.INFO, logger="moorage.access")
    async with client_for(behind_proxy, "10.0.0.9") as c:
        await c.get("/_ping", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.2"})
        await c.get(
            "/_ping",
            headers={"Forwarded": "for=6.6.6.6, for=203.0.113.10;proto=https, for=10.0.0.3"},
        )
    first, second = access_lines(caplog, "/_ping")
    assert first.remote == "203.0.113.9"  # type: ignore[attr-defined]
    assert second.remote == "203.0.113.10"  # type: ignore[attr-defined]


async def test_untrusted_peer_cannot_spoof_scheme_host_or_address(
    behind_proxy: InProcessApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="moorage.access")
    spoof = {**TLS_HEADERS, "Forwarded": "for=198.51.100.66;proto=https;host=evil.example"}
    async with client_for(behind_proxy, "192.0.2.50") as c:
        r = await c.get("/v2/", headers=spoof)
        assert realm_of(r) == "http://moorage.internal:5000/auth/token"
        login = await c.get("/login", headers=spoof)
    assert login.status_code == 200
    assert "secure" not in login.headers["set-cookie"].lower()
    lines = access_lines(caplog, "/v2/")
    assert [line.remote for line in lines] == ["192.0.2.50"]  # type: ignore[attr-defined]
    assert not hasattr(lines[0], "proxy")


async def test_no_proxy_is_trusted_by_default(
    inproc: InProcessApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Not even loopback: with no ``trusted_proxies`` the headers mean nothing."""
    caplog.set_level(logging.INFO, logger="moorage.access")
    async with client_for(inproc, "127.0.0.1") as c:
        r = await c.get("/v2/", headers=TLS_HEADERS)
    assert realm_of(r) == "http://moorage.internal:5000/auth/token"
    assert [line.remote for line in access_lines(caplog, "/v2/")] == ["127.0.0.1"]  # type: ignore[attr-defined]


async def test_secure_cookie_behind_tls_proxy(behind_proxy: InProcessApp) -> None:
    async with client_for(behind_proxy, "10.9.9.9") as c:
        r = await c.get("/login", headers=TLS_HEADERS)
    assert r.status_code == 200
    assert "secure" in r.headers["set-cookie"].lower()


async def test_bad_forwarded_values_are_ignored(behind_proxy: InProcessApp) -> None:
    async with client_for(behind_proxy, "10.0.0.1") as c:
        for headers in (
            {"X-Forwarded-Host": "evil.example/path", "X-Forwarded-Proto": "gopher"},
            {"X-Forwarded-Host": "user@evil.example"},
            {"X-Forwarded-Host": 'evil.example" realm="x'},
            {"Forwarded": 'for=1.2.3.4;proto=ftp;host="a b"'},
            {"Forwarded": "garbage without pairs"},
        ):
            r = await c.get("/v2/", headers=headers)
            assert realm_of(r) == "http://moorage.internal:5000/auth/token", headers


async def test_a_host_header_that_is_no_host_cannot_break_the_challenge(
    inproc: InProcessApp,
) -> None:
    async with client_for(inproc, "192.0.2.9") as c:
        r = await c.get("/v2/", headers={"Host": 'evil.example" error="x'})
    challenge = r.headers["www-authenticate"]
    assert realm_of(r).endswith("/auth/token") and "evil" not in challenge, challenge
    assert challenge.count('"') == 4, challenge  # realm and service, nothing injected


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The scope as the app below the middleware sees it."""
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    body = repr((scope["scheme"], scope["client"], scope.get("server"), headers)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_forwarded_headers_never_reach_the_app() -> None:
    """Trusted or not, the app below never sees the raw forwarded headers."""
    middleware = TrustedProxies(_echo, ["10.0.0.0/8"])
    for peer in ("10.0.0.1", "192.0.2.1"):
        transport = httpx.ASGITransport(app=middleware, client=(peer, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://inner:80") as c:
            r = await c.get("/", headers={**TLS_HEADERS, "X-Real-IP": "6.6.6.6"})
        scheme, client, server, headers = eval(r.text)  # our own repr
        assert not {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip"} & set(
            headers
        )
        if peer == "10.0.0.1":
            assert (scheme, client[0], headers["host"]) == (
                "https",
                "203.0.113.7",
                "registry.example.com:8443",
            )
            assert server == ("registry.example.com", 8443)
        else:
            assert (scheme, client[0], headers["host"]) == ("http", "192.0.2.1", "inner")


def test_ipv4_mapped_peer_and_networks() -> None:
    middleware = TrustedProxies(_echo, ["10.0.0.0/8", "fd00::/8"])
    assert middleware.trusts("::ffff:10.1.1.1")
    assert middleware.trusts("fd12::1")
    assert not middleware.trusts("11.0.0.1")
    assert not middleware.trusts("unknown")
    assert not middleware.trusts(None)


def test_parse_forwarded_rfc7239_examples() -> None:
    hops = parse_forwarded(['for="_gazonk"', 'For="[2001:db8:cafe::17]:4711"'])
    assert hops is not None
    assert [(h.client, h.client_port) for h in hops] == [
        ("_gazonk", None),
        ("2001:db8:cafe::17", 4711),
    ]
    hops = parse_forwarded(["for=192.0.2.60;proto=http;by=203.0.113.43, for=198.51.100.17"])
    assert hops is not None
    assert [(h.client, h.proto) for h in hops] == [("192.0.2.60", "http"), ("198.51.100.17", None)]
    assert parse_forwarded(["for=1.2.3.4 junk"]) is None


def test_trusted_proxies_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOORAGE_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1")
    assert load_settings().trusted_proxies == ["10.0.0.0/8", "192.168.1.1"]
    monkeypatch.setenv("MOORAGE_TRUSTED_PROXIES", '["::1/128"]')
    assert load_settings().trusted_proxies == ["::1/128"]
    monkeypatch.delenv("MOORAGE_TRUSTED_PROXIES")
    config = tmp_path / "moorage.yml"
    config.write_text("trusted_proxies: [172.16.0.0/12]\n")
    assert load_settings(config).trusted_proxies == ["172.16.0.0/12"]
    assert load_settings().trusted_proxies == []
    config.write_text("trusted_proxies: [not-a-network]\n")
    with pytest.raises(ConfigError, match="not-a-network"):
        load_settings(config)


@pytest.mark.parametrize(
    "server",
    ["granian", "uvicorn"],
)
def test_the_server_itself_believes_no_forwarded_header(
    registry_factory: Callable[..., RunningRegistry], server: str
) -> None:
    """The ASGI server in front of the app must not apply forwarded headers on its own: only
    ``trusted_proxies`` decides (here: none, and the caller is on loopback)."""
    reg = registry_factory(extra_args=["--server", server])
    with httpx.Client(base_url=reg.url, timeout=30) as c:
        r = c.get("/v2/", headers=TLS_HEADERS)
    assert realm_of(r) == f"{reg.url}/auth/token"
