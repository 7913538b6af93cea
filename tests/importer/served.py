"""An in-process app (``tests/inprocess.py``) also served on a real loopback socket (uvicorn on
the app's own loop, its lifespan already running), for code under test that is an HTTP client
of a registry and goes through the outbound guard: the URL is ``http://127.0.0.1:<port>``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import uvicorn

from tests.inprocess import ThreadedApp


@contextlib.contextmanager
def served(app: ThreadedApp) -> Iterator[str]:
    config = uvicorn.Config(
        app.app.app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    running = asyncio.run_coroutine_threadsafe(server.serve(), app.loop)
    deadline = time.monotonic() + 30
    while not server.started:
        if running.done():
            running.result()  # raises why it stopped
        assert time.monotonic() < deadline, "the loopback server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        running.result(timeout=30)
