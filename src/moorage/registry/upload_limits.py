"""How many blob uploads an account may hold open, and how long an idle one lives.

An upload row (and its bytes under ``uploads/<id>/``) exists from ``POST …/blobs/uploads/``
until the closing ``PUT`` or a ``DELETE``. Without bounds a client could open uploads forever:
``check_open`` refuses a new one when the account already holds
``Settings.upload_limit_per_account`` (soft: concurrent starts may pass it by their number), and
``purge`` (the daily ``uploadpurge`` cron) removes uploads nobody wrote to for a while, never
one a request is writing to (its lease is live).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import tables as t
from moorage.db.engine import Connection, utcnow
from moorage.errors import TooManyRequests
from moorage.registry.context import RegistryContext
from moorage.registry.layout import upload_prefix

DEFAULT_MAX_AGE = dt.timedelta(hours=24)
_BATCH = 500


async def check_open(conn: Connection, account_id: int | None, limit: int, who: str) -> None:
    """Refuse (429 ``TOOMANYREQUESTS``) a new upload when ``account_id`` holds ``limit``."""
    if account_id is None or limit <= 0:
        return
    held = (
        await conn.execute(
            select(func.count()).select_from(t.uploads).where(t.uploads.c.account_id == account_id)
        )
    ).scalar_one()
    if held >= limit:
        raise TooManyRequests(
            f"{who} has {held} blob uploads open, the most one account may hold: finish them "
            "(PUT ?digest=) or cancel them (DELETE /v2/<name>/blobs/uploads/<uuid>); "
            "uploads left idle are purged daily",
            detail={"open": held, "limit": limit},
        )


@dataclass
class PurgeReport:
    examined: int = 0
    deleted: int = 0
    bytes_freed: int = 0
    stopped: bool = False


def _idle(cutoff: dt.datetime, now: dt.datetime) -> ColumnElement[bool]:
    u = t.uploads
    return and_(u.c.updated_at < cutoff, or_(u.c.writer.is_(None), u.c.lease_until < now))


async def purge(
    ctx: RegistryContext,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
    *,
    dry_run: bool = False,
    should_stop: Callable[[], bool] | None = None,
    batch: int = _BATCH,
) -> PurgeReport:
    """Delete uploads not written to for ``max_age`` and not held by a writer: the rows (each
    re-checked in the deleting transaction), then their bytes. A crash between the two leaves
    only bytes without a row, which online GC removes."""
    u = t.uploads
    now = utcnow()
    cutoff = now - max_age
    report = PurgeReport()
    async with ctx.db.read() as conn:
        stale = [str(r.id) for r in await conn.execute(select(u.c.id).where(_idle(cutoff, now)))]
    report.examined = len(stale)
    for i in range(0, len(stale), batch):
        if should_stop is not None and should_stop():
            report.stopped = True
            break
        ids = stale[i : i + batch]
        if dry_run:
            gone = ids
        else:
            async with ctx.db.write() as conn:
                done = await conn.execute(
                    delete(u).where(and_(u.c.id.in_(ids), _idle(cutoff, now))).returning(u.c.id)
                )
                gone = [str(r.id) for r in done]
        for upload_id in gone:
            report.deleted += 1
            report.bytes_freed += await upload_size(ctx, upload_id)
            if not dry_run:
                await ctx.storage.delete(upload_prefix(upload_id))
    return report


async def upload_size(ctx: RegistryContext, upload_id: str) -> int:
    """The bytes an upload's folder holds."""
    total = 0
    for key in await ctx.storage.list(upload_prefix(upload_id)):
        total += await ctx.storage.stat(key) or 0
    return total
