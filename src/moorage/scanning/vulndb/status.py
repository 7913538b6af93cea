"""The database's version and its last update, as the status row holds them."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from moorage.db.engine import Database, as_utc, utcnow
from moorage.scanning.vulndb.store import ST


@dataclass(frozen=True, slots=True)
class Updating:
    """An import under way: who runs it, since when, and how far it is."""

    holder: str
    since: dt.datetime
    progress: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    generation: int  # the database's version (0: none imported yet)
    newest_modified: dt.datetime | None  # the newest ``modified`` of its records
    imported_at: dt.datetime | None
    source: str | None  # the feed's URL or the file it was imported from
    records: int
    withdrawn: int
    last_import: dict[str, int] | None  # the counts of the import in force
    last_outcome: str | None  # succeeded | failed: the last attempt, whatever it was
    last_attempt_at: dt.datetime | None
    last_source: str | None
    last_error: str | None
    updating: Updating | None

    @property
    def last_failed(self) -> bool:
        return self.last_outcome == "failed"


def _time(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value) if value is not None else None


async def read(db: Database) -> DatabaseStatus:
    async with db.read() as conn:
        row = (await conn.execute(select(ST).where(ST.c.id == 1))).first()
    if row is None:  # a database migrated before its row could be written: nothing imported
        return DatabaseStatus(0, None, None, None, 0, 0, None, None, None, None, None, None)
    updating = None
    until = _time(row.lock_until)
    if row.lock_token is not None and until is not None and until > utcnow():
        updating = Updating(
            holder=row.lock_holder or "",
            since=_time(row.lock_since) or until,
            progress=json.loads(row.progress) if row.progress else {},
        )
    return DatabaseStatus(
        generation=int(row.generation),
        newest_modified=_time(row.newest_modified),
        imported_at=_time(row.imported_at),
        source=row.source,
        records=int(row.record_count),
        withdrawn=int(row.withdrawn_count),
        last_import=json.loads(row.last_report) if row.last_report else None,
        last_outcome=row.last_outcome,
        last_attempt_at=_time(row.last_attempt_at),
        last_source=row.last_source,
        last_error=row.last_error,
        updating=updating,
    )
