"""Load generators: a closed-loop asyncio one (for what wrk cannot do, HEAD), thread pools
over keep-alive connections, percentiles, and the reading of wrk's output."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar, cast

from harness.errors import BenchError
from harness.rawhttp import Conn

T = TypeVar("T")
R = TypeVar("R")


class _LoadProtocol(asyncio.Protocol):
    """One keep-alive connection sending the same request back to back (closed loop)."""

    def __init__(self, gen: LoadGen) -> None:
        self.gen = gen
        self.buf = b""
        self.t0 = 0
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not a check: uvloop's transports are not asyncio.Transport subclasses.
        self.transport = cast(asyncio.WriteTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if self.gen.stopping:
            self.transport.close()
            return
        self.t0 = time.perf_counter_ns()
        self.transport.write(self.gen.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        gen = self.gen
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            body = 0
            if not gen.head:
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                body = int(m.group(1)) if m else 0
            if len(self.buf) < end + 4 + body:
                return
            self.buf = self.buf[end + 4 + body :]
            now = time.perf_counter_ns()
            if not gen.stopping:
                gen.latencies.append(now - self.t0)
                if head[9:12] != b"200":
                    gen.bad.append(head[:12].decode("latin-1"))
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.open -= 1
        if not self.gen.stopping:
            self.gen.errors.append(repr(exc) if exc else "server closed a connection")
        if self.gen.open == 0 and not self.gen.done.done():
            self.gen.done.set_result(None)


class LoadGen:
    """A closed-loop load generator in the spirit of wrk, for what wrk cannot do: wrk 4.1
    hangs on HEAD responses that carry a Content-Length (wg/wrk#198, its HTTP parser waits
    for a body). One thread, asyncio on uvloop when available, raw protocol callbacks."""

    def __init__(self, port: int, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.port = port
        self.head = method == "HEAD"
        self.latencies: list[int] = []
        self.bad: list[str] = []
        self.errors: list[str] = []
        self.stopping = False
        self.open = 0

    async def _run(self, connections: int, seconds: float) -> float:
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = loop.create_future()
        for _ in range(connections):
            await loop.create_connection(lambda: _LoadProtocol(self), "127.0.0.1", self.port)
            self.open += 1
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        self.stopping = True
        elapsed = time.perf_counter() - t0
        try:
            await asyncio.wait_for(self.done, timeout=30)
        except TimeoutError:
            raise BenchError(
                f"load generator: {self.open} connections still waiting for an answer 30 s "
                "after the end"
            ) from None
        return elapsed

    def run(self, connections: int, seconds: float) -> dict[str, float]:
        factory: Callable[[], asyncio.AbstractEventLoop] | None = None
        with contextlib.suppress(ImportError):
            import uvloop

            factory = uvloop.new_event_loop
        cpu0 = time.process_time()
        with asyncio.Runner(loop_factory=factory) as runner:
            elapsed = runner.run(self._run(connections, seconds))
        cpu = time.process_time() - cpu0
        lat_ms = [x / 1e6 for x in self.latencies]
        return {
            "rps": len(lat_ms) / elapsed,
            "requests": float(len(lat_ms)),
            "p50_ms": percentile(lat_ms, 50),
            "p99_ms": percentile(lat_ms, 99),
            "non2xx": float(len(self.bad)),
            "socket_errors": float(len(self.errors)),
            "timeouts": 0.0,
            "client_cpu_share": cpu / elapsed,
            "uvloop": float(factory is not None),
        }


def run_threads(
    count: int, work: Callable[[int, threading.Event], None], timeout: float, what: str
) -> float:
    """Run ``work(i, stop)`` in ``count`` threads started together; wall seconds until all end."""
    errors: list[BaseException] = []
    stop = threading.Event()
    barrier = threading.Barrier(count + 1)

    def body(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(i, stop)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for th in threads:
        th.start()
    barrier.wait(timeout=30)
    t0 = time.perf_counter()
    deadline = t0 + timeout
    for th in threads:
        th.join(max(0.0, deadline - time.perf_counter()))
    elapsed = time.perf_counter() - t0
    if any(th.is_alive() for th in threads):
        stop.set()
        raise BenchError(f"{what}: still running after {timeout:.0f} s (phase time bound)")
    if errors:
        err = errors[0]
        if isinstance(err, BenchError):
            raise BenchError(f"{what}: {err}") from err
        raise BenchError(f"{what}: {type(err).__name__}: {err}") from err
    return elapsed


def run_queue(
    port: int,
    items: list[T],
    fn: Callable[[Conn, T], R],
    concurrency: int,
    timeout: float,
    what: str,
    auth: dict[str, str] | None = None,
) -> tuple[float, list[R]]:
    """``fn(conn, item)`` for every item, ``concurrency`` at a time, one keep-alive connection
    per thread; wall seconds and the results (in completion order)."""
    todo = iter(items)
    lock = threading.Lock()
    results: list[R] = []

    def work(_i: int, stop: threading.Event) -> None:
        conn = Conn(port, auth=auth)
        try:
            while not stop.is_set():
                with lock:
                    item = next(todo, None)
                if item is None:
                    break
                out = fn(conn, item)
                with lock:
                    results.append(out)
        finally:
            conn.close()

    elapsed = run_threads(concurrency, work, timeout, what)
    if len(results) != len(items):
        raise BenchError(f"{what}: {len(results)} of {len(items)} done")
    return elapsed, results


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise BenchError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(out: str) -> dict[str, float]:
    def grab(pattern: str) -> re.Match[str]:
        m = re.search(pattern, out)
        if not m:
            raise BenchError(f"unexpected wrk output (no {pattern!r}):\n{out}")
        return m

    stats: dict[str, float] = {
        "rps": float(grab(r"Requests/sec:\s+([\d.]+)").group(1)),
        "requests": float(grab(r"(\d+) requests in ").group(1)),
        "p50_ms": _ms(grab(r"\n\s+50%\s+(\S+)").group(1)),
        "p99_ms": _ms(grab(r"\n\s+99%\s+(\S+)").group(1)),
        "non2xx": 0.0,
        "socket_errors": 0.0,
        "timeouts": 0.0,
    }
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        stats["non2xx"] = float(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        stats["socket_errors"] = float(sum(int(m.group(i)) for i in (1, 2, 3)))
        stats["timeouts"] = float(m.group(4))
    return stats
