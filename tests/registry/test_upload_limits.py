"""Open blob uploads are bounded: a per-account limit (``upload_limit_per_account``, refused with
429 TOOMANYREQUESTS) and the daily ``uploadpurge`` cron, which removes uploads idle for a day
(rows and bytes) and never one that a request is writing to."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from moorage.db import tables as t
from moorage.db.engine import Database, utcnow
from moorage.jobs import schedules
from tests.http.ui.conftest import csrf_of
from tests.http.v2.helpers import digest_of
from tests.http.v2.inproc_push import create_user, oci_error, push_blob
from tests.inprocess import InProcessApp, running_app


def _upload_id(location: str) -> str:
    return location.rsplit("/", 1)[1]


async def _open(c: httpx.AsyncClient, repo: str) -> str:
    r = await c.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    return str(r.headers["Location"])


async def test_open_uploads_per_account_are_limited(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> None:
    data = tmp_path / "d"
    async with (
        running_app(data, database_factory(), upload_limit_per_account=3) as app,
        app.client() as admin,
    ):
        bob = await create_user(admin, "bob")
        opened = [await _open(admin, "admin/many") for _ in range(3)]
        refused = await admin.post("/v2/admin/many/blobs/uploads/")
        error = oci_error(refused, 429, "TOOMANYREQUESTS")
        assert "admin has 3 blob uploads open" in error["message"], error
        assert error["detail"] == {"open": 3, "limit": 3}
        # Another repository of the same account: the same limit.
        oci_error(await admin.post("/v2/admin/other/blobs/uploads/"), 429, "TOOMANYREQUESTS")
        # A monolithic upload holds no session and still works.
        await push_blob(admin, "admin/many", b"monolithic")
        # Another account has its own count.
        async with app.client(auth=bob) as c:
            assert (await c.post("/v2/bob/repo/blobs/uploads/")).status_code == 202
        # Finishing or cancelling one makes room.
        assert (await admin.delete(opened[0])).status_code == 204
        opened[0] = await _open(admin, "admin/many")
        body = b"finished"
        r = await admin.put(opened[1], params={"digest": digest_of(body)}, content=body)
        assert r.status_code == 201, r.text
        await _open(admin, "admin/many")
        oci_error(await admin.post("/v2/admin/many/blobs/uploads/"), 429, "TOOMANYREQUESTS")


async def _wait_done(c: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        job: dict[str, Any] = (await c.get(f"/api/v0/jobs/{job_id}")).json()
        if job["status"] not in ("waiting", "running"):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)


async def test_default_daily_purge_schedule(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        r = await c.get("/api/v0/crons/uploadpurge")
        assert r.status_code == 200, r.text
        cron = r.json()
        assert cron["parameters"] == {"maxAgeSeconds": 86400}
        # What the migration wrote is what the code documents as the default.
        (default,) = [d for d in schedules.DEFAULTS if d.action == "uploadpurge"]
        assert (default.action, default.schedule) == ("uploadpurge", cron["schedule"])
        assert default.parameters == cron["parameters"]
        assert len(cron["schedule"].split()) == 5 and cron["schedule"].split()[2:] == ["*"] * 3
        next_run = dt.datetime.fromisoformat(cron["nextRun"].replace("Z", "+00:00"))
        assert dt.timedelta(0) < next_run - utcnow() <= dt.timedelta(days=1)
        listed = (await c.get("/api/v0/crons")).json()["crons"]
        assert "uploadpurge" in [x["action"] for x in listed]
    # The Jobs page of the web UI lists it among the schedules.
    async with inproc.client(auth=None) as browser:
        form = await browser.get("/login")
        r = await browser.post(
            "/login",
            data={"csrf": csrf_of(form), "username": inproc.admin[0], "password": inproc.admin[1]},
        )
        assert r.status_code == 303, r.text[:500]
        page = await browser.get("/jobs")
        assert page.status_code == 200
        crons = page.text[page.text.index('id="crons"') :]
        assert "uploadpurge" in crons and cron["schedule"] in crons


async def test_purge_removes_idle_uploads_only(inproc: InProcessApp) -> None:
    storage = inproc.settings.storage_root
    async with inproc.client() as c:
        idle = await _open(c, "admin/purge")
        r = await c.patch(
            idle, content=b"abandoned bytes", headers={"Content-Type": "application/octet-stream"}
        )
        assert r.status_code == 202, r.text
        leased = await _open(c, "admin/purge")
        fresh = await _open(c, "admin/purge")
    idle_id, leased_id = _upload_id(idle), _upload_id(leased)
    assert (storage / "uploads" / idle_id / "data").exists()
    db = Database(inproc.settings.database_url)
    try:
        old = utcnow() - dt.timedelta(days=2)
        async with db.write() as conn:
            u = t.uploads
            await conn.execute(
                update(u).where(u.c.id.in_([idle_id, leased_id])).values(updated_at=old)
            )
            # A request is writing to this one right now (its lease is live).
            await conn.execute(
                update(u)
                .where(u.c.id == leased_id)
                .values(writer="a-writer", lease_until=utcnow() + dt.timedelta(minutes=1))
            )
    finally:
        await db.close()
    async with inproc.client() as c:
        r = await c.post("/api/v0/jobs", json={"action": "uploadpurge"})
        assert r.status_code == 202, r.text
        job = await _wait_done(c, r.json()["id"])
        assert job["status"] == "done", job
        lines = [x["data"] for x in (await c.get(f"/api/v0/jobs/{job['id']}/logs")).json()]
        assert any("purged 1 of 1 idle uploads, 15 bytes" in line for line in lines), lines
        oci_error(await c.get(idle), 404, "BLOB_UPLOAD_UNKNOWN")
        assert (await c.get(leased)).status_code == 204
        assert (await c.get(fresh)).status_code == 204
    assert not (storage / "uploads" / idle_id).exists()
