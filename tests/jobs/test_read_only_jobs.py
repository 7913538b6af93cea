"""Read-only mode holds back the jobs that change what the registry stores (GC, pruning, purge)."""

from __future__ import annotations

import asyncio

from moorage.db.engine import Database
from moorage.queue import jobs
from tests.inprocess import InProcessApp


async def _status(app: InProcessApp, job_id: str) -> str:
    async with app.client() as c:
        r = await c.get(f"/api/v0/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return str(r.json()["status"])


async def test_content_jobs_wait_while_read_only(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        r = await c.post("/api/v0/meta/settings", json={"readOnlyRegistry": True})
        assert r.status_code in (200, 202), r.text
    db = Database(inproc.settings.database_url)
    try:
        async with db.write() as conn:
            gc = await jobs.enqueue(conn, "onlinegc", {})
            sleeper = await jobs.enqueue(conn, "sleep", {"seconds": 0})
    finally:
        await db.close()
    for _ in range(100):  # bounded: the harness polls every 0.2 s
        if await _status(inproc, sleeper) == "done":
            break
        await asyncio.sleep(0.1)
    assert await _status(inproc, sleeper) == "done"
    await asyncio.sleep(1.0)  # several runner passes
    assert await _status(inproc, gc) == "waiting"

    async with inproc.client() as c:
        r = await c.post("/api/v0/meta/settings", json={"readOnlyRegistry": False})
        assert r.status_code in (200, 202), r.text
    for _ in range(200):
        if await _status(inproc, gc) in ("done", "errored"):
            break
        await asyncio.sleep(0.1)
    assert await _status(inproc, gc) == "done"
