"""Action names → the coroutines that run them, and what a running job may use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from moorage.db.engine import Database
from moorage.jobs import store
from moorage.registry.context import RegistryContext


@dataclass
class JobContext:
    """Handed to an action: its job, the registry, a log that readers see while it runs, and
    the signals to stop (cancellation asked, deadline near, the worker shutting down)."""

    job: store.Job
    registry: RegistryContext
    worker: str
    deadline: float | None = None  # time.monotonic() after which the action should stop
    stop_requested: bool = False
    _line: int = field(default=0)

    @property
    def db(self) -> Database:
        return self.registry.db

    @property
    def parameters(self) -> dict[str, Any]:
        return self.job.parameters

    async def log(self, message: str) -> None:
        self._line += 1
        await store.append_log(self.db, self.job.id, self._line, message)

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def should_stop(self) -> bool:
        left = self.time_left()
        return self.stop_requested or (left is not None and left <= 0)


Action = Callable[[JobContext], Coroutine[Any, Any, None]]


class RetryLater(Exception):
    """An action's attempt failed and the same job row should run again after the backoff
    (``store.finish(in_place=True)``) while attempts are left; the message is the job's error."""


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


def builtin_actions() -> dict[str, Action]:
    return {
        "onlinegc": onlinegc_action,
        "sleep": sleep_action,
        "webhook": webhook_action,
        "tagprune": tagprune_action,
        "uploadpurge": uploadpurge_action,
    }


KNOWN = frozenset(builtin_actions())
# Jobs that change what the registry holds: they wait while the registry is in read-only mode.
CHANGES_CONTENT = frozenset({"onlinegc", "tagprune", "uploadpurge"})
