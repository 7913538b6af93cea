"""A layer blob read and analysed in a child process at idle CPU priority.

The heavy part of a scan, inflating a layer and running the analysers over its tar
(``inventory.layers.read_layer``: pure Python but for zlib and zstd), runs in a process of its own
so that it takes no CPU from the requests the job's process serves, and escapes that process's
GIL (two layers read side by side really run on two cores). The child lowers its own priority
before it reads anything (``lower_priority``): ``SCHED_IDLE`` on Linux, so it only gets a core no
normal process wants (nice 19 still takes a share of a busy core), else nice 19.

The storage driver and the database stay in the job's process. The child is handed either the
blob's file path (``StorageDriver.local_path``: the filesystem driver), which it opens and reads
itself, or the blob's bytes: the job's process streams the driver's chunks into a pipe the child
reads from (object stores), each chunk sent from a worker thread, never the whole layer in
memory (the pipe's buffer is the bound). The child answers once, on a second pipe: the
``LayerInventory``, or the exception ``read_layer`` raised (``LayerInvalid`` and the rest, so the
scan fails exactly as it would in a thread), with its CPU time and the priority it got.

A stop asked of the scan (``stop()``, polled every ``POLL`` seconds) or its cancellation kills
the child (ours: by its own handle) and raises ``ScanStopped``. Children come from the
``forkserver`` start method where the platform has it (a server process started once by the
job's process, on its first read, with this module preloaded: each child is forked from it in
milliseconds rather than started as a fresh interpreter), else ``spawn``. Nothing is started at
import time. As with any forkserver or spawn child, each child imports the job's process's main
module (as ``__mp_main__``, before it can lower its priority): ``moorage serve``'s and ``moorage
worker``'s are small and guarded by ``if __name__ == "__main__"``; a program that scans must be
too.

Written by hand (the stdlib's ``multiprocessing`` does the process and pipe work): the two-pipe
protocol, the stream over the pipe, and the kill-and-wait on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import multiprocessing
import os
import resource
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import IO, Any, cast

from moorage.errors import ScanError, StorageNotFound
from moorage.scanning.catalog import Catalog
from moorage.scanning.inventory.layers import LayerInventory, read_layer
from moorage.storage.base import StorageDriver

POLL = 0.25  # seconds between two looks at stop() while the child works
StopAsked = Callable[[], bool]


class ScanStopped(ScanError):
    code, default_message = "SCAN_STOPPED", "the scan was stopped"


@dataclass(frozen=True, slots=True)
class ChildRead:
    """A layer read by a child: its inventory, CPU seconds, and the priority it ran at."""

    inventory: LayerInventory
    cpu_seconds: float
    priority: str  # "idle" (SCHED_IDLE) | "nice 19" | "normal" (could lower neither)


def lower_priority() -> str:
    """Lower the calling process's CPU priority as far as the OS lets it; what it got."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "idle"
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, 0, 19)
        return "nice 19"
    return "normal"


def _context() -> ForkServerContext | SpawnContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        forkserver = multiprocessing.get_context("forkserver")
        forkserver.set_forkserver_preload([__name__])  # used when the server first starts
        return forkserver
    return multiprocessing.get_context("spawn")


class _PipeStream(io.RawIOBase):
    """The bytes the job's process sends, as the stream ``read_layer`` takes (b"" ends it)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._pending = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            if self._ended:
                return 0
            chunk = self._conn.recv_bytes()
            if not chunk:
                self._ended = True
                return 0
            self._pending = memoryview(chunk)
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_main(
    data: Connection | None, answer: Connection, path: str | None, catalog: Catalog
) -> None:
    """The child: lower its priority, read the layer (``path``, else ``data``), answer once."""
    priority = lower_priority()
    try:
        if path is not None:
            with open(path, "rb") as file:
                inventory = read_layer(file, catalog.analyzers, catalog.fact_finders)
        else:
            assert data is not None
            source = cast(IO[bytes], _PipeStream(data))
            inventory = read_layer(source, catalog.analyzers, catalog.fact_finders)
    except EOFError:  # the job's process stopped sending: it knows why, nothing to say
        return
    except Exception as exc:
        try:
            answer.send(("failed", exc))
        except Exception:  # an exception that does not pickle: its words
            answer.send(("failed", RuntimeError(f"{type(exc).__name__}: {exc}")))
        return
    answer.send(("read", ChildRead(inventory, _cpu(), priority)))


class _Feeder:
    """Streams the driver's chunks into the child's pipe from worker threads; b"" at the end.
    A child that stopped reading (it failed, answered, or was killed) breaks the pipe, which
    ends the feed; ``halt`` ends it before the next chunk."""

    def __init__(self, chunks: AsyncIterator[bytes], data: Connection, stop: StopAsked) -> None:
        self.halted = False
        self._chunks, self._data, self._stop = chunks, data, stop

    async def run(self) -> None:
        try:
            async for chunk in self._chunks:
                if self.halted:
                    return
                if self._stop():
                    raise ScanStopped()
                if chunk:
                    await asyncio.to_thread(self._data.send_bytes, chunk)
            if not self.halted:
                await asyncio.to_thread(self._data.send_bytes, b"")
        except (BrokenPipeError, ConnectionResetError):
            return


def _receive(answer: Connection) -> tuple[str, Any] | None:
    try:
        return cast(tuple[str, Any], answer.recv())
    except (EOFError, OSError):
        return None


async def _received(answer: Connection) -> tuple[str, Any] | None:
    """The child's answer (None: it ended without one). The event loop watches the pipe, so no
    worker thread waits out the whole read (the default pool is small and requests use it); the
    answer, once it starts to come, is read in one (a child at idle priority may write slowly)."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    fd = answer.fileno()
    loop.add_reader(fd, ready)
    try:
        await readable
    finally:
        loop.remove_reader(fd)
    os.set_blocking(fd, True)  # uvloop (libuv) made it non-blocking: the thread's read waits
    return await asyncio.to_thread(_receive, answer)


