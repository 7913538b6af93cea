"""The outbound client: one resolution, the POST to the checked address, no redirects, bounded
answers (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import ipaddress
import time

import pytest

from moorage.errors import InvalidInput
from moorage.remote import outbound
from moorage.remote.addresses import Address, parse_networks
from tests.events.receiver import receiving

LOOPBACK = outbound.Guard(parse_networks(["127.0.0.1/32"]), "webhookAllowedNetworks")


async def test_post_goes_to_the_checked_address_with_the_host_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    answers = iter([[ipaddress.ip_address("127.0.0.1")], [ipaddress.ip_address("10.9.9.9")]])

    async def resolve(host: str, port: int) -> list[Address]:
        calls.append(host)
        return next(answers)

    monkeypatch.setattr(outbound, "resolve", resolve)
    with receiving() as rec:
        target = await outbound.check(f"http://hooks.example:{rec.port}/in?x=1", LOOPBACK)
        answer = await outbound.post(target, b"{}", {"Content-Type": "application/json"})
        assert answer == outbound.Answer(200, None)
        (got,) = await rec.arrived("/in?x=1")
        assert got.headers["Host"] == f"hooks.example:{rec.port}"
    assert calls == ["hooks.example"]  # resolved once; the POST did not resolve again


async def test_a_name_resolving_to_any_refused_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def resolve(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("169.254.169.254")]

    monkeypatch.setattr(outbound, "resolve", resolve)
    with pytest.raises(outbound.TargetRefused) as refused:
        await outbound.check("https://mixed.example/", LOOPBACK)
    assert "webhookAllowedNetworks" in refused.value.message


async def test_unresolvable_names_are_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[Address]:
        raise OSError("Name or service not known")

    monkeypatch.setattr(outbound, "resolve", resolve)
    with pytest.raises(outbound.TargetUnresolvable):
        await outbound.check("http://nowhere.example/", LOOPBACK)


@pytest.mark.parametrize(
    "endpoint", ["ftp://example.com/", "file:///etc/passwd", "http://u:p@example.com/", "http://"]
)
async def test_only_plain_http_urls(endpoint: str) -> None:
    with pytest.raises(InvalidInput):
        await outbound.check(endpoint, LOOPBACK)


async def test_redirects_are_not_followed() -> None:
    with receiving() as rec:
        target = await outbound.check(rec.url("/redirect"), LOOPBACK)
        answer = await outbound.post(target, b"{}", {})
        assert answer.code == 302 and answer.error is not None
        await asyncio.sleep(0.3)
        assert rec.at("/landed") == []


async def test_answers_are_read_up_to_the_bound() -> None:
    with receiving() as rec:
        target = await outbound.check(rec.url("/big"), LOOPBACK)
        started = time.monotonic()
        answer = await outbound.post(target, b"{}", {}, max_response=1024)
        assert answer == outbound.Answer(200, None)
        assert time.monotonic() - started < 5


async def test_a_closed_port_is_a_connect_error() -> None:
    with receiving() as rec:
        port = rec.port
    target = await outbound.check(f"http://127.0.0.1:{port}/", LOOPBACK)
    answer = await outbound.post(target, b"{}", {}, seconds=2)
    assert answer.code is None and answer.error and "ConnectError" in answer.error
