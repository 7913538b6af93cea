"""Stopping the job runner leaves no job behind: a job whose clean-up outlasts the runner's
grace is cancelled again and waited for, so ``stop`` returns only when every job task (and its
action) has ended, and the database is not written to afterwards."""

from __future__ import annotations

import asyncio
import time

import pytest

from moorage.jobs import runner as runner_module
from moorage.jobs.context import JobContext
from moorage.jobs.runner import JobRunner
from moorage.queue import job_logs, jobs
from moorage.registry.context import RegistryContext
from tests.db.statement_log import StatementLog


def job_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("moorage-job-")]


async def test_stop_waits_for_a_job_whose_clean_up_outlasts_the_grace(
    ctx: RegistryContext, statements: StatementLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "STOP_GRACE", 0.1)  # the runner gives up after 0.2 s
    running = asyncio.Event()
    ended: list[str] = []

    async def stubborn(jctx: JobContext) -> None:
        """Ignores the stop request; cancelled, it takes a second to write its outcome."""
        running.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(1.0)
            await jctx.log("cleaned up")
            ended.append("cleaned up")
            raise

    runner = JobRunner(ctx, poll_seconds=0.05, actions={"stubborn": stubborn})
    job = await jobs.submit(ctx.db, "stubborn")
    runner.start()
    try:
        await asyncio.wait_for(running.wait(), 30)
    finally:
        await runner.stop()
    stopped = time.monotonic()
    assert ended == ["cleaned up"]  # the action had ended when stop returned
    assert job_tasks() == []
    await asyncio.sleep(0.3)
    assert statements.since(stopped) == []  # nothing of the job wrote after the runner stopped
    lines = [line.data for line in await job_logs.read(ctx.db, job.id)]
    assert "cleaned up" in lines
