"""The ``onlinegc`` action: ``moorage.registry.gc`` run as a job, its progress in the job's log.

Parameters (all optional): ``dryRun`` (report what would be freed, delete nothing),
``gracePeriodSeconds`` (default 3600: nothing younger is collected, and bytes are deleted no
sooner than this after their row), ``uploadMaxAgeSeconds`` (default 86400), ``budgetSeconds``
(a time budget after which GC stops cleanly; the job's deadline also bounds it). Whether untagged
manifests are collected is the site setting ``gcCollectUntaggedManifests``. The job's last log
line is the run's plain summary (what was freed, what was kept and why) and its numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from typing import Any

from moorage.db import site_settings
from moorage.errors import InvalidInput
from moorage.jobs.context import JobContext
from moorage.registry import gc

DEFAULT_GRACE = 3600  # shown in the UI's GC form
DEFAULT_UPLOAD_AGE = 86400


def report_json(report: gc.GcReport) -> str:
    """The report's numbers as one JSON object with camelCase keys (the job's log lines and
    ``moorage gc --json``)."""
    fields = {_camel(k): v for k, v in dataclasses.asdict(report).items()}
    return json.dumps(fields, sort_keys=True)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _seconds(params: dict[str, Any], key: str, default: float | None) -> float | None:
    value = params.get(key, default)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{key} must be a number of seconds") from exc
    if number < 0:
        raise InvalidInput(f"{key} must not be negative")
    return number


def options(params: dict[str, Any], collect_untagged: bool) -> gc.GcOptions:
    grace = _seconds(params, "gracePeriodSeconds", DEFAULT_GRACE) or 0.0
    uploads = _seconds(params, "uploadMaxAgeSeconds", DEFAULT_UPLOAD_AGE) or 0.0
    return gc.GcOptions(
        dry_run=bool(params.get("dryRun", False)),
        grace=dt.timedelta(seconds=grace),
        upload_max_age=dt.timedelta(seconds=uploads),
        collect_untagged=collect_untagged,
    )


def validate(params: dict[str, Any]) -> None:
    """Refuse bad parameters when the job is queued rather than when it runs."""
    options(params, False)
    _seconds(params, "budgetSeconds", None)


async def run(ctx: JobContext) -> None:
    settings = await site_settings.load(ctx.db)
    opts = options(ctx.parameters, settings.gc_collect_untagged_manifests)
    budget = _seconds(ctx.parameters, "budgetSeconds", None)
    stop_at = time.monotonic() + budget if budget else None

    def should_stop() -> bool:
        return ctx.should_stop() or (stop_at is not None and time.monotonic() >= stop_at)

    last = 0.0

    async def progress(message: str, report: gc.GcReport) -> None:
        nonlocal last
        # At most about one line a second, and every phase's end.
        if message.startswith("phase") or time.monotonic() - last >= 1.0:
            last = time.monotonic()
            await ctx.log(f"{message}: {report_json(report)}")

    await ctx.log(
        "online GC "
        + ("(dry run) " if opts.dry_run else "")
        + f"grace {opts.grace.total_seconds():g}s, uploads older than "
        f"{opts.upload_max_age.total_seconds():g}s, untagged manifests "
        + ("collected" if opts.collect_untagged else "kept")
        + (f", budget {budget:g}s" if budget else "")
    )
    report = await gc.collect(ctx.registry, opts, progress=progress, should_stop=should_stop)
    # The last line: the plain summary (what was freed, what was kept and why), then the numbers.
    await ctx.log(
        f"{'stopped' if report.stopped else 'finished'}: {report.summary}; "
        f"result {report_json(report)}"
    )
