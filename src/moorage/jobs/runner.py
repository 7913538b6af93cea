"""The worker loop every ``moorage serve`` process (and ``moorage worker``) runs.

Each pass: mark jobs whose lease ran out ``worker_dead`` (and queue their retries), queue the due
cron jobs, then claim waiting jobs up to the capacity (while the registry is in read-only mode,
jobs that change its content, GC, pruning and the upload purge, stay queued). A claimed job runs
as its own task while the runner renews its lease; a renewal that finds the job no longer ours
(another worker reaped it) stops the task without recording anything, and a cancellation asked
through the API stops it as ``canceled``. Stopping the runner (the process shuts down) stops its
jobs, which are recorded ``worker_dead`` and run again elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import socket
import time

from moorage.background import BackgroundLoop, cancel_and_wait
from moorage.db import site_settings
from moorage.jobs.actions import CHANGES_CONTENT, builtin_actions
from moorage.jobs.context import Action, JobContext, RetryLater
from moorage.queue import action_configs, crons, job_logs, jobs, leases, workers
from moorage.registry.context import RegistryContext
from moorage.scanning.engine_match import RecordKeeper

log = logging.getLogger("moorage.jobs")
HEARTBEAT_EVERY = 5.0
STOP_GRACE = 5.0  # seconds an action has to stop by itself before it is cancelled
CANCEL_POLL = 1.0  # seconds between two looks at a running job's row (cancel asked, lease lost)
DEADLINE_GRACE = 10.0
COMPACT_EVERY = 600.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRunner:
    def __init__(
        self,
        ctx: RegistryContext,
        *,
        capacity: int = 1,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        worker: str | None = None,
        actions: dict[str, Action] | None = None,
    ) -> None:
        self.ctx = ctx
        self.capacity = max(1, capacity)
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.poll = poll_seconds
        self.worker = worker or worker_name()
        self.actions = actions if actions is not None else builtin_actions()
        self._running: dict[str, tuple[str, asyncio.Task[None]]] = {}  # job id → action, task
        # Per-action limits an administrator set (workers.set_capacity), read at each heartbeat.
        self.limits: dict[str, int] = {}
        self.records = RecordKeeper()  # parsed records its scans share (one generation)
        self._last_beat = 0.0
        self._last_compaction = 0.0
        self._loop = BackgroundLoop(
            "job-runner",
            self._pass,
            interval=poll_seconds,
            final=self._stop_jobs,
            logger=log,
            failure="job runner pass failed",
        )

    def start(self) -> None:
        self._last_beat = 0.0
        self._last_compaction = time.monotonic() - COMPACT_EVERY / 2  # not every process at start
        self._loop.start()

    def poke(self) -> None:
        """Look for work now (a job was just queued here)."""
        self._loop.poke()

    async def stop(self, grace: float = 15.0) -> None:
        await self._loop.stop(grace)

    async def _stop_jobs(self) -> None:
        """The loop's final step: this worker's jobs stop (recorded ``worker_dead``)."""
        running = [task for _, task in self._running.values()]
        for job_task in running:
            job_task.cancel()
        if running:
            try:
                await asyncio.wait(running, timeout=STOP_GRACE * 2)
            finally:  # none outlives the runner (nor the database it writes to)
                await cancel_and_wait(running, again_every=STOP_GRACE)
        with contextlib.suppress(Exception):
            await workers.heartbeat(self.ctx.db, self.worker, self.capacity, "stopped")
        log.debug("job runner stopped", extra={"worker": self.worker})

    async def _pass(self) -> None:
        db = self.ctx.db
        if time.monotonic() - self._last_beat >= HEARTBEAT_EVERY:
            self.limits = await workers.heartbeat(db, self.worker, self.capacity)
            self._last_beat = time.monotonic()
        dead = await leases.reap(db)
        if dead:
            log.warning("jobs of a dead worker queued again", extra={"jobs": dead})
        await crons.fire_due(db)
        if time.monotonic() - self._last_compaction >= COMPACT_EVERY:
            self._last_compaction = time.monotonic()
            await self._compact()
        actions = list(self.actions)
        if (await site_settings.load(db)).read_only_registry:
            actions = [a for a in actions if a not in CHANGES_CONTENT]
        while len(self._running) < self.capacity:
            room = self._with_room(actions)
            if not room or not await leases.has_work(db, room):
                break
            job = await leases.claim(db, self.worker, self.lease, room)
            if job is None:
                break
            self._spawn(job)

    def _with_room(self, actions: list[str]) -> list[str]:
        """The actions of which this worker runs fewer jobs than its capacity for them."""
        limits = workers.effective(self.capacity, actions, self.limits)
        running = [action for action, _ in self._running.values()]
        return [a for a in actions if running.count(a) < limits[a]]

    async def _compact(self) -> None:
        """History compaction (DTR's ``jobHistoryCompactionEnabled``: finished jobs older
        than ``jobHistoryMaxAge`` beyond the newest ``jobHistoryToKeep``)."""
        settings = await site_settings.load(self.ctx.db)
        if settings.job_history_compaction_enabled:
            removed = await jobs.compact(
                self.ctx.db,
                max_age=settings.job_history_max_age,
                keep=settings.job_history_to_keep,
            )
            if removed:
                log.info("job history compacted", extra={"removed": removed})
        await workers.forget(self.ctx.db, older_than=dt.timedelta(days=1))

    def _spawn(self, job: jobs.Job) -> None:
        task = asyncio.create_task(self._execute(job), name=f"moorage-job-{job.id}")
        self._running[job.id] = (job.action, task)

        def done(_: asyncio.Task[None]) -> None:
            self._running.pop(job.id, None)
            self._loop.poke()

        task.add_done_callback(done)

    async def _execute(self, job: jobs.Job) -> None:
        db = self.ctx.db
        # The action's configured parameters, under the job's own (DTR's action configs).
        defaults = await action_configs.defaults(db, job.action)
        if defaults:
            job = dataclasses.replace(job, parameters={**defaults, **job.parameters})
        deadline = time.monotonic() + job.deadline_seconds if job.deadline_seconds else None
        # A job retried in place (RetryLater) goes on with its earlier log lines.
        first = await job_logs.last_line(db, job.id) if job.attempt > 1 else 0
        jctx = JobContext(
            job=job,
            registry=self.ctx,
            worker=self.worker,
            deadline=deadline,
            _line=first,
            records=self.records,
        )
        in_place = False
        action = self.actions[job.action]
        log.info("job started", extra={"job": job.id, "action": job.action})
        status, error = "done", None
        task: asyncio.Task[None] | None = None
        try:
            await jctx.log(
                f"started {job.action} on worker {self.worker} "
                f"(attempt {job.attempt} of {job.max_attempts})"
            )
            task = asyncio.create_task(action(jctx))
            renew_every = max(0.2, self.lease.total_seconds() / 3)
            look_every = min(renew_every, CANCEL_POLL)
            renew_at = time.monotonic() + renew_every
            while True:
                finished, _ = await asyncio.wait({task}, timeout=look_every)
                if finished:
                    break
                try:
                    if time.monotonic() >= renew_at:
                        renew_at = time.monotonic() + renew_every
                        state = await leases.renew(db, job.id, self.worker, self.lease)
                    else:  # between renewals, a read: a cancellation asked, a lease lost
                        state = await leases.held_state(db, job.id, self.worker)
                except Exception:
                    log.exception("lease renewal failed", extra={"job": job.id})
                    continue
                if state == "lost":
                    log.warning("job lease lost; stopping it", extra={"job": job.id})
                    await _stop(task, jctx)
                    return
                if state == "cancel":
                    await _stop(task, jctx)
                    status, error = "canceled", "canceled on request"
                    break
                if deadline is not None and time.monotonic() > deadline + DEADLINE_GRACE:
                    await _stop(task, jctx)
                    status, error = "errored", "deadline exceeded"
                    break
            if status == "done":
                exc = task.exception() if not task.cancelled() else None
                if task.cancelled():
                    status, error = "canceled", "canceled"
                elif isinstance(exc, RetryLater):
                    status, error, in_place = "errored", str(exc), True
                elif exc is not None:
                    status, error = "errored", f"{type(exc).__name__}: {exc}"
                    log.error("job failed", extra={"job": job.id}, exc_info=exc)
            await jctx.log(f"{status}" + (f": {error}" if error else ""))
        except asyncio.CancelledError:
            # The process is shutting down: the job runs again on another worker.
            if task is not None:
                await _stop(task, jctx)
            with contextlib.suppress(Exception):
                await jctx.log("the worker shut down")
                await leases.finish(db, job, self.worker, "worker_dead", "the worker shut down")
            raise
        except Exception as exc:
            status, error = "errored", f"{type(exc).__name__}: {exc}"
            log.exception("job failed", extra={"job": job.id})
        await leases.finish(db, job, self.worker, status, error, in_place=in_place)
        log.info("job finished", extra={"job": job.id, "status": status})


async def _stop(task: asyncio.Task[None], jctx: JobContext) -> None:
    """Ask the action to stop, give it a moment, then cancel it."""
    jctx.stop_requested = True
    try:
        if not task.done():
            await asyncio.wait({task}, timeout=STOP_GRACE)
    finally:  # even when the job itself is cancelled meanwhile: the action never outlives it
        await cancel_and_wait([task])
        if not task.cancelled():
            task.exception()  # its failure no longer matters: the job stopped
