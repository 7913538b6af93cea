"""The per-request memo: only inside ``remembering()``, gone when the block ends, even for a
task that inherited it; writers' ``forget`` drops an entry."""

from __future__ import annotations

import asyncio

from moorage.db import request_memo
from moorage.db.request_memo import MISSING


def test_nothing_is_remembered_outside_a_request() -> None:
    request_memo.remember("k", 1)
    assert request_memo.recall("k") is MISSING


def test_remembered_within_the_block_forgotten_on_request_and_after() -> None:
    with request_memo.remembering():
        assert request_memo.recall("k") is MISSING
        request_memo.remember("k", 1)
        assert request_memo.recall("k") == 1
        request_memo.forget("k")
        assert request_memo.recall("k") is MISSING
        request_memo.remember("k", 2)
    assert request_memo.recall("k") is MISSING
    with request_memo.remembering():  # the next request starts empty
        assert request_memo.recall("k") is MISSING


async def test_a_task_started_during_a_request_outlives_its_memo() -> None:
    """A task made inside the request copies its context (the memo with it): once the request
    ends, that task remembers nothing and reads afresh."""
    ended = asyncio.Event()
    seen: list[object] = []

    async def background() -> None:
        seen.append(request_memo.recall("k"))
        await ended.wait()
        seen.append(request_memo.recall("k"))
        request_memo.remember("k", "late")
        seen.append(request_memo.recall("k"))

    with request_memo.remembering():
        request_memo.remember("k", "during")
        task = asyncio.create_task(background())
        await asyncio.sleep(0)
    ended.set()
    await task
    assert seen == ["during", MISSING, MISSING]


async def test_concurrent_requests_keep_their_own_memos() -> None:
    async def one_request(value: int) -> object:
        with request_memo.remembering():
            request_memo.remember("k", value)
            await asyncio.sleep(0.01)
            return request_memo.recall("k")

    assert await asyncio.gather(*(one_request(i) for i in range(5))) == list(range(5))
