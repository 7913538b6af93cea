"""The record of each LDAP sync (``ldap_syncs``), which the API and the UI show.

A sync runs as an ``ldapsync`` job (``moorage.jobs.ldapsync``): its record names the job
(``jobID``) and the worker that ran it (``runner``), and the job's log tells its steps. "Sync now"
records a ``waiting`` sync with its job; a scheduled one is recorded when its job starts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, desc, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import NotFound

MAX_ERRORS = 100
STALE_RUN = 3600  # a sync still "running" after this long is taken as dead
FINISHED = ("succeeded", "failed")


class NoSuchSync(NotFound):
    code, default_message = "NO_SUCH_SYNC", "no such LDAP sync"


@dataclass
class SyncResult:
    users_created: int = 0
    users_updated: int = 0
    users_deactivated: int = 0
    users_reactivated: int = 0
    team_members_added: int = 0
    team_members_removed: int = 0
    users_found: int = 0
    errors: list[str] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)
    job_id: str = ""

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
        elif len(self.errors) == MAX_ERRORS:
            self.errors.append("(more errors left out)")

    def wire(self) -> dict[str, Any]:
        return {
            "usersFound": self.users_found,
            "usersCreated": self.users_created,
            "usersUpdated": self.users_updated,
            "usersDeactivated": self.users_deactivated,
            "usersReactivated": self.users_reactivated,
            "teamMembersAdded": self.team_members_added,
            "teamMembersRemoved": self.team_members_removed,
            "errors": self.errors,
            "teams": self.teams,
            "jobID": self.job_id,
        }


def sync_wire(row: Any) -> dict[str, Any]:
    try:
        result = json.loads(row.result or "{}")
    except ValueError:
        result = {}
    return {
        "id": row.id,
        "status": row.status,
        "trigger": row.trigger,
        "runner": row.runner,
        "startedAt": as_utc(row.started_at).isoformat(),
        "finishedAt": as_utc(row.finished_at).isoformat() if row.finished_at else None,
        **SyncResult().wire(),
        **result,
    }


async def list_syncs(
    db: Database, *, start: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Recorded syncs, newest first, and the id the next page starts at."""
    query = select(t.ldap_syncs).order_by(desc(t.ldap_syncs.c.id)).limit(limit + 1)
    if start is not None:
        query = query.where(t.ldap_syncs.c.id <= start)
    async with db.read() as conn:
        rows = list(await conn.execute(query))
    nxt = int(rows[limit].id) if len(rows) > limit else None
    return [sync_wire(r) for r in rows[:limit]], nxt


async def get_sync(db: Database, sync_id: int) -> dict[str, Any]:
    async with db.read() as conn:
        row = (await conn.execute(select(t.ldap_syncs).where(t.ldap_syncs.c.id == sync_id))).first()
    if row is None:
        raise NoSuchSync(detail={"id": sync_id})
    return sync_wire(row)


async def insert(
    conn: Connection, trigger: str, *, status: str = "running", runner: str = "", job_id: str = ""
) -> int:
    row = (
        await conn.execute(
            t.ldap_syncs.insert()
            .values(
                started_at=utcnow(),
                status=status,
                result=json.dumps({"jobID": job_id}) if job_id else "{}",
                trigger=trigger,
                runner=runner[:255],
            )
            .returning(t.ldap_syncs.c.id)
        )
    ).one()
    return int(row.id)


async def set_job(conn: Connection, sync_id: int, job_id: str) -> None:
    await conn.execute(
        update(t.ldap_syncs)
        .where(t.ldap_syncs.c.id == sync_id)
        .values(result=json.dumps({"jobID": job_id}))
    )


async def start(db: Database, sync_id: int, runner: str, job_id: str, *, again: bool) -> bool:
    """A queued sync starts (``again``: a retried job's, which an interruption left ``failed``);
    False when it has already finished."""
    startable: ColumnElement[bool] = t.ldap_syncs.c.status.not_in(FINISHED)
    if again:
        startable = or_(startable, t.ldap_syncs.c.status == "failed")
    async with db.write() as conn:
        done = await conn.execute(
            update(t.ldap_syncs)
            .where(and_(t.ldap_syncs.c.id == sync_id, startable))
            .values(
                status="running",
                started_at=utcnow(),
                finished_at=None,
                runner=runner[:255],
                result=json.dumps({"jobID": job_id}),
            )
        )
    return bool(done.rowcount)


async def finish(db: Database, sync_id: int, status: str, result: SyncResult) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(t.ldap_syncs)
            .where(t.ldap_syncs.c.id == sync_id)
            .values(status=status, finished_at=utcnow(), result=json.dumps(result.wire()))
        )


async def running_elsewhere(conn: Connection) -> bool:
    """Whether a sync is running (and not so old that it is taken as dead)."""
    found = (
        await conn.execute(
            select(func.count())
            .select_from(t.ldap_syncs)
            .where(
                and_(
                    t.ldap_syncs.c.status == "running",
                    t.ldap_syncs.c.started_at > utcnow() - dt.timedelta(seconds=STALE_RUN),
                )
            )
        )
    ).scalar_one()
    return bool(found)
