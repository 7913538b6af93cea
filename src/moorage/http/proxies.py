"""Pure ASGI middleware: believe forwarded headers only from the reverse proxies we trust.

Behind a TLS-terminating proxy (nginx, HAProxy, a cloud load balancer), Moorage sees the proxy's
address and plain HTTP. The proxy tells the truth in ``Forwarded`` (RFC 7239) or the
``X-Forwarded-For``/``-Proto``/``-Host``/``-Port`` headers; anyone else can write the same
headers, so they count only when the connection's peer is in ``trusted_proxies`` (a list of
CIDRs, default none). Then the scope's ``scheme``, ``server``, ``Host`` header and ``client`` are
rewritten, so the token realm, ``Location`` headers, Secure cookies, the login throttle and the
access log all see what the client sent. From any other peer the headers are ignored.

Either way the forwarded headers are removed from the scope: nothing downstream may read them.

Chains of proxies: the client is found by walking the ``for`` entries from the nearest hop
outwards, skipping trusted proxies; the first untrusted address is the client (entries further
left were written by the client itself and are not believed). ``Forwarded`` wins over the
``X-Forwarded-*`` headers when both are present.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_FORWARDED_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-forwarded-scheme",
        b"x-real-ip",
    }
)
# A host as a URL may carry it: a DNS name or IPv4 address, or a bracketed IPv6 address,
# with an optional port. Anything else (spaces, slashes, '@', quotes) is refused.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?")
_PAIR = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,"\s]*)\s*')
_DEFAULT_PORT = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def valid_host(host: str) -> bool:
    """A ``Host`` value as a URL may carry it (name or address, optional port), nothing else."""
    return bool(_HOST.fullmatch(host))


def parse_networks(values: Iterable[str]) -> list[Network]:
    """CIDRs (or single addresses) to networks; ``ValueError`` names the bad entry."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"not an IP address or CIDR: {value!r}") from exc
    return networks


@dataclass(frozen=True)
class Hop:
    """What one proxy said about the connection it received."""

    client: str | None = None  # the node that connected to that proxy ("for")
    client_port: int | None = None
    proto: str | None = None
    host: str | None = None
    port: int | None = None


def _address(value: str | None) -> Address | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _split_node(node: str) -> tuple[str | None, int | None]:
    """An RFC 7239 node (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``unknown``, ``_hidden``)."""
    node = node.strip()
    host, port = node, ""
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif node.count(":") == 1:
        host, _, port = node.partition(":")
    return host or None, int(port) if port.isdigit() and int(port) < 65536 else None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_forwarded(values: Sequence[str]) -> list[Hop] | None:
    """RFC 7239 elements, leftmost (first proxy) first; None when a header is malformed."""
    hops: list[Hop] = []
    for header in values:
        pos = 0
        while pos <= len(header):
            fields: dict[str, str] = {}
            while True:
                match = _PAIR.match(header, pos)
                if match is None:
                    return None
                fields[match.group(1).lower()] = _unquote(match.group(2))
                pos = match.end()
                if pos < len(header) and header[pos] == ";":
                    pos += 1
                    continue
                break
            client, client_port = _split_node(fields["for"]) if "for" in fields else (None, None)
            host = fields.get("host")
            hops.append(
                Hop(client=client, client_port=client_port, proto=fields.get("proto"), host=host)
            )
            if pos >= len(header):
                break
            if header[pos] != ",":
                return None
            pos += 1
    return hops


