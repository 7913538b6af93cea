"""Rows a request reads more than once, read once: the memo of the request being served.

One /v2 push asks the site settings and its repository's row in the authorizer, then again in
the registry code that does the work (which cannot be handed the row without knowing about
HTTP). The HTTP gate runs each request inside ``remembering()``; ``site_settings.load`` and
``repositories.find`` then keep what they read in the request's memo, and the code that
changes either drops or replaces its entry, so a request still sees its own writes.

Outside a request (jobs, background loops, the CLI) there is no memo and every read goes to
the database. The memo is a context variable (the standard library's way to scope a value to
one asyncio task's run, hand-written here because it is a dict and a flag): a task started
during the request inherits it, so the memo is closed when the request ends, and a closed memo
remembers nothing. Within a request another request's change may be missed, as it could be
between any two statements; the next request reads afresh.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator
from contextvars import ContextVar


class RequestMemo:
    """What one request has read, by key; ``MISSING`` when it has not."""

    __slots__ = ("_values", "open")

    def __init__(self) -> None:
        self._values: dict[Hashable, object] = {}
        self.open = True

    def get(self, key: Hashable) -> object:
        return self._values.get(key, MISSING) if self.open else MISSING

    def put(self, key: Hashable, value: object) -> None:
        if self.open:
            self._values[key] = value

    def forget(self, key: Hashable) -> None:
        self._values.pop(key, None)

    def close(self) -> None:
        self.open = False
        self._values.clear()


MISSING = object()
_CURRENT: ContextVar[RequestMemo | None] = ContextVar("moorage_request_memo", default=None)


@contextlib.contextmanager
def remembering() -> Iterator[RequestMemo]:
    """Run the block (one request) with a memo of its own, closed when it ends."""
    memo = RequestMemo()
    token = _CURRENT.set(memo)
    try:
        yield memo
    finally:
        memo.close()
        _CURRENT.reset(token)


def recall(key: Hashable) -> object:
    """What the current request read under ``key``; ``MISSING`` outside a request or unread."""
    memo = _CURRENT.get()
    return MISSING if memo is None else memo.get(key)


def remember(key: Hashable, value: object) -> None:
    memo = _CURRENT.get()
    if memo is not None:
        memo.put(key, value)


def forget(key: Hashable) -> None:
    memo = _CURRENT.get()
    if memo is not None:
        memo.forget(key)
