"""The import's HTTP client: every hop through the outbound guard, credentials only to the
registry itself, against small real servers on loopback addresses."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from moorage.importer.transport import Credentials, make_client
from moorage.remote import outbound

LOOPBACK = outbound.Guard(allowed=[ipaddress.ip_network("127.0.0.0/8")], setting="test")


class _Recorder(BaseHTTPRequestHandler):
    """Answers ``/elsewhere`` with a redirect to ``location``, anything else 200; records
    the Authorization header of each request."""

    location = ""
    seen: list[tuple[str, str]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        if self.path == "/elsewhere" and self.location:
            self.send_response(307)
            self.send_header("Location", self.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not self.headers.get("Authorization") and self.path == "/private":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="r"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _server(host: str, location: str = "") -> Iterator[tuple[str, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (_Recorder,), {"location": location, "seen": seen})
    server = ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


async def _get(base: str, path: str, guard: outbound.Guard = LOOPBACK) -> int:
    async with make_client(base, Credentials("ops", "s3cret"), guard) as http:
        return (await http.get(path)).status_code


def test_a_redirect_into_a_refused_network_is_refused() -> None:
    for inside in ("http://169.254.169.254/latest/meta-data/", "http://10.20.30.40/blob"):
        with _server("127.0.0.1", inside) as (url, _), pytest.raises(outbound.TargetRefused):
            asyncio.run(_get(url, "/elsewhere"))


def test_credentials_go_to_the_registry_only() -> None:
    with (
        _server("127.0.0.2") as (other, seen_elsewhere),
        _server("127.0.0.1", f"{other}/blob") as (url, seen_here),
    ):
        assert asyncio.run(_get(url, "/private")) == 200
        assert asyncio.run(_get(url, "/elsewhere")) == 200
    assert seen_here[0] == ("/private", "")  # nothing sent before the registry asks
    assert seen_here[1][1].startswith("Basic ")
    assert seen_elsewhere == [("/blob", "")]  # the redirect's target: no credentials


def test_nothing_is_reached_without_the_allow_list() -> None:
    with _server("127.0.0.1") as (url, seen), pytest.raises(outbound.TargetRefused):
        asyncio.run(_get(url, "/", outbound.Guard()))
    assert seen == []
