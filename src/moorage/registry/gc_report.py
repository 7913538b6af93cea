"""What a GC run did and kept, as numbers (``GcReport``'s fields) and as one plain sentence
(``summary``) for the job's log, the UI's job page and ``moorage gc``.

A run right after an image is deleted frees nothing: its blobs wait for the grace period (they
were pushed or unlinked within it), and bytes go one grace period after their rows. The summary
says so, with the time after which a run frees them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, false, func, or_, select

from moorage.db import tables as t
from moorage.db.engine import as_utc, utcnow
from moorage.registry.context import RegistryContext


@dataclass
class GcReport:
    dry_run: bool = False
    grace_seconds: float = 3600.0
    manifests_examined: int = 0
    manifests_deleted: int = 0
    manifests_in_use: int = 0  # tagged, in a tagged index, or a referrer of those
    manifests_untagged_kept: int = 0  # kept because untagged manifests are not collected
    manifests_young: int = 0  # unused but younger than the grace period
    links_deleted: int = 0
    blobs_examined: int = 0
    bytes_examined: int = 0
    blobs_deleted: int = 0
    blob_bytes_deleted: int = 0
    blobs_in_use: int = 0  # referenced by a manifest (or a manifest's own bytes)
    blobs_in_use_bytes: int = 0
    blobs_young: int = 0  # unreferenced, but pushed or linked within the grace period
    blobs_young_bytes: int = 0
    bytes_pending: int = 0  # rows gone, bytes waiting for the grace period
    bytes_pending_size: int = 0
    bytes_pending_until: str | None = None  # ISO time after which a run deletes the first
    files_deleted: int = 0
    bytes_freed: int = 0
    uploads_examined: int = 0
    uploads_deleted: int = 0
    upload_bytes_freed: int = 0
    stopped: bool = False
    seconds: float = 0.0
    phases: list[str] = field(default_factory=list)
    summary: str = ""


def size(n: int) -> str:
    """Bytes for people: 0 B, 900 B, 1.5 KiB, 12 MiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """A grace period for people: 1 h, 30 min, 90 s."""
    s = int(seconds)
    if s and s % 3600 == 0:
        return f"{s // 3600} h"
    if s and s % 60 == 0:
        return f"{s // 60} min"
    return f"{s} s"


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _when(iso: str) -> str:
    at = dt.datetime.fromisoformat(iso).astimezone(dt.UTC)
    return at.strftime("%Y-%m-%d %H:%M UTC")


def summary(r: GcReport) -> str:
    """One plain sentence: what was freed, what was kept and why."""
    grace = duration(r.grace_seconds)
    would = r.dry_run
    freed = r.bytes_freed + r.upload_bytes_freed
    parts = [
        f"{'would free' if would else 'freed'} {size(freed)} "
        f"({_n(r.files_deleted, 'blob file')}, {_n(r.uploads_deleted, 'abandoned upload')})"
    ]
    removed = [
        _n(count, what)
        for count, what in (
            (r.manifests_deleted, "manifest"),
            (r.links_deleted, "repository link"),
            (r.blobs_deleted, "blob row"),
        )
        if count
    ]
    if removed:
        parts.append(f"{'would remove' if would else 'removed'} {', '.join(removed)}")
    if would and r.blobs_deleted:
        parts.append(
            f"the bytes of those {_n(r.blobs_deleted, 'blob')} ({size(r.blob_bytes_deleted)}) "
            f"would be deleted by a run at least {grace} later"
        )
    if r.bytes_pending:
        until = f" after {_when(r.bytes_pending_until)}" if r.bytes_pending_until else " later"
        parts.append(
            f"{_n(r.bytes_pending, 'blob')} ({size(r.bytes_pending_size)}) no longer in the "
            f"database keep their bytes for the {grace} grace period: a run{until} frees them"
        )
    if r.blobs_young:
        parts.append(
            f"kept {_n(r.blobs_young, 'blob')} ({size(r.blobs_young_bytes)}) younger than the "
            f"{grace} grace period (pushed, or unlinked by a deleted image, within it)"
        )
    if r.manifests_young:
        parts.append(
            f"kept {_n(r.manifests_young, 'unused manifest')} younger than the {grace} grace period"
        )
    parts.append(
        f"kept {_n(r.blobs_in_use, 'blob')} ({size(r.blobs_in_use_bytes)}) referenced by "
        f"manifests and {_n(r.manifests_in_use, 'manifest')} in use (tagged, in a tagged index, "
        "or referring to one)"
    )
    if r.manifests_untagged_kept:
        parts.append(
            f"kept {_n(r.manifests_untagged_kept, 'untagged manifest')} "
            "(the setting gcCollectUntaggedManifests is off)"
        )
    in_progress = r.uploads_examined - r.uploads_deleted
    if in_progress > 0:
        parts.append(f"kept {_n(in_progress, 'upload')} in progress")
    if r.stopped:
        parts.append("stopped early (time budget or cancel): the next run does the rest")
    return "; ".join(parts)


# ---- what was kept, and why -----------------------------------------------------------------


async def count_kept(ctx: RegistryContext, grace: dt.timedelta, report: GcReport) -> None:
    """After the phases: the blobs kept because manifests use them, the ones kept for the
    grace period, and the rows gone whose bytes wait for it."""
    b, rb, m, mr, tomb = (
        t.blobs,
        t.repository_blobs,
        t.manifests,
        t.manifest_references,
        t.gc_blob_tombstones,
    )
    cutoff = utcnow() - grace
    referenced = or_(
        exists().where(mr.c.child_digest == b.c.digest), exists().where(m.c.digest == b.c.digest)
    )
    young = and_(
        ~referenced,
        or_(
            b.c.created_at >= cutoff,
            exists().where(and_(rb.c.digest == b.c.digest, rb.c.created_at >= cutoff)),
        ),
    )
    counted = select(func.count(), func.coalesce(func.sum(b.c.size), 0))
    used: Any
    waiting: Any
    pending: Any
    async with ctx.db.read() as conn:
        used = (await conn.execute(counted.where(referenced))).one()
        waiting = (await conn.execute(counted.where(young))).one()
        pending = (
            await conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(tomb.c.size), 0),
                    func.min(tomb.c.deleted_at),
                ).where(and_(tomb.c.bytes_deleted == false(), tomb.c.deleted_at > cutoff))
            )
        ).one()
    report.blobs_in_use, report.blobs_in_use_bytes = int(used[0]), int(used[1])
    report.blobs_young, report.blobs_young_bytes = int(waiting[0]), int(waiting[1])
    report.bytes_pending, report.bytes_pending_size = int(pending[0]), int(pending[1])
    if pending[2] is not None:
        report.bytes_pending_until = (as_utc(pending[2]) + grace).isoformat()
