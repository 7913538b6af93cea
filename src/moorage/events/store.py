"""Repository events: DTR's activity stream, kept in SQL.

Changes are recorded by ``record`` inside the transaction that makes the change (an
outbox: the event exists exactly when the change does). Pulls are many and must not
cost a write each: ``PullBuffer`` keeps them in process memory and writes them in
batches from a background task (every second or every 500 pulls, and on shutdown),
adding them to the repositories' ``pulls`` counters in the same transaction.
``compact`` trims the history by age and count (DTR's site settings
``repoEventHistoryCompactionEnabled``, ``repoEventHistoryMaxAge``, ``repoEventHistoryToKeep``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from moorage.background import BackgroundLoop
from moorage.db import site_settings
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.oci.digest import is_digest

log = logging.getLogger("moorage.events")

# DTR's event types.
CREATE_REPO = "CREATE_REPO"
REPO_DELETE = "REPO_DELETE"
REPO_SETTINGS_CHANGE = "REPO_SETTINGS_CHANGE"
TEAM_ACCESS_CHANGE = "TEAM_ACCESS_CHANGE"
TAG_PUSH = "TAG_PUSH"
TAG_PULL = "TAG_PULL"
TAG_DELETE = "TAG_DELETE"
MANIFEST_PUSH = "MANIFEST_PUSH"
MANIFEST_PULL = "MANIFEST_PULL"
MANIFEST_DELETE = "MANIFEST_DELETE"
# The scanner's (``moorage.scanning``): a scan's outcome per image, and a vulnerability database
# update (a global event: no repository).
SCAN_COMPLETED = "SCAN_COMPLETED"
SCAN_FAILED = "SCAN_FAILED"
SCANNER_UPDATE_COMPLETED = "SCANNER_UPDATE_COMPLETED"
# The pull policy's audit mode (``moorage.services.pull_policy``): a pull it would have refused.
PULL_POLICY_AUDIT = "PULL_POLICY_AUDIT"
EVENT_TYPES = frozenset(
    {
        SCAN_COMPLETED,
        SCAN_FAILED,
        SCANNER_UPDATE_COMPLETED,
        CREATE_REPO,
        REPO_DELETE,
        REPO_SETTINGS_CHANGE,
        TEAM_ACCESS_CHANGE,
        TAG_PUSH,
        TAG_PULL,
        TAG_DELETE,
        MANIFEST_PUSH,
        MANIFEST_PULL,
        MANIFEST_DELETE,
        PULL_POLICY_AUDIT,
    }
)
PULL_TYPES = frozenset({TAG_PULL, MANIFEST_PULL})

# Object types.
REPOSITORY = "REPOSITORY"
TAG = "TAG"
MANIFEST = "MANIFEST"
TEAM = "TEAM"

ANONYMOUS = "anonymous"
# DTR's ``actorType``: a named account acted, or nobody signed in (or Moorage itself: a job).
USER = "user"


# Who is acting, for domain code reached without an explicit actor (e.g. a blob upload that
# creates its repository). Set per request by the HTTP edge with ``acting``.
_acting: ContextVar[str | None] = ContextVar("moorage_event_actor", default=None)


@contextlib.contextmanager
def acting(actor: str | None) -> Iterator[None]:
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


def current_actor() -> str | None:
    return _acting.get()


async def record(
    conn: Connection,
    event_type: str,
    *,
    repository: str,
    repository_id: int | None,
    object_type: str = REPOSITORY,
    object_id: str = "",
    actor: str | None = None,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Write one event inside the caller's (write) transaction."""
    await conn.execute(
        t.events.insert().values(
            type=event_type,
            repository_id=repository_id,
            repository=repository[:255],
            object_type=object_type,
            object_id=object_id[:255],
            actor=(actor if actor is not None else current_actor()),
            published_at=at or utcnow(),
            details=json.dumps(details or {}, separators=(",", ":")),
        )
    )


# DTR's ``pushes`` counter: one per manifest PUT that records a push event, in its transaction.
_COUNT_PUSH = (
    update(t.repositories)
    .where(t.repositories.c.id == bindparam("rid"))
    .values(pushes=t.repositories.c.pushes + 1)
)
# ``pulls``: added as the pull buffer flushes, one statement per batch (a row per repository).
_COUNT_PULLS = (
    update(t.repositories)
    .where(t.repositories.c.id == bindparam("rid"))
    .values(pulls=t.repositories.c.pulls + bindparam("n"))
)


