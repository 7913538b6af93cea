"""One background loop: a task that runs a pass every interval, or at once when poked.

Every periodic task of a serving process (the pull-event buffer, the webhook dispatcher, the job
runner) is a ``BackgroundLoop``. A pass that raises is logged and the loop goes on with the next
one; a poke during a pass runs another pass right after it. ``stop`` cancels the pass in flight
(waiting at most ``grace`` seconds), then runs the caller's ``final`` step once (e.g. the pull
buffer's last flush, the job runner stopping its jobs); ``stop`` on a loop that is not running
does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("moorage.background")

Pass = Callable[[], Awaitable[object]]


class BackgroundLoop:
    def __init__(
        self,
        name: str,
        run_pass: Pass,
        *,
        interval: float,
        final: Pass | None = None,
        logger: logging.Logger | None = None,
        failure: str | None = None,
    ) -> None:
        self.name = name
        self.interval = interval
        self._run_pass = run_pass
        self._final = final
        self._log = logger or log
        self._failure = failure or f"{name}: pass failed"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"moorage-{self.name}")

    def poke(self) -> None:
        """Run a pass now (or right after the one in flight)."""
        self._wake.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Cancel the loop, then run ``final`` (bounded by ``grace`` too). Idempotent: a loop
        that is not started (or already stopped) does nothing."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, grace)
        if self._final is not None:
            try:
                await asyncio.wait_for(self._final(), grace)
            except Exception:
                self._log.exception("%s: final pass failed", self.name)
        self._log.debug("%s stopped", self.name)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._run_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._log.exception(self._failure)
            if self._wake.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
