"""GC's last phase: upload rows nobody wrote to for ``upload_max_age`` (and no writer holds),
with their folders, and upload folders without a row older than that."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Awaitable, Callable

from sqlalchemy import and_, delete, or_, select

from moorage.db import tables as t
from moorage.db.engine import utcnow
from moorage.registry.context import RegistryContext
from moorage.registry.gc_report import GcReport
from moorage.registry.layout import upload_prefix


async def collect_uploads(
    ctx: RegistryContext,
    max_age: dt.timedelta,
    batch: int,
    dry_run: bool,
    report: GcReport,
    progress: Callable[[str, GcReport], Awaitable[None]],
    should_stop: Callable[[], bool],
) -> None:
    u = t.uploads
    now = utcnow()
    cutoff = now - max_age
    abandoned = and_(u.c.updated_at < cutoff, or_(u.c.writer.is_(None), u.c.lease_until < now))
    async with ctx.db.read() as conn:
        known = {str(r.id) for r in await conn.execute(select(u.c.id))}
        stale = [str(r.id) for r in await conn.execute(select(u.c.id).where(abandoned))]
    report.uploads_examined = len(known)
    for i in range(0, len(stale), batch):
        if should_stop():
            report.stopped = True
            return
        ids = stale[i : i + batch]
        if dry_run:
            gone = ids
        else:
            async with ctx.db.write() as conn:
                gone = [
                    str(r.id)
                    for r in await conn.execute(
                        delete(u).where(and_(u.c.id.in_(ids), abandoned)).returning(u.c.id)
                    )
                ]
        for upload_id in gone:
            report.uploads_deleted += 1
            report.upload_bytes_freed += await _upload_size(ctx, upload_id)
            if not dry_run:
                await ctx.storage.delete(upload_prefix(upload_id))
    # Folders without a row: monolithic uploads in flight have none, so only old ones go (the
    # age comes from the file system; drivers without local paths keep them).
    folders = sorted({key.split("/")[1] for key in await ctx.storage.list("uploads") if "/" in key})
    limit = cutoff.timestamp()
    for upload_id in folders:
        if should_stop():
            report.stopped = True
            return
        if upload_id in known:
            continue
        path = ctx.storage.local_path(upload_prefix(upload_id))
        if path is None:
            continue
        try:
            newest = max(
                (
                    os.stat(os.path.join(d, f)).st_mtime
                    for d, _, files in os.walk(path)
                    for f in files
                ),
                default=os.stat(path).st_mtime,
            )
        except FileNotFoundError:
            continue
        if newest >= limit:
            continue
        report.uploads_deleted += 1
        report.upload_bytes_freed += await _upload_size(ctx, upload_id)
        if not dry_run:
            await ctx.storage.delete(upload_prefix(upload_id))
    if report.uploads_deleted:
        await progress(
            f"uploads: {report.uploads_deleted} abandoned ({report.upload_bytes_freed} bytes)",
            report,
        )


async def _upload_size(ctx: RegistryContext, upload_id: str) -> int:
    total = 0
    for key in await ctx.storage.list(upload_prefix(upload_id)):
        total += await ctx.storage.stat(key) or 0
    return total