async def count_push(conn: Connection, repository_id: int) -> None:
    """Inside the push's write transaction: the repository's ``pushes`` goes up by one."""
    await conn.execute(_COUNT_PUSH, {"rid": repository_id})


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    type: str
    repository_id: int | None
    repository: str
    object_type: str
    object_id: str
    actor: str | None
    published_at: dt.datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventFilter:
    published_before: dt.datetime | None = None
    published_after: dt.datetime | None = None
    actor: str | None = None
    event_types: frozenset[str] = frozenset()
    object_type: str | None = None
    exclude_pull: bool = False


def _event(row: Any) -> Event:
    return Event(
        id=int(row.id),
        type=row.type,
        repository_id=row.repository_id,
        repository=row.repository,
        object_type=row.object_type,
        object_id=row.object_id,
        actor=row.actor,
        published_at=as_utc(row.published_at),
        details=json.loads(row.details or "{}"),
    )


def _selected(
    query: Any,
    *,
    visible: ColumnElement[bool] | None,
    repository_id: int | None,
    filters: EventFilter,
) -> Any:
    """``query`` narrowed to the events the filters select (shared by ``page`` and ``count``)."""
    e = t.events
    if repository_id is not None:
        query = query.where(e.c.repository_id == repository_id)
    if visible is not None:
        query = query.where(e.c.repository_id.in_(select(t.repositories.c.id).where(visible)))
    if filters.published_before is not None:
        query = query.where(e.c.published_at < filters.published_before)
    if filters.published_after is not None:
        query = query.where(e.c.published_at > filters.published_after)
    if filters.actor is not None:
        query = query.where(
            e.c.actor.is_(None) if filters.actor == ANONYMOUS else e.c.actor == filters.actor
        )
    if filters.event_types:
        query = query.where(e.c.type.in_(sorted(filters.event_types)))
    if filters.object_type is not None:
        query = query.where(e.c.object_type == filters.object_type)
    if filters.exclude_pull:
        query = query.where(e.c.type.not_in(sorted(PULL_TYPES)))
    return query


async def page(
    db: Database,
    *,
    visible: ColumnElement[bool] | None,
    repository_id: int | None,
    filters: EventFilter,
    start: int | None,
    limit: int,
) -> tuple[list[Event], int | None]:
    """Newest first. ``visible`` (a condition on ``repositories``; None: everything) limits the
    events to repositories the caller may pull; returns the page and where the next starts."""
    e = t.events
    query = _selected(select(e), visible=visible, repository_id=repository_id, filters=filters)
    if start is not None:
        query = query.where(e.c.id <= start)
    query = query.order_by(e.c.id.desc()).limit(limit + 1)
    async with db.read() as conn:
        rows = [_event(r) for r in await conn.execute(query)]
    nxt = rows[limit].id if len(rows) > limit else None
    return rows[:limit], nxt


async def count(
    db: Database,
    *,
    visible: ColumnElement[bool] | None,
    repository_id: int | None,
    filters: EventFilter,
) -> int:
    """How many events ``page`` would list over all its pages (DTR's ``X-Resource-Count``)."""
    query = _selected(
        select(func.count()).select_from(t.events),
        visible=visible,
        repository_id=repository_id,
        filters=filters,
    )
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


# ---- compaction ----------------------------------------------------------------------------


async def compact(db: Database, *, days: int, count: int) -> int:
    """Drop events older than ``days`` and all but the newest ``count`` of each repository
    (0: no limit). Returns how many went."""
    removed = 0
    e = t.events
    if days > 0:
        cutoff = utcnow() - dt.timedelta(days=days)
        async with db.write() as conn:
            result = await conn.execute(delete(e).where(e.c.published_at < cutoff))
            removed += max(result.rowcount, 0)
    if count > 0:
        ranked = select(
            e.c.id,
            func.row_number()
            .over(partition_by=e.c.repository_id, order_by=e.c.id.desc())
            .label("rank"),
        ).subquery()
        surplus = select(ranked.c.id).where(ranked.c.rank > count)
        async with db.write() as conn:
            result = await conn.execute(delete(e).where(e.c.id.in_(surplus)))
            removed += max(result.rowcount, 0)
    return removed


