"""Helpers of the credential tests: users, tokens and clients from other addresses, in process."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from moorage.http.services import Services, ServicesSlot
from tests.inprocess import InProcessApp

PASSWORD = "a-long-enough-password"


def from_address(app: InProcessApp, host: str, **kwargs: Any) -> httpx.AsyncClient:
    """A client of ``app`` whose requests come from ``host`` (the ASGI scope's client)."""
    kwargs.setdefault("timeout", 30.0)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.app, client=(host, 40000)),
        base_url=app.base_url,
        **kwargs,
    )


async def new_user(app: InProcessApp, name: str, *, admin: bool = False) -> tuple[str, str]:
    async with app.client() as c:
        r = await c.post(
            "/enzi/v0/accounts", json={"name": name, "password": PASSWORD, "isAdmin": admin}
        )
        assert r.status_code == 201, r.text
    return name, PASSWORD


async def access_token(
    app: InProcessApp, user: tuple[str, str], label: str = "t"
) -> dict[str, Any]:
    async with app.client(auth=user) as c:
        r = await c.post("/api/v0/api_tokens", json={"tokenLabel": label})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
    return body


async def bearer_token(app: InProcessApp, auth: tuple[str, str] | None, *scopes: str) -> str:
    async with app.client(auth=auth) as c:
        r = await c.get(
            "/auth/token",
            params=[("service", app.settings.token_service)] + [("scope", s) for s in scopes],
        )
        assert r.status_code == 200, r.text
        return str(r.json()["token"])


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def ui_sign_in(c: httpx.AsyncClient, name: str, secret: str) -> httpx.Response:
    form = await c.get("/login")
    return await c.post(
        "/login", data={"csrf": csrf_of(form.text), "username": name, "password": secret}
    )


def app_services(app: InProcessApp) -> Services:
    """The app's ``Services`` (from the ``RequestGate`` under the access log and the proxy layer,
    which hands its slot to every request)."""
    slot = app_layers(app)[-1].services
    assert isinstance(slot, ServicesSlot)
    return slot.get()


def app_layers(app: InProcessApp) -> list[Any]:
    """The ASGI layers from the outside in, down to the gate that holds the services' slot
    (through asgi-lifespan's wrapper function, middleware ``.app`` attributes)."""
    layers: list[Any] = []
    inner: Any = app.app
    for _ in range(12):
        layers.append(inner)
        if isinstance(getattr(inner, "services", None), ServicesSlot):
            return layers
        nxt = getattr(inner, "app", None)
        if nxt is None and getattr(inner, "__closure__", None):
            cells = [c.cell_contents for c in inner.__closure__]
            nxt = next((c for c in cells if callable(c) and c is not inner), None)
        assert nxt is not None, f"no services' slot found under {inner!r}"
        inner = nxt
    raise AssertionError("no services' slot found")


@contextmanager
def statements(app: InProcessApp) -> Iterator[list[str]]:
    """The SQL statements the app runs for this task's requests inside the block, in order
    (httpx's ASGI transport runs the app in the caller's task; the job runner's own loops,
    other tasks, are left out)."""
    db = app_services(app).db
    engine = db._sync if db._sync is not None else db._async.sync_engine
    seen: list[str] = []
    mine = asyncio.current_task()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # a worker thread: not a request statement
            return
        if task is mine:
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}]


def reads(seen: list[str]) -> list[str]:
    return [s for s in seen if s.split(" ", 1)[0].upper() == "SELECT"]
