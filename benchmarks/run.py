#!/usr/bin/env python3
"""Moorage beside the CNCF distribution registry: one benchmark run (issue 5).

    python benchmarks/run.py [--quick] [--out benchmarks/results/latest.json]
                             [--doc docs/performance.md]

Starts Moorage (embedded default: SQLite + filesystem, fresh temporary data folder) and the
Debian ``docker-registry`` (filesystem driver, log level warn, delete enabled) on free loopback
ports, measures both in the same run with the servers alternating inside every phase
(A B A B ...), takes the median over the rounds, prints a table and writes JSON. Both servers
are stopped by PID at the end, whatever happened.

When Moorage asks for credentials (its identity layer), the benchmark makes its admin
account, creates public repositories through /api/v0, pushes with bearer tokens and reads
anonymously; the token-auth figures read a private repository with a bearer token, from
Moorage's token service and from a second distribution process with ``auth.token`` given
tokens minted here. ``--moorage-ref REV`` pins the run to a commit (``git archive`` of
``src/`` into the temporary folder, first on PYTHONPATH).

Python-driven phases use a small HTTP/1.1 client on raw sockets (keep-alive, ``recv_into`` into
a reused buffer) so that the client spends as little of the machine's CPU as possible;
manifest GET uses ``wrk``; blob HEAD uses a built-in closed-loop load generator, since wrk 4.1
cannot do HEAD (its parser waits for the body that a HEAD answer's Content-Length announces).
Every phase is bounded in time and count, and any protocol error (unexpected status, digest
or size mismatch) stops the run with a message.
Needs the standard library, ``moorage``, ``docker-registry`` and ``wrk``; uses uvloop, PyJWT and
cryptography (all brought by Moorage) when present.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
MB = 1_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
SOCKET_TIMEOUT = 60.0
ORDER = ("moorage", "distribution")
T = TypeVar("T")
R = TypeVar("R")


class BenchError(Exception):
    """A protocol error or a broken bound: the run fails with this message."""


# ---- profiles ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    rounds: int
    blob_size: int
    chunk_size: int
    pull_repeats: int  # sequential one-stream pulls per round (CPU ticks need enough work)
    pull_streams: int
    small_images: int
    small_concurrency: int
    small_layer: int
    wrk_connections: int
    wrk_seconds: int
    tags: int
    tags_page: int
    tags_repeats: int
    phase_timeout: float  # seconds; any single phase on one server


FULL = Profile(
    name="full",
    rounds=3,
    blob_size=256 * MiB,
    chunk_size=16 * MiB,
    pull_repeats=4,
    pull_streams=8,
    small_images=200,
    small_concurrency=16,
    small_layer=4 * KiB,
    wrk_connections=32,
    wrk_seconds=10,
    tags=1000,
    tags_page=100,
    tags_repeats=10,
    phase_timeout=120.0,
)
QUICK = dataclasses.replace(
    FULL,
    name="quick",
    rounds=1,
    blob_size=32 * MiB,
    chunk_size=8 * MiB,
    pull_repeats=2,
    small_images=40,
    wrk_seconds=2,
    tags=200,
    tags_repeats=3,
    phase_timeout=30.0,
)


# ---- a minimal HTTP/1.1 client on raw sockets ------------------------------------------------


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    received: int  # body bytes read (also when the body was discarded)
    sha256: str | None  # hex digest of the body when hashing was asked for

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class Conn:
    """One keep-alive connection. Not thread-safe: one per thread."""

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        bufsize: int = MiB,
        auth: dict[str, str] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.auth = dict(auth or {})  # sent with every request (an Authorization header)
        self.sock: socket.socket | None = None
        self.pending = b""
        self.buf = bytearray(bufsize)
        self.view = memoryview(self.buf)

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=SOCKET_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.pending = sock, b""
        return sock

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None

    def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        body: bytes | bytearray | memoryview | None = None,
        *,
        keep: bool = True,
        hash_body: bool = False,
    ) -> Response:
        sock = self.sock or self._connect()
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        hdrs = {**self.auth, **(headers or {})}
        if body is not None or method in ("POST", "PUT", "PATCH"):
            hdrs.setdefault("Content-Length", str(0 if body is None else len(body)))
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if body is None or len(body) <= 64 * KiB:
                sock.sendall(head + bytes(body or b""))
            else:
                sock.sendall(head)
                sock.sendall(body)
        except OSError as exc:
            # The server may have answered early (an error) and closed; show that answer.
            try:
                early = self._read_response(method, keep=True, hash_body=False)
            except Exception:
                raise BenchError(f"{method} {target}: send failed: {exc}") from exc
            self.close()
            raise BenchError(
                f"{method} {target}: server answered {early.status} before the body was sent: "
                f"{early.body[:300]!r}"
            ) from exc
        return self._read_response(method, keep=keep, hash_body=hash_body)

    def _recv_more(self) -> bytes:
        assert self.sock is not None
        data = self.sock.recv(256 * KiB)
        if not data:
            self.close()
            raise BenchError("server closed the connection before a complete response")
        return data

    def _read_response(self, method: str, *, keep: bool, hash_body: bool) -> Response:
        while True:
            while b"\r\n\r\n" not in self.pending:
                self.pending += self._recv_more()
            head, _, self.pending = self.pending.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
                raise BenchError(f"malformed status line {lines[0][:100]!r}")
            status = int(parts[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                key = name.strip().lower()
                headers[key] = (
                    f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
                )
            if 100 <= status < 200:
                continue
            break
        hasher = hashlib.sha256() if hash_body else None
        kept = bytearray()
        received = 0

        def take(data: bytes | memoryview) -> None:
            nonlocal received
            received += len(data)
            if hasher is not None:
                hasher.update(data)
            if keep:
                kept.extend(data)

        if method == "HEAD" or status in (204, 304):
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                while b"\r\n" not in self.pending:
                    self.pending += self._recv_more()
                size_line, _, self.pending = self.pending.partition(b"\r\n")
                size = int(size_line.split(b";", 1)[0], 16)
                self._read_exact(size, take)
                while len(self.pending) < 2:
                    self.pending += self._recv_more()
                self.pending = self.pending[2:]
                if size == 0:
                    break
        elif "content-length" in headers:
            self._read_exact(int(headers["content-length"]), take)
        else:  # body until close
            if self.pending:
                take(self.pending)
                self.pending = b""
            assert self.sock is not None
            while n := self.sock.recv_into(self.buf):
                take(self.view[:n])
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(
            status, headers, bytes(kept), received, hasher.hexdigest() if hasher else None
        )

    def _read_exact(self, size: int, take: Callable[[bytes | memoryview], None]) -> None:
        if self.pending:
            first = self.pending[:size]
            self.pending = self.pending[size:]
            take(first)
            size -= len(first)
        assert self.sock is not None or size == 0
        while size > 0:
            assert self.sock is not None
            n = self.sock.recv_into(self.view[: min(size, len(self.buf))])
            if n == 0:
                self.close()
                raise BenchError(f"server closed the connection with {size} body bytes missing")
            take(self.view[:n])
            size -= n


def expect(resp: Response, status: int, what: str) -> Response:
    if resp.status != status:
        raise BenchError(f"{what}: expected HTTP {status}, got {resp.status}: {resp.body[:400]!r}")
    return resp


def expect_digest(resp: Response, digest: str, what: str) -> None:
    got = resp.header("docker-content-digest")
    if got != digest:
        raise BenchError(f"{what}: Docker-Content-Digest is {got!r}, expected {digest}")


def location_target(resp: Response, what: str) -> str:
    loc = resp.header("location")
    if not loc:
        raise BenchError(f"{what}: no Location header")
    parts = urlsplit(loc)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def add_param(target: str, key: str, value: str) -> str:
    sep = "&" if "?" in target else "?"
    return f"{target}{sep}{key}={quote(value, safe=':')}"


def sha256_digest(data: bytes | bytearray | memoryview) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- registry operations -------------------------------------------------------------------


def start_upload(conn: Conn, repo: str) -> str:
    resp = expect(conn.request("POST", f"/v2/{repo}/blobs/uploads/"), 202, "upload POST")
    return location_target(resp, "upload POST")


def push_monolithic(conn: Conn, repo: str, data: bytes | memoryview, digest: str) -> None:
    """POST, then PUT with the whole body and the digest (what docker and containerd do)."""
    target = start_upload(conn, repo)
    resp = conn.request(
        "PUT",
        add_param(target, "digest", digest),
        {"Content-Type": "application/octet-stream"},
        data,
    )
    expect(resp, 201, f"blob PUT {repo}")
    expect_digest(resp, digest, f"blob PUT {repo}")


def push_chunked(conn: Conn, repo: str, data: memoryview, digest: str, chunk: int) -> None:
    """POST, PATCH each chunk with Content-Range, then PUT with the digest and no body."""
    target = start_upload(conn, repo)
    for start in range(0, len(data), chunk):
        part = data[start : start + chunk]
        resp = conn.request(
            "PATCH",
            target,
            {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(part) - 1}",
            },
            part,
        )
        expect(resp, 202, f"PATCH {repo} at {start}")
        rng = resp.header("range")
        if rng and rng != f"0-{start + len(part) - 1}":
            raise BenchError(f"PATCH {repo}: Range is {rng!r} after {start + len(part)} bytes")
        target = location_target(resp, "PATCH")
    resp = conn.request("PUT", add_param(target, "digest", digest))
    expect(resp, 201, f"final PUT {repo}")
    expect_digest(resp, digest, f"final PUT {repo}")


def pull_blob(conn: Conn, repo: str, digest: str, size: int, *, verify: bool) -> None:
    resp = conn.request("GET", f"/v2/{repo}/blobs/{digest}", keep=False, hash_body=verify)
    expect(resp, 200, f"blob GET {repo}")
    if resp.received != size:
        raise BenchError(f"blob GET {repo}: {resp.received} bytes, expected {size}")
    if resp.header("docker-content-digest") not in ("", digest):
        raise BenchError(f"blob GET {repo}: wrong Docker-Content-Digest {resp.headers}")
    if verify and f"sha256:{resp.sha256}" != digest:
        raise BenchError(f"blob GET {repo}: body hashes to sha256:{resp.sha256}, not {digest}")


@dataclasses.dataclass(frozen=True)
class Image:
    layer: bytes
    layer_digest: str
    config: bytes
    config_digest: str
    manifest: bytes
    manifest_digest: str


def make_image(seed: str, layer_size: int) -> Image:
    layer = os.urandom(layer_size)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [f"BENCH={seed}"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]},
        },
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}
            ],
        },
        separators=(",", ":"),
    ).encode()
    return Image(
        layer,
        sha256_digest(layer),
        config,
        sha256_digest(config),
        manifest,
        sha256_digest(manifest),
    )


def put_manifest(conn: Conn, repo: str, ref: str, img: Image) -> None:
    resp = conn.request(
        "PUT", f"/v2/{repo}/manifests/{ref}", {"Content-Type": OCI_MANIFEST}, img.manifest
    )
    expect(resp, 201, f"manifest PUT {repo}:{ref}")
    expect_digest(resp, img.manifest_digest, f"manifest PUT {repo}:{ref}")


def push_image(conn: Conn, repo: str, tag: str, img: Image) -> float:
    """Push layer, config and manifest; return the manifest PUT's latency in seconds."""
    push_monolithic(conn, repo, img.layer, img.layer_digest)
    push_monolithic(conn, repo, img.config, img.config_digest)
    t0 = time.perf_counter()
    put_manifest(conn, repo, tag, img)
    return time.perf_counter() - t0


