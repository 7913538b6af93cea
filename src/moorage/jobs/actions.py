"""Action names → the coroutines that run them."""

from __future__ import annotations

import asyncio
import time

from moorage.jobs.context import Action, JobContext


async def sleep_action(ctx: JobContext) -> None:
    """``sleep``: waits ``seconds`` (at most an hour), logging each second; for diagnostics."""
    try:
        seconds = float(ctx.parameters.get("seconds", 1))
    except (TypeError, ValueError):
        seconds = 1.0
    seconds = max(0.0, min(seconds, 3600.0))
    end = time.monotonic() + seconds
    n = 0
    while (left := end - time.monotonic()) > 0 and not ctx.should_stop():
        await asyncio.sleep(min(1.0, left))
        n += 1
        await ctx.log(f"slept {n} of {seconds:g}s")
    await ctx.log("awake")


async def onlinegc_action(ctx: JobContext) -> None:
    from moorage.jobs.gc import run

    await run(ctx)


async def webhook_action(ctx: JobContext) -> None:
    from moorage.jobs.webhook_delivery import run

    await run(ctx)


async def tagprune_action(ctx: JobContext) -> None:
    from moorage.jobs.tagprune import run

    await run(ctx)


async def uploadpurge_action(ctx: JobContext) -> None:
    from moorage.jobs.upload_purge import run

    await run(ctx)


async def ldapsync_action(ctx: JobContext) -> None:
    from moorage.jobs.ldapsync import run

    await run(ctx)


async def vulndbupdate_action(ctx: JobContext) -> None:
    from moorage.jobs.vulndb_update import run

    await run(ctx)


async def scan_action(ctx: JobContext) -> None:
    from moorage.jobs.scan import run_scan

    await run_scan(ctx)


async def scanall_action(ctx: JobContext) -> None:
    from moorage.jobs.scan import run_scan_all

    await run_scan_all(ctx)


async def rematch_action(ctx: JobContext) -> None:
    from moorage.jobs.scan import run_rematch

    await run_rematch(ctx)


def builtin_actions() -> dict[str, Action]:
    return {
        "onlinegc": onlinegc_action,
        "sleep": sleep_action,
        "webhook": webhook_action,
        "tagprune": tagprune_action,
        "uploadpurge": uploadpurge_action,
        "ldapsync": ldapsync_action,
        "vulndbupdate": vulndbupdate_action,
        "scan": scan_action,
        "scanall": scanall_action,
        "rematch": rematch_action,
    }


KNOWN = frozenset(builtin_actions())
# Jobs that change what the registry holds: they wait while the registry is in read-only mode.
CHANGES_CONTENT = frozenset({"onlinegc", "tagprune", "uploadpurge"})
