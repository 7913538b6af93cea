"""Huge request bodies against a real ``moorage serve`` (two workers): the workers' memory stays
flat, whether the sender is anonymous (401 before a byte is read) or signed in (413 at the
limit), with a Content-Length or chunked as one enormous chunk.

Bodies are sent over raw sockets from one reused 64 KiB buffer while the answer is read at the
same time, so the test holds no big body itself and sees the status even when the server stops
reading and closes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ADMIN, RunningRegistry

MiB = 1024 * 1024
pytestmark = pytest.mark.one_database  # what it shows does not depend on the database


BODY = 256 * MiB
PIECE = b"{" + b"x" * (64 * 1024 - 1)
ALLOWED_GROWTH = 50 * MiB
FORM = "application/x-www-form-urlencoded"


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (the server's workers and anything they started)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                kids = [int(k) for k in task.read_text().split()]
                found.extend(kids)
                todo.extend(kids)
    return found


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Sent:
    status: int | None
    sent: int
    error: str = ""


async def send_huge(
    port: int, path: str, *, chunked: bool, auth: tuple[str, str] | None, total: int = BODY
) -> Sent:
    """POST ``total`` bytes to ``path``; stop sending as soon as an answer arrives. A plain
    non-blocking socket: the server closing its reading side (EPIPE, RST) ends the sending
    but leaves the answer it already sent readable."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    kind = "application/json" if path.startswith(("/api/", "/enzi/")) else FORM
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Type: {kind}"]
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        head.append(f"Authorization: Basic {token}")
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    answered = asyncio.Event()
    sent = 0
    error = ""

    async def write() -> None:
        nonlocal sent, error
        try:
            await loop.sock_sendall(sock, ("\r\n".join(head) + "\r\n\r\n").encode())
            if chunked:  # one chunk as big as the whole body
                await loop.sock_sendall(sock, f"{total:x}\r\n".encode())
            while sent < total and not answered.is_set():
                piece = PIECE[: total - sent]
                await loop.sock_sendall(sock, piece)
                sent += len(piece)
            if chunked and not answered.is_set():
                await loop.sock_sendall(sock, b"\r\n0\r\n\r\n")
        except OSError as exc:
            error = repr(exc)

    async def read() -> int | None:
        got = b""
        while b"\r\n" not in got:
            try:
                more = await loop.sock_recv(sock, 4096)
            except OSError:
                return None
            if not more:
                return None
            got += more
        answered.set()
        return int(got.split(b"\r\n", 1)[0].split()[1])

    writing = asyncio.create_task(write())
    try:
        status = await asyncio.wait_for(read(), timeout=120)
        return Sent(status, sent, error)
    finally:
        answered.set()
        writing.cancel()
        with contextlib.suppress(BaseException):
            await writing
        sock.close()


async def attack(
    port: int, paths: list[str], auth: tuple[str, str] | None, workers: list[int]
) -> tuple[list[Sent], dict[int, int]]:
    """16 bodies at once (each path, with Content-Length and chunked); the workers' peak RSS."""
    peak = {pid: rss(pid) for pid in workers}
    jobs = [
        send_huge(port, paths[i % len(paths)], chunked=i % 2 == 1, auth=auth) for i in range(16)
    ]
    running = asyncio.gather(*jobs)
    while not running.done():
        for pid in workers:
            peak[pid] = max(peak[pid], rss(pid))
        await asyncio.sleep(0.02)
    return await running, peak


def settle(workers: list[int], baseline: dict[int, int]) -> dict[int, int]:
    """RSS after the attack (a moment for freed memory to go back to the system)."""
    time.sleep(1.0)
    return {pid: rss(pid) for pid in workers}


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def two_workers(
    registry_factory: Callable[..., RunningRegistry], request: pytest.FixtureRequest
) -> RunningRegistry:
    return registry_factory(extra_args=["--workers", "2", "--server", request.param])


def _workers(reg: RunningRegistry) -> list[int]:
    assert reg.proc is not None
    found = descendants(reg.proc.pid)
    assert found, "no worker processes found"
    return found


async def _warm(port: int, paths: list[str]) -> None:
    """Every code path of the attack, a few times on each worker, before the baseline."""
    for _ in range(8):
        for path in paths:
            for auth in (None, ADMIN):
                for chunked in (False, True):
                    await send_huge(port, path, chunked=chunked, auth=auth, total=3 * MiB)


