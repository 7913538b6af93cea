"""The one background loop (moorage.background): interval, poke, failing passes, stop."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

import pytest

from moorage.background import BackgroundLoop


async def _until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_runs_a_pass_every_interval() -> None:
    passes: list[float] = []

    async def run() -> None:
        passes.append(asyncio.get_running_loop().time())

    loop = BackgroundLoop("t-interval", run, interval=0.05)
    loop.start()
    try:
        await _until(lambda: len(passes) >= 4)
    finally:
        await loop.stop()
    gaps = [b - a for a, b in itertools.pairwise(passes)]
    assert all(g >= 0.04 for g in gaps), gaps


async def test_poke_runs_a_pass_at_once_and_after_the_one_in_flight() -> None:
    passes = 0
    gate = asyncio.Event()

    async def run() -> None:
        nonlocal passes
        passes += 1
        if passes == 2:
            await gate.wait()  # a pass in flight while it is poked

    loop = BackgroundLoop("t-poke", run, interval=3600)
    loop.start()
    try:
        await _until(lambda: passes == 1)
        loop.poke()
        await _until(lambda: passes == 2)
        loop.poke()  # during the second pass: a third one follows it
        gate.set()
        await _until(lambda: passes == 3, seconds=2)
        await asyncio.sleep(0.05)
        assert passes == 3  # and then it waits for the (long) interval
    finally:
        await loop.stop()


async def test_a_failing_pass_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    passes = 0

    async def run() -> None:
        nonlocal passes
        passes += 1
        if passes <= 2:
            raise RuntimeError("boom")

    loop = BackgroundLoop(
        "t-fail", run, interval=0.01, logger=logging.getLogger("t"), failure="the pass failed"
    )
    with caplog.at_level(logging.ERROR, logger="t"):
        loop.start()
        try:
            await _until(lambda: passes >= 4)
            assert loop.running
        finally:
            await loop.stop()
    failures = [r for r in caplog.records if r.getMessage() == "the pass failed"]
    assert len(failures) == 2 and failures[0].exc_info is not None


async def test_stop_cancels_the_pass_and_runs_the_final_step_once() -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def run() -> None:
        events.append("pass")
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def final() -> None:
        events.append("final")

    loop = BackgroundLoop("t-stop", run, interval=3600, final=final)
    await loop.stop()  # not started: nothing to do
    assert events == []
    loop.start()
    await started.wait()
    await loop.stop()
    assert events == ["pass", "cancelled", "final"]
    assert not loop.running
    await loop.stop()  # idempotent
    assert events == ["pass", "cancelled", "final"]
    # It may be started again (e.g. a runner in a test), and stops again with its final step.
    loop.start()
    await _until(lambda: events.count("pass") == 2)
    await loop.stop()
    assert events[-1] == "final" and events.count("final") == 2


async def test_a_failing_final_step_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        return None

    async def final() -> None:
        raise RuntimeError("cannot flush")

    loop = BackgroundLoop("t-final", run, interval=3600, final=final, logger=logging.getLogger("t"))
    with caplog.at_level(logging.ERROR, logger="t"):
        loop.start()
        await asyncio.sleep(0)
        await loop.stop()
    assert any("final pass failed" in r.getMessage() for r in caplog.records)