async def _answer(
    receiving: asyncio.Future[tuple[str, Any] | None],
    feeding: asyncio.Future[None] | None,
    stop: StopAsked,
) -> tuple[str, Any] | None:
    """The child's answer, once it comes; the feed's failure or a stop first, if either does."""
    while True:
        if stop():
            raise ScanStopped()
        waiting: set[asyncio.Future[Any]] = {receiving}
        if feeding is not None and not feeding.done():
            waiting.add(feeding)
        done, _ = await asyncio.wait(waiting, timeout=POLL, return_when=asyncio.FIRST_COMPLETED)
        if feeding is not None and feeding in done and (error := feeding.exception()) is not None:
            raise error  # the storage failed, or a stop was asked between two chunks
        if receiving in done:
            return receiving.result()


async def read_in_child(
    storage: StorageDriver, key: str, catalog: Catalog, stop: StopAsked
) -> ChildRead:
    """Read the blob at ``key`` in a child process (see the module's documentation)."""
    context = _context()
    path = storage.local_path(key)
    answer_in, answer_out = context.Pipe(duplex=False)
    data_in, data_out = context.Pipe(duplex=False) if path is None else (None, None)
    process: BaseProcess = context.Process(
        target=child_main,
        args=(data_in, answer_out, path, catalog),
        name="moorage-layer-reader",
        daemon=True,
    )
    chunks = storage.read(key) if path is None else None
    feeder = _Feeder(chunks, data_out, stop) if chunks is not None and data_out else None
    feeding: asyncio.Future[None] | None = None
    receiving: asyncio.Future[tuple[str, Any] | None] | None = None
    try:
        await asyncio.to_thread(process.start)
        answer_out.close()
        if data_in is not None:
            data_in.close()
        if feeder is not None:
            feeding = asyncio.ensure_future(feeder.run())
        receiving = asyncio.ensure_future(_received(answer_in))
        got = await _answer(receiving, feeding, stop)
        if got is None:
            await asyncio.to_thread(process.join, 5.0)
            raise ScanError(
                f"the layer reader process ended without an answer (exit code {process.exitcode})"
            )
        kind, value = got
        if isinstance(value, FileNotFoundError | IsADirectoryError):  # gone since its stat
            raise StorageNotFound(key)  # as the driver's own read says it
        if kind == "failed":
            raise cast(BaseException, value)
        return cast(ChildRead, value)
    finally:
        await asyncio.shield(_end(process, feeder, feeding, receiving, (answer_in, data_out)))
        if chunks is not None:
            closer = getattr(chunks, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()


async def _end(
    process: BaseProcess,
    feeder: _Feeder | None,
    feeding: asyncio.Future[None] | None,
    receiving: asyncio.Future[tuple[str, Any] | None] | None,
    conns: tuple[Connection | None, ...],
) -> None:
    """The child killed if it still runs, then waited for; the feed and the receiving task
    ended (the dead child broke their pipes) before the pipes are closed."""
    if process.is_alive():
        process.kill()
    if feeder is not None:
        feeder.halted = True
    for pending in (feeding, receiving):
        if pending is not None:
            with contextlib.suppress(BaseException):
                await pending
    for conn in conns:
        if conn is not None:
            conn.close()
    if process.pid is not None:  # it was started
        await asyncio.to_thread(process.join)
        process.close()
