"""The ``uploadpurge`` action: blob uploads nobody wrote to for a while go, rows and bytes.

Parameters (optional): ``maxAgeSeconds`` (default 86400: uploads idle for a day) and ``dryRun``.
A default cron runs it daily (``schedules.DEFAULTS``); an upload a request is writing to (its
lease is live) is never purged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from moorage.errors import InvalidInput
from moorage.jobs.context import JobContext
from moorage.registry import upload_limits


def max_age(params: dict[str, Any]) -> dt.timedelta:
    value = params.get("maxAgeSeconds", upload_limits.DEFAULT_MAX_AGE.total_seconds())
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("maxAgeSeconds must be a number of seconds") from exc
    if seconds < 0:
        raise InvalidInput("maxAgeSeconds must not be negative")
    return dt.timedelta(seconds=seconds)


async def run(ctx: JobContext) -> None:
    age = max_age(ctx.parameters)
    dry_run = bool(ctx.parameters.get("dryRun", False))
    await ctx.log(
        f"purging uploads idle for more than {age.total_seconds():g}s"
        + (" (dry run)" if dry_run else "")
    )
    report = await upload_limits.purge(
        ctx.registry, age, dry_run=dry_run, should_stop=ctx.should_stop
    )
    verb = "would purge" if dry_run else "purged"
    await ctx.log(
        f"{'stopped' if report.stopped else 'finished'}: {verb} {report.deleted} of "
        f"{report.examined} idle uploads, {report.bytes_freed} bytes"
    )
