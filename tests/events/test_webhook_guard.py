"""Webhook endpoints pass the address guard at create, update, test and every delivery
(security review: webhook SSRF). In-process app; the receivers are real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from moorage.remote import outbound
from moorage.remote.addresses import Address
from tests.events.hookworld import (
    LOOPBACK_ALLOWED,
    make_hook,
    push_image,
    wait_attempts,
    wait_delivery,
)
from tests.events.receiver import Receiver, receiving
from tests.inprocess import InProcessApp, running_app

PUBLIC = ipaddress.ip_address("93.184.216.34")
SETTING = "webhookAllowedNetworks"

# Every spelling the review named (and their relatives), with the receiver's port where a
# port matters: loopback, metadata, link-local, private, reserved, multicast, IPv6 forms.
SPELLINGS = [
    "http://localhost:{port}/",
    "http://LOCALHOST.:{port}/",
    "http://app.localhost:{port}/",
    "http://127.0.0.1:{port}/",
    "http://[::1]:{port}/",
    "http://0.0.0.0:{port}/",
    "http://0:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://127.1:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/computeMetadata/v1/",
    "http://instance-data/latest/",
    "http://100.100.100.200/latest/meta-data/",
    "https://169.254.169.254/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1:8080/",
    "http://100.64.0.1/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://192.0.2.1/",
    "http://rebound.example:{port}/",  # resolves to loopback (the resolver below)
    "http://mixed.example/",  # resolves to a public address and a private one
]


# One app (default settings: no network allowed besides public addresses) for the module.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    async with running_app(
        tmp_path_factory.mktemp("hooks") / "data", database_factory()
    ) as running:
        yield running


@pytest.fixture()
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Address]]:
    """The resolver seam: these names resolve as given; others as the system resolves them."""
    table: dict[str, list[Address]] = {
        "hooks.example": [PUBLIC],
        "rebound.example": [ipaddress.ip_address("127.0.0.1")],
        "mixed.example": [PUBLIC, ipaddress.ip_address("10.1.2.3")],
    }
    system = outbound.system_resolve

    async def resolve(host: str, port: int) -> list[Address]:
        if host in table:
            return list(table[host])
        return await system(host, port)

    monkeypatch.setattr(outbound, "resolve", resolve)
    return table


@pytest.fixture()
def receiver() -> Any:
    with receiving() as rec:
        yield rec


def _refused(r: Any) -> None:
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert error["code"] == "TARGET_NOT_ALLOWED", error
    assert SETTING in error["message"]


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_refused_at_create_update_and_test(
    app: InProcessApp,
    names: dict[str, list[Address]],
    receiver: Receiver,
    spelling: str,
) -> None:
    endpoint = spelling.format(port=receiver.port)
    async with app.client() as c:
        body = {"type": "TAG_PUSH", "key": "", "endpoint": endpoint}
        _refused(await c.post("/api/v0/webhooks", json=body))
        _refused(await c.post("/api/v0/webhooks/test", json=body))
        hook = await make_hook(c, type="TAG_PUSH", key="", endpoint="http://hooks.example/in")
        r = await c.post(
            "/api/v0/webhooks/update", json={"webhookID": hook["id"], "endpoint": endpoint}
        )
        _refused(r)
        assert (await c.get(f"/api/v0/webhooks/{hook['id']}")).json()["endpoint"] == (
            "http://hooks.example/in"
        )
        listed = (await c.get("/api/v0/webhooks")).json()
        assert endpoint not in [h["endpoint"] for h in listed]  # nothing was stored
        assert (await c.delete(f"/api/v0/webhooks/{hook['id']}")).status_code == 204
    await asyncio.sleep(0.2)
    assert receiver.received == []


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("http://user:pw@hooks.example/", "user name or password"),
        ("http://hooks.example@127.0.0.1/", "user name or password"),
        ("http://0177.0.0.1/", "invalid endpoint"),  # octal: not a valid URL host
        ("gopher://hooks.example/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
    ],
)
async def test_urls_that_are_not_plain_http_are_refused(
    app: InProcessApp, names: dict[str, list[Address]], endpoint: str, message: str
) -> None:
    async with app.client() as c:
        for path in ("/api/v0/webhooks", "/api/v0/webhooks/test"):
            r = await c.post(path, json={"type": "TAG_PUSH", "endpoint": endpoint})
            assert r.status_code == 400, r.text
            assert message in r.json()["errors"][0]["message"]


async def test_the_test_endpoint_reveals_nothing_about_refused_targets(
    app: InProcessApp, receiver: Receiver
) -> None:
    with receiving() as closed:
        closed_port = closed.port
    async with app.client() as c:
        answers = []
        for port in (receiver.port, closed_port):  # one listens, one does not
            r = await c.post(
                "/api/v0/webhooks/test",
                json={"type": "TAG_PUSH", "endpoint": f"http://127.0.0.1:{port}/probe"},
            )
            _refused(r)
            error = r.json()["errors"][0]
            answers.append((r.status_code, error["code"], error["message"].replace(str(port), "")))
        assert answers[0] == answers[1]
        assert "ConnectError" not in str(answers) and "responseCode" not in str(answers)
    assert receiver.received == []


async def test_allowed_networks_setting_is_admin_only_and_validated(
    tmp_path: Path, database_factory: Callable[[], str | None], receiver: Receiver
) -> None:
    async with running_app(tmp_path / "data", database_factory()) as app:
        async with app.client() as c:
            r = await c.post("/api/v0/meta/settings", json={SETTING: ["not a network"]})
            assert r.status_code == 400, r.text
            r = await c.post(
                "/enzi/v0/accounts", json={"name": "dave", "password": "pw-dave-12345"}
            )
            assert r.status_code < 300, r.text
        async with app.client(auth=("dave", "pw-dave-12345")) as dave:
            assert (await dave.get("/api/v0/meta/settings")).status_code == 403
            r = await dave.post("/api/v0/meta/settings", json={SETTING: ["0.0.0.0/0"]})
            assert r.status_code == 403
        async with app.client() as c:
            r = await c.post("/api/v0/meta/settings", json={SETTING: ["127.0.0.1"]})
            assert r.status_code < 300, r.text  # DTR answers 202
            r = await c.get("/api/v0/meta/settings")
            assert r.json()[SETTING] == ["127.0.0.1/32"]
            r = await c.post(
                "/api/v0/webhooks/test",
                json={"type": "TAG_PUSH", "endpoint": receiver.url("/ok")},
            )
            assert r.json() == {"responseCode": 200, "error": "", "delivered": True}
            # loopback allowed still opens neither metadata nor ::1 nor other loopback hosts
            for endpoint in ("http://169.254.169.254/", "http://[::1]/", "http://127.0.0.2/"):
                body = {"type": "TAG_PUSH", "endpoint": endpoint}
                _refused(await c.post("/api/v0/webhooks/test", json=body))
    await receiver.arrived("/ok")


async def test_dns_rebinding_is_refused_at_delivery(
    tmp_path: Path,
    database_factory: Callable[[], str | None],
    names: dict[str, list[Address]],
    receiver: Receiver,
) -> None:
    """``rebind.example`` resolves to a public address when the hook is made and to 127.0.0.1
    when it is delivered: the delivery checks again and sends nothing."""
    names["rebind.example"] = [PUBLIC]
    async with running_app(tmp_path / "data", database_factory()) as app, app.client() as c:
        hook = await make_hook(
            c,
            type="TAG_PUSH",
            key="",
            endpoint=f"http://rebind.example:{receiver.port}/rebound",
        )
        names["rebind.example"] = [ipaddress.ip_address("127.0.0.1")]
        await push_image(c, "admin/rebind", "v1")
        delivery = await wait_attempts(c, hook["id"], 1)
        first = delivery["history"][0]
        assert first["status"] == "failed"
        assert first["responseCode"] is None
        assert SETTING in first["error"]
    assert receiver.at("/rebound") == []
    assert receiver.received == []


async def test_delivery_to_an_allowed_loopback_receiver(
    tmp_path: Path, database_factory: Callable[[], str | None], receiver: Receiver
) -> None:
    async with (
        running_app(tmp_path / "data", database_factory(), site_settings=LOOPBACK_ALLOWED) as app,
        app.client() as c,
    ):
        hook = await make_hook(
            c, type="TAG_PUSH", key="admin/app", endpoint=receiver.url("/delivered")
        )
        digest = await push_image(c, "admin/app", "v1")
        (got,) = await receiver.arrived("/delivered")
        assert got.json()["contents"]["digest"] == digest
        assert got.headers["Host"] == f"127.0.0.1:{receiver.port}"
        delivery = await wait_delivery(c, hook["id"], {"delivered"})
        assert delivery["responseCode"] == 200
