"""The app's lifespan leaves nothing running: when it ends, every loop it started (pull
events, webhook dispatcher, job runner and its jobs) has ended, no thread is inside a
statement, and the database is never touched again, even when the shutdown comes while every
loop is busy and another process holds the database's write lock; pending pull events are
written first. A start that fails half-way stops what it had started."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from moorage.db import job_tables as jt
from moorage.db import tables as t
from moorage.db.engine import sqlite_path, sync_url
from moorage.events.store import TAG_PULL
from tests.db.statement_log import StatementLog
from tests.http.v2.inproc_push import push_image
from tests.inprocess import running_app


class Leftovers:
    """The app's tasks and threads (``moorage-*``: the loops, the SQLite BEGIN thread) still
    alive, of those started since this was made (a worker process runs other tests' databases
    too; thread pools of the event loop and of AnyIO stay, idle, by design)."""

    def __init__(self) -> None:
        self._threads = set(threading.enumerate())

    def __call__(self) -> tuple[list[str], list[str]]:
        tasks = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("moorage-")]
        threads = [
            t.name
            for t in threading.enumerate()
            if t not in self._threads and t.name.startswith("moorage-")
        ]
        return tasks, threads


class AnotherWriter:
    """Another process's transaction that blocks this app's writes until ``released``: SQLite's
    write lock, or on PostgreSQL an exclusive lock on the events table (reads go on)."""

    released = 0.0


@contextlib.contextmanager
def another_writer(url: str, seconds: float) -> Iterator[AnotherWriter]:
    """Hold the lock for ``seconds`` (released by a timer thread)."""
    path = sqlite_path(url)
    writer = AnotherWriter()
    commit: Callable[[], Any]
    if path is not None:
        conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        commit = lambda: conn.execute("COMMIT")  # noqa: E731
    else:
        engine = create_engine(sync_url(url))
        pg = engine.connect()
        pg.execute(text("LOCK TABLE events IN EXCLUSIVE MODE"))
        commit = pg.commit

    def release() -> None:
        commit()
        writer.released = time.monotonic()

    timer = threading.Timer(seconds, release)
    timer.start()
    try:
        yield writer
    finally:
        timer.join()
        if path is not None:
            conn.close()
        else:
            pg.close()
            engine.dispose()


def counts(url: str, job_id: str | None) -> tuple[int, str | None]:
    """The pull events written, and the job's status."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            pulls = conn.execute(
                select(func.count()).select_from(t.events).where(t.events.c.type == TAG_PULL)
            ).scalar_one()
            status = conn.execute(select(jt.jobs.c.status).where(jt.jobs.c.id == job_id)).scalar()
    finally:
        engine.dispose()
    return int(pulls), status


async def _wait_running(c: httpx.AsyncClient, job_id: str) -> None:
    for _ in range(300):
        r = await c.get(f"/api/v0/jobs/{job_id}")
        if r.json()["status"] == "running":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never ran: {r.text}")


@pytest.mark.parametrize("job_runner", [True, False], ids=["job-running", "no-runner"])
async def test_nothing_touches_the_database_after_a_busy_shutdown(
    tmp_path: Path,
    database_factory: Callable[[], str | None],
    statements: StatementLog,
    job_runner: bool,
) -> None:
    """With a job running, the runner's stop waits for the lock (its job's writes do); with no
    runner the pull buffer's pass is cancelled while its BEGIN waits in a thread (the crash)."""
    settings: dict[str, Any] = {"event_flush_interval": 0.2}
    if not job_runner:
        settings["job_workers"] = 0
    leftovers = Leftovers()
    with contextlib.ExitStack() as locks:
        async with running_app(tmp_path / "d", database_factory(), **settings) as app:
            url = app.settings.database_url
            async with app.client() as c:
                await push_image(c, "admin/busy", "v1")
                job_id = None
                if job_runner:
                    r = await c.post(
                        "/api/v0/jobs", json={"action": "sleep", "parameters": {"seconds": 600}}
                    )
                    assert r.status_code == 202, r.text
                    job_id = r.json()["id"]
                    await _wait_running(c, job_id)
                # Taken in a thread: it waits its turn behind a write of the app in progress,
                # which runs on this loop and must be able to finish meanwhile.
                writer = await asyncio.to_thread(
                    locks.enter_context, another_writer(url, seconds=2.0)
                )
                for _ in range(3):  # pulls to write: the buffer's pass now waits on the lock
                    r = await c.get("/v2/admin/busy/manifests/v1")
                    assert r.status_code == 200, r.text
            await asyncio.sleep(0.5)
            # The shutdown: the loops busy, their writes waiting for the other process.
        ended = time.monotonic()
        running = statements.running()
    tasks, threads = leftovers()  # (the other process's timer thread joined)
    await asyncio.sleep(0.5)  # anything left over would run now
    assert writer.released and ended > writer.released, "stopped before the writes could end"
    assert running == 0, "a statement was still running when the lifespan ended"
    assert (tasks, threads) == ([], [])
    assert statements.since(ended) == []
    # Nothing lost on the way: the pulls were written, the job recorded as its worker's.
    pulls, status = counts(url, job_id)
    assert pulls == 3
    assert status == ("worker_dead" if job_runner else None)


async def test_a_start_that_fails_half_way_stops_what_it_started(
    tmp_path: Path, database_factory: Callable[[], str | None], statements: StatementLog
) -> None:
    data = tmp_path / "d"
    leftovers = Leftovers()
    async with running_app(data, database_factory()) as app:
        url = app.settings.database_url
    # A half-migrated database: the job schedules' table is gone. The app starts its
    # pull-event loop before it reaches the schedules, and fails there.
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE crons"))
    engine.dispose()
    with pytest.raises(Exception, match="crons"):
        async with running_app(data, url if sqlite_path(url) is None else None):
            pass
    failed = time.monotonic()
    assert leftovers() == ([], [])
    await asyncio.sleep(0.3)
    assert statements.since(failed) == []
