"""Online GC against a push caught at its worst moment, forced deterministically in-process
(as tests/registry/test_upload_races.py does): a gate in the storage driver holds the push right
after it decided what to do with the bytes, GC runs to the end, then the push goes on. Whatever
the interleaving, a push that is acknowledged has its bytes; otherwise it is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from moorage.db import tables as t
from moorage.errors import BlobUploadInvalid, ManifestBlobUnknown
from moorage.oci.digest import Digest
from moorage.registry import blobs, gc, manifests, uploads
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key
from moorage.storage.filesystem import FilesystemDriver
from tests.jobs.helpers import registry_context
from tests.registry.pushing import OCI_MANIFEST, manifest_for

TIMEOUT = 20.0
NOW = gc.GcOptions(grace=dt.timedelta(0))


class GatedDriver(FilesystemDriver):
    """Holds the next call of ``method`` whose key starts with a prefix, until released."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self._gates: dict[tuple[str, str], tuple[asyncio.Event, asyncio.Event]] = {}

    def hold(self, method: str, prefix: str) -> tuple[asyncio.Event, asyncio.Event]:
        gate = (asyncio.Event(), asyncio.Event())
        self._gates[(method, prefix)] = gate
        return gate

    async def _gate(self, method: str, key: str) -> None:
        for (m, prefix), gate in list(self._gates.items()):
            if m == method and key.startswith(prefix):
                del self._gates[(m, prefix)]
                gate[0].set()
                await asyncio.wait_for(gate[1].wait(), TIMEOUT)

    async def delete(self, key: str) -> None:
        await self._gate("delete", key)
        await super().delete(key)

    async def stat(self, key: str) -> int | None:
        await self._gate("stat", key)
        return await super().stat(key)


@pytest.fixture()
async def ctx(
    db_kind: str, database_factory: Callable[[], str | None], tmp_path: Path
) -> AsyncIterator[RegistryContext]:
    async with registry_context(
        database_factory(), tmp_path, GatedDriver(tmp_path / "storage")
    ) as ctx:
        yield ctx


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _push(ctx: RegistryContext, name: str, data: bytes) -> Digest:
    digest = Digest.of(data)
    await uploads.monolithic(ctx, name, digest, _body(data), content_length=len(data))
    return digest


async def _blob_row(ctx: RegistryContext, digest: Digest) -> Any:
    async with ctx.db.read() as conn:
        return (await conn.execute(select(t.blobs).where(t.blobs.c.digest == str(digest)))).first()


def _driver(ctx: RegistryContext) -> GatedDriver:
    assert isinstance(ctx.storage, GatedDriver)
    return ctx.storage


async def test_push_that_skipped_its_move_is_refused_when_gc_took_the_bytes(
    ctx: RegistryContext,
) -> None:
    data = os.urandom(4096)
    digest = await _push(ctx, "race/a", data)
    await blobs.unlink(ctx, "race/a", digest)  # garbage now

    # A second push finds the row and the bytes, so it keeps the stored bytes and drops its own;
    # hold it right there, before its transaction.
    reached, release = _driver(ctx).hold("delete", "uploads/")
    push = asyncio.create_task(_push(ctx, "race/b", data))
    await asyncio.wait_for(reached.wait(), TIMEOUT)
    report = await gc.collect(ctx, NOW)
    assert report.blobs_deleted == 1 and report.files_deleted == 1
    assert await ctx.storage.stat(blob_key(digest)) is None
    release.set()
    with pytest.raises(BlobUploadInvalid):
        await asyncio.wait_for(push, TIMEOUT)
    assert await _blob_row(ctx, digest) is None, "a row pointing at deleted bytes"

    # The client pushes again: its own bytes are placed and kept.
    await _push(ctx, "race/b", data)
    assert await ctx.storage.read_bytes(blob_key(digest)) == data
    assert await blobs.stat(ctx, "race/b", digest)
    await gc.collect(ctx, gc.GcOptions())  # inside the grace period: kept
    assert await ctx.storage.read_bytes(blob_key(digest)) == data


async def test_push_between_row_and_bytes_deletion_keeps_the_bytes(ctx: RegistryContext) -> None:
    data = os.urandom(4096)
    digest = await _push(ctx, "race/a", data)
    await blobs.unlink(ctx, "race/a", digest)
    report = gc.GcReport()
    await gc._links(ctx, NOW, report, gc._quiet, gc._never)
    await gc._blobs(ctx, NOW, report, gc._quiet, gc._never)
    assert report.blobs_deleted == 1
    assert await _blob_row(ctx, digest) is None
    assert await ctx.storage.stat(blob_key(digest)) == len(data)  # tombstone pending

    await _push(ctx, "race/b", data)  # takes the blob back
    async with ctx.db.read() as conn:
        tombs = list(await conn.execute(select(t.gc_blob_tombstones)))
    assert tombs == []
    report = gc.GcReport()
    await gc._bytes(ctx, NOW, report, gc._quiet, gc._never)  # the phase that deletes bytes
    assert report.files_deleted == 0
    assert await ctx.storage.read_bytes(blob_key(digest)) == data


async def test_manifest_push_racing_the_link_sweep_is_refused(ctx: RegistryContext) -> None:
    name = "race/m"
    config, layer = b'{"race":"manifest"}', os.urandom(2048)
    for blob in (config, layer):
        await _push(ctx, name, blob)
    body = manifest_for(config, [layer])
    # Validation passed; hold the push before it writes its bytes and its rows.
    reached, release = _driver(ctx).hold("stat", blob_key(Digest.of(body)))
    put = asyncio.create_task(manifests.put(ctx, name, "v1", body, OCI_MANIFEST))
    await asyncio.wait_for(reached.wait(), TIMEOUT)
    report = await gc.collect(ctx, NOW)
    assert report.links_deleted == 2
    release.set()
    with pytest.raises(ManifestBlobUnknown):
        await asyncio.wait_for(put, TIMEOUT)
    async with ctx.db.read() as conn:
        assert list(await conn.execute(select(t.manifests.c.id))) == []


async def test_dry_run_deletes_nothing(ctx: RegistryContext) -> None:
    data = os.urandom(1024)
    digest = await _push(ctx, "dry/a", data)
    await blobs.unlink(ctx, "dry/a", digest)
    report = await gc.collect(ctx, gc.GcOptions(dry_run=True, grace=NOW.grace))
    assert report.blobs_deleted == 1 and report.blob_bytes_deleted == len(data)
    assert await _blob_row(ctx, digest) is not None
    assert await ctx.storage.read_bytes(blob_key(digest)) == data
