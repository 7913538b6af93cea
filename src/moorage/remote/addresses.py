"""Which network addresses an outbound request made for a user may reach.

Pure rules over :mod:`ipaddress`. Public (globally routed) unicast addresses are allowed; so are
the networks an administrator lists (internal CI servers behind the firewall). Loopback,
link-local, private, shared (CGNAT), reserved and documentation ranges are refused unless listed;
cloud metadata addresses, the unspecified address and multicast are refused even when listed.
An IPv6 address that carries an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``,
NAT64 ``64:ff9b::/96``) is judged by the IPv4 address too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata and host-agent endpoints of the common clouds (AWS, ECS, GCP, Azure,
# OpenStack, Oracle: 169.254.169.254; AWS IPv6; Alibaba; Azure's WireServer).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "169.254.169.123",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
        "168.63.129.16",
    )
)
# Host names that name a metadata service or this machine whatever DNS says.
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
    }
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def parse_networks(values: Iterable[str]) -> list[Network]:
    """CIDRs (``10.0.0.0/8``, ``fd00::/8``, a bare address for one host); ValueError if not."""
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values]


def refused_name(host: str) -> bool:
    """A host name refused before any resolution (``localhost``, ``*.localhost``, metadata)."""
    name = host.rstrip(".").lower()
    return name in METADATA_NAMES or name.endswith(".localhost")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Why ``ip`` may not be reached (a short phrase), or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = refusal(inner, allowed)
            if why is not None:
                return f"an IPv6 address embedding {why}"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a private or non-public address"
    return None
