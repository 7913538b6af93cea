"""Every statement the SQLAlchemy engines of this process run, with when it started and ended:
for tests that prove no database work happens after a point (a handle closed, an app stopped).
The ``statements`` fixture (tests/conftest.py) records for one test."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, event


class StatementLog:
    def __init__(self) -> None:
        self.started: list[tuple[float, str]] = []
        self.ended: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        with self._lock:
            self.started.append((time.monotonic(), statement))

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        with self._lock:
            self.ended.append((time.monotonic(), statement))

    def _failed(self, context: Any) -> None:
        if context.statement is not None:  # a statement that failed (not a failed connect)
            with self._lock:
                self.ended.append((time.monotonic(), str(context.statement)))

    def since(self, moment: float) -> list[str]:
        """Statements that started or ended after ``moment``."""
        with self._lock:
            return [s for at, s in self.started + self.ended if at > moment]

    def running(self) -> int:
        """Statements started and not ended yet."""
        with self._lock:
            return len(self.started) - len(self.ended)


_EVENTS = ("before_cursor_execute", "after_cursor_execute", "handle_error")


@contextlib.contextmanager
def recording() -> Iterator[StatementLog]:
    """Record every engine's statements (the async engines' too) while the block runs."""
    log = StatementLog()
    hooks: dict[str, Callable[..., None]] = dict(
        zip(_EVENTS, (log._before, log._after, log._failed), strict=True)
    )
    for name, hook in hooks.items():
        event.listen(Engine, name, hook)
    try:
        yield log
    finally:
        for name, hook in hooks.items():
            event.remove(Engine, name, hook)