async def compact_by_settings(db: Database) -> int:
    """DTR's ``repoEventHistoryCompactionEnabled``: events older than
    ``repoEventHistoryMaxAge`` (``0s``: any age) and all but the newest
    ``repoEventHistoryToKeep`` of each repository (0: any number) go."""
    current = await site_settings.load(db)
    if not current.repo_event_history_compaction_enabled:
        return 0
    removed = 0
    if current.repo_event_history_max_age > dt.timedelta(0):
        cutoff = utcnow() - current.repo_event_history_max_age
        async with db.write() as conn:
            result = await conn.execute(delete(t.events).where(t.events.c.published_at < cutoff))
            removed += max(result.rowcount, 0)
    if current.repo_event_history_to_keep > 0:
        removed += await compact(db, days=0, count=current.repo_event_history_to_keep)
    return removed


# ---- pulls ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pull:
    repository: str
    event_type: str
    object_type: str
    object_id: str
    digest: str
    actor: str | None
    at: dt.datetime


class PullBuffer:
    """Pull events held in memory and written in batches by one background loop (every
    ``flush_interval``, at once when ``batch`` are pending, and a last time on ``stop``), which
    also compacts the history now and then."""

    def __init__(
        self,
        db: Database,
        *,
        flush_interval: float = 1.0,
        batch: int = 500,
        compact_interval: float = 300.0,
        limit: int = 50_000,
    ) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.batch = batch
        self.compact_interval = compact_interval
        self.limit = limit
        self._pending: list[_Pull] = []
        self._next_compaction = 0.0
        self._loop = BackgroundLoop(
            "events",
            self._pass,
            interval=flush_interval,
            final=self.flush,
            logger=log,
            failure="event history compaction failed",
        )

    def pulled(self, repository: str, reference: str, digest: str, actor: str | None) -> None:
        """A manifest GET: no I/O here, ever (the pull path)."""
        if is_digest(reference):
            item = _Pull(repository, MANIFEST_PULL, MANIFEST, digest, digest, actor, utcnow())
        else:
            item = _Pull(repository, TAG_PULL, TAG, reference, digest, actor, utcnow())
        if len(self._pending) >= self.limit:
            return  # the database is not keeping up; drop rather than grow without bound
        self._pending.append(item)
        if len(self._pending) >= self.batch:
            self._loop.poke()

    def start(self) -> None:
        self._next_compaction = asyncio.get_running_loop().time() + min(self.compact_interval, 5.0)
        self._loop.start()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop the task and write what is still pending."""
        await self._loop.stop(grace)

    async def flush(self) -> int:
        """Write what is pending (repository names resolved in one query per batch)."""
        written = 0
        while self._pending:
            items, self._pending = self._pending[: self.batch], self._pending[self.batch :]
            names = sorted({i.repository for i in items})
            try:
                async with self.db.write() as conn:
                    rows = await conn.execute(
                        select(t.repositories.c.id, t.repositories.c.name).where(
                            t.repositories.c.name.in_(names)
                        )
                    )
                    ids = {r.name: int(r.id) for r in rows}
                    values = [
                        {
                            "type": i.event_type,
                            "repository_id": ids.get(i.repository),
                            "repository": i.repository,
                            "object_type": i.object_type,
                            "object_id": i.object_id,
                            "actor": i.actor,
                            "published_at": i.at,
                            "details": json.dumps({"digest": i.digest}, separators=(",", ":")),
                        }
                        for i in items
                        if i.repository in ids
                    ]
                    if values:
                        await conn.execute(t.events.insert(), values)
                        counts: dict[int, int] = {}
                        for i in items:
                            rid = ids.get(i.repository)
                            if rid is not None:
                                counts[rid] = counts.get(rid, 0) + 1
                        await conn.execute(
                            _COUNT_PULLS,
                            [{"rid": rid, "n": n} for rid, n in sorted(counts.items())],
                        )
            except BaseException:
                # Put them back for the next round (bounded by ``limit`` in ``pulled``).
                self._pending[:0] = items
                raise
            written += len(items)
        return written

    async def _pass(self) -> None:
        try:
            await self.flush()
        except Exception:
            log.exception("writing pull events failed; will retry")
        now = asyncio.get_running_loop().time()
        if now >= self._next_compaction:
            self._next_compaction = now + self.compact_interval
            removed = await compact_by_settings(self.db)
            if removed:
                log.info("event history compacted", extra={"removed": removed})
