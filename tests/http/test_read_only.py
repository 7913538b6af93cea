"""Read-only mode (``readOnlyRegistry``) on every write path: /api/v0, /enzi/v0, the UI's forms
and /v2, enforced by ``moorage.http.gate`` (and ``site_settings.update`` for the settings).

The API's write routes come from the FastAPI apps' own route tables, so a new route is covered
by this test the day it is added.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.routing import Route

from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.http import ui
from moorage.http.api.app import api_v0, enzi_v0
from tests.http.inproc_images import push_image
from tests.inprocess import InProcessApp

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PASSWORD = "correct-horse-battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# Bookkeeping the background tasks (job runner, event dispatcher) and sign-ins write.
NOT_COMPARED = {"job_workers", "event_cursors", "login_throttle", "ui_sessions"}
# Path parameters of the API and UI routes, naming things that exist.
PARAMS = {
    "namespace": "admin",
    "repo": "web",
    "tag": "latest",
    "reference": "latest",
    "org": "acme",
    "team": "devs",
    "user": "alice",
    "name": "alice",
    "action": "onlinegc",
}


def fill(path: str, prefix: str = "") -> str:
    return prefix + re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS.get(m[1], "x"), path)


def api_write_routes() -> list[tuple[str, str]]:
    """Every unsafe method of both FastAPI apps, from the route table they publish."""
    found = []
    for prefix, app in (("/api/v0", api_v0()), ("/enzi/v0", enzi_v0())):
        for path, operations in app.openapi()["paths"].items():
            for method in sorted(m.upper() for m in operations if m.upper() in UNSAFE):
                found.append((method, fill(path, prefix)))
    return found


def ui_write_routes() -> list[str]:
    exempt = {"/login", "/logout"}
    return [
        fill(r.path)
        for r in ui.routes()
        if isinstance(r, Route) and "POST" in (r.methods or ()) and r.path not in exempt
    ]


async def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = Database(database_url)
    try:
        out = {}
        async with db.read() as conn:
            for name, table in sorted(t.metadata.tables.items()):
                if name not in NOT_COMPARED:
                    rows = await conn.execute(select(table))
                    out[name] = sorted((tuple(r) for r in rows), key=repr)
        return out
    finally:
        await db.close()


async def set_read_only(c: httpx.AsyncClient, on: bool) -> None:
    r = await c.post("/api/v0/meta/settings", json={"readOnlyRegistry": on})
    assert r.status_code == 202, r.text
    assert (await c.get("/api/v0/meta/settings")).json()["readOnlyRegistry"] is on


@pytest.fixture()
async def world(inproc: InProcessApp) -> AsyncIterator[InProcessApp]:
    """An organization, a team, a user, a repository with a tag, a token, then read-only on."""
    async with inproc.client() as c:
        for doc in (
            {"name": "acme", "isOrg": True},
            {"name": "alice", "password": PASSWORD},
        ):
            r = await c.post("/enzi/v0/accounts", json=doc)
            assert r.status_code == 201, r.text
        r = await c.post("/enzi/v0/accounts/acme/teams", json={"name": "devs"})
        assert r.status_code == 201, r.text
        r = await c.post("/api/v0/repositories/admin", json={"name": "web"})
        assert r.status_code == 201, r.text
        await push_image(c, "admin/web", "latest")
        r = await c.post("/api/v0/api_tokens", json={"tokenLabel": "ci"})
        assert r.status_code == 200, r.text
        await set_read_only(c, True)
    yield inproc


def _code(r: httpx.Response) -> str:
    return str(r.json()["errors"][0]["code"])


async def test_every_api_write_route_is_refused_and_changes_nothing(world: InProcessApp) -> None:
    routes = api_write_routes()
    assert ("DELETE", "/api/v0/repositories/admin/web/tags/latest") in routes
    assert ("POST", "/api/v0/jobs") in routes
    before = await snapshot(world.settings.database_url)
    async with world.client() as c:
        for method, path in routes:
            if path == "/api/v0/meta/settings":
                continue  # its own rule: see the settings test
            r = await c.request(method, path, json=None if method == "DELETE" else {})
            assert r.status_code == 405, (method, path, r.status_code, r.text)
            assert _code(r) == "UNSUPPORTED", (method, path, r.text)
            assert "read-only" in r.json()["errors"][0]["message"]
        # GC "run now" is one of them; reads still work.
        r = await c.post("/api/v0/jobs", json={"action": "onlinegc"})
        assert r.status_code == 405
        assert (await c.get("/api/v0/repositories/admin/web/tags")).status_code == 200
    assert await snapshot(world.settings.database_url) == before


async def test_v2_writes_are_refused(world: InProcessApp) -> None:
    before = await snapshot(world.settings.database_url)
    async with world.client() as c:
        r = await c.delete("/v2/admin/web/manifests/latest")
        assert (r.status_code, _code(r)) == (405, "UNSUPPORTED")
        r = await c.post("/v2/admin/web/blobs/uploads/")
        assert (r.status_code, _code(r)) == (405, "UNSUPPORTED")
    assert await snapshot(world.settings.database_url) == before
    # Pulls go on (after the snapshot: a pull is recorded, a moment later, as an event).
    async with world.client() as c:
        assert (await c.get("/v2/admin/web/manifests/latest")).status_code == 200


async def _sign_in(c: httpx.AsyncClient, user: str, password: str) -> str:
    form = await c.get("/login")
    found = CSRF.search(form.text)
    assert found, form.text
    r = await c.post(
        "/login",
        data={"csrf": found[1], "username": user, "password": password, "next": "/"},
    )
    assert r.status_code == 303, r.text
    page = await c.get("/tokens")
    found = CSRF.search(page.text)
    assert found, page.text
    return found[1]


async def test_ui_forms_are_refused_but_signing_in_and_out_works(world: InProcessApp) -> None:
    routes = ui_write_routes()
    assert "/repositories/admin/web/delete" in routes
    assert "/jobs" in routes
    async with world.client(auth=None, follow_redirects=False) as c:
        csrf = await _sign_in(c, *world.admin)
        before = await snapshot(world.settings.database_url)
        for path in routes:
            if path == "/admin/settings":
                continue  # its own rule: see the settings test
            r = await c.post(path, data={"csrf": csrf, "confirm": "web", "name": "new"})
            assert r.status_code == 405, (path, r.status_code, r.text[:500])
            assert r.headers["content-type"].startswith("text/html")
            assert "read-only mode" in r.text
        assert await snapshot(world.settings.database_url) == before
        r = await c.post("/logout", data={"csrf": csrf})
        assert r.status_code == 303, r.text
        assert (await c.get("/tokens")).status_code == 303  # signed out
    async with world.client(auth=None, follow_redirects=False) as c:
        await _sign_in(c, "alice", PASSWORD)


async def test_the_token_service_still_signs_in(world: InProcessApp) -> None:
    async with world.client(auth=None) as c:
        r = await c.post(
            "/auth/token",
            data={
                "grant_type": "password",
                "username": "alice",
                "password": PASSWORD,
                "access_type": "offline",
                "client_id": "test",
                "service": "moorage",
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["refresh_token"]
        r = await c.get("/auth/token", auth=world.admin, params={"service": "moorage"})
        assert r.status_code == 200, r.text


async def test_settings_can_only_turn_read_only_mode_off(world: InProcessApp) -> None:
    async with world.client() as c:
        r = await c.post("/api/v0/meta/settings", json={"createRepositoryOnPush": False})
        assert (r.status_code, _code(r)) == (405, "UNSUPPORTED"), r.text
        r = await c.get("/api/v0/meta/settings")
        assert r.json()["createRepositoryOnPush"] is True
        assert r.json()["readOnlyRegistry"] is True
        await set_read_only(c, False)
        r = await c.post("/api/v0/repositories/admin", json={"name": "after"})
        assert r.status_code == 201, r.text
        r = await c.delete("/api/v0/repositories/admin/web/tags/latest")
        assert r.status_code == 204, r.text


async def test_the_ui_settings_form_can_turn_read_only_mode_off(world: InProcessApp) -> None:
    async with world.client(auth=None, follow_redirects=False) as c:
        csrf = await _sign_in(c, *world.admin)
        # Read-only stays on, another setting changes: refused.
        r = await c.post("/admin/settings", data={"csrf": csrf, "read_only_registry": "on"})
        assert r.status_code == 405, r.text[:500]
        assert "read-only mode" in r.text
        # Read-only unchecked: it goes off.
        r = await c.post("/admin/settings", data={"csrf": csrf, "create_repository_on_push": "on"})
        assert r.status_code == 303, r.text[:500]
    async with world.client() as c:
        r = await c.get("/api/v0/meta/settings")
        assert r.json()["readOnlyRegistry"] is False
        assert r.json()["createRepositoryOnPush"] is True
