"""GC's last phase: upload rows nobody wrote to for ``upload_max_age`` (and no writer holds),
with their folders (the daily purge's own rule, ``upload_limits.purge``, by the rows'
``updated_at``), and upload folders without a row whose newest object is older than that (on
every driver: ``StorageDriver.last_modified``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from moorage.db import tables as t
from moorage.db.engine import utcnow
from moorage.registry.context import RegistryContext
from moorage.registry.gc_report import GcReport
from moorage.registry.layout import upload_prefix
from moorage.registry.upload_limits import purge, upload_size


async def collect_uploads(
    ctx: RegistryContext,
    max_age: dt.timedelta,
    batch: int,
    dry_run: bool,
    report: GcReport,
    progress: Callable[[str, GcReport], Awaitable[None]],
    should_stop: Callable[[], bool],
) -> None:
    async with ctx.db.read() as conn:
        known = {str(r.id) for r in await conn.execute(select(t.uploads.c.id))}
    report.uploads_examined = len(known)
    purged = await purge(ctx, max_age, dry_run=dry_run, should_stop=should_stop, batch=batch)
    report.uploads_deleted += purged.deleted
    report.upload_bytes_freed += purged.bytes_freed
    if purged.stopped:
        report.stopped = True
        return
    # Folders without a row: monolithic uploads in flight have none, so only old ones go; the
    # age is the newest object's (file mtime, or the object store's last-modified).
    folders = sorted({key.split("/")[1] for key in await ctx.storage.list("uploads") if "/" in key})
    limit = (utcnow() - max_age).timestamp()
    for upload_id in folders:
        if should_stop():
            report.stopped = True
            return
        if upload_id in known:
            continue
        newest = await ctx.storage.last_modified(upload_prefix(upload_id))
        if newest is None or newest >= limit:
            continue
        report.uploads_deleted += 1
        report.upload_bytes_freed += await upload_size(ctx, upload_id)
        if not dry_run:
            await ctx.storage.delete(upload_prefix(upload_id))
    if report.uploads_deleted:
        await progress(
            f"uploads: {report.uploads_deleted} abandoned ({report.upload_bytes_freed} bytes)",
            report,
        )
