"""The workers' heartbeats: who runs jobs, with what capacity, and who stopped answering.

A worker's capacity is DTR's ``capacityMap``, per action: how many jobs of the action it runs at
once. Its runner reports its own (every action it runs, up to its total capacity) and reads the
limits an administrator set (``set_capacity``, DTR's ``POST /workers/{id}/capacity``) back with
every heartbeat; a limit of 0 keeps the worker from claiming that action.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update

from moorage.db import job_tables as jt
from moorage.db.engine import Database, as_utc, utcnow
from moorage.errors import NotFound


class NoSuchWorker(NotFound):
    code, default_message = "NO_SUCH_WORKER", "no such worker"


def _limits(text: str | None) -> dict[str, int]:
    try:
        found: Any = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): int(v) for k, v in found.items() if isinstance(v, int)}


async def heartbeat(
    db: Database, worker: str, capacity: int, status: str = "running"
) -> dict[str, int]:
    """Record that ``worker`` is alive; returns the per-action limits set for it."""
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            db.insert(jt.job_workers)
            .values(
                id=worker[:255], capacity=capacity, status=status, started_at=now, heartbeat_at=now
            )
            .on_conflict_do_update(
                index_elements=["id"],
                set_={"capacity": capacity, "status": status, "heartbeat_at": now},
            )
        )
        text = (
            await conn.execute(
                select(jt.job_workers.c.capacity_map).where(jt.job_workers.c.id == worker[:255])
            )
        ).scalar()
    return _limits(text)


async def set_capacity(db: Database, worker: str, limits: dict[str, int]) -> None:
    """Replace the per-action limits of ``worker`` (its runner applies them at its next
    heartbeat); NoSuchWorker when no worker of that id has reported."""
    async with db.write() as conn:
        result = await conn.execute(
            update(jt.job_workers)
            .where(jt.job_workers.c.id == worker)
            .values(capacity_map=json.dumps(limits, sort_keys=True))
        )
    if result.rowcount == 0:
        raise NoSuchWorker(detail={"id": worker[:255]})


def effective(capacity: int, actions: list[str], limits: dict[str, int]) -> dict[str, int]:
    """Per action, how many jobs of it a worker of total ``capacity`` runs at once."""
    return {a: max(0, min(capacity, limits.get(a, capacity))) for a in actions}


@dataclass(frozen=True, slots=True)
class Worker:
    """A worker as its heartbeats show it (``dead``: running, but silent too long)."""

    id: str
    status: str
    capacity: int
    running: int
    heartbeat_at: dt.datetime
    started_at: dt.datetime
    limits: dict[str, int] = field(default_factory=dict)  # what an administrator set


async def listing(db: Database, *, stale_after: dt.timedelta) -> list[Worker]:
    now = utcnow()
    async with db.read() as conn:
        rows = list(await conn.execute(select(jt.job_workers).order_by(jt.job_workers.c.id)))
        busy = {
            r.worker: int(r.n)
            for r in await conn.execute(
                select(jt.jobs.c.worker, func.count().label("n"))
                .where(jt.jobs.c.status == "running")
                .group_by(jt.jobs.c.worker)
            )
        }
    out = []
    for r in rows:
        status = r.status
        if status == "running" and as_utc(r.heartbeat_at) < now - stale_after:
            status = "dead"
        out.append(
            Worker(
                id=r.id,
                status=status,
                capacity=int(r.capacity),
                running=busy.get(r.id, 0),
                heartbeat_at=as_utc(r.heartbeat_at),
                started_at=as_utc(r.started_at),
                limits=_limits(r.capacity_map),
            )
        )
    return out


async def forget(db: Database, *, older_than: dt.timedelta) -> None:
    async with db.write() as conn:
        await conn.execute(
            delete(jt.job_workers).where(jt.job_workers.c.heartbeat_at < utcnow() - older_than)
        )
