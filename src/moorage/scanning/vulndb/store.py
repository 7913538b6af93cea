"""The SQL side of an import: the update lock, clearing what a failed import left, writing one
batch of records into the staged generation, pruning a full snapshot, flipping the current
generation, and recording a failure. Each step is its own short write transaction; the design
is in ``moorage.scanning.vulndb``.

Every batch transaction also renews the lock with the holder's token: an import whose lock was
taken over (its lease ran out while it stalled) fails at its next batch, and nothing it would
have written lands.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import scan_tables as st
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import Conflict, MoorageError
from moorage.scanning.vulndb.records import ParsedRecord

R, P, A, S, ST = (
    st.vuln_records,
    st.vuln_packages,
    st.vuln_aliases,
    st.vuln_import_seen,
    st.vuln_db_status,
)
LEASE = dt.timedelta(seconds=120)
CHUNK = 2000  # rows a cleanup or prune statement touches at most


class UpdateInProgress(Conflict):
    code, default_message = (
        "SCANNING_DB_UPDATE_IN_PROGRESS",
        "a vulnerability database update is already running",
    )


class UpdateInterrupted(MoorageError):
    """The import stopped before it finished (asked to stop, or its lock was taken over); the
    database it would have replaced is still the one in force."""

    code, status, default_message = (
        "SCANNING_DB_UPDATE_INTERRUPTED",
        503,
        "the vulnerability database update was interrupted",
    )


class LockLost(UpdateInterrupted):
    """Another import took the update lock over (this one's lease ran out while it stalled)."""

    default_message = "another import took over the vulnerability database update"


@dataclass(frozen=True, slots=True)
class Lock:
    token: str
    holder: str


@dataclass(slots=True)
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0  # records this import found withdrawn (kept, marked so)
    removed: int = 0  # current records a full snapshot no longer holds
    duplicates: int = 0  # a record met again (the newest ``modified`` of its copies is kept)

    def bump(self, outcome: str, by: int = 1) -> None:
        setattr(self, outcome, getattr(self, outcome) + by)

    def add(self, other: Counts) -> None:
        for name, value in other.as_dict().items():
            self.bump(name, value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def visible(generation: Any) -> ColumnElement[bool]:
    """Record rows that belong to ``generation`` (a number or a scalar subquery)."""
    return and_(R.c.gen_from <= generation, or_(R.c.gen_to.is_(None), R.c.gen_to > generation))


def current_generation() -> Any:
    """The generation readers see, as a subquery: one statement, one snapshot."""
    return select(ST.c.generation).where(ST.c.id == 1).scalar_subquery()


async def _ensure_status(db: Database, conn: Connection) -> None:
    await conn.execute(
        db.insert(ST)
        .values(id=1, generation=0, record_count=0, withdrawn_count=0)
        .on_conflict_do_nothing(index_elements=["id"])
    )


# ---- the lock -------------------------------------------------------------------------------


async def acquire(db: Database, holder: str) -> tuple[Lock, int]:
    """Take the update lock; returns it and the current generation. UpdateInProgress when
    another import holds a live lease."""
    now = utcnow()
    lock = Lock(str(uuid.uuid4()), holder[:255])
    async with db.write() as conn:
        await _ensure_status(db, conn)
        taken = await conn.execute(
            update(ST)
            .where(and_(ST.c.id == 1, or_(ST.c.lock_token.is_(None), ST.c.lock_until < now)))
            .values(
                lock_token=lock.token,
                lock_holder=lock.holder,
                lock_until=now + LEASE,
                lock_since=now,
                progress=json.dumps({"phase": "starting"}),
            )
        )
        row = (
            await conn.execute(select(ST.c.generation, ST.c.lock_holder).where(ST.c.id == 1))
        ).one()
    if taken.rowcount != 1:
        raise UpdateInProgress(
            f"a vulnerability database update is already running ({row.lock_holder})",
            detail={"holder": row.lock_holder},
        )
    return lock, int(row.generation)


async def renew(conn: Connection, lock: Lock, progress: dict[str, Any] | None = None) -> None:
    """Inside a write transaction: extend the lease (and note progress), or UpdateInterrupted
    when the lock is no longer ours."""
    values: dict[str, Any] = {"lock_until": utcnow() + LEASE}
    if progress is not None:
        values["progress"] = json.dumps(progress)
    held = await conn.execute(
        update(ST).where(and_(ST.c.id == 1, ST.c.lock_token == lock.token)).values(**values)
    )
    if held.rowcount != 1:
        raise LockLost()


_RELEASED = {
    "lock_token": None,
    "lock_holder": None,
    "lock_until": None,
    "lock_since": None,
    "progress": None,
}


async def record_failure(db: Database, lock: Lock | None, source: str, error: str) -> None:
    """The last attempt failed (the database in force stays); releases ``lock`` if still ours."""
    now = utcnow()
    async with db.write() as conn:
        await _ensure_status(db, conn)
        await conn.execute(
            update(ST)
            .where(ST.c.id == 1)
            .values(
                last_outcome="failed",
                last_attempt_at=now,
                last_source=source[:2048],
                last_error=error[:4000],
            )
        )
        if lock is not None:
            await conn.execute(
                update(ST)
                .where(and_(ST.c.id == 1, ST.c.lock_token == lock.token))
                .values(**_RELEASED)
            )


# ---- before and after an import ----------------------------------------------------------


async def clear_leftovers(db: Database, lock: Lock, generation: int) -> None:
    """Undo what failed imports staged past ``generation`` and drop rows dead before it."""
    steps: list[tuple[Any, Any]] = [
        (select(R.c.pk).where(R.c.gen_from > generation), None),
        (select(R.c.pk).where(R.c.gen_to > generation), {"gen_to": None}),
        (select(R.c.pk).where(R.c.gen_to < generation), None),
    ]
    for chosen, values in steps:
        while True:
            async with db.write() as conn:
                await renew(conn, lock, {"phase": "clearing"})
                pks = [r.pk for r in await conn.execute(chosen.limit(CHUNK))]
                if not pks:
                    break
                if values is None:
                    await conn.execute(delete(R).where(R.c.pk.in_(pks)))
                else:
                    await conn.execute(update(R).where(R.c.pk.in_(pks)).values(**values))
    await _clear_seen(db, lock, None)


async def _clear_seen(db: Database, lock: Lock | None, upto: int | None) -> None:
    """The work table's rows (of generations up to ``upto``; None: all), a chunk at a time."""
    which = S.c.generation <= upto if upto is not None else S.c.generation.is_not(None)
    while True:
        async with db.write() as conn:
            if lock is not None:
                await renew(conn, lock)
            row = (await conn.execute(select(S.c.generation).where(which).limit(1))).first()
            if row is None:
                return
            ids = select(S.c.id).where(S.c.generation == row.generation).limit(CHUNK)
            chunk = [r.id for r in await conn.execute(ids)]
            await conn.execute(
                delete(S).where(and_(S.c.generation == row.generation, S.c.id.in_(chunk)))
            )


async def drop_dead(db: Database, generation: int) -> None:
    """After the flip to ``generation``: rows dead in it and in the one before go, and the work
    table is emptied. Rows the previous generation still shows stay until the next flip, so a
    reader holding it keeps a whole database (``query.snapshot``)."""
    while True:
        async with db.write() as conn:
            pks = [
                r.pk
                for r in await conn.execute(
                    select(R.c.pk).where(R.c.gen_to < generation).limit(CHUNK)
                )
            ]
            if not pks:
                break
            await conn.execute(delete(R).where(R.c.pk.in_(pks)))
    await _clear_seen(db, None, generation)


# ---- one batch ------------------------------------------------------------------------------


async def write_batch(
    db: Database,
    lock: Lock,
    current: int,
    staged: int,
    kind: str,
    batch: Sequence[tuple[ParsedRecord, bytes]],
    progress: Callable[[Counts], dict[str, Any]],
) -> Counts:
    """Stage ``batch`` (records with their compressed documents; one per id) into generation
    ``staged`` beside ``current``, in one write transaction that also renews the lock and notes
    ``progress(delta)``; returns what changed in counts (a record met again by this import
    replaces the earlier copy only if newer)."""
    delta = Counts()
    ids = [record.id for record, _ in batch]
    async with db.write() as conn:
        await renew(conn, lock)  # first: nothing is written under a lock no longer ours
        seen = {
            r.id: r
            for r in await conn.execute(
                select(S.c.id, S.c.modified, S.c.outcome).where(
                    and_(S.c.generation == staged, S.c.id.in_(ids))
                )
            )
        }
        live = {
            r.id: r
            for r in await conn.execute(
                select(R.c.pk, R.c.id, R.c.modified, R.c.withdrawn, R.c.source).where(
                    and_(R.c.id.in_(ids), visible(current))
                )
            )
        }
        redo: list[str] = []
        kept: list[tuple[ParsedRecord, bytes]] = []
        for record, document in batch:
            earlier = seen.get(record.id)
            if earlier is not None:
                if record.modified <= as_utc(earlier.modified):
                    delta.duplicates += 1
                    continue
                redo.append(record.id)  # a newer copy: it replaces the earlier one
                delta.bump(earlier.outcome, -1)
                delta.duplicates += 1
            kept.append((record, document))
        if redo:  # undo this import's earlier copy of these records
            await conn.execute(delete(R).where(and_(R.c.id.in_(redo), R.c.gen_from == staged)))
            await conn.execute(
                update(R).where(and_(R.c.id.in_(redo), R.c.gen_to == staged)).values(gen_to=None)
            )
            await conn.execute(delete(S).where(and_(S.c.generation == staged, S.c.id.in_(redo))))
        retire: list[int] = []
        relabel: list[int] = []
        fresh: list[tuple[ParsedRecord, bytes]] = []
        marks: list[dict[str, Any]] = []
        for record, document in kept:
            old = live.get(record.id)
            if old is not None and as_utc(old.modified) == record.modified:
                outcome = "unchanged"
                if old.source != kind:
                    relabel.append(old.pk)
            else:
                fresh.append((record, document))
                if old is not None:
                    retire.append(old.pk)
                newly_withdrawn = record.withdrawn is not None and (
                    old is None or old.withdrawn is None
                )
                outcome = (
                    "withdrawn" if newly_withdrawn else ("updated" if old is not None else "added")
                )
            delta.bump(outcome)
            marks.append(
                {
                    "generation": staged,
                    "id": record.id,
                    "modified": record.modified,
                    "outcome": outcome,
                }
            )
        if retire:
            await conn.execute(update(R).where(R.c.pk.in_(retire)).values(gen_to=staged))
        if relabel:
            await conn.execute(update(R).where(R.c.pk.in_(relabel)).values(source=kind))
        if fresh:
            await _insert(conn, staged, kind, fresh)
        if marks:
            await conn.execute(insert(S), marks)
        await renew(conn, lock, progress(delta))
    return delta


async def _insert(
    conn: Connection, staged: int, kind: str, fresh: Sequence[tuple[ParsedRecord, bytes]]
) -> None:
    rows = [
        {
            "id": record.id,
            "modified": record.modified,
            "withdrawn": record.withdrawn,
            "document": document,
            "source": kind,
            "gen_from": staged,
            "gen_to": None,
        }
        for record, document in fresh
    ]
    result = await conn.execute(insert(R).returning(R.c.pk, sort_by_parameter_order=True), rows)
    pks = [r.pk for r in result]
    packages: list[dict[str, Any]] = []
    aliases: list[dict[str, Any]] = []
    for pk, (record, _) in zip(pks, fresh, strict=True):
        packages.extend(
            {
                "record_pk": pk,
                "ecosystem": p.ecosystem,
                "base_ecosystem": p.base,
                "name": p.name,
                "name_key": p.key,
            }
            for p in record.packages
        )
        aliases.extend({"record_pk": pk, "alias": a} for a in record.aliases)
    if packages:
        await conn.execute(insert(P), packages)
    if aliases:
        await conn.execute(insert(A), aliases)


# ---- a full snapshot's end, and the flip ----------------------------------------------------


async def prune(
    db: Database, lock: Lock, current: int, staged: int, kind: str, progress: dict[str, Any]
) -> int:
    """Current records of ``kind`` this import did not meet leave in ``staged``; returns how
    many. The candidates are read a page at a time by primary key (reads hold no lock); only
    the pages with something to retire take a write transaction."""
    removed = 0
    after = 0
    met = exists().where(and_(S.c.generation == staged, S.c.id == R.c.id))
    while True:
        async with db.read() as conn:
            page = list(
                await conn.execute(
                    select(R.c.pk, met.label("met"))
                    .where(
                        and_(
                            R.c.pk > after,
                            R.c.gen_from <= current,
                            R.c.gen_to.is_(None),
                            R.c.source == kind,
                        )
                    )
                    .order_by(R.c.pk)
                    .limit(CHUNK)
                )
            )
        if not page:
            return removed
        after = page[-1].pk
        gone = [r.pk for r in page if not r.met]
        async with db.write() as conn:
            await renew(conn, lock, {**progress, "phase": "pruning", "removed": removed})
            if gone:
                await conn.execute(
                    update(R)
                    .where(and_(R.c.pk.in_(gone), R.c.gen_to.is_(None)))
                    .values(gen_to=staged)
                )
        removed += len(gone)


@dataclass(frozen=True, slots=True)
class Totals:
    records: int
    withdrawn: int
    newest_modified: dt.datetime | None


async def totals(db: Database, generation: int) -> Totals:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(
                    func.count().filter(R.c.withdrawn.is_(None)).label("records"),
                    func.count().filter(R.c.withdrawn.is_not(None)).label("withdrawn"),
                    func.max(R.c.modified).label("newest"),
                ).where(visible(generation))
            )
        ).one()
    newest = as_utc(row.newest) if row.newest is not None else None
    return Totals(int(row.records or 0), int(row.withdrawn or 0), newest)


async def flip(
    db: Database,
    lock: Lock,
    current: int,
    staged: int,
    source: str,
    counts: Counts,
    found: Totals,
    then: Callable[[Connection, dt.datetime], Awaitable[object]] | None = None,
) -> dt.datetime:
    """Make ``staged`` the generation readers see, in one short transaction that also records
    the outcome, releases the lock and runs ``then`` (what the update sets going, with the
    import time); returns the import time."""
    now = utcnow()
    async with db.write() as conn:
        flipped = await conn.execute(
            update(ST)
            .where(and_(ST.c.id == 1, ST.c.lock_token == lock.token, ST.c.generation == current))
            .values(
                generation=staged,
                newest_modified=found.newest_modified,
                imported_at=now,
                source=source[:2048],
                record_count=found.records,
                withdrawn_count=found.withdrawn,
                last_report=json.dumps(counts.as_dict()),
                last_outcome="succeeded",
                last_attempt_at=now,
                last_source=source[:2048],
                last_error=None,
                **_RELEASED,
            )
        )
        if flipped.rowcount != 1:
            raise LockLost()
        if then is not None:
            await then(conn, now)
    return now
