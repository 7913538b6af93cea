"""The vulnerability feed's download (``remote.download.get_to_file``): straight to the checked
address, or through the site's proxy asking for that address (never the name); bounded."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from moorage.remote import download, outbound

BODY = b"PK\x05\x06" + b"\0" * 18  # an empty zip archive


@pytest.fixture()
async def server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """Answers any GET with BODY (an origin, or a forwarding proxy that serves it itself),
    recording each request's head."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1], heads
    finally:
        listening.close()
        await listening.wait_closed()


def _target(url: str, address: str) -> outbound.Target:
    parsed = httpx.URL(url)
    return outbound.Target(url=parsed, host=parsed.host, addresses=(ipaddress.ip_address(address),))


async def test_straight_to_the_checked_address(
    server: tuple[int, list[bytes]], tmp_path: Path
) -> None:
    port, heads = server
    dest = tmp_path / "all.zip"
    target = _target(f"http://feed.example.com:{port}/PyPI/all.zip", "127.0.0.1")
    assert await download.get_to_file(target, dest, max_bytes=1024) == len(BODY)
    assert dest.read_bytes() == BODY and dest.stat().st_mode & 0o777 == 0o600
    assert heads[0].startswith(b"GET /PyPI/all.zip HTTP/1.1\r\n")
    assert b"\r\nhost: feed.example.com:" in heads[0].lower()


async def test_through_the_proxy_for_the_checked_address(
    server: tuple[int, list[bytes]], tmp_path: Path
) -> None:
    port, heads = server
    proxies = outbound.Proxies(http=f"http://127.0.0.1:{port}")
    dest = tmp_path / "all.zip"
    target = _target("http://feed.example.com:8080/PyPI/all.zip", "192.0.2.1")
    assert await download.get_to_file(target, dest, max_bytes=1024, proxies=proxies) == len(BODY)
    assert heads[0].startswith(b"GET http://192.0.2.1:8080/PyPI/all.zip HTTP/1.1\r\n")
    assert dest.read_bytes() == BODY
    # 192.0.2.1 is TEST-NET-1: never routed, so a direct connection cannot succeed.
    bypassed = outbound.Proxies(http=f"http://127.0.0.1:{port}", no_proxy="feed.example.com")
    with pytest.raises(download.DownloadFailed):  # straight to 192.0.2.1: unreachable here
        await download.get_to_file(
            target, tmp_path / "again.zip", max_bytes=1024, proxies=bypassed, seconds=1
        )
    assert len(heads) == 1 and not (tmp_path / "again.zip").exists()


async def test_over_the_limit_is_refused_and_removed(
    server: tuple[int, list[bytes]], tmp_path: Path
) -> None:
    port, _ = server
    dest = tmp_path / "all.zip"
    target = _target(f"http://127.0.0.1:{port}/all.zip", "127.0.0.1")
    with pytest.raises(download.DownloadFailed, match="over the limit"):
        await download.get_to_file(target, dest, max_bytes=4)
    assert not dest.exists()
