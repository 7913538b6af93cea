"""One background loop: a task that runs a pass every interval, or at once when poked.

Every periodic task of a serving process (the pull-event buffer, the webhook dispatcher, the job
runner) is a ``BackgroundLoop``. A pass that raises is logged and the loop goes on with the next
one; a poke during a pass runs another pass right after it. ``stop`` cancels the pass in flight
and waits until it has ended, then runs the caller's ``final`` step once (e.g. the pull
buffer's last flush, the job runner stopping its jobs); ``stop`` on a loop that is not running
does nothing.

``wait_out`` is for work that must not outlive its owner (a thread still using a database
connection, a job still writing its outcome): it waits until the work has ended even when the
caller is cancelled meanwhile, then passes the cancellation on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger("moorage.background")

Pass = Callable[[], Awaitable[object]]


async def wait_out(work: Iterable[asyncio.Future[Any]]) -> None:
    """Wait until every future in ``work`` is done, whatever cancels the caller meanwhile (the
    futures are not cancelled by it); a cancellation received while waiting is raised once
    they all are. The work must end by itself (or have been cancelled): this waits for it."""
    pending = {f for f in work if not f.done()}
    cancelled = False
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]], *, again_every: float | None = None
) -> None:
    """Cancel every task and wait until all have ended (``wait_out``): none outlives the call.
    ``again_every``: cancel those still running again each time that many seconds pass (code
    can lose a cancellation: Python 3.11's ``asyncio.wait_for`` does when its awaitable ends
    at the same moment), logging it."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    if again_every is None:
        await wait_out(tasks)
        return
    cancelled = False
    pending = {t for t in tasks if not t.done()}
    while pending:
        try:
            _, pending = await asyncio.wait(pending, timeout=again_every)
        except asyncio.CancelledError:
            cancelled = True
            continue
        for task in pending:
            log.warning(
                "still running %.0f s after it was cancelled: cancelled again",
                again_every,
                extra={"task": task.get_name() if isinstance(task, asyncio.Task) else ""},
            )
            task.cancel()
    if cancelled:
        raise asyncio.CancelledError


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
        """Cancel the loop and wait until its pass has ended, then run ``final`` (bounded by
        ``grace``: past it the final step is cancelled, and waited for). Idempotent: a loop
        that is not started (or already stopped) does nothing."""
        task, self._task = self._task, None
        if task is None:
            return
        await cancel_and_wait([task], again_every=grace)  # the pass never outlives the loop
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
            # Not wait_for: Python 3.11's loses a cancellation that meets a poke, and the
            # loop would run on after stop().
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
