"""``moorage import`` through the site's proxies: the source is reached through the target's
``httpProxy`` (site settings, read from its ``/api/v0/meta/settings``), asked for the guard's
checked address; ``noProxy`` sends it directly; the target (the site itself) is always reached
directly; a target user who cannot read the settings gets a direct import and a log line
saying so; ``--http-proxy``/``--no-proxy`` replace the site's; an https source goes through a
``CONNECT`` tunnel of the ``httpsProxy`` to the checked address, TLS inside it. The proxy is a
real forwarding and tunnelling proxy on a loopback socket that records every request line it
gets."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from moorage.cli.main import main
from moorage.importer.run import Endpoint, ImportPlan, ImportReport, run_import, verify
from moorage.importer.transport import Credentials
from moorage.remote import outbound
from tests.importer.images import push_image
from tests.importer.served import served
from tests.inprocess import ADMIN, ThreadedApp, threaded_app

pytestmark = pytest.mark.one_database  # what it shows does not depend on the database


LOOPBACK = outbound.Guard(allowed=[ipaddress.ip_network("127.0.0.0/8")], setting="test")
PASSWORD = "carol-password-123"


class _Forwarder(socketserver.BaseRequestHandler):
    """One request per connection: the absolute-form request line is recorded, rewritten to
    origin form with ``Connection: close``, and the bytes piped both ways to the origin."""

    server: _ProxyServer

    def handle(self) -> None:
        client: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        line, *fields = head.split(b"\r\n")
        self.server.lines.append(line.decode("latin-1"))
        method, target, version = line.split(b" ")
        if method == b"CONNECT":  # a tunnel: the client's TLS runs through it untouched
            host, _, port = target.decode("ascii").rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            upstream.sendall(rest)
        else:
            url = httpx.URL(target.decode("ascii"))
            kept = [f for f in fields if not f.lower().startswith((b"connection:", b"proxy-"))]
            upstream = socket.create_connection((url.host, url.port or 80), timeout=30)
            request_line = b" ".join([method, url.raw_path, version])
            upstream.sendall(
                b"\r\n".join([request_line, *kept, b"Connection: close"]) + b"\r\n\r\n" + rest
            )

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_RDWR)

        up = threading.Thread(target=pipe, args=(client, upstream), daemon=True)
        up.start()
        pipe(upstream, client)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        up.join(timeout=30)
        upstream.close()


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Forwarder)
        self.lines: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture()
def proxy() -> Iterator[_ProxyServer]:
    server = _ProxyServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def source_app(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[ThreadedApp]:
    with threaded_app(tmp_path_factory.mktemp("source"), database_factory()) as app:
        with app.client() as c:
            _ok(c.post("/enzi/v0/accounts", json={"name": "carol", "password": PASSWORD}))
        with app.client(auth=("carol", PASSWORD)) as c:
            for tag in ("v1", "v2"):
                push_image(c, "carol/app", tag)
        yield app


@pytest.fixture(scope="module")
def target_app(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[ThreadedApp]:
    with threaded_app(tmp_path_factory.mktemp("target"), database_factory()) as app:
        with app.client() as c:
            _ok(c.post("/enzi/v0/accounts", json={"name": "carol", "password": PASSWORD}))
        yield app


@pytest.fixture(scope="module")
def urls(source_app: ThreadedApp, target_app: ThreadedApp) -> Iterator[tuple[str, str]]:
    with served(source_app) as source, served(target_app) as target:
        yield source, target


def _certificate(folder: Path) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1 (its files, and the PEM to trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(Encoding.PEM).decode()
    (folder / "cert.pem").write_text(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    return folder / "cert.pem", folder / "key.pem", pem


@pytest.fixture(scope="module")
def tls_source(
    source_app: ThreadedApp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The source also served over TLS on loopback: (its https URL, the PEM to trust)."""
    cert, key, pem = _certificate(tmp_path_factory.mktemp("tls"))
    config = uvicorn.Config(
        source_app.app.app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    running = asyncio.run_coroutine_threadsafe(server.serve(), source_app.loop)
    deadline = time.monotonic() + 30
    while not server.started:
        if running.done():
            running.result()
        assert time.monotonic() < deadline, "the TLS server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}", pem
    finally:
        server.should_exit = True
        running.result(timeout=30)


def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


def _site(target_app: ThreadedApp, **proxies: str) -> None:
    with target_app.client() as c:
        body = {"httpProxy": "", "httpsProxy": "", "noProxy": "", **proxies}
        assert c.post("/api/v0/meta/settings", json=body).status_code == 202


def _delete_target_repo(target_app: ThreadedApp) -> None:
    with target_app.client() as c:
        r = c.delete("/api/v0/repositories/carol/app")
        assert r.status_code in (204, 404), r.text


def _plan(urls: tuple[str, str], user: tuple[str, str] = ADMIN, **kw: Any) -> ImportPlan:
    return ImportPlan(
        source=Endpoint(urls[0], Credentials(*ADMIN)),
        target=Endpoint(urls[1], Credentials(*user)),
        guard=LOOPBACK,
        repositories=("carol/app",),
        **kw,
    )


def _run(plan: ImportPlan) -> tuple[ImportReport, list[str]]:
    lines: list[str] = []
    return asyncio.run(run_import(plan, lines.append)), lines


def _port(url: str) -> int:
    port = httpx.URL(url).port
    assert port is not None
    return port


def test_the_source_is_reached_through_the_sites_http_proxy(
    urls: tuple[str, str], target_app: ThreadedApp, proxy: _ProxyServer
) -> None:
    _delete_target_repo(target_app)
    _site(target_app, httpProxy=proxy.url)
    try:
        report, lines = _run(_plan(urls))
        assert report.problems == [] and report.tags_copied == 2, (report, lines)
        assert f"to the source through the proxies: http {proxy.url}" in lines
        source, target = (f"127.0.0.1:{_port(u)}" for u in urls)
        # Every request of the import to the source went through the proxy, in absolute
        # form for the checked address; none to the target (the site itself: direct).
        assert proxy.lines, "nothing went through the proxy"
        assert all(f" http://{source}/" in line for line in proxy.lines), proxy.lines
        assert not any(target in line for line in proxy.lines)
        assert any(
            line.startswith("GET ") and "/v2/carol/app/tags/list" in line for line in proxy.lines
        )
        assert any("/blobs/sha256:" in line for line in proxy.lines)
        before = len(proxy.lines)
        checked = asyncio.run(verify(_plan(urls), [].append))
        assert checked.mismatches == [] and checked.tags_copied == 2
        assert len(proxy.lines) > before  # verify goes the same way
    finally:
        _site(target_app)


def test_no_proxy_sends_the_source_directly(
    urls: tuple[str, str], target_app: ThreadedApp, proxy: _ProxyServer
) -> None:
    _delete_target_repo(target_app)
    _site(target_app, httpProxy=proxy.url, noProxy="example.com, 127.0.0.0/8")
    try:
        report, lines = _run(_plan(urls))
        assert report.problems == [] and report.tags_copied == 2, (report, lines)
        assert proxy.lines == []
    finally:
        _site(target_app)


def test_a_proxy_that_does_not_answer_fails_the_source_not_silently(
    urls: tuple[str, str], target_app: ThreadedApp
) -> None:
    """The site's proxy is used, never skipped: a dead one means no copy (said), not a
    direct connection around it."""
    _delete_target_repo(target_app)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    _site(target_app, httpProxy=dead)
    try:
        report, _ = _run(_plan(urls))
        assert report.tags_copied == 0 and report.problems, report
    finally:
        _site(target_app)
    with target_app.client() as c:
        r = c.get("/v2/carol/app/tags/list")
        assert r.status_code == 404 or not r.json().get("tags"), r.text


def test_a_target_user_who_cannot_read_the_settings_imports_directly_and_is_told(
    urls: tuple[str, str], target_app: ThreadedApp, proxy: _ProxyServer
) -> None:
    _delete_target_repo(target_app)
    _site(target_app, httpProxy=proxy.url)
    try:
        report, lines = _run(_plan(urls, user=("carol", PASSWORD), settings=False))
        assert report.problems == [] and report.tags_copied == 2, (report, lines)
        assert "the target's proxy settings cannot be read (an administrator's): no proxy" in lines
        assert proxy.lines == []
        # ... unless the plan names the proxies itself.
        _delete_target_repo(target_app)
        plan = _plan(
            urls,
            user=("carol", PASSWORD),
            settings=False,
            proxies=outbound.Proxies(http=proxy.url),
        )
        report, lines = _run(plan)
        assert report.tags_copied == 2, (report, lines)
        source = f" http://127.0.0.1:{_port(urls[0])}/"
        assert proxy.lines and all(source in line for line in proxy.lines), proxy.lines
        assert any("/auth/token?" in line for line in proxy.lines)  # the realm too
    finally:
        _site(target_app)


def test_the_cli_options_replace_the_sites_proxies(
    urls: tuple[str, str],
    target_app: ThreadedApp,
    proxy: _ProxyServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MOORAGE_IMPORT_SOURCE_PASSWORD", ADMIN[1])
    monkeypatch.setenv("MOORAGE_IMPORT_TARGET_PASSWORD", ADMIN[1])
    source, target = urls
    common = [
        "import", "--source", source, "--target", target,
        "--source-user", ADMIN[0], "--target-user", ADMIN[0],
        "--allow-network", "127.0.0.0/8", "--repository", "carol/app",
    ]  # fmt: skip
    _delete_target_repo(target_app)
    assert main([*common, "--http-proxy", proxy.url]) == 0
    out = capsys.readouterr()
    assert "imported 2 tags" in out.out
    assert f"to the source through the proxies: http {proxy.url}" in out.err
    assert proxy.lines and all(f" {source}/" in line for line in proxy.lines)
    # The site names the proxy; ``--no-proxy '*'`` goes directly all the same.
    seen = len(proxy.lines)
    _site(target_app, httpProxy=proxy.url)
    try:
        assert main([*common, "--no-proxy", "*", "--verify"]) == 0
        assert "verified 2 tags" in capsys.readouterr().out
        assert len(proxy.lines) == seen
    finally:
        _site(target_app)
    # A proxy that is no http(s) URL is refused before anything is sent.
    assert main([*common, "--http-proxy", "ftp://squid:hunter2@proxy.example.com"]) != 0
    err = capsys.readouterr().err
    assert "http:// or https:// URL" in err and "hunter2" not in err
    # A proxy's user name and password never reach the log.
    credentialed = proxy.url.replace("http://", "http://squid:hunter2@")
    _delete_target_repo(target_app)
    assert main([*common, "--http-proxy", credentialed]) == 0
    out = capsys.readouterr()
    assert "hunter2" not in out.out + out.err


def test_an_https_source_goes_through_the_sites_https_proxy_tunnel(
    urls: tuple[str, str],
    tls_source: tuple[str, str],
    target_app: ThreadedApp,
    proxy: _ProxyServer,
) -> None:
    """``CONNECT`` to the checked address and port, the source's certificate checked inside
    the tunnel (against its CA): the proxy sees the tunnel requests and nothing of the
    registry's traffic."""
    https_url, pem = tls_source
    _delete_target_repo(target_app)
    _site(target_app, httpProxy="http://127.0.0.1:9", httpsProxy=proxy.url)  # http: unused
    try:
        plan = ImportPlan(
            source=Endpoint(https_url, Credentials(*ADMIN), ca_pem=pem),
            target=Endpoint(urls[1], Credentials(*ADMIN)),
            guard=LOOPBACK,
            repositories=("carol/app",),
        )
        report, lines = _run(plan)
        assert report.problems == [] and report.tags_copied == 2, (report, lines)
        assert f"to the source through the proxies: http http://127.0.0.1:9, https {proxy.url}" in (
            lines
        )
        port = _port(https_url)
        assert proxy.lines, "nothing went through the proxy"
        assert all(line == f"CONNECT 127.0.0.1:{port} HTTP/1.1" for line in proxy.lines), (
            proxy.lines
        )
        # The certificate is still checked inside the tunnel: without the CA, nothing copied.
        _delete_target_repo(target_app)
        untrusted = ImportPlan(
            source=Endpoint(https_url, Credentials(*ADMIN)),
            target=Endpoint(urls[1], Credentials(*ADMIN)),
            guard=LOOPBACK,
            repositories=("carol/app",),
            settings=False,
        )
        report, _ = _run(untrusted)
        assert report.tags_copied == 0, report
        assert "CERTIFICATE_VERIFY_FAILED" in " ".join(report.problems), report.problems
    finally:
        _site(target_app)
