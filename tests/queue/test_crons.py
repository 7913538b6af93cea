"""``@every <duration>`` schedules: what is accepted and refused (with a clear error, nothing
written), the first run one interval after the cron is put, every later run the previous one
plus the interval however late a pass comes, and one firing per run across replicas."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import update

from moorage.db import job_tables as jt
from moorage.db.engine import Database, utcnow
from moorage.errors import InvalidInput
from moorage.queue import crons, jobs
from moorage.registry.context import RegistryContext
from tests.inprocess import InProcessApp

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ("@every 15m", 900),
        ("@every 3600s", 3600),
        ("@every 1h30m", 5400),
        ("@every 1.5h", 5400),
        ("@every 1s", 1),
        ("@every 1000ms", 1),
        ("@every 2d", 2 * 86400),
        ("@every 8784h", 366 * 86400),
    ],
)
def test_every_accepted(schedule: str, seconds: int) -> None:
    assert crons.validate(schedule) == schedule
    assert crons.interval(schedule) == dt.timedelta(seconds=seconds)
    assert crons.next_run(schedule, T0) == T0 + dt.timedelta(seconds=seconds)


def test_every_whitespace_is_normalized() -> None:
    assert crons.validate("  @every \t 15m ") == "@every 15m"


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ("@every", "needs one duration"),
        ("@every 0s", "greater than zero"),
        ("@every 0", "greater than zero"),
        ("@every -5m", "greater than zero"),
        ("@every 500ms", "from 1s to 8784h"),
        ("@every 1.5s", "whole number of seconds"),
        ("@every 367d", "from 1s to 8784h"),
        ("@every 99999999999999999999h", "needs one duration"),  # beyond any timedelta
        ("@every 1h 5m", "needs one duration"),
        ("@every 5", "needs one duration"),
        ("@every 5x", "needs one duration"),
        ("@every 1e3s", "needs one duration"),
        ("@every 15m extra", "needs one duration"),
        ("@every " + "1" * 300 + "s", "at most 255 characters"),
        ("@everyday", "cron expression"),
        ("every 15m", "cron expression"),
    ],
)
def test_bad_schedules_are_refused(schedule: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        crons.validate(schedule)
    assert says in refused.value.message, refused.value.message
    assert refused.value.detail == {"schedule": " ".join(schedule.split())[:255]}


def test_every_of_an_interval() -> None:
    assert crons.every(dt.timedelta(seconds=90)) == "@every 1m30s"
    assert crons.every(dt.timedelta(hours=6)) == "@every 6h"
    for seconds in (5, 7, 45, 3599, 86401, 366 * 86400):
        made = crons.every(dt.timedelta(seconds=seconds))
        assert crons.interval(made) == dt.timedelta(seconds=seconds), made
    with pytest.raises(InvalidInput):
        crons.every(dt.timedelta(days=400))
    with pytest.raises(InvalidInput):
        crons.every(dt.timedelta(0))


def test_following_keeps_the_phase() -> None:
    every = "@every 10m"
    step = dt.timedelta(minutes=10)
    assert crons.following(every, T0, T0) == T0 + step
    assert crons.following(every, T0, T0 + dt.timedelta(seconds=1)) == T0 + step
    # A pass 35 minutes late skips the missed runs and lands on the phase, not on now + 10m.
    assert crons.following(every, T0, T0 + dt.timedelta(minutes=35)) == T0 + 4 * step
    assert crons.following(every, T0, T0 + 3 * step) == T0 + 4 * step  # strictly after now
    # A replica whose clock is behind still moves the run forward by one interval.
    assert crons.following(every, T0, T0 - dt.timedelta(minutes=3)) == T0 + step
    # A cron expression goes on from now.
    hourly = "0 * * * *"
    assert crons.following(hourly, T0, T0 + dt.timedelta(minutes=35)) == T0 + dt.timedelta(hours=1)


async def test_first_run_one_interval_after_put(ctx: RegistryContext) -> None:
    before = utcnow()
    cron = await crons.put(ctx.db, crons.Cron(action="sleep", schedule="@every  2h"))
    assert cron.schedule == "@every 2h"
    assert cron.next_run is not None
    assert before + dt.timedelta(hours=2) <= cron.next_run <= utcnow() + dt.timedelta(hours=2)


async def test_refused_schedule_writes_nothing(ctx: RegistryContext) -> None:
    before = await crons.listing(ctx.db)  # (the default crons)
    for bad in ("@every 0s", "@every -1h", "@every 400d"):
        with pytest.raises(InvalidInput):
            await crons.put(ctx.db, crons.Cron(action="sleep", schedule=bad))
    assert await crons.listing(ctx.db) == before
    assert "sleep" not in {c.action for c in before}


async def _set_next_run(db: Database, when: dt.datetime) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(jt.crons).where(jt.crons.c.action == "sleep").values(next_run=when)
        )


async def test_every_fires_once_across_replicas_on_its_phase(ctx: RegistryContext) -> None:
    step = dt.timedelta(seconds=10)
    await crons.put(ctx.db, crons.Cron(action="sleep", schedule="@every 10s"))
    due = utcnow().replace(microsecond=0) - dt.timedelta(seconds=25)
    await _set_next_run(ctx.db, due)
    others = [Database(ctx.db.url) for _ in range(2)]  # separate pools, as separate replicas
    try:
        fired = await asyncio.gather(
            crons.fire_due(ctx.db), *(crons.fire_due(o) for o in others), crons.fire_due(ctx.db)
        )
    finally:
        for other in others:
            await other.close()
    assert sum(len(f) for f in fired) == 1, fired
    cron = await crons.get(ctx.db, "sleep")
    # 25 s late: the runs at +10 s and +20 s are skipped, the next is at +30 s of the old phase.
    assert cron.next_run == due + 3 * step
    job_id = next(f for f in fired if f)[0]
    assert cron.last_job_id == job_id
    job = await jobs.get(ctx.db, job_id)
    assert job.cron and job.action == "sleep"
    # Not due again before its time.
    assert await crons.fire_due(ctx.db) == []


async def test_every_phase_survives_many_passes(ctx: RegistryContext) -> None:
    """Each firing moves the run by whole intervals from where it was, never from now."""
    step = dt.timedelta(seconds=7)
    await crons.put(ctx.db, crons.Cron(action="sleep", schedule="@every 7s"))
    origin = utcnow().replace(microsecond=123000) - dt.timedelta(minutes=5)
    await _set_next_run(ctx.db, origin)
    for _ in range(3):
        await crons.fire_due(ctx.db)
        cron = await crons.get(ctx.db, "sleep")
        assert cron.next_run is not None and cron.next_run > utcnow() - dt.timedelta(seconds=1)
        assert (cron.next_run - origin) % step == dt.timedelta(0), cron.next_run
        # The job of that run finished; the next one is due at once (a pass that came late).
        async with ctx.db.write() as conn:
            await conn.execute(update(jt.jobs).values(status="done"))
        await _set_next_run(ctx.db, cron.next_run - 3 * step)
    found, _ = await jobs.page(ctx.db, action="sleep")
    assert len(found) == 3


async def test_api_refuses_bad_every_schedules(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        for bad in ("@every 0s", "@every -15m", "@every 1000d", "@every soon"):
            r = await c.post("/api/v0/crons", json={"action": "sleep", "schedule": bad})
            assert r.status_code == 400, r.text
            error = r.json()["errors"][0]
            assert "@every" in error["message"] and error["detail"] == {"schedule": bad}
        assert (await c.get("/api/v0/crons/sleep")).status_code == 404
        r = await c.post("/api/v0/crons", json={"action": "sleep", "schedule": "@every 15m"})
        assert r.status_code == 202, r.text
        assert r.json()["schedule"] == "@every 15m"
        next_run = dt.datetime.fromisoformat(r.json()["nextRun"])
        assert dt.timedelta(minutes=14) < next_run - utcnow() <= dt.timedelta(minutes=15)
