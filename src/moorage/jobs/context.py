"""What a running job's action is handed (``JobContext``) and may raise (``RetryLater``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from moorage.db.engine import Database
from moorage.queue import job_logs
from moorage.queue.jobs import Job
from moorage.registry.context import RegistryContext
from moorage.scanning.engine_match import RecordKeeper


@dataclass
class JobContext:
    """Handed to an action: its job, the registry, a log that readers see while it runs, and
    the signals to stop (cancellation asked, deadline near, the worker shutting down)."""

    job: Job
    registry: RegistryContext
    worker: str
    deadline: float | None = None  # time.monotonic() after which the action should stop
    stop_requested: bool = False
    _line: int = field(default=0)
    # Parsed vulnerability records of the generation in force, kept by the runner between scans.
    records: RecordKeeper = field(default_factory=RecordKeeper)

    @property
    def db(self) -> Database:
        return self.registry.db

    @property
    def parameters(self) -> dict[str, Any]:
        return self.job.parameters

    async def log(self, message: str) -> None:
        self._line += 1
        await job_logs.append(self.db, self.job.id, self._line, message)

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def should_stop(self) -> bool:
        left = self.time_left()
        return self.stop_requested or (left is not None and left <= 0)


Action = Callable[[JobContext], Coroutine[Any, Any, None]]


class RetryLater(Exception):
    """An action's attempt failed and the same job row should run again after the backoff
    (``leases.finish(in_place=True)``) while attempts are left; the message is the job's error."""
