"""Outbound HTTP for requests a user aims (webhooks): resolve once, check, connect to what was
checked.

``check`` parses the URL (http or https only, no user name or password), refuses metadata and
loopback host names, resolves the host (``resolve``, the one seam tests replace) and checks every
address it resolves to (:mod:`moorage.remote.addresses`); one refused address refuses the target.
``post`` then connects to the checked addresses themselves, never to a second resolution (DNS
rebinding): the URL carries the address, the ``Host`` header and the TLS server name (SNI and
certificate check) carry the host name. Redirects are not followed, proxies from the environment
are not used, every step has a timeout and at most ``max_response`` bytes of the answer are read.

Proxies (the site settings ``httpProxy``, ``httpsProxy``, ``noProxy``: ``Proxies``) are hops the
administrator chose, not a way around the guard: Moorage still resolves and checks the target
itself, and asks the proxy for the checked address, never for the name (the proxy cannot resolve
it to somewhere else). An http:// target goes to the ``httpProxy`` as an absolute URL of the
address (``Host`` carries the name); an https:// one through a ``CONNECT <address>:<port>``
tunnel of the ``httpsProxy``, with TLS to the target inside it (SNI and the certificate check for
the name, as without a proxy). So the names must resolve where Moorage runs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from moorage.errors import InvalidInput
from moorage.remote.addresses import Address, Network, refusal, refused_name

RESOLVE_TIMEOUT = 5.0
MAX_ADDRESSES = 4  # of a name's (all checked) addresses, the first ones tried in turn
MAX_ERROR = 2000

Resolver = Callable[[str, int], Awaitable[list[Address]]]


class TargetRefused(InvalidInput):
    """The URL names a place outbound requests may not go."""

    code, default_message = "TARGET_NOT_ALLOWED", "the endpoint may not be reached"


class TargetUnresolvable(InvalidInput):
    code, default_message = "TARGET_UNRESOLVABLE", "the endpoint's host name does not resolve"


async def system_resolve(host: str, port: int) -> list[Address]:
    """Every address the system resolver gives for ``host`` (numeric spellings included)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RESOLVE_TIMEOUT):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    return found


# The seam: tests replace this (a name that resolves differently later); the checks stay real.
resolve: Resolver = system_resolve


@dataclass(frozen=True, slots=True)
class Guard:
    """What outbound requests may reach: public addresses and ``allowed`` networks. ``setting``
    names where an administrator lists them (it appears in refusals)."""

    allowed: Sequence[Network] = ()
    setting: str = ""

    def refused(self, host: str) -> TargetRefused:
        where = (
            f" and the networks listed in the site setting {self.setting}" if self.setting else ""
        )
        return TargetRefused(
            f"the endpoint {host!r} may not be reached: only public addresses{where} are allowed",
            detail={"host": host, "setting": self.setting} if self.setting else {"host": host},
        )


@dataclass(frozen=True, slots=True)
class Target:
    url: httpx.URL
    host: str  # ASCII (IDNA) host name or address literal, as resolved
    addresses: tuple[Address, ...]  # every one checked


