"""The supervisor's TLS duties: the plain-HTTP redirect listener (on a real loopback socket) and
the renewal watch (real child processes)."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from moorage.http.tls_supervision import RedirectServer, RenewalWatch, https_origin
from tests.conftest import free_port


@pytest.mark.parametrize(
    ("host", "public_url", "port", "expected"),
    [
        ("registry.example.com", None, 443, "https://registry.example.com"),
        ("registry.example.com:80", None, 8443, "https://registry.example.com:8443"),
        ("10.0.0.5:8080", None, 443, "https://10.0.0.5"),
        ("[2001:db8::1]:80", None, 443, "https://[2001:db8::1]"),
        ("[2001:db8::1]", None, 5443, "https://[2001:db8::1]:5443"),
        # The public URL is where clients are sent, whatever Host they sent.
        (
            "evil.example.com",
            "https://registry.example.com:5443/",
            443,
            "https://registry.example.com:5443",
        ),
        (None, "https://registry.example.com", 443, "https://registry.example.com"),
        (None, None, 443, None),
        ("", None, 443, None),
        ("evil.example.com/path", None, 443, None),
        ("user@evil.example.com", None, 443, None),
        ("a b", None, 443, None),
        ("[2001:db8::1", None, 443, None),
        ("-bad.example.com", None, 443, None),
        ("x" * 300, None, 443, None),
        ("a" * 200 + "!", None, 443, None),  # answered at once (no backtracking pattern)
        ("[::1]:80", None, 443, "https://[::1]"),
        ("[not-v6]", None, 443, None),
    ],
)
def test_https_origin(
    host: str | None, public_url: str | None, port: int, expected: str | None
) -> None:
    assert https_origin(host, public_url, port) == expected


@pytest.fixture()
def redirect() -> Iterator[RedirectServer]:
    server = RedirectServer("127.0.0.1", free_port(), tls_port=5443, public_url=None).start()
    yield server
    server.stop()


def test_every_method_redirected_nothing_served(redirect: RedirectServer) -> None:
    base = f"http://127.0.0.1:{redirect.port}"
    with httpx.Client(timeout=10) as c:
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            r = c.request(
                method, f"{base}/v2/team/app/blobs/uploads/?digest=sha256%3Aab", content=b"x" * 10
            )
            assert r.status_code == 308
            assert r.headers["location"] == (
                "https://127.0.0.1:5443/v2/team/app/blobs/uploads/?digest=sha256%3Aab"
            )
            assert r.headers["content-length"] == "0"
    # An absolute-form request line keeps only its path and query; the host is the Host header's.
    with socket.create_connection(("127.0.0.1", redirect.port), timeout=10) as s:
        s.sendall(b"GET http://other.example.com/x?y=1 HTTP/1.1\r\nHost: reg.example.com\r\n\r\n")
        answer = s.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 308")
    assert "Location: https://reg.example.com:5443/x?y=1\r\n" in answer
    # A request line that is not HTTP gets the library's 400, never a redirect
    with socket.create_connection(("127.0.0.1", redirect.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x00\xa5garbage\r\n\r\n")  # a TLS ClientHello on the plain port
        answer = s.recv(4096).decode(errors="replace")
    # (http.server answers a request line it cannot read as HTTP/0.9: the body alone.)
    assert "400" in answer and "Location" not in answer


def test_renewal_watch_acts_on_exit_code_10_only() -> None:
    calls: list[str] = []
    for code, renewed in ((10, True), (0, False), (1, False)):
        watch = RenewalWatch(
            3600,
            lambda: calls.append("renewed"),
            [sys.executable, "-c", f"raise SystemExit({code})"],
        )
        assert watch.check_once() is renewed
    assert calls == ["renewed"]
    missing = RenewalWatch(3600, lambda: calls.append("renewed"), ["/nonexistent/moorage-check"])
    assert missing.check_once() is False
    assert calls == ["renewed"]


def test_renewal_watch_runs_periodically_and_stops() -> None:
    ran = threading.Event()
    watch = RenewalWatch(0.05, ran.set, [sys.executable, "-c", "raise SystemExit(10)"]).start()
    try:
        assert ran.wait(30)
    finally:
        watch.stop()
