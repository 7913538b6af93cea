"""``POST /api/v0/remote/registry`` against a real registry on a loopback socket (this same
Moorage, served by uvicorn in the test), through the outbound guard: refused for loopback,
private and metadata addresses unless the site setting ``webhookAllowedNetworks`` lists them,
with no connection made."""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.auth.world import World
from tests.http.api.dtr_schema import assert_matches
from tests.importer.served import served
from tests.inprocess import ThreadedApp
from tests.services.tls import self_signed

URL = "/api/v0/remote/registry"


@pytest.fixture(scope="module")
def remote(app_registry: ThreadedApp) -> Iterator[str]:
    with served(app_registry) as url:
        yield url


@pytest.fixture()
def allow_loopback(api: httpx.Client, world: World) -> Iterator[None]:
    r = world.api("POST", "/api/v0/meta/settings", json={"webhookAllowedNetworks": ["127.0.0.0/8"]})
    assert r.status_code < 300, r.text
    yield
    r = world.api("POST", "/api/v0/meta/settings", json={"webhookAllowedNetworks": []})
    assert r.status_code < 300, r.text


class _Fake(BaseHTTPRequestHandler):
    """A registry of the simplest kinds: Basic credentials (``basic``: distribution with
    htpasswd), or a token realm that points into the internal network (``internal-realm``)."""

    kind = "basic"
    user, password = "ops", "ops-secret"
    proxied: list[str] = []  # absolute request targets: it was asked as a forwarding proxy

    def do_GET(self) -> None:
        if self.path.startswith("http://"):
            self.proxied.append(self.path)
            self.path = "/" + self.path.split("/", 3)[3]
        if self.kind == "internal-realm":
            self._answer(401, 'Bearer realm="http://10.9.8.7/token",service="x"')
            return
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self._answer(401, 'Basic realm="registry"')
        elif self.path.startswith("/v2/") and self.path.split("?")[0].endswith("/tags/list"):
            self._answer(200, body=b'{"name":"x","tags":[]}')
        elif self.path == "/v2/":
            self._answer(200, body=b"{}")
        else:
            self._answer(404, body=b"{}")

    def _answer(self, status: int, challenge: str = "", body: bytes = b"{}") -> None:
        self.send_response(status)
        if challenge:
            self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _fake_registry(kind: str, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    handler = type("Handler", (_Fake,), {"kind": kind})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _check(
    api: httpx.Client, auth: tuple[str, str] | None, host: str, repo: str, **creds: str
) -> httpx.Response:
    body = {"remoteHost": host, "remoteRepository": repo, **creds}
    return api.post(URL, json=body, auth=auth)  # type: ignore[arg-type]


def _code(r: httpx.Response) -> str:
    return str(r.json()["errors"][0]["code"])


def test_anonymous_callers_are_refused(api: httpx.Client, remote: str) -> None:
    r = _check(api, None, remote, "any/repo")
    assert r.status_code == 401 and _code(r) == "NOT_AUTHENTICATED", r.text


def test_a_bad_body_is_refused(api: httpx.Client, world: World) -> None:
    r = api.post(URL, json={"remoteRepository": "a/b"}, auth=world.creds("bob"))
    assert r.status_code == 400 and _code(r) == "INVALID_JSON", r.text
    r = _check(api, world.creds("bob"), "ftp://example.com", "a/b")
    assert r.status_code == 400 and _code(r) == "INVALID_INPUT", r.text


@pytest.mark.parametrize(
    "host",
    [
        "http://127.0.0.1:{port}",
        "http://localhost:{port}",
        "http://[::1]:{port}",
        "http://[::ffff:127.0.0.1]:{port}",
        "http://169.254.169.254",
        "http://10.1.2.3:{port}",
        "https://192.168.0.1",
    ],
)
def test_internal_addresses_are_refused_without_a_connection(
    api: httpx.Client, world: World, host: str
) -> None:
    """Nobody may probe the internal network: refused before any connection is made."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        r = _check(api, world.creds("bob"), host.format(port=port), "acme/repo")
        assert r.status_code == 400, r.text
        assert _code(r) == "TARGET_NOT_ALLOWED", r.text
        assert r.json()["errors"][0]["detail"]["setting"] == "webhookAllowedNetworks"
        readable, _, _ = select.select([listener], [], [], 0.1)
        assert readable == [], "the check connected to an internal address"


def test_an_allowed_loopback_registry_is_checked(
    api: httpx.Client, world: World, remote: str, allow_loopback: None
) -> None:
    repo = f"{world.org}/private-repo"
    for role, read, write in (
        ("admin", True, True),
        ("carol", True, False),  # read-only team
        ("dave", True, True),  # read-write team
        ("bob", False, False),  # nothing: the remote grants nothing
    ):
        user, password = world.creds(role) or ("", "")
        r = _check(api, world.creds("bob"), remote, repo, username=user, password=password)
        assert r.status_code == 201, (role, r.text)
        assert_matches(r.json(), "responses.RemoteRegistryCheck")
        assert r.json()["permissions"] == {"read": read, "write": write}, role
        assert r.json()["registryType"] == "dtr"


def test_an_access_token_stands_for_the_password(
    api: httpx.Client, world: World, remote: str, allow_loopback: None
) -> None:
    user, password = world.creds("dave") or ("", "")
    r = api.post("/api/v0/api_tokens", json={"tokenLabel": "remote"}, auth=(user, password))
    assert r.status_code in (200, 201), r.text
    token = r.json()["token"]
    repo = f"{world.org}/private-repo"
    r = _check(api, world.creds("bob"), remote, repo, username=user, authToken=token)
    assert r.status_code == 201, r.text
    assert r.json()["permissions"] == {"read": True, "write": True}


def test_wrong_credentials_are_dtrs_invalid_permissions(
    api: httpx.Client, world: World, remote: str, allow_loopback: None
) -> None:
    user = world.name("dave")
    r = _check(
        api, world.creds("bob"), remote, f"{world.org}/private-repo", username=user, password="x"
    )
    assert r.status_code == 400, r.text
    assert _code(r) == "REMOTE_REGISTRY_INVALID_PERMISSIONS"
    assert "x" not in r.json()["errors"][0]["message"].split()


def test_no_answer_is_reported(api: httpx.Client, world: World, allow_loopback: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: the connection is refused
        r = _check(api, world.creds("bob"), f"http://127.0.0.1:{port}", "a/b")
    assert r.status_code == 400, r.text
    assert _code(r) == "REMOTE_REGISTRY_UNREACHABLE"


def test_a_basic_auth_registry_grants_all_or_nothing(
    api: httpx.Client, world: World, allow_loopback: None
) -> None:
    with _fake_registry("basic") as url:
        r = _check(api, world.creds("bob"), url, "team/app", username="ops", password="ops-secret")
        assert r.status_code == 201, r.text
        assert r.json() == {"registryType": "v2", "permissions": {"read": True, "write": True}}
        r = _check(api, world.creds("bob"), url, "team/app", username="ops", password="nope")
        assert r.status_code == 400 and _code(r) == "REMOTE_REGISTRY_INVALID_PERMISSIONS"


def test_a_token_realm_inside_the_network_is_refused(
    api: httpx.Client, world: World, allow_loopback: None
) -> None:
    """The registry is allowed (loopback is listed); its token service is not: a remote
    cannot bounce the check into the internal network."""
    with _fake_registry("internal-realm") as url:
        r = _check(api, world.creds("bob"), url, "team/app", username="u", password="p")
    assert r.status_code == 400, r.text
    assert _code(r) == "TARGET_NOT_ALLOWED"
    assert "10.9.8.7" in r.json()["errors"][0]["message"]


def test_tls_with_the_remotes_ca_or_without_verification(
    api: httpx.Client, world: World, allow_loopback: None, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    creds = {"username": "ops", "password": "ops-secret"}
    with _fake_registry("basic", tls=(cert, key)) as url:
        r = _check(api, world.creds("bob"), url, "team/app", **creds)
        assert r.status_code == 400 and _code(r) == "REMOTE_REGISTRY_UNREACHABLE", r.text
        assert "CERTIFICATE_VERIFY_FAILED" in r.json()["errors"][0]["message"]
        r = _check(api, world.creds("bob"), url, "team/app", remoteCA=cert.read_text(), **creds)
        assert r.status_code == 201, r.text
        assert r.json()["permissions"] == {"read": True, "write": True}
        body = {"remoteHost": url, "remoteRepository": "team/app", "skipTLSVerification": True}
        r = api.post(URL, json={**body, **creds}, auth=world.creds("bob"))
        assert r.status_code == 201, r.text
        r = _check(api, world.creds("bob"), url, "team/app", remoteCA="not a pem", **creds)
        assert r.status_code == 400 and _code(r) == "INVALID_INPUT", r.text


def test_the_check_goes_through_the_sites_proxy(
    api: httpx.Client, world: World, allow_loopback: None
) -> None:
    """With ``httpProxy`` set, the check asks the proxy (here the fake registry, answering as
    the remote) for the guard's checked address; the remote itself is a port nothing listens
    on, so only the proxy can have answered."""
    with _fake_registry("basic") as proxy:
        r = world.api("POST", "/api/v0/meta/settings", json={"httpProxy": proxy})
        assert r.status_code == 202, r.text
        try:
            r = _check(
                api,
                world.creds("bob"),
                "http://127.0.0.1:9",
                "team/app",
                username="ops",
                password="ops-secret",
            )
            assert r.status_code == 201, r.text
            assert "http://127.0.0.1:9/v2/" in _Fake.proxied
        finally:
            world.api("POST", "/api/v0/meta/settings", json={"httpProxy": ""})
