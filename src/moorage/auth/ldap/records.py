"""The record of each LDAP sync (``ldap_syncs``), which the API and the UI show.

A sync runs as an ``ldapsync`` job (``moorage.jobs.ldapsync``): its record names the job
(``job_id``) and the worker that ran it (``runner``), and the job's log tells its steps. "Sync now"
records a ``waiting`` sync with its job; a scheduled one is recorded when its job starts.

Records are handed out as ``SyncRecord`` (the row) holding a ``SyncResult`` (what the sync did);
the API's names for them are the edge's (``http/api/models/ldap.py``). The row's ``result``
column keeps the outcome as a JSON document whose keys are the ones it has always had
(``usersCreated``, ``jobID`` ...), so rows written before read back unchanged; ``_dump`` and
``_load`` are the only code that knows them, and a document that does not parse, or a value of
the wrong type in it, reads as nothing done.
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
class TeamOutcome:
    """What a sync did to one synced team (``label``: ``org/team``): members ``added`` and
    ``removed``, directory members ``unmatched`` by an imported user, or the ``error`` that kept
    the team as it was."""

    label: str
    added: int = 0
    removed: int = 0
    unmatched: int | None = None
    error: str | None = None


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
    teams: list[TeamOutcome] = field(default_factory=list)
    job_id: str = ""

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
        elif len(self.errors) == MAX_ERRORS:
            self.errors.append("(more errors left out)")

    def counts(self) -> dict[str, int]:
        """The numbers alone (for a log line)."""
        return {
            "users_found": self.users_found,
            "users_created": self.users_created,
            "users_updated": self.users_updated,
            "users_deactivated": self.users_deactivated,
            "users_reactivated": self.users_reactivated,
            "team_members_added": self.team_members_added,
            "team_members_removed": self.team_members_removed,
        }


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """One recorded sync (``finished_at`` None while it is waiting or running)."""

    id: int
    status: str
    trigger: str
    runner: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    result: SyncResult

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


# The keys of the stored document (the ``result`` column), by SyncResult's count fields.
_COUNT_KEYS = {
    "users_found": "usersFound",
    "users_created": "usersCreated",
    "users_updated": "usersUpdated",
    "users_deactivated": "usersDeactivated",
    "users_reactivated": "usersReactivated",
    "team_members_added": "teamMembersAdded",
    "team_members_removed": "teamMembersRemoved",
}


def _dump(result: SyncResult) -> str:
    document: dict[str, Any] = {key: getattr(result, name) for name, key in _COUNT_KEYS.items()}
    document["errors"] = list(result.errors)
    teams: list[dict[str, Any]] = []
    for team in result.teams:
        entry: dict[str, Any] = {"team": team.label, "added": team.added, "removed": team.removed}
        if team.unmatched is not None:
            entry["unmatched"] = team.unmatched
        if team.error is not None:
            entry["error"] = team.error
        teams.append(entry)
    document["teams"] = teams
    document["jobID"] = result.job_id
    return json.dumps(document)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _team(entry: Any) -> TeamOutcome | None:
    if not isinstance(entry, dict) or _str(entry.get("team")) is None:
        return None
    return TeamOutcome(
        label=entry["team"],
        added=_int(entry.get("added")) or 0,
        removed=_int(entry.get("removed")) or 0,
        unmatched=_int(entry.get("unmatched")),
        error=_str(entry.get("error")),
    )


def _load(text: str | None) -> SyncResult:
    try:
        document = json.loads(text or "{}")
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    result = SyncResult(job_id=_str(document.get("jobID")) or "")
    for name, key in _COUNT_KEYS.items():
        setattr(result, name, _int(document.get(key)) or 0)
    errors = document.get("errors")
    if isinstance(errors, list):
        result.errors = [e for e in errors if isinstance(e, str)]
    teams = document.get("teams")
    if isinstance(teams, list):
        result.teams = [team for team in map(_team, teams) if team is not None]
    return result


def _record(row: Any) -> SyncRecord:
    return SyncRecord(
        id=int(row.id),
        status=row.status,
        trigger=row.trigger,
        runner=row.runner,
        started_at=as_utc(row.started_at),
        finished_at=as_utc(row.finished_at) if row.finished_at else None,
        result=_load(row.result),
    )


async def list_syncs(
    db: Database, *, start: int | None, limit: int
) -> tuple[list[SyncRecord], int | None]:
    """Recorded syncs, newest first, and the id the next page starts at."""
    query = select(t.ldap_syncs).order_by(desc(t.ldap_syncs.c.id)).limit(limit + 1)
    if start is not None:
        query = query.where(t.ldap_syncs.c.id <= start)
    async with db.read() as conn:
        rows = list(await conn.execute(query))
    nxt = int(rows[limit].id) if len(rows) > limit else None
    return [_record(r) for r in rows[:limit]], nxt


async def get_sync(db: Database, sync_id: int) -> SyncRecord:
    async with db.read() as conn:
        row = (await conn.execute(select(t.ldap_syncs).where(t.ldap_syncs.c.id == sync_id))).first()
    if row is None:
        raise NoSuchSync(detail={"id": sync_id})
    return _record(row)


async def insert(
    conn: Connection, trigger: str, *, status: str = "running", runner: str = "", job_id: str = ""
) -> int:
    row = (
        await conn.execute(
            t.ldap_syncs.insert()
            .values(
                started_at=utcnow(),
                status=status,
                result=_dump(SyncResult(job_id=job_id)) if job_id else "{}",
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
        .values(result=_dump(SyncResult(job_id=job_id)))
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
                result=_dump(SyncResult(job_id=job_id)),
            )
        )
    return bool(done.rowcount)


async def finish(db: Database, sync_id: int, status: str, result: SyncResult) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(t.ldap_syncs)
            .where(t.ldap_syncs.c.id == sync_id)
            .values(status=status, finished_at=utcnow(), result=_dump(result))
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
