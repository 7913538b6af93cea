"""The ``vulndbupdate`` job: online updates of the vulnerability database from a real OSV feed
served on 127.0.0.1 (``<ecosystem>/all.zip``), through DTR's API, with progress in the job's
log; incremental; a failed download leaves the database in force; a loopback feed is refused
unless the networks setting allows it; the daily default cron (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from moorage.db.engine import Database
from moorage.jobs import schedules
from moorage.queue import jobs
from tests.inprocess import running_app
from tests.scanning.vulndb.archives import (
    by_ecosystem,
    changed,
    feed_server,
    fixture_records,
    later,
    osv_layout,
    zip_bytes,
)

RECORDS = fixture_records()
UPDATE = "/api/v0/imagescan/scan/update"
STATUS = "/api/v0/imagescan/status"
# The analysers' ecosystems the fixtures cover, and one whose name needs quoting in the URL.
ECOSYSTEMS = ["Alpine", "Ubuntu", "PyPI", "npm", "Maven", "Red Hat"]


def feed_archives(records: dict[str, bytes]) -> dict[str, bytes]:
    grouped = by_ecosystem(records)
    return {eco: zip_bytes(osv_layout(grouped.get(eco, {}))) for eco in ECOSYSTEMS}


async def finished(c: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = (await c.get(f"/api/v0/jobs/{job_id}")).json()
        if job["status"] not in ("waiting", "running"):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)


async def log_of(c: httpx.AsyncClient, job_id: str) -> list[str]:
    return [line["data"] for line in (await c.get(f"/api/v0/jobs/{job_id}/logs")).json()]


async def update_now(c: httpx.AsyncClient) -> tuple[dict[str, Any], list[str]]:
    r = await c.put(UPDATE, params={"online": "true"})
    assert r.status_code == 200, r.text  # DTR answers 200 with the job
    job = await finished(c, r.json()["id"])
    return job, await log_of(c, job["id"])


async def test_online_updates_from_a_feed_on_loopback(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> None:
    with feed_server(feed_archives(RECORDS)) as feed:
        async with (
            running_app(
                tmp_path / "data",
                database_factory(),
                vulnerability_feed_url=feed.url,
                vulnerability_feed_ecosystems=ECOSYSTEMS,
                vulnerability_feed_allowed_networks=["127.0.0.1/32"],
            ) as app,
            app.client() as c,
        ):
            job, log = await update_now(c)
            assert job["status"] == "done", (job, log)
            assert feed.requested == [f"/{e.replace(' ', '%20')}/all.zip" for e in ECOSYSTEMS]
            assert any(line.startswith("downloading Alpine: http://127.0.0.1") for line in log)
            assert any(line.startswith("downloaded Red Hat") for line in log)
            assert any(f"{len(RECORDS)} records ({len(RECORDS)} added" in line for line in log)
            status = (await c.get(STATUS)).json()
            database = status["database"]
            assert (status["db_version"], database["records"]) == (1, len(RECORDS))
            assert database["source"] == feed.url and not status["lastDBUpdateFailed"]
            # Nothing of the downloads is left.
            downloads = app.settings.data / "vulndb" / "downloads"
            assert list(downloads.iterdir()) == []

            # Upstream revises one record and deletes another: only those change.
            revised_id, deleted_id = sorted(RECORDS)[:2]
            upstream = {rid: raw for rid, raw in RECORDS.items() if rid != deleted_id}
            upstream[revised_id] = changed(RECORDS[revised_id], modified=later(RECORDS[revised_id]))
            feed.archives = feed_archives(upstream)
            job, log = await update_now(c)
            assert job["status"] == "done", (job, log)
            last = (await c.get(STATUS)).json()["database"]
            assert last["version"] == 2 and last["records"] == len(RECORDS) - 1
            assert last["lastImport"] == {
                "added": 0,
                "updated": 1,
                "unchanged": len(RECORDS) - 2,
                "withdrawn": 0,
                "removed": 1,
                "duplicates": 0,
            }

            # A feed that fails half way (one archive missing) changes nothing.
            del feed.archives["Maven"]
            job, log = await update_now(c)
            assert job["status"] == "errored" and "answered 404" in job["error"], job
            after = (await c.get(STATUS)).json()
            assert after["lastDBUpdateFailed"] is True
            assert after["database"]["version"] == 2
            assert after["database"]["records"] == len(RECORDS) - 1
            assert "answered 404" in after["database"]["lastUpdate"]["error"]


async def test_a_loopback_feed_is_refused_without_the_networks_setting(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> None:
    with feed_server(feed_archives(RECORDS)) as feed:
        async with (
            running_app(
                tmp_path / "data",
                database_factory(),
                vulnerability_feed_url=feed.url,
                vulnerability_feed_ecosystems=ECOSYSTEMS,
            ) as app,
            app.client() as c,
        ):
            job, log = await update_now(c)
            assert job["status"] == "errored", (job, log)
            assert "vulnerability_feed_allowed_networks" in job["error"]
            assert feed.requested == []  # not a byte asked of it
            status = (await c.get(STATUS)).json()
            assert status["lastDBUpdateFailed"] is True and status["db_version"] == 0


async def test_the_daily_update_is_a_default_cron(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> None:
    migration = importlib.import_module(
        "moorage.db.migrations.versions.0013_vulnerability_database"
    )
    (default,) = [d for d in schedules.DEFAULTS if d.action == "vulndbupdate"]
    assert ((default.action, default.schedule, default.parameters),) == migration.DEFAULTS
    with feed_server(feed_archives(RECORDS)) as feed:
        async with (
            running_app(
                tmp_path / "data",
                database_factory(),
                vulnerability_feed_url=feed.url,
                vulnerability_feed_allowed_networks=["127.0.0.1/32"],
                vulnerability_feed_scheduled=False,
            ) as app,
            app.client() as c,
        ):
            cron = (await c.get("/api/v0/crons/vulndbupdate")).json()
            assert cron["schedule"] == default.schedule
            assert cron["schedule"].split()[2:] == ["*", "*", "*"]  # daily
            # A run the cron fires, on a site whose scheduled updates are off, does nothing.
            db = Database(app.settings.database_url)
            try:
                async with db.write() as conn:
                    job_id = await jobs.insert(conn, "vulndbupdate", {}, max_attempts=1, cron=True)
            finally:
                await db.close()
            job = await finished(c, job_id)
            assert job["status"] == "done" and job["cron"] is True
            assert any("scheduled online updates are off" in x for x in await log_of(c, job_id))
            assert feed.requested == []


async def test_a_feed_url_with_credentials_is_refused_and_never_shown(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> None:
    with feed_server(feed_archives(RECORDS)) as feed:
        secret_url = feed.url.replace("http://", "http://reader:s3cret-pass@")
        async with (
            running_app(
                tmp_path / "data",
                database_factory(),
                vulnerability_feed_url=secret_url,
                vulnerability_feed_ecosystems=ECOSYSTEMS,
                vulnerability_feed_allowed_networks=["127.0.0.1/32"],
            ) as app,
            app.client() as c,
        ):
            job, log = await update_now(c)
            assert job["status"] == "errored" and "user name or password" in job["error"]
            assert feed.requested == []
            status = (await c.get(STATUS)).text
            for shown in (status, job["error"], *log):
                assert "s3cret-pass" not in shown
            assert feed.url in status
