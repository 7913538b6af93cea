"""The in-process harness serves the same app as ``moorage serve``."""

from __future__ import annotations

from tests.inprocess import InProcessApp


async def test_ping_and_admin_login(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        assert (await c.get("/_ping")).json()["Healthy"] is True
        r = await c.get("/v2/")
        assert r.status_code == 200
    async with inproc.client(auth=None) as anonymous:
        r = await anonymous.get("/v2/")
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer realm=")
