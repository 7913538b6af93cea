"""Online garbage collection (DESIGN.md §6): runs while the registry serves pushes and pulls.

Phases, each in small write transactions that re-check what they delete:

1. Manifests (only untagged ones, and only when ``collect_untagged`` is on, except referrers whose
   subject is gone): live manifests are the tagged ones (plus every non-referrer when untagged
   manifests are kept), the children of live indexes and the referrers of live manifests. A
   manifest outside that set, older than the grace period, is deleted if, in the deleting
   transaction, no tag points at it and no manifest of its repository lists it. The database
   computes the live set (a recursive CTE, ``gc_mark.py``); Python reads candidates in pages.
2. Repository links: a blob linked into a repository that no manifest of that repository
   references, linked longer ago than the grace period (a push refreshes its link), is unlinked;
   the deleting transaction locks the link and re-checks the references (a manifest push locks
   the links it references in its own transaction, so one of the two waits for the other).
3. Blob rows nothing links or references, older than the grace period: the row is deleted and a
   tombstone written, in one transaction that locks the row and re-checks.
4. Bytes: a tombstone older than the grace period is marked ``bytes_deleted`` and the bytes are
   deleted inside that transaction, unless a push brought the row back. A push that links a blob
   deletes its tombstone in its own transaction and, when the tombstone says the bytes were
   deleted, checks that its bytes are there (``blobs.link_after_gc``); the tombstone row is
   where the two meet (row lock on PostgreSQL, the write lock on SQLite), so bytes a push relies
   on are never deleted after the push committed.
5. Uploads: upload rows not written to for longer than ``upload_max_age`` (and not held by a
   writer) with their folders, and upload folders without a row older than that.

Dry run: the same queries, nothing deleted, the report says what would go. Every phase checks
``should_stop`` between batches (time budget, cancellation); what is left is found next run.
The report (``gc_report.py``) ends with a plain summary of what was freed and what was kept and
why (in use, or waiting for the grace period); the uploads phase is in ``gc_uploads.py``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    update,
)

from moorage.db import tables as t
from moorage.db.engine import Connection, utcnow
from moorage.oci.digest import Digest
from moorage.registry import gc_mark
from moorage.registry.context import RegistryContext
from moorage.registry.gc_report import GcReport, count_kept, summary
from moorage.registry.gc_uploads import collect_uploads
from moorage.registry.layout import blob_key

__all__ = ["BATCH", "MARK_BATCH", "GcOptions", "GcReport", "collect"]

BATCH = 100
MARK_BATCH = 5000


@dataclass(frozen=True, slots=True)
class GcOptions:
    dry_run: bool = False
    grace: dt.timedelta = dt.timedelta(hours=1)
    upload_max_age: dt.timedelta = dt.timedelta(hours=24)
    collect_untagged: bool = False
    batch: int = BATCH  # rows per write transaction (and per read in the later phases)
    mark_batch: int = MARK_BATCH  # manifest candidates per read (each read re-runs the mark)


Progress = Callable[[str, GcReport], Awaitable[None]]
ShouldStop = Callable[[], bool]


async def _quiet(_message: str, _report: GcReport) -> None:
    return None


def _never() -> bool:
    return False


async def collect(
    ctx: RegistryContext,
    options: GcOptions,
    *,
    progress: Progress = _quiet,
    should_stop: ShouldStop = _never,
) -> GcReport:
    report = GcReport(dry_run=options.dry_run, grace_seconds=options.grace.total_seconds())
    began = time.monotonic()
    phases: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("manifests", lambda: _manifests(ctx, options, report, progress, should_stop)),
        ("links", lambda: _links(ctx, options, report, progress, should_stop)),
        ("blobs", lambda: _blobs(ctx, options, report, progress, should_stop)),
        ("bytes", lambda: _bytes(ctx, options, report, progress, should_stop)),
        (
            "uploads",
            lambda: collect_uploads(
                ctx,
                options.upload_max_age,
                options.batch,
                options.dry_run,
                report,
                progress,
                should_stop,
            ),
        ),
    ]
    for name, phase in phases:
        if should_stop():
            report.stopped = True
            break
        await phase()
        report.phases.append(name)
        await progress(f"phase {name} finished", report)
    report.stopped = report.stopped or (should_stop() and len(report.phases) < len(phases))
    if not report.stopped:
        await count_kept(ctx, options.grace, report)
    report.seconds = round(time.monotonic() - began, 3)
    report.summary = summary(report)
    return report


# ---- 1. manifests ----------------------------------------------------------------------------


async def _manifests(
    ctx: RegistryContext,
    options: GcOptions,
    report: GcReport,
    progress: Progress,
    should_stop: ShouldStop,
) -> None:
    """The mark runs in the database (``gc_mark.py``): one statement counts, then candidates are
    read ``mark_batch`` at a time (keyset on id) and deleted ``batch`` per transaction."""
    keep_untagged = not options.collect_untagged
    cutoff = utcnow() - options.grace
    async with ctx.db.read() as conn:
        counts = await gc_mark.count(conn, keep_untagged=keep_untagged, cutoff=cutoff)
    report.manifests_examined = counts.examined
    report.manifests_in_use = counts.in_use
    report.manifests_untagged_kept = counts.live - counts.in_use
    report.manifests_young = counts.young
    if not counts.candidates:
        return
    if options.dry_run:
        report.manifests_deleted = counts.candidates
        await progress(f"would delete {counts.candidates} manifests", report)
        return
    after = 0
    while True:
        if should_stop():
            report.stopped = True
            return
        async with ctx.db.read() as conn:
            page = await gc_mark.candidates(
                conn,
                keep_untagged=keep_untagged,
                cutoff=cutoff,
                after=after,
                limit=max(options.mark_batch, 1),
            )
        if not page:
            return
        after = int(page[-1].id)
        for i in range(0, len(page), options.batch):
            if i and should_stop():
                report.stopped = True
                return
            async with ctx.db.write() as conn:
                for r in page[i : i + options.batch]:
                    if await _delete_manifest(conn, r, cutoff, options.collect_untagged):
                        report.manifests_deleted += 1
            await progress(
                f"manifests: {report.manifests_deleted} deleted of {counts.candidates} candidates",
                report,
            )


async def _delete_manifest(conn: Connection, r: Any, cutoff: dt.datetime, untagged: bool) -> bool:
    m, tg, mr = t.manifests, t.tags, t.manifest_references
    locked = (
        await conn.execute(
            select(m.c.id).where(and_(m.c.id == r.id, m.c.created_at < cutoff)).with_for_update()
        )
    ).first()
    if locked is None:
        return False
    parent = m.alias("parent")
    still_used = (
        await conn.execute(
            select(literal(1)).where(
                or_(
                    exists().where(tg.c.manifest_id == r.id),
                    exists()
                    .select_from(mr.join(parent, parent.c.id == mr.c.parent_id))
                    .where(
                        and_(
                            parent.c.repository_id == r.repository_id,
                            mr.c.child_digest == r.digest,
                        )
                    ),
                )
            )
        )
    ).first()
    if still_used is not None:
        return False
    if r.subject_digest and not untagged:
        # A referrer goes with its subject: only once the subject is gone.
        subject = (
            await conn.execute(
                select(m.c.id).where(
                    and_(m.c.repository_id == r.repository_id, m.c.digest == r.subject_digest)
                )
            )
        ).first()
        if subject is not None:
            return False
    await conn.execute(delete(m).where(m.c.id == r.id))
    return True


# ---- 2. repository links ---------------------------------------------------------------------


def _referenced_in_repository(repository_id: Any, digest: Any) -> Any:
    m, mr = t.manifests, t.manifest_references
    return (
        exists()
        .select_from(mr.join(m, m.c.id == mr.c.parent_id))
        .where(and_(m.c.repository_id == repository_id, mr.c.child_digest == digest))
    )


async def _links(
    ctx: RegistryContext,
    options: GcOptions,
    report: GcReport,
    progress: Progress,
    should_stop: ShouldStop,
) -> None:
    rb = t.repository_blobs
    cutoff = utcnow() - options.grace
    last: tuple[int, str] | None = None
    while True:
        if should_stop():
            report.stopped = True
            return
        query = select(rb.c.repository_id, rb.c.digest).where(
            and_(
                rb.c.created_at < cutoff,
                ~_referenced_in_repository(rb.c.repository_id, rb.c.digest),
            )
        )
        if last is not None:
            query = query.where(tuple_(rb.c.repository_id, rb.c.digest) > tuple_(*last))
        query = query.order_by(rb.c.repository_id, rb.c.digest).limit(options.batch)
        async with ctx.db.read() as conn:
            batch = [(int(r.repository_id), str(r.digest)) for r in await conn.execute(query)]
        if not batch:
            return
        last = batch[-1]
        if options.dry_run:
            report.links_deleted += len(batch)
            continue
        async with ctx.db.write() as conn:
            for repository_id, digest in batch:
                where = and_(
                    rb.c.repository_id == repository_id,
                    rb.c.digest == digest,
                    rb.c.created_at < cutoff,
                )
                if (
                    await conn.execute(select(rb.c.digest).where(where).with_for_update())
                ).first() is None:
                    continue
                used = (
                    await conn.execute(
                        select(literal(1)).where(_referenced_in_repository(repository_id, digest))
                    )
                ).first()
                if used is not None:
                    continue
                await conn.execute(delete(rb).where(where))
                report.links_deleted += 1
        await progress(f"links: {report.links_deleted} unlinked", report)


# ---- 3. blob rows ----------------------------------------------------------------------------


def _blob_in_use(digest: Any, dry_run_cutoff: dt.datetime | None = None) -> Any:
    """Linked, referenced, or a manifest's own bytes. A dry run, which unlinked nothing, counts
    only the links the link phase would have kept."""
    rb, m, mr = t.repository_blobs, t.manifests, t.manifest_references
    link = rb.c.digest == digest
    if dry_run_cutoff is not None:
        link = and_(
            link,
            or_(
                rb.c.created_at >= dry_run_cutoff,
                _referenced_in_repository(rb.c.repository_id, rb.c.digest),
            ),
        )
    return or_(
        exists().where(link),
        exists().where(mr.c.child_digest == digest),
        exists().where(m.c.digest == digest),
    )


async def _blobs(
    ctx: RegistryContext,
    options: GcOptions,
    report: GcReport,
    progress: Progress,
    should_stop: ShouldStop,
) -> None:
    b, tomb = t.blobs, t.gc_blob_tombstones
    async with ctx.db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(b))).scalar_one()
        total = (await conn.execute(select(func.coalesce(func.sum(b.c.size), 0)))).scalar_one()
    report.blobs_examined, report.bytes_examined = int(count), int(total)
    cutoff = utcnow() - options.grace
    last = ""
    while True:
        if should_stop():
            report.stopped = True
            return
        query = (
            select(b.c.digest, b.c.size)
            .where(
                and_(
                    b.c.digest > last,
                    b.c.created_at < cutoff,
                    ~_blob_in_use(b.c.digest, cutoff if options.dry_run else None),
                )
            )
            .order_by(b.c.digest)
            .limit(options.batch)
        )
        async with ctx.db.read() as conn:
            batch = [(str(r.digest), int(r.size)) for r in await conn.execute(query)]
        if not batch:
            return
        last = batch[-1][0]
        if options.dry_run:
            report.blobs_deleted += len(batch)
            report.blob_bytes_deleted += sum(size for _, size in batch)
            continue
        async with ctx.db.write() as conn:
            for digest, size in batch:
                where = and_(b.c.digest == digest, b.c.created_at < cutoff)
                if (
                    await conn.execute(select(b.c.digest).where(where).with_for_update())
                ).first() is None:
                    continue
                if (await conn.execute(select(literal(1)).where(_blob_in_use(digest)))).first():
                    continue
                await conn.execute(delete(b).where(where))
                now = utcnow()
                await conn.execute(
                    ctx.db.insert(tomb)
                    .values(digest=digest, size=size, bytes_deleted=False, deleted_at=now)
                    .on_conflict_do_update(
                        index_elements=["digest"],
                        set_={"size": size, "bytes_deleted": False, "deleted_at": now},
                    )
                )
                report.blobs_deleted += 1
                report.blob_bytes_deleted += size
        await progress(
            f"blobs: {report.blobs_deleted} of {report.blobs_examined} rows deleted "
            f"({report.blob_bytes_deleted} bytes)",
            report,
        )


# ---- 4. bytes --------------------------------------------------------------------------------


def _blob_folder(digest: str) -> str:
    return blob_key(Digest.parse(digest)).rsplit("/", 1)[0]


async def _bytes(
    ctx: RegistryContext,
    options: GcOptions,
    report: GcReport,
    progress: Progress,
    should_stop: ShouldStop,
) -> None:
    b, tomb = t.blobs, t.gc_blob_tombstones
    now = utcnow()
    cutoff = now - options.grace
    if not options.dry_run:
        # Tombstones of deleted bytes are kept a while for pushes that were in flight.
        keep = max(options.grace * 2, dt.timedelta(hours=1))
        async with ctx.db.write() as conn:
            await conn.execute(
                delete(tomb).where(
                    and_(tomb.c.bytes_deleted == true(), tomb.c.deleted_at < now - keep)
                )
            )
    last = ""
    while True:
        if should_stop():
            report.stopped = True
            return
        async with ctx.db.read() as conn:
            batch = [
                (str(r.digest), int(r.size))
                for r in await conn.execute(
                    select(tomb.c.digest, tomb.c.size)
                    .where(
                        and_(
                            tomb.c.digest > last,
                            tomb.c.bytes_deleted == false(),
                            tomb.c.deleted_at <= cutoff,
                        )
                    )
                    .order_by(tomb.c.digest)
                    .limit(options.batch)
                )
            ]
        if not batch:
            return
        last = batch[-1][0]
        if options.dry_run:
            report.files_deleted += len(batch)
            report.bytes_freed += sum(size for _, size in batch)
            continue
        for digest, _size in batch:
            async with ctx.db.write() as conn:
                marked = await conn.execute(
                    update(tomb)
                    .where(and_(tomb.c.digest == digest, tomb.c.bytes_deleted == false()))
                    .values(bytes_deleted=True, deleted_at=utcnow())
                )
                if marked.rowcount == 0:
                    continue
                revived = (
                    await conn.execute(select(b.c.digest).where(b.c.digest == digest))
                ).first()
                if revived is not None:
                    await conn.execute(delete(tomb).where(tomb.c.digest == digest))
                    continue
                # Inside the transaction: a push linking this digest waits on the tombstone row
                # (or the write lock) until the bytes are gone, then sees ``bytes_deleted``.
                key = blob_key(Digest.parse(digest))
                stored = await ctx.storage.stat(key)
                await ctx.storage.delete(_blob_folder(digest))
                if stored is not None:
                    report.files_deleted += 1
                    report.bytes_freed += stored
        await progress(
            f"bytes: {report.files_deleted} files deleted ({report.bytes_freed} bytes freed)",
            report,
        )
