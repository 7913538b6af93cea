"""Work that must not outlive its owner (moorage.background): ``wait_out`` and
``cancel_and_wait`` wait until it has ended whatever cancels the caller, and a loop's ``stop``
returns only once its pass has ended, however long that pass takes to clean up."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from moorage.background import BackgroundLoop, cancel_and_wait, wait_out


async def test_wait_out_waits_through_cancellations_then_passes_them_on() -> None:
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    job = asyncio.create_task(work())
    waiter = asyncio.create_task(wait_out([job]))
    await asyncio.sleep(0.05)
    for _ in range(3):  # cancelled again and again: it still waits
        waiter.cancel()
        await asyncio.sleep(0.02)
    assert not waiter.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert job.result() == "done"  # the work itself was never cancelled


async def test_wait_out_returns_when_the_work_is_done_and_leaves_its_outcome() -> None:
    async def fails() -> None:
        raise ValueError("its own failure")

    job = asyncio.create_task(fails())
    await wait_out([job])
    assert isinstance(job.exception(), ValueError)
    await wait_out([])  # nothing to wait for


async def test_cancel_and_wait_waits_for_a_slow_cleanup() -> None:
    cleaned: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # e.g. writing its outcome
            cleaned.append("cleaned")
            raise

    job = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await cancel_and_wait([job])
    assert cleaned == ["cleaned"] and job.cancelled()


async def test_stop_returns_only_once_the_pass_has_cleaned_up() -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def run() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)
            events.append("pass cleaned up")
            raise

    async def final() -> None:
        events.append("final")

    loop = BackgroundLoop("t-slow-stop", run, interval=3600, final=final)
    loop.start()
    await started.wait()
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0.05)
    stopping.cancel()  # the owner itself is cancelled while it stops the loop
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert events == ["pass cleaned up"]  # ended before stop did; the final step skipped
    assert not loop.running
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "moorage-t-slow-stop"]


async def test_a_poke_at_the_moment_of_stop_does_not_keep_the_loop_running() -> None:
    """A poke and the stop's cancellation in one step of the event loop: the loop's wait for
    the next pass must not take the poke and lose the cancellation (Python 3.11's
    ``asyncio.wait_for`` would, and the loop would run on)."""
    passes = 0

    async def run() -> None:
        nonlocal passes
        passes += 1

    loop = BackgroundLoop("t-poke-stop", run, interval=3600)
    loop.start()
    for _ in range(100):
        if passes:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # waiting for the next pass now
    async with asyncio.timeout(10):
        loop.poke()
        await loop.stop(grace=3600)  # no second cancellation to rescue it
    assert not loop.running


async def test_stop_cancels_again_a_pass_that_lost_its_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[str] = []

    async def run() -> None:
        # A cancellation lost (as some awaitables do): the pass goes on.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ended.append("cancelled again")
            raise

    loop = BackgroundLoop("t-lost", run, interval=3600)
    loop.start()
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="moorage.background"):
        async with asyncio.timeout(10):
            await loop.stop(grace=0.2)
    assert ended == ["cancelled again"]
    assert any("cancelled again" in r.getMessage() for r in caplog.records)
