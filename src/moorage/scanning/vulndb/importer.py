"""One import: archives of OSV records into the next generation of the database, then the flip.

``import_archives`` checks every archive's directory first (a bad archive is refused before
anything is written), takes the update lock, clears what an earlier failed import left, then
reads the archives member by member in batches (reading, parsing and compressing in a worker
thread), writes each batch in its own short transaction, prunes the records a full snapshot no
longer holds (``prune``), and flips the current generation. Any failure on the way (a bad record,
the lock taken over, ``should_stop``, the task cancelled, an exception from ``progress``) records
the attempt as failed and leaves the previous generation in force; the next import clears the
staged rows. The flip's transaction also queues the re-match of the stored inventories and
records the ``SCANNER_UPDATE_COMPLETED`` event (``scanning.db_updates``), whoever imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from moorage.db.engine import Connection, Database
from moorage.errors import MoorageError
from moorage.scanning.db_updates import after_update
from moorage.scanning.vulndb import archive, store
from moorage.scanning.vulndb.records import ParsedRecord, parse

log = logging.getLogger("moorage.scanning.vulndb")
BATCH = 200
Kind = Literal["online", "offline"]


@dataclass(slots=True)
class ImportProgress:
    """Where an import stands, handed to ``progress`` after every batch."""

    phase: str
    archive: str
    read: int  # records read so far
    total: int  # records the archives hold
    batches: int
    counts: store.Counts

    def as_dict(self) -> dict[str, object]:
        return self.with_delta(store.Counts())

    def with_delta(self, delta: store.Counts) -> dict[str, object]:
        """The progress as the status row notes it, ``delta`` (the batch's counts) included."""
        counts = dataclasses.replace(self.counts)
        counts.add(delta)
        return {
            "phase": self.phase,
            "archive": self.archive,
            "read": self.read,
            "total": self.total,
            **counts.as_dict(),
        }


ProgressCallback = Callable[[ImportProgress], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ImportReport:
    generation: int
    source: str
    counts: store.Counts
    records: int  # records in force after the import (withdrawn ones not counted)
    withdrawn_total: int
    skipped_files: int  # archive members that are not JSON records
    seconds: float
    archives: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        c = self.counts
        return (
            f"vulnerability database version {self.generation}: {self.records} records "
            f"({c.added} added, {c.updated} updated, {c.unchanged} unchanged, "
            f"{c.withdrawn} withdrawn, {c.removed} removed"
            + (f", {c.duplicates} duplicates" if c.duplicates else "")
            + (f", {self.skipped_files} other files skipped" if self.skipped_files else "")
            + f") in {self.seconds:.1f}s"
        )


def _message(exc: BaseException) -> str:
    if isinstance(exc, MoorageError):
        return exc.message
    if isinstance(exc, asyncio.CancelledError):
        return "the update was stopped"
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class _Batch:
    archive: str
    records: list[tuple[ParsedRecord, bytes]]  # one per id: the newest ``modified`` read
    dropped: int  # records of the batch that repeated an id in it


def _batches(
    paths: Sequence[Path], limits: archive.Limits, size: int
) -> Generator[_Batch, None, None]:
    """The archives' records, parsed and compressed, ``size`` read at a time."""
    for path in paths:
        batch: dict[str, tuple[ParsedRecord, bytes]] = {}
        read = 0
        for member, raw in archive.read(path, limits):
            record = parse(member, raw)
            read += 1
            earlier = batch.get(record.id)
            if earlier is None or record.modified > earlier[0].modified:
                batch[record.id] = (record, zlib.compress(raw, 6))
            if read == size:
                yield _Batch(path.name, list(batch.values()), read - len(batch))
                batch, read = {}, 0
        if read:
            yield _Batch(path.name, list(batch.values()), read - len(batch))


async def import_archives(
    db: Database,
    paths: Sequence[Path],
    *,
    source: str,
    kind: Kind,
    holder: str,
    prune: bool = False,
    limits: archive.Limits | None = None,
    batch_size: int = BATCH,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import ``paths`` as one update (see the module's documentation). ``source`` names where
    they came from (the feed's URL, a file name); ``prune``: they are the whole of ``kind``'s
    records, so current records of that kind they do not hold are removed."""
    limits = limits or archive.Limits()
    started = time.monotonic()
    try:
        summaries = [await asyncio.to_thread(archive.inspect, p, limits) for p in paths]
    except MoorageError as exc:
        await store.record_failure(db, None, source, exc.message)
        raise
    total = sum(s.records for s in summaries)
    lock, current = await store.acquire(db, holder)
    staged = current + 1
    counts = store.Counts()
    state = ImportProgress("importing", "", 0, total, 0, counts)
    try:
        await store.clear_leftovers(db, lock, current)
        reader = _batches(paths, limits, batch_size)
        try:
            while (batch := await asyncio.to_thread(next, reader, None)) is not None:
                if should_stop is not None and should_stop():
                    raise store.UpdateInterrupted("the update was asked to stop")
                state.archive = batch.archive
                state.read += len(batch.records) + batch.dropped
                counts.duplicates += batch.dropped
                delta = await store.write_batch(
                    db, lock, current, staged, kind, batch.records, state.with_delta
                )
                counts.add(delta)
                state.batches += 1
                if progress is not None:
                    await progress(state)
        finally:
            with contextlib.suppress(ValueError):  # still running in its thread: it ends there
                reader.close()  # the archive it has open
        if prune:
            state.phase = "pruning"
            counts.removed = await store.prune(db, lock, current, staged, kind, state.as_dict())
        state.phase = "flipping"
        found = await store.totals(db, staged)
        changed = bool(counts.added or counts.updated or counts.withdrawn or counts.removed)

        async def then(conn: Connection, imported_at: dt.datetime) -> None:
            await after_update(conn, generation=staged, imported_at=imported_at, changed=changed)

        await store.flip(db, lock, current, staged, source, counts, found, then)
    except store.LockLost:
        raise  # the import that took over records its own outcome
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await store.record_failure(db, lock, source, _message(exc))
        raise
    try:
        await store.drop_dead(db, staged)
    except Exception:  # the next import clears them; this one is in force
        log.warning("clearing superseded vulnerability records failed", exc_info=True)
    return ImportReport(
        generation=staged,
        source=source,
        counts=counts,
        records=found.records,
        withdrawn_total=found.withdrawn,
        skipped_files=sum(s.skipped for s in summaries),
        seconds=time.monotonic() - started,
        archives=tuple(p.name for p in paths),
    )