def _check(
    results: list[Sent],
    expected: set[int],
    workers: list[int],
    peak: dict[int, int],
    baseline: dict[int, int],
    after: dict[int, int],
) -> None:
    for pid in workers:
        grown, peaked = after[pid] - baseline[pid], peak[pid] - baseline[pid]
        print(
            f"worker {pid}: baseline {baseline[pid] / MiB:.1f} MiB, "
            f"peak +{peaked / MiB:.1f} MiB, after +{grown / MiB:.1f} MiB"
        )
    for pid in workers:
        assert peak[pid] - baseline[pid] < ALLOWED_GROWTH, (pid, peak[pid], baseline[pid])
        assert after[pid] - baseline[pid] < ALLOWED_GROWTH, (pid, after[pid], baseline[pid])
    assert {r.status for r in results} <= expected, results
    # Nobody had to send the whole body to get the answer.
    assert all(r.sent < BODY for r in results), results


API_PATHS = ["/api/v0/repositories/admin", "/enzi/v0/accounts", "/api/v0/meta/settings"]


@pytest.mark.slow
async def test_16_anonymous_256mib_bodies_leave_memory_flat(two_workers: RunningRegistry) -> None:
    paths = [*API_PATHS, "/auth/token", "/login"]
    workers = _workers(two_workers)
    await _warm(two_workers.port, paths)
    baseline = {pid: rss(pid) for pid in workers}
    results, peak = await attack(two_workers.port, paths, None, workers)
    after = settle(workers, baseline)
    _check(results, {401, 413}, workers, peak, baseline, after)
    api = [r for i, r in enumerate(results) if paths[i % len(paths)] in API_PATHS]
    assert {r.status for r in api} == {401}, api  # the API refuses anonymous bodies unread


@pytest.mark.slow
async def test_16_signed_in_256mib_bodies_get_413_and_memory_stays_flat(
    two_workers: RunningRegistry,
) -> None:
    workers = _workers(two_workers)
    await _warm(two_workers.port, API_PATHS)
    baseline = {pid: rss(pid) for pid in workers}
    results, peak = await attack(two_workers.port, API_PATHS, ADMIN, workers)
    after = settle(workers, baseline)
    _check(results, {413}, workers, peak, baseline, after)


def _raw(port: int, request: bytes, wait: float = 5.0) -> bytes:
    """Send ``request`` as is; everything the server answers until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(request)
        got = b""
        with contextlib.suppress(OSError):
            while more := sock.recv(65536):
                got += more
        return got


def _post(path: str, port: int, headers: list[str], body: bytes) -> bytes:
    token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Basic {token}",
        "Content-Type: application/json",
        *headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_a_content_length_shorter_than_the_body(two_workers: RunningRegistry) -> None:
    """The server takes Content-Length bytes as the body and the rest as the next request,
    which is garbage: a 400 (the API's INVALID_JSON for the cut body, or, when the server's
    parser sees the garbage first, uvicorn's own 400 and a close). Nothing is created."""
    port = two_workers.port
    answer = _raw(
        port,
        _post(
            "/api/v0/repositories/admin",
            port,
            ["Content-Length: 9"],
            b'{"name": "short"}' + b"x" * (2 * MiB),
        ),
    )
    first = answer.split(b"\r\n", 1)[0]
    assert first.split()[1] == b"400", answer[:500]
    assert b"INVALID_JSON" in answer or b"Invalid HTTP request" in answer, answer[:500]
    assert answer.count(b"HTTP/1.1 ") <= 2
    with two_workers.client() as c:
        assert c.get("/api/v0/repositories/admin/short").status_code == 404


def test_a_content_length_longer_than_the_body(two_workers: RunningRegistry) -> None:
    """The server waits for the missing bytes (no body read timeout), holding at most the
    declared length; when the client goes away, nothing is written and the server is fine."""
    port = two_workers.port
    answer = _raw(
        port,
        _post("/api/v0/repositories/admin", port, ["Content-Length: 1000"], b'{"name": "long"}'),
        wait=1.0,
    )
    assert answer == b""
    with two_workers.client() as c:
        assert c.get("/api/v0/repositories/admin/long").status_code == 404
        assert c.get("/_ping").status_code == 200


def test_one_huge_chunk_is_cut_at_the_limit(two_workers: RunningRegistry) -> None:
    port = two_workers.port
    result = asyncio.run(
        send_huge(port, "/api/v0/repositories/admin", chunked=True, auth=ADMIN, total=BODY)
    )
    assert result.status == 413, result
    assert result.sent < 64 * MiB, result
