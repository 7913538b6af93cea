"""The address rules outbound requests for users obey (moorage.remote.addresses)."""

from __future__ import annotations

import ipaddress

import pytest

from moorage.remote.addresses import parse_networks, refusal, refused_name

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    "0.0.0.0",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.1.2.3",
    "169.254.169.254",
    "169.254.170.2",
    "fd00:ec2::254",
    "100.100.100.200",
    "168.63.129.16",
    "169.254.1.1",
    "fe80::1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "fc00::1",
    "fd12:3456::1",
    "192.0.2.1",
    "198.18.0.1",
    "2001:db8::1",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "2001::1",  # Teredo
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2002:5db8:d822::", "1.1.1.1"]


@pytest.mark.parametrize("address", REFUSED)
def test_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_listed_networks_are_allowed_but_never_metadata_multicast_or_unspecified() -> None:
    allowed = parse_networks(["127.0.0.1/32", "10.0.0.0/8", "169.254.0.0/16", "0.0.0.0/0"])
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None  # the same host
    assert refusal(ipaddress.ip_address("10.20.30.40"), allowed) is None
    assert refusal(ipaddress.ip_address("127.0.0.2"), parse_networks(["127.0.0.1/32"]))
    assert refusal(ipaddress.ip_address("::1"), parse_networks(["127.0.0.1/32"]))
    for never in ("169.254.169.254", "0.0.0.0", "224.0.0.1", "::ffff:169.254.169.254"):
        assert refusal(ipaddress.ip_address(never), allowed) is not None, never


@pytest.mark.parametrize(
    "name",
    [
        "localhost",
        "LOCALHOST.",
        "foo.localhost",
        "metadata",
        "metadata.google.internal",
        "instance-data",
        "Metadata.Google.Internal.",
    ],
)
def test_refused_names(name: str) -> None:
    assert refused_name(name)


def test_ordinary_names_pass_the_name_check() -> None:
    assert not refused_name("ci.example.com")
    assert not refused_name("metadata.example.com")


def test_networks_are_parsed_or_refused() -> None:
    assert [str(n) for n in parse_networks(["10.1.2.3/8", " fd00::/8 "])] == [
        "10.0.0.0/8",
        "fd00::/8",
    ]
    with pytest.raises(ValueError):
        parse_networks(["not-a-network"])