def parse(endpoint: str) -> httpx.URL:
    """The URL, or InvalidInput: http(s) with a host, no user name or password."""
    try:
        url = httpx.URL(endpoint)
    except Exception as exc:
        raise InvalidInput(f"invalid endpoint {endpoint[:200]!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidInput("the endpoint must be an http:// or https:// URL")
    if url.userinfo:
        raise InvalidInput("the endpoint URL may not carry a user name or password")
    return url


async def check(endpoint: str, guard: Guard) -> Target:
    """Parse, resolve and check ``endpoint``; raises TargetRefused, TargetUnresolvable or
    InvalidInput."""
    url = parse(endpoint)
    host = url.raw_host.decode("ascii")
    if refused_name(host):
        raise guard.refused(host)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = await resolve(host, port)
        except (OSError, TimeoutError, UnicodeError, ValueError) as exc:
            raise TargetUnresolvable(
                f"the endpoint's host name {host!r} does not resolve", detail={"host": host}
            ) from exc
        if not addresses:
            raise TargetUnresolvable(
                f"the endpoint's host name {host!r} does not resolve", detail={"host": host}
            )
    if any(refusal(ip, guard.allowed) is not None for ip in addresses):
        raise guard.refused(host)
    return Target(url=url, host=host, addresses=tuple(addresses))


@dataclass(frozen=True, slots=True)
class Proxies:
    """Where outbound requests go through (DTR's ``httpProxy``, ``httpsProxy``, ``noProxy``:
    comma-separated host names, matching the name and its subdomains, a leading dot allowed,
    addresses, CIDRs, ``*`` for everything; a ``:port`` on an entry is ignored)."""

    http: str = ""
    https: str = ""
    no_proxy: str = ""

    def for_target(self, target: Target) -> str | None:
        proxy = self.https if target.url.scheme == "https" else self.http
        if not proxy or self.bypassed(target):
            return None
        return proxy

    def bypassed(self, target: Target) -> bool:
        host = target.host.lower().strip("[]")
        for raw in self.no_proxy.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return True
            if entry.startswith("[") and "]" in entry:
                entry = entry[1 : entry.index("]")]
            elif entry.count(":") == 1:
                entry = entry.partition(":")[0]
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                name = entry.lstrip(".")
                if host == name or host.endswith("." + name):
                    return True
                continue
            if any(ip in network for ip in target.addresses):
                return True
        return False


class _TunnelBackend(httpcore.AsyncNetworkBackend):
    """Connections through a ``CONNECT`` tunnel of ``proxy`` to the address asked for (always a
    checked address: the request's URL carries it)."""

    def __init__(self, proxy: httpx.URL, ssl_context: ssl.SSLContext, seconds: float) -> None:
        self._proxy = proxy
        self._ssl = ssl_context
        self._seconds = seconds
        self._direct = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        proxy_port = self._proxy.port or (443 if self._proxy.scheme == "https" else 80)
        stream = await self._direct.connect_tcp(
            self._proxy.host, proxy_port, timeout=timeout, local_address=local_address
        )
        try:
            if self._proxy.scheme == "https":
                stream = await stream.start_tls(
                    ssl.create_default_context(), self._proxy.host, timeout=timeout
                )
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"
            await stream.write(request.encode("ascii"), timeout=timeout)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await stream.read(4096, timeout=timeout)
                if not chunk or len(head) > 16384:
                    raise httpcore.ProxyError("the proxy closed the tunnel request")
                head += chunk
            line = head.split(b"\r\n", 1)[0]
            status = line.split(b" ")
            if len(status) < 2 or not status[1].startswith(b"2"):
                raise httpcore.ProxyError(f"the proxy refused the tunnel: {line[:200]!r}")
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no unix sockets for outbound requests")

    async def sleep(self, seconds: float) -> None:
        await self._direct.sleep(seconds)


def tls_context(ca_pem: str = "", *, verify: bool = True) -> ssl.SSLContext:
    """Certificates checked against the system's roots, or against ``ca_pem`` (PEM CAs) when
    given; none checked when ``verify`` is false (the caller's explicit choice: DTR's
    ``skipTLSVerification``). A bad ``ca_pem`` raises ssl.SSLError or ValueError."""
    context = ssl.create_default_context(cadata=ca_pem or None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def transport_for(
    proxy: str | None, scheme: str, verify: ssl.SSLContext | bool, seconds: float
) -> httpx.AsyncHTTPTransport:
    """The transport to a checked target's addresses: direct, or through ``proxy`` (an http
    target forwarded as the absolute URL of the address, an https one tunnelled by CONNECT
    to the address, TLS for the host name inside)."""
    if proxy is None:
        return httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
    if scheme == "http":  # forwarded: the proxy gets the absolute URL of the checked address
        return httpx.AsyncHTTPTransport(verify=verify, trust_env=False, proxy=proxy)
    context = verify if isinstance(verify, ssl.SSLContext) else tls_context(verify=verify)
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
    # httpx takes no network backend: its pool is replaced by one that tunnels.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        network_backend=_TunnelBackend(httpx.URL(proxy), context, seconds),
    )
    return transport


@dataclass(frozen=True, slots=True)
class Answer:
    """One POST's outcome: the status code (None when no answer came) and an error (None for a
    2xx answer)."""

    code: int | None
    error: str | None


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR]


async def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    tls_cert: str | None = None,
    seconds: float = 10.0,
    max_response: int = 64 * 1024,
    proxies: Proxies | None = None,
    verify_tls: bool = True,
) -> Answer:
    """POST ``body`` to the checked ``target``, trying its addresses in order until one
    connects (through ``proxies`` unless ``noProxy`` names it). Each step (connect, write,
    read) has ``seconds``; one address's whole exchange at most twice that. An https
    certificate is verified (against ``tls_cert`` when given) unless ``verify_tls`` is false;
    the address guard applies either way."""
    verify: ssl.SSLContext | bool = verify_tls
    try:
        if tls_cert and verify_tls:
            verify = tls_context(tls_cert)
    except (ssl.SSLError, ValueError) as exc:
        return Answer(None, _short(exc))
    sent = {**headers, "Host": target.url.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    last: BaseException | None = None
    proxy = proxies.for_target(target) if proxies is not None else None
    async with httpx.AsyncClient(
        transport=transport_for(proxy, target.url.scheme, verify, seconds),
        timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)),
        follow_redirects=False,
        trust_env=False,
    ) as client:
        for ip in target.addresses[:MAX_ADDRESSES]:
            request = client.build_request(
                "POST",
                target.url.copy_with(host=str(ip)),
                content=body,
                headers=sent,
                extensions=extensions,
            )
            try:
                async with asyncio.timeout(2 * seconds):
                    response = await client.send(request, stream=True)
                    try:
                        read = 0
                        async for chunk in response.aiter_raw():
                            read += len(chunk)
                            if read >= max_response:
                                break
                    finally:
                        await response.aclose()
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = exc
                continue
            except (httpx.HTTPError, ssl.SSLError, OSError, TimeoutError) as exc:
                return Answer(None, _short(exc))
            if 200 <= response.status_code < 300:
                return Answer(response.status_code, None)
            return Answer(response.status_code, f"the endpoint answered {response.status_code}")
    return Answer(None, _short(last) if last is not None else "no address to connect to")