def _listed(values: Sequence[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def parse_x_forwarded(headers: dict[bytes, list[str]]) -> list[Hop]:
    """X-Forwarded-* as hops. The other lists line up with X-Forwarded-For from the right when
    they are as long; otherwise their last value (written by the nearest proxy) holds."""
    clients = _listed(headers.get(b"x-forwarded-for", []))
    protos = _listed(
        headers.get(b"x-forwarded-proto", []) or headers.get(b"x-forwarded-scheme", [])
    )
    hosts = _listed(headers.get(b"x-forwarded-host", []))
    ports = _listed(headers.get(b"x-forwarded-port", []))
    count = max(len(clients), 1)

    def aligned(items: list[str], index: int) -> str | None:
        if not items:
            return None
        return items[index] if len(items) == count else items[-1]

    hops = []
    for index in range(count):
        client, client_port = _split_node(clients[index]) if clients else (None, None)
        port_text = aligned(ports, index)
        port = (
            int(port_text) if port_text and port_text.isdigit() and int(port_text) < 65536 else None
        )
        hops.append(
            Hop(
                client=client,
                client_port=client_port,
                proto=aligned(protos, index),
                host=aligned(hosts, index),
                port=port,
            )
        )
    return hops


class TrustedProxies:
    """Rewrite the scope from forwarded headers sent by a trusted peer; drop them otherwise."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.networks = parse_networks(trusted)

    def trusts(self, address: str | None) -> bool:
        parsed = _address(address)
        if parsed is None:
            return False
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        return any(parsed in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        forwarded: dict[bytes, list[str]] = {}
        kept: list[tuple[bytes, bytes]] = []
        for name, value in scope["headers"]:
            if name in _FORWARDED_HEADERS:
                forwarded.setdefault(name, []).append(value.decode("latin-1"))
            else:
                kept.append((name, value))
        if not forwarded:
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        scope["headers"] = kept
        peer = scope.get("client")
        if peer and self.trusts(peer[0]):
            self._apply(scope, forwarded, peer[0])
        await self.app(scope, receive, send)

    def _hops(self, forwarded: dict[bytes, list[str]]) -> list[Hop]:
        if b"forwarded" in forwarded:
            hops = parse_forwarded(forwarded[b"forwarded"])
            if hops is not None:
                return hops
            return []
        return parse_x_forwarded(forwarded)

    def _apply(self, scope: Scope, forwarded: dict[bytes, list[str]], peer: str) -> None:
        hops = self._hops(forwarded)
        if not hops:
            return
        chosen = hops[0]
        for hop in reversed(hops):
            chosen = hop
            if not self.trusts(hop.client):
                break
        # In the request's state (shared with the access log outside): who spoke, for whom.
        state = scope.setdefault("state", {})
        state["proxy_peer"] = peer
        client = (chosen.client or "").strip("[]")
        if _address(client) is not None:
            scope["client"] = (client, chosen.client_port or 0)
            state["client_address"] = client
        scheme = scope.get("scheme", "http")
        proto = (chosen.proto or "").lower()
        if proto in ("http", "https"):
            websocket = scope["type"] == "websocket"
            scheme = {"http": "ws", "https": "wss"}[proto] if websocket else proto
            scope["scheme"] = scheme
        host = chosen.host
        if host and valid_host(host):
            name, port = _split_host(host)
            if port is None and chosen.port is not None:
                port = chosen.port
            if port is None:
                port = _DEFAULT_PORT.get(scheme, 80)
            default = _DEFAULT_PORT.get(scheme)
            value = name if port == default else f"{name}:{port}"
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"host"]
            scope["headers"].append((b"host", value.encode("latin-1")))
            scope["server"] = (name.strip("[]"), port)
        elif chosen.port is not None:
            self._set_port(scope, chosen.port, scheme)
        elif proto in ("http", "https"):
            # The scheme changed but no host or port was named: the Host header the proxy
            # passed on stands; drop a port that only made sense for the inner hop.
            server = scope.get("server")
            if server:
                scope["server"] = (server[0], _DEFAULT_PORT.get(scheme, 80))

    @staticmethod
    def _set_port(scope: Scope, port: int, scheme: str) -> None:
        host_header = next((v for n, v in scope["headers"] if n == b"host"), None)
        if host_header is None:
            return
        name, _ = _split_host(host_header.decode("latin-1"))
        value = name if port == _DEFAULT_PORT.get(scheme) else f"{name}:{port}"
        scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"host"]
        scope["headers"].append((b"host", value.encode("latin-1")))
        scope["server"] = (name.strip("[]"), port)


def _split_host(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name, int(port) if port.isdigit() and 0 < int(port) < 65536 else None
