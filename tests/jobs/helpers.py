"""Small helpers for the job tests: a registry context on a fresh database; queue, wait, read
logs through DTR's API."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from moorage.config import Settings
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.registry.context import RegistryContext
from moorage.storage.base import StorageDriver


@contextlib.asynccontextmanager
async def registry_context(
    url: str | None, tmp_path: Path, storage: StorageDriver
) -> AsyncIterator[RegistryContext]:
    """A migrated database (``url``, else SQLite in ``tmp_path``) and ``storage``, no server."""
    url = url or f"sqlite:///{tmp_path / 'moorage.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        yield RegistryContext(db=db, storage=storage, settings=Settings(data=tmp_path))
    finally:
        await db.close()


def submit(client: httpx.Client, action: str, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v0/jobs", json={"action": action, **body})
    assert r.status_code == 202, r.text
    job: dict[str, Any] = r.json()
    # A worker may have claimed it already.
    assert job["status"] in ("waiting", "running", "done"), job
    return job


def job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v0/jobs/{job_id}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def wait_status(
    client: httpx.Client, job_id: str, statuses: tuple[str, ...], timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = job(client, job_id)
        if found["status"] in statuses:
            return found
        assert time.monotonic() < deadline, f"job {job_id} still {found['status']}"
        time.sleep(0.1)


def logs(client: httpx.Client, job_id: str) -> list[str]:
    r = client.get(f"/api/v0/jobs/{job_id}/logs")
    assert r.status_code == 200, r.text
    return [line["data"] for line in r.json()]


def all_jobs(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start: str | None = None
    for _ in range(1000):
        query = {"pageSize": 100, **params, **({"pageStart": start} if start else {})}
        r = client.get("/api/v0/jobs", params=query)
        assert r.status_code == 200, r.text
        out.extend(r.json()["jobs"])
        start = r.headers.get("X-Next-Page-Start")
        if not start:
            return out
    raise AssertionError("paging did not end")
