"""Outbound downloads (the vulnerability feed): a GET to an address ``outbound.check`` passed,
streamed to a file, bounded.

The same rules as ``outbound.post``: the connection goes to the checked addresses themselves
(the URL carries the address; ``Host`` and the TLS server name carry the host name), redirects
are not followed, proxies from the environment are not used (the site's ``httpProxy`` /
``httpsProxy`` / ``noProxy`` are, when given), every read has a timeout. The body
is written to ``dest`` as it arrives and never held whole; more than ``max_bytes`` (declared or
sent) is refused and the partial file removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from moorage.errors import MoorageError
from moorage.remote.outbound import MAX_ADDRESSES, Proxies, Target, transport_for

CHUNK = 1024 * 1024
Progress = Callable[[int], Awaitable[None]]


class DownloadFailed(MoorageError):
    """The download did not arrive whole: no answer, a non-200 answer, or too large."""

    code, status, default_message = "DOWNLOAD_FAILED", 502, "the download failed"


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


async def get_to_file(
    target: Target,
    dest: Path,
    *,
    max_bytes: int,
    seconds: float = 60.0,
    progress: Progress | None = None,
    proxies: Proxies | None = None,
) -> int:
    """GET the checked ``target`` into ``dest`` (created 0600, replaced); returns its size.
    Raises DownloadFailed, with the partial file removed."""
    headers = {"Host": target.url.netloc.decode("ascii"), "Accept-Encoding": "identity"}
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    last: BaseException | None = None
    proxy = proxies.for_target(target) if proxies is not None else None
    async with httpx.AsyncClient(
        transport=transport_for(proxy, target.url.scheme, True, seconds),
        timeout=httpx.Timeout(seconds, connect=min(seconds, 10.0)),
        follow_redirects=False,
        trust_env=False,
    ) as client:
        for ip in target.addresses[:MAX_ADDRESSES]:
            request = client.build_request(
                "GET", target.url.copy_with(host=str(ip)), headers=headers, extensions=extensions
            )
            try:
                response = await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = exc
                continue
            except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
                raise DownloadFailed(f"{target.host}: {_short(exc)}") from exc
            try:
                return await _save(response, dest, max_bytes, target.host, progress)
            finally:
                await response.aclose()
    raise DownloadFailed(
        f"{target.host}: " + (_short(last) if last is not None else "no address to connect to")
    )


async def _save(
    response: httpx.Response, dest: Path, max_bytes: int, host: str, progress: Progress | None
) -> int:
    if response.status_code != 200:
        raise DownloadFailed(
            f"{host} answered {response.status_code} for {response.url.path}",
            detail={"status": response.status_code, "path": response.url.path},
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise DownloadFailed(f"{host}: {declared} bytes, over the limit of {max_bytes}")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in response.aiter_raw(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise DownloadFailed(f"{host}: more than the limit of {max_bytes} bytes")
                await asyncio.to_thread(out.write, chunk)
                if progress is not None:
                    await progress(written)
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
        with contextlib.suppress(OSError):
            dest.unlink()
        raise DownloadFailed(f"{host}: {_short(exc)}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            dest.unlink()
        raise
    return written
