"""Outbound HTTP for requests a user aims (webhooks): resolve once, check, connect to what was
checked.

``check`` parses the URL (http or https only, no user name or password), refuses metadata and
loopback host names, resolves the host (``resolve``, the one seam tests replace) and checks every
address it resolves to (:mod:`moorage.remote.addresses`); one refused address refuses the target.
``post`` then connects to the checked addresses themselves, never to a second resolution (DNS
rebinding): the URL carries the address, the ``Host`` header and the TLS server name (SNI and
certificate check) carry the host name. Redirects are not followed, proxies from the environment
are not used, every step has a timeout and at most ``max_response`` bytes of the answer are read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

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
) -> Answer:
    """POST ``body`` to the checked ``target``, trying its addresses in order until one
    connects. Each step (connect, write, read) has ``seconds``; one address's whole exchange
    at most twice that."""
    verify: ssl.SSLContext | bool = True
    try:
        if tls_cert:
            verify = ssl.create_default_context(cadata=tls_cert)
    except (ssl.SSLError, ValueError) as exc:
        return Answer(None, _short(exc))
    sent = {**headers, "Host": target.url.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    last: BaseException | None = None
    async with httpx.AsyncClient(
        verify=verify,
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
