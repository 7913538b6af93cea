"""A minimal HTTP/1.1 client on raw sockets (keep-alive, ``recv_into`` into a reused buffer),
so that the client spends as little of the machine's CPU as possible."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import socket
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from harness.errors import BenchError
from harness.profiles import KiB, MiB

SOCKET_TIMEOUT = 60.0


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