class _LoadProtocol(asyncio.Protocol):
    """One keep-alive connection sending the same request back to back (closed loop)."""

    def __init__(self, gen: LoadGen) -> None:
        self.gen = gen
        self.buf = b""
        self.t0 = 0
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
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


# ---- authentication -----------------------------------------------------------------------


def parse_challenge(value: str) -> dict[str, str]:
    """``Bearer realm="...",service="...",scope="..."`` -> its parameters (and ``scheme``)."""
    scheme, _, rest = value.strip().partition(" ")
    out = {"scheme": scheme.lower()}
    for m in re.finditer(r'(\w+)="([^"]*)"', rest):
        out[m.group(1)] = m.group(2)
    return out


class RegistryAuth:
    """A registry that asks for credentials at /v2/ (Moorage with identity and access): the
    benchmark's administrator account, public repositories created through ``/api/v0`` so
    that reads are anonymous, and bearer tokens from the token service for writes (what
    docker, podman and skopeo do: Basic credentials only ever go to the token service)."""

    def __init__(self, port: int, challenge: str, user: str, password: str) -> None:
        params = parse_challenge(challenge)
        if params["scheme"] != "bearer" or "realm" not in params:
            raise BenchError(f"unexpected /v2/ challenge {challenge!r}")
        self.port = port
        parts = urlsplit(params["realm"])
        self.realm = parts.path + (f"?{parts.query}" if parts.query else "")
        self.service = params.get("service", "")
        self.user = user
        creds = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.basic = {"Authorization": f"Basic {creds}"}
        self.created: set[str] = set()
        self.tokens_issued = 0

    def ensure_repo(self, repo: str) -> None:
        """Create the repository: public, except PRIVATE_REPO (for the token-auth figures)."""
        if repo in self.created:
            return
        namespace, _, name = repo.partition("/")
        visibility = "private" if repo == PRIVATE_REPO else "public"
        conn = Conn(self.port, auth=self.basic)
        try:
            body = json.dumps({"name": name, "visibility": visibility}).encode()
            resp = conn.request(
                "POST",
                f"/api/v0/repositories/{namespace}",
                {"Content-Type": "application/json"},
                body,
            )
            if resp.status != 201:
                check = conn.request("GET", f"/api/v0/repositories/{namespace}/{name}")
                if check.status != 200 or json.loads(check.body).get("visibility") != visibility:
                    raise BenchError(
                        f"cannot create {visibility} repository {repo}: HTTP {resp.status} "
                        f"{resp.body[:300]!r}"
                    )
        finally:
            conn.close()
        self.created.add(repo)

    def token(self, repos: list[str], actions: str) -> str:
        query = "&".join(
            [f"service={quote(self.service)}"]
            + [f"scope={quote(f'repository:{r}:{actions}')}" for r in repos]
        )
        sep = "&" if "?" in self.realm else "?"
        conn = Conn(self.port, auth=self.basic)
        try:
            resp = expect(conn.request("GET", f"{self.realm}{sep}{query}"), 200, "token request")
        finally:
            conn.close()
        self.tokens_issued += 1
        doc = json.loads(resp.body)
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise BenchError(f"token service answered without a token: {resp.body[:300]!r}")
        return str(token)

    def write_headers(self, repos: list[str]) -> dict[str, str]:
        for repo in repos:
            self.ensure_repo(repo)
        return {"Authorization": f"Bearer {self.token(repos, 'pull,push')}"}


