"""``moorage gc [--dry-run]``: the online GC run once by the operator, as a subprocess against
the database and store of a real app running in this process, ending with its summary."""

from __future__ import annotations

import asyncio
import json

from moorage.storage.filesystem import FilesystemDriver
from tests.cli import moorage
from tests.gc_inproc import push_and_delete
from tests.inprocess import InProcessApp


def _blob_path(app: InProcessApp, digest: str) -> str:
    hexpart = digest.split(":", 1)[1]
    return f"blobs/sha256/{hexpart[:2]}/{hexpart}/data"


async def test_moorage_gc_says_what_it_kept_and_frees_what_it_may(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        digests = await push_and_delete(c, "ops/gc-cli", 3 * 1024 * 1024)
    store = FilesystemDriver(inproc.settings.storage_root)

    def gc(*flags: str) -> str:
        done = moorage("gc", *flags, settings=inproc.settings)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    # Right after the delete: nothing is old enough, and the summary says why.
    dry = await asyncio.to_thread(gc, "--dry-run")
    assert dry.startswith("would free 0 B"), dry
    assert "younger than the 1 h grace period" in dry and "3 MiB" in dry, dry
    real = await asyncio.to_thread(gc)
    assert real.startswith("freed 0 B (0 blob files"), real
    assert "kept 3 blobs (3 MiB) younger than the 1 h grace period" in real, real
    for digest in digests:
        assert await store.stat(_blob_path(inproc, digest)) is not None
    # With no grace period the same run frees them, and says how much.
    report = json.loads(await asyncio.to_thread(gc, "--grace", "0", "--json"))
    assert report["filesDeleted"] == 3 and report["bytesFreed"] > 3 * 1024 * 1024
    assert report["summary"].startswith("freed 3 MiB (3 blob files"), report["summary"]
    for digest in digests:
        assert await store.stat(_blob_path(inproc, digest)) is None


async def test_moorage_gc_refuses_bad_input(inproc: InProcessApp) -> None:
    done = await asyncio.to_thread(moorage, "gc", "--grace", "-5", settings=inproc.settings)
    assert done.returncode == 1 and "must not be negative" in done.stderr
