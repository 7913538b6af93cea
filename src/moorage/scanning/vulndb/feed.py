"""Online updates: every configured ecosystem's ``<feed>/<ecosystem>/all.zip`` (the layout
osv.dev publishes) downloaded, then imported as one update.

The feed's address passes the outbound guard (``moorage.remote``): public addresses, and the
networks of the setting ``vulnerability_feed_allowed_networks`` (a mirror inside the firewall).
Each archive streams to a private folder in the data folder, bounded by
``vulnerability_db_max_archive_bytes``; only when all arrived are they imported, together, as a
full snapshot of the online records (``prune``: an online record the feed no longer has goes).
A refused address, a failed download or a bad archive fails the whole update and leaves the
database in force; the downloads are removed either way.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import httpx

from moorage.config import Settings
from moorage.db import site_settings
from moorage.db.engine import Database
from moorage.errors import MoorageError
from moorage.remote import download, outbound
from moorage.remote.addresses import parse_networks
from moorage.scanning.vulndb import store
from moorage.scanning.vulndb.importer import ImportReport, ProgressCallback, import_archives

SETTING = "vulnerability_feed_allowed_networks"
Note = Callable[[str], Awaitable[None]]


class FeedRefused(outbound.TargetRefused):
    """The feed's address may not be reached."""


def archive_url(base: str, ecosystem: str) -> str:
    return f"{base.rstrip('/')}/{quote(ecosystem, safe='')}/all.zip"


def shown(url: str) -> str:
    """The feed's URL as logs and the status show it: never a user name or password (the
    guard refuses such a URL anyway)."""
    try:
        return str(httpx.URL(url).copy_with(userinfo=b"")).rstrip("/")
    except Exception:  # not a URL: the guard says so; show none of it
        return "(an invalid URL)"


def guard(settings: Settings) -> outbound.Guard:
    return outbound.Guard(
        allowed=parse_networks(settings.vulnerability_feed_allowed_networks), setting=SETTING
    )


async def _check(url: str, settings: Settings) -> outbound.Target:
    try:
        return await outbound.check(url, guard(settings))
    except outbound.TargetRefused as exc:
        host = exc.detail.get("host", "") if isinstance(exc.detail, dict) else ""
        raise FeedRefused(
            f"the vulnerability feed {host!r} may not be reached: only public addresses and "
            f"the networks of the setting {SETTING} (MOORAGE_{SETTING.upper()}) are allowed",
            detail={"host": host, "setting": SETTING},
        ) from exc


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


async def fetch(
    settings: Settings, folder: Path, note: Note, proxies: outbound.Proxies | None = None
) -> list[Path]:
    """Download every configured ecosystem's archive into ``folder`` (through the site's
    proxies, when given)."""
    paths: list[Path] = []
    for n, ecosystem in enumerate(settings.vulnerability_feed_ecosystems):
        url = archive_url(settings.vulnerability_feed_url, ecosystem)
        target = await _check(url, settings)
        await note(f"downloading {ecosystem}: {shown(url)}")
        path = folder / f"{n:03d}-{re.sub(r'[^A-Za-z0-9.]+', '-', ecosystem)}.zip"
        size = await download.get_to_file(
            target, path, max_bytes=settings.vulnerability_db_max_archive_bytes, proxies=proxies
        )
        await note(f"downloaded {ecosystem}: {_size(size)}")
        paths.append(path)
    return paths


def downloads_folder(settings: Settings) -> Path:
    """A new private folder for one update's downloads, under the data folder."""
    root = settings.data / "vulndb" / "downloads"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root / str(uuid.uuid4())
    os.mkdir(folder, 0o700)
    return folder


async def update_online(
    db: Database,
    settings: Settings,
    *,
    holder: str,
    note: Note,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Download the feed and import it (see the module's documentation)."""
    source = shown(settings.vulnerability_feed_url)
    folder = downloads_folder(settings)
    try:
        try:
            site = await site_settings.load(db)
            proxies = outbound.Proxies(site.http_proxy, site.https_proxy, site.no_proxy)
            paths = await fetch(settings, folder, note, proxies)
        except MoorageError as exc:
            await store.record_failure(db, None, source, exc.message)
            raise
        await note(f"importing {len(paths)} archives")
        return await import_archives(
            db,
            paths,
            source=source,
            kind="online",
            holder=holder,
            prune=True,
            progress=progress,
            should_stop=should_stop,
        )
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