class TokenMinter:
    """Bearer tokens for a distribution registry configured with ``auth.token``: an RSA key,
    a self-signed certificate as its ``rootcertbundle``, and RS256 tokens carrying the key's
    libtrust key id (what distribution looks up). Needs PyJWT and cryptography."""

    ISSUER = "moorage-benchmark"
    SERVICE = "benchmark"

    def __init__(self, workdir: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moorage-benchmark")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = workdir / "token-root.crt"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
        self.kid = ":".join(b32[i : i + 4] for i in range(0, 48, 4))

    def token(self, repos: list[str], actions: list[str], ttl: int = 3600) -> str:
        import jwt

        now = int(time.time())
        claims = {
            "iss": self.ISSUER,
            "sub": "benchmark",
            "aud": self.SERVICE,
            "iat": now,
            "nbf": now - 60,
            "exp": now + ttl,
            "jti": os.urandom(12).hex(),
            "access": [{"type": "repository", "name": r, "actions": actions} for r in repos],
        }
        return str(jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid}))


# ---- server processes ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads); 0 when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    def __init__(
        self, name: str, cmd: list[str], env: dict[str, str], port: int, workdir: Path
    ) -> None:
        self.name, self.cmd, self.env, self.port = name, cmd, env, port
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.children: set[int] = set()
        self.startup_s = 0.0
        self.challenge = ""  # WWW-Authenticate of GET /v2/ when it asks for credentials
        self.auth: RegistryAuth | None = None
        self.settings: dict[str, str] = {}

    def start(self, timeout: float = 60.0) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
            )
        self.pid = self.proc.pid
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        t0 = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited at startup:\n{self.log_tail()}")
            status = 0
            with contextlib.suppress(OSError, BenchError):
                conn = Conn(self.port)
                try:
                    resp = conn.request("GET", "/v2/")
                    status = resp.status
                    if status == 401:
                        self.challenge = resp.header("www-authenticate")
                finally:
                    conn.close()
            if status in (200, 401):
                break
            if time.perf_counter() - t0 > timeout:
                raise BenchError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.05)
        self.startup_s = time.perf_counter() - t0

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"{self.name} (pid {self.pid}) died:\n{self.log_tail()}")

    def pids(self) -> list[int]:
        kids = descendants(self.pid) if self.pid else []
        self.children.update(kids)
        return [self.pid, *kids]

    def cpu(self) -> float:
        """CPU seconds of the server and its live child processes (uvicorn workers, if any)."""
        return sum(cpu_seconds(p) for p in self.pids())

    def peak_rss(self) -> tuple[int, int]:
        """(largest VmHWM of one process, sum over the processes), KiB."""
        values = [vm_hwm_kib(p) for p in self.pids()]
        return max(values), sum(values)

    def stop(self) -> None:
        """Stop by PID: SIGTERM, then SIGKILL after 15 s; recorded children likewise."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        for child in self.children:
            fields = _stat_fields(child)
            # Only a process that is still one of ours (re-parented to init at most).
            if fields is not None and int(fields[1]) in (self.pid, 1):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)


def moorage_command(args: argparse.Namespace) -> list[str]:
    if args.moorage_cmd:
        return args.moorage_cmd.split()
    try:
        import moorage  # noqa: F401
    except ImportError:
        found = shutil.which("moorage")
        if found is None:
            raise BenchError("moorage is not importable nor on PATH; use --moorage-cmd") from None
        return [found]
    return [sys.executable, "-m", "moorage.cli.main"]


def settings_fields(args: argparse.Namespace, mcmd: list[str]) -> set[str]:
    """The settings this Moorage knows (older commits have fewer), so that only those are set:
    its settings forbid unknown ``MOORAGE_*`` variables."""
    interpreter = mcmd[0] if "python" in Path(mcmd[0]).name else sys.executable
    out = _cmd(
        [interpreter, "-c", "from moorage.config import Settings; print(*Settings.model_fields)"],
        env=moorage_env(args),
    )
    return set(out.split())


BENCH_ADMIN = "bench"  # also the namespace of every benchmark repository
PRIVATE_REPO = "bench/wrk-private"  # the token-auth figures read from here


def start_moorage(args: argparse.Namespace, workdir: Path) -> Server:
    port = free_port()
    data = workdir / "moorage-data"
    env = moorage_env(args)
    mcmd = moorage_command(args)
    fields = settings_fields(args, mcmd)
    env["MOORAGE_LOG_LEVEL"] = "info" if args.access_logs else "warning"
    password = ""
    if "admin_password" in fields:
        password = base64.urlsafe_b64encode(os.urandom(18)).decode()
        env["MOORAGE_ADMIN_NAME"] = BENCH_ADMIN
        env["MOORAGE_ADMIN_PASSWORD"] = password
    if "token_ttl" in fields:
        env["MOORAGE_TOKEN_TTL"] = "3600"
    server_choice = getattr(args, "moorage_server", "default")
    if server_choice != "default":
        if "server" not in fields:
            raise BenchError("this Moorage has no `server` setting (--moorage-server)")
        env["MOORAGE_SERVER"] = server_choice
    cmd = [*mcmd, "serve", "--listen", f"127.0.0.1:{port}", "--data", str(data)]
    if args.moorage_workers:
        cmd += ["--workers", str(args.moorage_workers)]
    server = Server("moorage", cmd, env, port, workdir)
    server.start()
    if server.challenge:
        if not password:
            server.stop()
            raise BenchError("moorage asks for credentials but has no admin_password setting")
        server.auth = RegistryAuth(port, server.challenge, BENCH_ADMIN, password)
    server.settings = {k: v for k, v in env.items() if k.startswith("MOORAGE_")}
    server.settings.pop("MOORAGE_ADMIN_PASSWORD", None)
    return server


def distribution_config(
    args: argparse.Namespace, port: int, root: Path, token: TokenMinter | None
) -> str:
    # Debian's packaged config with log level warn: no auth, or token auth for the token phase.
    auth = ""
    if token is not None:
        auth = (
            "auth:\n"
            "  token:\n"
            f'    realm: "http://127.0.0.1:{port}/token-not-served"\n'
            f"    service: {token.SERVICE}\n"
            f"    issuer: {token.ISSUER}\n"
            f"    rootcertbundle: {token.cert_path}\n"
        )
    return (
        "version: 0.1\n"
        "log:\n"
        "  level: warn\n"
        f"  accesslog: {{disabled: {'false' if args.access_logs else 'true'}}}\n"
        "storage:\n"
        "  cache: {blobdescriptor: inmemory}\n"
        f"  filesystem: {{rootdirectory: {root.resolve()}}}\n"
        "  delete: {enabled: true}\n"
        "http:\n"
        f'  addr: "127.0.0.1:{port}"\n'
        "  secret: benchmark-only-secret\n"
        "  headers: {X-Content-Type-Options: [nosniff]}\n"
        "health:\n"
        "  storagedriver: {enabled: true, interval: 10s, threshold: 3}\n" + auth
    )


def start_distribution(
    args: argparse.Namespace, workdir: Path, token: TokenMinter | None = None
) -> Server:
    """The anonymous registry, or (``token``) a second process on the same storage that
    accepts only bearer tokens, for the token-auth figures."""
    port = free_port()
    root = workdir / "distribution-data"
    root.mkdir(exist_ok=True)
    name = "distribution" if token is None else "distribution-token"
    config = workdir / f"{name}.yml"
    config.write_text(distribution_config(args, port, root, token))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    server = Server(name, [args.distribution, "serve", str(config)], env, port, workdir)
    server.start()
    if token is None and server.challenge:
        server.stop()
        raise BenchError(f"distribution asks for credentials: {server.challenge}")
    return server


# ---- measurements --------------------------------------------------------------------------


Results = dict[str, dict[str, list[float]]]  # figure -> server -> per-round values


class Bench:
    def __init__(
        self,
        profile: Profile,
        servers: dict[str, Server],
        args: argparse.Namespace,
        token_servers: dict[str, tuple[Server, Callable[[], str]]] | None = None,
    ):
        self.p = profile
        self.servers = servers
        # For the token-auth figures: per name, the server and how to get a pull token.
        self.token_servers = token_servers or {}
        self.args = args
        self.results: Results = {}
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.wrk_raw: dict[str, list[str]] = {}
        self.loadavg: list[tuple[float, float, float]] = []
        self.blob = bytearray(os.urandom(profile.blob_size))
        self.tag_names = [f"t{i:05d}" for i in range(profile.tags)]

    def record(self, figure: str, server: str, value: float) -> None:
        self.results.setdefault(figure, {}).setdefault(server, []).append(value)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def settle(self) -> None:
        """Flush dirty pages so one server's writeback does not land in the other's timing."""
        os.sync()
        for srv in self.servers.values():
            srv.check_alive()
        for srv, _token in self.token_servers.values():
            srv.check_alive()

    def write_auth(self, srv: Server, repos: list[str]) -> dict[str, str]:
        """Headers for pushing to ``repos`` (untimed: a client gets its token before it
        pushes); none for a registry that does not ask for credentials."""
        return srv.auth.write_headers(repos) if srv.auth else {}

    def fresh_blob(self, round_no: int, label: str) -> str:
        struct.pack_into("<16s", self.blob, 0, f"{label}:{round_no}:".encode()[:16])
        self.blob[16:32] = os.urandom(16)
        return sha256_digest(self.blob)

    # -- setup (untimed)

    def setup(self) -> None:
        self.wrk_image = make_image("wrk", self.p.small_layer)
        self.tags_image = make_image("tags", self.p.small_layer)
        for name, srv in self.servers.items():
            t0 = time.perf_counter()
            auth = self.write_auth(srv, ["bench/wrk", "bench/tags", PRIVATE_REPO])
            conn = Conn(srv.port, auth=auth)
            push_image(conn, "bench/wrk", "latest", self.wrk_image)
            push_image(conn, PRIVATE_REPO, "latest", self.wrk_image)
            conn.close()
            conn = Conn(srv.port)  # reads are anonymous (public repositories)
            resp = expect(
                conn.request(
                    "GET", "/v2/bench/wrk/manifests/latest", {"Accept": OCI_MANIFEST}, keep=True
                ),
                200,
                "manifest GET bench/wrk:latest",
            )
            if resp.body != self.wrk_image.manifest:
                raise BenchError(f"{name}: manifest GET returned other bytes than pushed")
            expect_digest(resp, self.wrk_image.manifest_digest, "manifest GET")
            resp = expect(
                conn.request("HEAD", f"/v2/bench/wrk/blobs/{self.wrk_image.layer_digest}"),
                200,
                "blob HEAD",
            )
            if resp.header("content-length") != str(self.p.small_layer):
                raise BenchError(f"{name}: blob HEAD Content-Length {resp.headers}")
            conn.close()
            conn = Conn(srv.port, auth=auth)
            push_image(conn, "bench/tags", self.tag_names[0], self.tags_image)
            conn.close()
            run_queue(
                srv.port,
                self.tag_names[1:],
                lambda c, tag: put_manifest(c, "bench/tags", tag, self.tags_image),
                self.p.small_concurrency,
                self.p.phase_timeout,
                f"{name} tag setup",
                auth=auth,
            )
            self.log(
                f"setup {name}: wrk image + {self.p.tags} tags in {time.perf_counter() - t0:.1f} s"
            )

    # -- phases

    def phase_push(self, round_no: int, chunked: bool) -> str:
        label = "chunked" if chunked else "mono"
        digest = self.fresh_blob(round_no, label)
        view = memoryview(self.blob)
        for name in ORDER:
            srv = self.servers[name]
            conn = Conn(srv.port, auth=self.write_auth(srv, [f"bench/push-{label}"]))
            self.settle()
            c0 = srv.cpu()
            t0 = time.perf_counter()
            if chunked:
                push_chunked(conn, f"bench/push-{label}", view, digest, self.p.chunk_size)
            else:
                push_monolithic(conn, f"bench/push-{label}", view, digest)
            elapsed = time.perf_counter() - t0
            cpu = srv.cpu() - c0
            if elapsed > self.p.phase_timeout:
                raise BenchError(f"{name} push {label}: {elapsed:.0f} s over the time bound")
            resp = expect(
                conn.request("HEAD", f"/v2/bench/push-{label}/blobs/{digest}"),
                200,
                f"{name} HEAD pushed blob",
            )
            if resp.header("content-length") != str(len(self.blob)):
                raise BenchError(f"{name}: pushed blob has Content-Length {resp.headers}")
            conn.close()
            self.record(f"push_{label}_mbps", name, len(self.blob) / elapsed / MB)
            self.record(f"push_{label}_cpu_s_per_gib", name, cpu / (len(self.blob) / GiB))
        return digest

    def phase_pull(self, repo: str, digest: str) -> None:
        size = len(self.blob)
        for name in ORDER:  # untimed check of the bytes themselves
            conn = Conn(self.servers[name].port)
            pull_blob(conn, repo, digest, size, verify=True)
            conn.close()
        for name in ORDER:
            srv = self.servers[name]
            self.settle()
            conn = Conn(srv.port)
            c0 = srv.cpu()
            t0 = time.perf_counter()
            for _ in range(self.p.pull_repeats):
                pull_blob(conn, repo, digest, size, verify=False)
                if time.perf_counter() - t0 > self.p.phase_timeout:
                    raise BenchError(f"{name} pull: over the time bound")
            elapsed = time.perf_counter() - t0
            cpu = srv.cpu() - c0
            conn.close()
            total = size * self.p.pull_repeats
            self.record("pull_1_mbps", name, total / elapsed / MB)
            self.record("pull_1_cpu_s_per_gib", name, cpu / (total / GiB))
        for name in ORDER:
            srv = self.servers[name]
            self.settle()
            conns = [Conn(srv.port) for _ in range(self.p.pull_streams)]

            def work(i: int, _stop: threading.Event, conns: list[Conn] = conns) -> None:
                pull_blob(conns[i], repo, digest, size, verify=False)

            c0 = srv.cpu()
            elapsed = run_threads(
                self.p.pull_streams, work, self.p.phase_timeout, f"{name} pull x{len(conns)}"
            )
            cpu = srv.cpu() - c0
            for c in conns:
                c.close()
            total = size * self.p.pull_streams
            self.record("pull_n_mbps", name, total / elapsed / MB)
            self.record("pull_n_cpu_s_per_gib", name, cpu / (total / GiB))

    def phase_small_images(self, round_no: int) -> None:
        images = [
            make_image(f"r{round_no}-{i}", self.p.small_layer) for i in range(self.p.small_images)
        ]
        repo = f"bench/small-{round_no}"
        for name in ORDER:
            srv = self.servers[name]
            auth = self.write_auth(srv, [repo])
            self.settle()
            c0 = srv.cpu()
            elapsed, latencies = run_queue(
                srv.port,
                list(enumerate(images)),
                lambda c, item: push_image(c, repo, f"v{item[0]}", item[1]),
                self.p.small_concurrency,
                self.p.phase_timeout,
                f"{name} small images",
                auth=auth,
            )
            cpu = srv.cpu() - c0
            if len(latencies) != len(images):
                raise BenchError(f"{name} small images: {len(latencies)} of {len(images)} pushed")
            self.record("small_images_per_s", name, len(images) / elapsed)
            self.record("small_manifest_put_p50_ms", name, percentile(latencies, 50) * 1000)
            self.record("small_manifest_put_p99_ms", name, percentile(latencies, 99) * 1000)
            self.record("small_cpu_ms_per_image", name, cpu * 1000 / len(images))

    def phase_load(
        self,
        figure: str,
        method: str,
        path: str,
        headers: dict[str, str],
        tool: str,
        token: bool = False,
    ) -> None:
        """Closed-loop load for a fixed time: ``wrk`` or the built-in generator (``py``);
        with ``token``, against the token-auth servers with a bearer token (pull scope)."""
        script = Path(self.args.workdir_path) / f"wrk-{method.lower()}.lua"
        script.write_text(f'wrk.method = "{method}"\n')
        base_headers = headers
        for name in ORDER:
            headers = base_headers
            if token:
                srv, get_token = self.token_servers[name]
                headers = {**base_headers, "Authorization": f"Bearer {get_token()}"}
                probe = Conn(srv.port)
                try:
                    expect(
                        probe.request(method, path, headers, keep=False),
                        200,
                        f"{name} {figure} with a bearer token",
                    )
                    unauth = probe.request(method, path, base_headers, keep=False)
                finally:
                    probe.close()
                if unauth.status != 401:
                    raise BenchError(f"{name} {figure}: {unauth.status} without the token")
            else:
                srv = self.servers[name]
            self.settle()
            c0 = srv.cpu()
            if tool == "wrk":
                stats = self._wrk(name, figure, script, path, headers, srv.port)
            else:
                stats = LoadGen(srv.port, method, path, headers).run(
                    self.p.wrk_connections, self.p.wrk_seconds
                )
                self.record(f"{figure}_client_cpu_share", name, stats["client_cpu_share"])
                if stats["client_cpu_share"] > 0.9:
                    self.warnings.append(
                        f"{name} {figure}: the Python load generator used "
                        f"{stats['client_cpu_share']:.0%} of a core; it may have been the limit"
                    )
            cpu = srv.cpu() - c0
            srv.check_alive()
            if stats["non2xx"]:
                raise BenchError(f"{name} {figure}: {stats['non2xx']:.0f} non-2xx responses")
            if stats["socket_errors"]:
                raise BenchError(f"{name} {figure}: {stats['socket_errors']:.0f} socket errors")
            if stats["timeouts"]:
                self.warnings.append(
                    f"{name} {figure}: {stats['timeouts']:.0f} wrk timeouts (> 5 s)"
                )
            if stats["requests"] <= 0:
                raise BenchError(f"{name} {figure}: no request completed")
            self.record(f"{figure}_rps", name, stats["rps"])
            self.record(f"{figure}_p50_ms", name, stats["p50_ms"])
            self.record(f"{figure}_p99_ms", name, stats["p99_ms"])
            self.record(f"{figure}_cpu_ms_per_req", name, cpu * 1000 / stats["requests"])

    def _wrk(
        self,
        name: str,
        figure: str,
        script: Path,
        path: str,
        headers: dict[str, str],
        port: int,
    ) -> dict[str, float]:
        cmd = [
            self.args.wrk,
            f"-t{self.args.wrk_threads}",
            f"-c{self.p.wrk_connections}",
            f"-d{self.p.wrk_seconds}s",
            "--timeout",
            "5s",
            "--latency",
            "-s",
            str(script),
        ]
        for k, v in headers.items():
            cmd += ["-H", f"{k}: {v}"]
        cmd.append(f"http://127.0.0.1:{port}{path}")
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=self.p.wrk_seconds + 30, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{name} {figure}: wrk did not finish in time") from exc
        self.wrk_raw.setdefault(f"{figure}/{name}", []).append(out.stdout)
        if out.returncode != 0:
            raise BenchError(f"{name} {figure}: wrk failed: {out.stderr[:500]}")
        stats = parse_wrk(out.stdout)
        if stats["non2xx"] or stats["socket_errors"] or stats["requests"] <= 0:
            raise BenchError(f"{name} {figure}: wrk reports errors:\n{out.stdout}")
        return stats

    def phase_tags(self) -> None:
        expected = sorted(self.tag_names)
        n = self.p.tags_page
        for name in ORDER:
            srv = self.servers[name]
            self.settle()
            conn = Conn(srv.port)
            whole: list[float] = []
            paged: list[float] = []
            pages_seen = 0
            deadline = time.perf_counter() + self.p.phase_timeout
            for _ in range(self.p.tags_repeats):
                t0 = time.perf_counter()
                resp = expect(
                    conn.request("GET", "/v2/bench/tags/tags/list"), 200, f"{name} tags list"
                )
                tags = json.loads(resp.body)["tags"]
                whole.append(time.perf_counter() - t0)
                if sorted(tags) != expected:
                    raise BenchError(f"{name} tags list: {len(tags)} tags, not the ones pushed")
                if tags != expected:
                    self.note(f"{name} returns the tags list unsorted (not in lexical order)")
                t0 = time.perf_counter()
                got: list[str] = []
                target: str | None = f"/v2/bench/tags/tags/list?n={n}"
                pages = 0
                while target is not None:
                    resp = expect(conn.request("GET", target), 200, f"{name} tags page")
                    got += json.loads(resp.body)["tags"] or []
                    pages += 1
                    target = next_link(resp.header("link"))
                    if pages > len(expected) // max(n, 1) + 2:
                        raise BenchError(f"{name} tags pages: more pages than tags allow")
                paged.append(time.perf_counter() - t0)
                pages_seen = pages
                if sorted(got) != expected or len(set(got)) != len(got):
                    raise BenchError(
                        f"{name} paged tags list: {len(got)} tags in {pages} pages, "
                        "not the ones pushed"
                    )
                if time.perf_counter() > deadline:
                    raise BenchError(f"{name} tags list: over the time bound")
            conn.close()
            want_pages = -(-len(expected) // n)
            if pages_seen < want_pages:
                note = (
                    f"{name} ignores n={n} on tags/list: {len(expected)} tags came in "
                    f"{pages_seen} page(s)"
                )
                self.note(note)
            self.record("tags_whole_ms", name, statistics.median(whole) * 1000)
            self.record("tags_paged_ms", name, statistics.median(paged) * 1000)
            self.record("tags_pages", name, pages_seen)

    def run(self) -> None:
        self.setup()
        for r in range(self.p.rounds):
            tr = time.perf_counter()
            self.loadavg.append(os.getloadavg())
            self.log(f"round {r + 1}/{self.p.rounds}: push monolithic")
            self.phase_push(r, chunked=False)
            self.log(f"round {r + 1}/{self.p.rounds}: push chunked")
            digest = self.phase_push(r, chunked=True)
            self.log(f"round {r + 1}/{self.p.rounds}: pull")
            self.phase_pull("bench/push-chunked", digest)
            self.log(f"round {r + 1}/{self.p.rounds}: small images")
            self.phase_small_images(r)
            manifest_path = "/v2/bench/wrk/manifests/latest"
            accept = {"Accept": OCI_MANIFEST}
            self.log(f"round {r + 1}/{self.p.rounds}: manifest GET (wrk)")
            self.phase_load("manifest_get", "GET", manifest_path, accept, "wrk")
            self.log(f"round {r + 1}/{self.p.rounds}: blob HEAD (Python load generator)")
            blob_path = f"/v2/bench/wrk/blobs/{self.wrk_image.layer_digest}"
            self.phase_load("blob_head", "HEAD", blob_path, {}, "py")
            self.log(f"round {r + 1}/{self.p.rounds}: manifest GET (Python load generator)")
            self.phase_load("manifest_get_py", "GET", manifest_path, accept, "py")
            if self.token_servers:
                auth = f" with a bearer token ({PRIVATE_REPO})"
                path = f"/v2/{PRIVATE_REPO}/manifests/latest"
                self.log(f"round {r + 1}/{self.p.rounds}: manifest GET (wrk){auth}")
                self.phase_load("manifest_get_token", "GET", path, accept, "wrk", True)
                self.log(f"round {r + 1}/{self.p.rounds}: blob HEAD (Python){auth}")
                path = f"/v2/{PRIVATE_REPO}/blobs/{self.wrk_image.layer_digest}"
                self.phase_load("blob_head_token", "HEAD", path, {}, "py", True)
            self.log(f"round {r + 1}/{self.p.rounds}: tags list")
            self.phase_tags()
            self.log(f"round {r + 1} done in {time.perf_counter() - tr:.0f} s")
        for name in ORDER:
            srv = self.servers[name]
            srv.check_alive()
            one, total = srv.peak_rss()
            self.record("peak_rss_mib", name, one / 1024)
            self.record("peak_rss_all_mib", name, total / 1024)
            self.record("total_cpu_s", name, srv.cpu())
            self.record("processes", name, len(srv.pids()))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def next_link(header: str) -> str | None:
    m = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', header)
    if not m:
        return None
    parts = urlsplit(m.group(1))
    return parts.path + (f"?{parts.query}" if parts.query else "")


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


# ---- machine, versions, table --------------------------------------------------------------


def sha256_speed() -> float:
    """hashlib sha256 on one core, MB/s (best of 3 over 64 MiB)."""
    data = os.urandom(64 * MiB)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        hashlib.sha256(data).digest()
        best = max(best, len(data) / (time.perf_counter() - t0) / MB)
    return best


def _cmd(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=60, cwd=cwd, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout or out.stderr).strip()


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
    return {
        "nproc": os.cpu_count(),
        "nproc_available": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "os": _cmd(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "memory_gib": round(mem_kib / MiB, 1),
        "loadavg_start": os.getloadavg(),
    }


def versions(args: argparse.Namespace, moorage_cmd: list[str]) -> dict[str, str]:
    out = {
        "python": platform.python_version(),
        "moorage": _cmd([*moorage_cmd, "--version"], env=moorage_env(args)),
        "distribution": _cmd([args.distribution, "--version"]),
        "wrk": _cmd([args.wrk, "-v"]).splitlines()[0] if _cmd([args.wrk, "-v"]) else "",
    }
    probe = (
        "import importlib.metadata as m, sys\n"
        "for p in ('granian','uvicorn','uvloop','httptools','starlette','sqlalchemy',"
        "'aiosqlite'):\n"
        "    try: print(p, m.version(p))\n"
        "    except Exception: pass\n"
        "print('python', sys.version.split()[0])\n"
    )
    if moorage_cmd and "python" in Path(moorage_cmd[0]).name:
        interpreter = moorage_cmd[0]
    else:
        interpreter = sys.executable
    probe += "import moorage; print('moorage_path', moorage.__file__)\n"
    probe += (
        "from moorage.config import Settings\n"
        "f = Settings.model_fields.get('server')\n"
        "print('moorage_server_default', f.default if f else 'uvicorn')\n"
    )
    for line in _cmd([interpreter, "-c", probe], env=moorage_env(args)).splitlines():
        pkg, _, ver = line.partition(" ")
        if pkg == "python":
            out["python_server"] = ver
        elif ver:
            out[pkg] = ver
    return out


def git_info(args: argparse.Namespace) -> dict[str, Any]:
    head = _cmd(["git", "rev-parse", "HEAD"], cwd=ROOT)
    if args.moorage_ref_commit:
        return {
            "commit": args.moorage_ref_commit,
            "ref": args.moorage_ref,
            "dirty": False,
            "source": "git archive of the commit (the work tree was not used)",
            "work_tree_head": head,
        }
    dirty = _cmd(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "pyproject.toml"],
        cwd=ROOT,
    )
    return {"commit": head, "dirty": bool(dirty), "source": "work tree"}


def export_ref(ref: str, dest: Path) -> str:
    """Extract ``src/`` of a commit into ``dest`` (read-only git: rev-parse and archive)."""
    sha = _cmd(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=ROOT)
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise BenchError(f"--moorage-ref {ref}: not a commit of {ROOT}")
    tar = dest.parent / "moorage-src.tar"
    subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(tar), sha, "src"], cwd=ROOT, check=True
    )
    with tarfile.open(tar) as tf:
        tf.extractall(dest, filter="data")
    tar.unlink()
    return sha


def moorage_env(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORAGE_")}
    if getattr(args, "moorage_pythonpath", None):
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (args.moorage_pythonpath, env.get("PYTHONPATH", "")) if p
        )
    return env


@dataclasses.dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    fmt: str = "{:.1f}"
    target: str = ""
    # check(moorage, distribution, ratio, context) -> met?; None = no target
    check: Callable[[float, float, float, dict[str, float]], bool] | None = None


def _ratio_at_least(x: float) -> Callable[[float, float, float, dict[str, float]], bool]:
    return lambda _m, _d, r, _c: r >= x


FIGURES = [
    Figure(
        "push_mono_mbps",
        "push 256 MiB monolithic",
        "MB/s",
        "{:.0f}",
        ">=3x and >=0.7 x sha256",
        lambda m, _d, r, c: r >= 3 and m >= 0.7 * c["sha256_mbps"],
    ),
    Figure(
        "push_chunked_mbps",
        "push 256 MiB in 16 MiB chunks",
        "MB/s",
        "{:.0f}",
        ">=3x and >=0.7 x sha256",
        lambda m, _d, r, c: r >= 3 and m >= 0.7 * c["sha256_mbps"],
    ),
    Figure("push_mono_cpu_s_per_gib", "  server CPU, monolithic push", "CPU-s/GiB", "{:.2f}"),
    Figure("push_chunked_cpu_s_per_gib", "  server CPU, chunked push", "CPU-s/GiB", "{:.2f}"),
    Figure("pull_1_mbps", "pull, 1 stream", "MB/s", "{:.0f}", ">=1x", _ratio_at_least(1)),
    Figure(
        "pull_1_cpu_s_per_gib",
        "  server CPU, 1 stream",
        "CPU-s/GiB",
        "{:.2f}",
        "<=0.25",
        lambda m, _d, _r, _c: m <= 0.25,
    ),
    Figure("pull_n_mbps", "pull, 8 streams", "MB/s", "{:.0f}", ">=1x", _ratio_at_least(1)),
    Figure(
        "pull_n_cpu_s_per_gib",
        "  server CPU, 8 streams",
        "CPU-s/GiB",
        "{:.2f}",
        "<=0.25",
        lambda m, _d, _r, _c: m <= 0.25,
    ),
    Figure(
        "small_images_per_s",
        "small images pushed, 16 at a time",
        "images/s",
        "{:.0f}",
        ">=2x",
        _ratio_at_least(2),
    ),
    Figure("small_manifest_put_p50_ms", "  manifest PUT p50", "ms", "{:.1f}"),
    Figure("small_manifest_put_p99_ms", "  manifest PUT p99", "ms", "{:.1f}"),
    Figure("small_cpu_ms_per_image", "  server CPU per image", "CPU-ms", "{:.1f}"),
    Figure(
        "manifest_get_rps",
        "manifest GET by tag, 32 conns (wrk)",
        "req/s",
        "{:.0f}",
        ">=5x",
        _ratio_at_least(5),
    ),
    Figure("manifest_get_p50_ms", "  latency p50", "ms", "{:.2f}"),
    Figure("manifest_get_p99_ms", "  latency p99", "ms", "{:.2f}"),
    Figure("manifest_get_cpu_ms_per_req", "  server CPU per request", "CPU-ms", "{:.3f}"),
    Figure(
        "manifest_get_py_rps",
        "  same GET, Python load generator",
        "req/s",
        "{:.0f}",
    ),
    Figure("manifest_get_py_p50_ms", "    latency p50", "ms", "{:.2f}"),
    Figure("manifest_get_py_p99_ms", "    latency p99", "ms", "{:.2f}"),
    Figure(
        "blob_head_rps",
        "blob HEAD, 32 conns (Python load generator)",
        "req/s",
        "{:.0f}",
        ">=5x",
        _ratio_at_least(5),
    ),
    Figure("blob_head_p50_ms", "  latency p50", "ms", "{:.2f}"),
    Figure("blob_head_p99_ms", "  latency p99", "ms", "{:.2f}"),
    Figure("blob_head_cpu_ms_per_req", "  server CPU per request", "CPU-ms", "{:.3f}"),
    Figure(
        "manifest_get_token_rps",
        "manifest GET, bearer token (wrk)",
        "req/s",
        "{:.0f}",
        ">=3x",
        _ratio_at_least(3),
    ),
    Figure("manifest_get_token_p50_ms", "  latency p50", "ms", "{:.2f}"),
    Figure("manifest_get_token_p99_ms", "  latency p99", "ms", "{:.2f}"),
    Figure("manifest_get_token_cpu_ms_per_req", "  server CPU per request", "CPU-ms", "{:.3f}"),
    Figure(
        "blob_head_token_rps",
        "blob HEAD, bearer token (Python load generator)",
        "req/s",
        "{:.0f}",
        ">=3x",
        _ratio_at_least(3),
    ),
    Figure("blob_head_token_p50_ms", "  latency p50", "ms", "{:.2f}"),
    Figure("blob_head_token_p99_ms", "  latency p99", "ms", "{:.2f}"),
    Figure("blob_head_token_cpu_ms_per_req", "  server CPU per request", "CPU-ms", "{:.3f}"),
    Figure("tags_whole_ms", "tags list, 1,000 tags, whole", "ms/listing", "{:.2f}"),
    Figure("tags_paged_ms", "tags list, 1,000 tags, n=100 pages", "ms/listing", "{:.2f}"),
    Figure(
        "peak_rss_mib",
        "peak RSS (VmHWM), one process",
        "MiB",
        "{:.1f}",
        "<=1.5x",
        lambda _m, _d, r, _c: r <= 1.5,
    ),
    Figure("total_cpu_s", "total CPU of the server process(es)", "CPU-s", "{:.1f}"),
]
TOKEN_FIGURES = ("manifest_get_token_rps", "blob_head_token_rps")


def summarize(bench: Bench, context: dict[str, float]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for fig in FIGURES:
        per = bench.results.get(fig.key)
        if not per and fig.key in TOKEN_FIGURES:
            rows.append(
                {
                    "key": fig.key,
                    "label": fig.label,
                    "unit": fig.unit,
                    "moorage": None,
                    "distribution": None,
                    "ratio": None,
                    "target": fig.target,
                    "met": None,
                    "rounds": {},
                    "fmt": fig.fmt,
                    "note": "not measured (see the notes)",
                }
            )
            continue
        if not per:
            continue
        m = statistics.median(per["moorage"])
        d = statistics.median(per["distribution"])
        ratio = m / d if d else float("inf")
        met = None if fig.check is None else bool(fig.check(m, d, ratio, context))
        rows.append(
            {
                "key": fig.key,
                "label": fig.label,
                "unit": fig.unit,
                "moorage": m,
                "distribution": d,
                "ratio": ratio,
                "target": fig.target,
                "met": met,
                "rounds": per,
                "fmt": fig.fmt,
            }
        )
    return rows


def table_lines(
    rows: list[dict[str, Any]], profile: Profile, sha: float, markdown: bool
) -> list[str]:
    def label(row: dict[str, Any]) -> str:
        text = str(row["label"])
        if profile.name != "full":
            text = text.replace("256 MiB", f"{profile.blob_size // MiB} MiB")
            text = text.replace("16 MiB chunks", f"{profile.chunk_size // MiB} MiB chunks")
            text = text.replace("1,000 tags", f"{profile.tags:,} tags")
        return f"{text} ({row['unit']})"

    body: list[list[str]] = []
    for row in rows:
        if row["moorage"] is None:
            cells = [label(row), "n/a", "n/a", "n/a", row["target"], "not measured"]
        else:
            fmt = row["fmt"]
            status = "" if row["met"] is None else ("met" if row["met"] else "NOT met")
            cells = [
                label(row),
                fmt.format(row["moorage"]),
                fmt.format(row["distribution"]),
                f"{row['ratio']:.2f}x",
                row["target"],
                status,
            ]
        body.append(cells)
    body.append(["reference: hashlib sha256, one core (MB/s)", f"{sha:.0f}", "", "", "", ""])
    header = ["figure", "moorage", "distribution", "ratio m/d", "target", ""]
    if markdown:
        out = ["| " + " | ".join([*header[:5], "status"]) + " |"]
        out.append("|" + "|".join(["---", "---:", "---:", "---:", "---", "---"]) + "|")
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in body]
        return out
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    fmt_line = "  ".join(
        f"{{:<{w}}}" if i in (0, 4, 5) else f"{{:>{w}}}" for i, w in enumerate(widths)
    )
    out = [fmt_line.format(*header), "  ".join("-" * w for w in widths)]
    out += [fmt_line.format(*cells) for cells in body]
    return out


DOC_START = "<!-- benchmark:start (generated by benchmarks/run.py --doc) -->"
DOC_END = "<!-- benchmark:end -->"


def update_doc(path: Path, report: dict[str, Any], lines: list[str]) -> None:
    m, v, g = report["machine"], report["versions"], report["git"]
    server = report.get("settings", {}).get("moorage_server") or "default"
    if server == "default":
        server = v.get("moorage_server_default", "uvicorn")
    stack = (
        f"granian {v.get('granian', '?')}"
        if server == "granian"
        else f"uvicorn {v.get('uvicorn', '?')}, httptools {v.get('httptools', '?')}"
    )
    block = [
        DOC_START,
        "",
        f"Run of {report['started_at']} ({report['profile']['name']} profile, "
        f"{report['profile']['rounds']} rounds, medians; {report['duration_s']:.0f} s in all).",
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"kernel {m['kernel']}, {m['os']}; load average at start "
        f"{m['loadavg_start'][0]:.2f}, at end {m['loadavg_end'][0]:.2f}",
        f"- versions: Python {v.get('python_server', v['python'])}, {v['moorage']} "
        f"(served by {stack}, uvloop {v.get('uvloop', '?')}, "
        f"starlette {v.get('starlette', '?')}, SQLAlchemy {v.get('sqlalchemy', '?')}, "
        f"aiosqlite {v.get('aiosqlite', '?')}; {report['processes_moorage']} process(es)), "
        "distribution "
        f"{(v['distribution'].split() or ['?'])[-1]} (Debian `docker-registry`), "
        f"{' '.join(v['wrk'].split()[:2])}",
        f"- commit: `{g['commit']}`"
        + (" (with uncommitted changes in src)" if g["dirty"] else "")
        + (f" (`--moorage-ref {g['ref']}`: {g['source']})" if g.get("ref") else ""),
        "",
        *lines,
        "",
    ]
    for note in report["notes"] + report["warnings"]:
        block.append(f"- {note}")
    block += ["", DOC_END]
    text = path.read_text() if path.exists() else ""
    if DOC_START in text and DOC_END in text:
        head, _, rest = text.partition(DOC_START)
        _, _, tail = rest.partition(DOC_END)
        text = head + "\n".join(block) + tail
    else:
        text = text + ("\n" if text else "") + "\n".join(block) + "\n"
    path.write_text(text)


# ---- main ----------------------------------------------------------------------------------


def token_setup(
    args: argparse.Namespace,
    workdir: Path,
    servers: dict[str, Server],
    extra: list[Server],
    notes: list[str],
) -> dict[str, tuple[Server, Callable[[], str]]]:
    """For the token-auth figures: Moorage's own token service, and a second distribution
    process with ``auth.token`` on the same storage, given tokens minted here."""
    moorage = servers["moorage"]
    if moorage.auth is None:
        notes.append(TOKEN_NOT_MEASURED)
        return {}
    try:
        minter = TokenMinter(workdir)
    except ImportError as exc:
        notes.append(f"token-auth figures not measured: {exc} (PyJWT and cryptography needed)")
        return {}
    dist = start_distribution(args, workdir, minter)
    extra.append(dist)
    auth = moorage.auth
    return {
        "moorage": (moorage, lambda: auth.token([PRIVATE_REPO], "pull")),
        "distribution": (dist, lambda: minter.token([PRIVATE_REPO], ["pull"])),
    }


TOKEN_NOT_MEASURED = (
    "token-auth figures not measured: this Moorage does not ask for credentials "
    "(no token authentication at this commit)"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes, 1 round (<1 min)")
    ap.add_argument("--rounds", type=int, help="override the number of rounds")
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "latest.json",
        help="JSON file",
    )
    ap.add_argument(
        "--doc", type=Path, help="also rewrite the generated block of this Markdown file"
    )
    ap.add_argument("--moorage-cmd", help="command that runs moorage (default: this Python's)")
    ap.add_argument(
        "--moorage-ref",
        help="benchmark Moorage as of this commit (git archive into the temporary folder, run "
        "with PYTHONPATH) instead of the work tree",
    )
    ap.add_argument("--moorage-workers", type=int, help="pass --workers N to moorage serve")
    ap.add_argument(
        "--moorage-server",
        choices=["default", "uvicorn", "granian"],
        default="default",
        help="Moorage's ASGI server (MOORAGE_SERVER; default: Moorage's own default)",
    )
    ap.add_argument("--distribution", default="/usr/bin/docker-registry")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument(
        "--access-logs",
        action="store_true",
        help="keep both access logs on (default: both off, log level warn)",
    )
    ap.add_argument("--workdir", type=Path, help="parent of the temporary data folders")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return ap.parse_args(argv)


@contextlib.contextmanager
def workdir(args: argparse.Namespace) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="moorage-bench-", dir=args.workdir)).resolve()
    try:
        yield path
    finally:
        if args.keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.rounds:
        profile = dataclasses.replace(profile, rounds=args.rounds)
    for tool in (args.distribution, args.wrk):
        if not (shutil.which(tool) or Path(tool).exists()):
            print(f"benchmark: {tool} not found", file=sys.stderr)
            return 2

    def on_sigterm(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt  # so that the finally below stops both servers

    signal.signal(signal.SIGTERM, on_sigterm)
    started = dt.datetime.now(dt.UTC)
    t_start = time.perf_counter()
    try:
        mcmd = moorage_command(args)
    except BenchError as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2
    servers: dict[str, Server] = {}
    extra_servers: list[Server] = []  # distribution with token auth
    token_notes: list[str] = []
    bench: Bench | None = None
    failure: str | None = None
    args.moorage_ref_commit = None
    args.moorage_pythonpath = None
    with workdir(args) as wd:
        args.workdir_path = wd
        if args.moorage_ref:
            try:
                args.moorage_ref_commit = export_ref(args.moorage_ref, wd / "moorage-src")
            except (BenchError, subprocess.CalledProcessError) as exc:
                print(f"benchmark: {exc}", file=sys.stderr)
                return 2
            args.moorage_pythonpath = str(wd / "moorage-src" / "src")
        machine = machine_info()
        vers = versions(args, mcmd)
        git = git_info(args)
        if args.moorage_pythonpath and not vers.get("moorage_path", "").startswith(
            args.moorage_pythonpath
        ):
            print(f"benchmark: moorage not imported from the export: {vers}", file=sys.stderr)
            return 2
        print(f"moorage from {vers.get('moorage_path')} ({git['commit'][:12]})", flush=True)
        print("sha256 reference ...", flush=True)
        sha = sha256_speed()
        try:
            servers["moorage"] = start_moorage(args, wd)
            servers["distribution"] = start_distribution(args, wd)
            token_servers = token_setup(args, wd, servers, extra_servers, token_notes)
            for s in [*servers.values(), *extra_servers]:
                print(
                    f"{s.name}: pid {s.pid}, port {s.port}, up in {s.startup_s:.2f} s", flush=True
                )
            bench = Bench(profile, servers, args, token_servers)
            for note in token_notes:
                bench.note(note)
            bench.run()
        except BenchError as exc:
            failure = str(exc)
        except KeyboardInterrupt:
            failure = "interrupted"
        except Exception:
            failure = "unexpected error in the harness:\n" + traceback.format_exc()
        finally:
            everything = [*servers.values(), *extra_servers]
            for s in everything:
                s.stop()
            for s in everything:
                print(f"stopped {s.name} (pid {s.pid})", flush=True)
            if failure and everything:
                for s in everything:
                    tail = s.log_tail(1500).strip()
                    if tail:
                        print(f"--- {s.name} log tail ---\n{tail}", file=sys.stderr)
    if failure or bench is None:
        print(f"\nBENCHMARK FAILED: {failure}", file=sys.stderr)
        return 1
    machine["loadavg_end"] = os.getloadavg()
    rows = summarize(bench, {"sha256_mbps": sha})
    report: dict[str, Any] = {
        "schema": 1,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - t_start,
        "profile": dataclasses.asdict(profile),
        "machine": machine,
        "versions": vers,
        "git": git,
        "servers": {
            s.name: {
                "cmd": s.cmd,
                "pid": s.pid,
                "port": s.port,
                "startup_s": s.startup_s,
                "settings": s.settings,
                "asks_for_credentials": bool(s.challenge),
            }
            for s in [*servers.values(), *extra_servers]
        },
        "settings": {
            "access_logs": args.access_logs,
            "wrk_threads": args.wrk_threads,
            "moorage_workers": args.moorage_workers,
            "moorage_server": args.moorage_server,
        },
        "sha256_mbps": sha,
        "processes_moorage": int(bench.results["processes"]["moorage"][0]),
        "figures": [{k: v for k, v in row.items() if k != "fmt"} for row in rows],
        "all_results": bench.results,
        "loadavg_per_round": bench.loadavg,
        "notes": bench.notes,
        "warnings": bench.warnings,
        "wrk_output": bench.wrk_raw,
    }
    lines = table_lines(rows, profile, sha, markdown=False)
    print()
    print("\n".join(lines))
    for note in bench.notes + bench.warnings:
        print(f"note: {note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out} ({report['duration_s']:.0f} s)")
    if args.doc:
        update_doc(args.doc, report, table_lines(rows, profile, sha, markdown=True))
        print(f"updated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
