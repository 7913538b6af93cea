"""Outbound HTTP to a registry a user names, through Moorage's guard, and the Docker token
protocol on top of it.

``GuardedTransport`` checks every request's host with :func:`moorage.remote.outbound.check`
(public addresses, or the allowed networks; metadata and ``localhost`` refused) and connects to
the checked address itself (``Host`` and the TLS server name carry the name), so a redirect or a
token realm that points inside the network is refused like the first URL. Proxies from the
environment are not used. ``RegistryAuth`` answers a ``401`` once: Basic credentials, or a
bearer token fetched from the challenge's realm (cached per scope). Credentials never appear in
an error message.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field

import httpx

from moorage.errors import InvalidInput, MoorageError
from moorage.remote import outbound

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class RemoteUnreachable(MoorageError):
    """No usable answer from the remote registry: refused connection, TLS failure, timeout."""

    code, status, default_message = "REMOTE_REGISTRY_UNREACHABLE", 400, "no answer from remote"


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str = ""
    secret: str = ""  # a password or an access token (DTR takes either in Basic)

    @property
    def given(self) -> bool:
        return bool(self.username or self.secret)

    def basic(self) -> str:
        raw = f"{self.username}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:  # never the secret
        return f"Credentials(username={self.username!r})"


def tls_context(ca_pem: str = "", *, skip_verify: bool = False) -> ssl.SSLContext:
    """Certificates checked against the system's roots, or ``ca_pem`` when given; none at all
    with ``skip_verify`` (DTR's ``skipTLSVerification``)."""
    try:
        return outbound.tls_context(ca_pem, verify=not skip_verify)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidInput("the CA certificate (remoteCA) is not valid PEM") from exc


class GuardedTransport(httpx.AsyncBaseTransport):
    """Every request to an address the guard passed, each host checked once per transport."""

    def __init__(
        self,
        guard: outbound.Guard,
        context: ssl.SSLContext,
        proxies: outbound.Proxies | None = None,
    ) -> None:
        self._guard = guard
        self._context = context
        self._proxies = proxies  # asked for the checked address, never the name (remote.outbound)
        self._checked: dict[str, outbound.Target] = {}
        # One connection pool per host name: pools are keyed by the address connected to, and
        # a connection made (and its certificate checked) for one name must not serve another.
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}

    async def _target(self, key: str) -> outbound.Target:
        if key not in self._checked:
            self._checked[key] = await outbound.check(key + "/", self._guard)
        return self._checked[key]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        target = await self._target(key)
        if key not in self._pools:
            proxy = self._proxies.for_target(target) if self._proxies is not None else None
            self._pools[key] = outbound.transport_for(
                proxy, request.url.scheme, self._context, TIMEOUT.connect or 10.0
            )
        pool = self._pools[key]
        request.headers["Host"] = request.url.netloc.decode("ascii")
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": target.host}
        original = request.url
        last: Exception | None = None
        for ip in target.addresses[: outbound.MAX_ADDRESSES]:
            request.url = original.copy_with(host=str(ip))
            try:
                response = await pool.handle_async_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = exc
                continue
            finally:
                request.url = original
            return response
        raise httpx.ConnectError(f"cannot connect to {target.host}: {last}", request=request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    for part in _split_params(rest):
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return scheme.lower(), params


def _split_params(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


def token_claims(token: str) -> dict[str, object]:
    """The payload of a JWT, unverified (only to read what the remote granted us)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        found = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


@dataclass
class RegistryAuth(httpx.Auth):
    """Answers a registry's 401: Basic, or the Docker token protocol (token per scope). Only
    for requests to the registry itself (``origin``): a redirect elsewhere (a blob store's
    signed URL) gets neither the credentials nor a token."""

    credentials: Credentials
    origin: str  # scheme://host[:port] of the registry
    tokens: dict[str, str] = field(default_factory=dict)  # scope → bearer token
    last_token: str = ""
    requires_response_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if f"{request.url.scheme}://{request.url.netloc.decode('ascii')}" != self.origin:
            yield request
            return
        scope = request.extensions.get("scope", "")
        if isinstance(scope, str) and scope in self.tokens:
            request.headers["Authorization"] = f"Bearer {self.tokens[scope]}"
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = _challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and self.credentials.given:
            request.headers["Authorization"] = self.credentials.basic()
            yield request
            return
        if scheme != "bearer" or "realm" not in params:
            return
        query = {"service": params.get("service", "")}
        # The scope this client asked for (pull,push before an upload), else the challenge's.
        wanted = scope if isinstance(scope, str) and scope else params.get("scope", "")
        # Several scopes (a mount: push here, pull there) go as several ``scope`` parameters.
        pairs: list[tuple[str, str | int | float | bool | None]] = [
            ("service", query["service"]),
            *(("scope", s) for s in wanted.split()),
        ]
        token_request = httpx.Request(
            "GET", httpx.URL(params["realm"]).copy_merge_params(httpx.QueryParams(pairs))
        )
        if self.credentials.given:
            token_request.headers["Authorization"] = self.credentials.basic()
        answer = yield token_request
        if answer.status_code != 200:
            return
        try:
            body = answer.json()
        except ValueError:
            return
        token = str(body.get("token") or body.get("access_token") or "")
        if not token:
            return
        self.last_token = token
        if isinstance(scope, str) and scope:
            self.tokens[scope] = token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def make_client(
    base_url: str,
    credentials: Credentials,
    guard: outbound.Guard,
    *,
    ca_pem: str = "",
    skip_verify: bool = False,
    proxies: outbound.Proxies | None = None,
) -> httpx.AsyncClient:
    """An HTTP client for one registry: guarded, authenticated, redirects followed (each hop
    through the guard; httpx drops the credentials on a hop to another host)."""
    origin = httpx.URL(base_url)
    return httpx.AsyncClient(
        base_url=base_url,
        transport=GuardedTransport(guard, tls_context(ca_pem, skip_verify=skip_verify), proxies),
        auth=RegistryAuth(credentials, f"{origin.scheme}://{origin.netloc.decode('ascii')}"),
        timeout=TIMEOUT,
        follow_redirects=True,
        trust_env=False,
    )


async def file_chunks(path: str, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    """A file's bytes, a chunk at a time (an upload's body)."""
    with open(path, "rb") as f:  # a local temporary file: short blocking reads
        while chunk := f.read(size):
            yield chunk


def base_url(host: str) -> str:
    """``dtr.example.com`` or ``https://dtr.example.com[/]`` → ``https://dtr.example.com``."""
    host = host.strip().rstrip("/")
    if not host:
        raise InvalidInput("the remote host is empty")
    return host if "://" in host else f"https://{host}"
