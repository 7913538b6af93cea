"""Requests racing on one upload (two replicas, a retrying or misbehaving client).

These drive ``moorage.registry.uploads`` in-process against a real database so the
interleavings can be forced deterministically: a gate in the storage driver or around
the upload-row read holds one request at the exact point where another slips in.
Whatever the interleaving, an acknowledged chunk is never lost and a blob at its
content address always holds exactly the bytes that hash to it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from moorage.config import Settings
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.errors import BlobUploadInvalid, BlobUploadUnknown, RegistryError
from moorage.oci.digest import Digest
from moorage.registry import blobs, uploads
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key, upload_key
from moorage.storage.base import read_all
from moorage.storage.filesystem import FilesystemDriver

TIMEOUT = 20.0


class GatedDriver(FilesystemDriver):
    """A filesystem driver that can hold the next ``stat`` of one key until released."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self._gates: dict[str, tuple[asyncio.Event, asyncio.Event]] = {}

    def hold_stat(self, key: str) -> tuple[asyncio.Event, asyncio.Event]:
        """Returns (reached, release)."""
        gate = (asyncio.Event(), asyncio.Event())
        self._gates[key] = gate
        return gate

    async def stat(self, key: str) -> int | None:
        gate = self._gates.pop(key, None)
        if gate is not None:
            gate[0].set()
            await asyncio.wait_for(gate[1].wait(), TIMEOUT)
        return await super().stat(key)


@pytest.fixture()
async def ctx(
    db_kind: str,
    database_factory: Callable[[], str | None],
    tmp_path: Path,
) -> AsyncIterator[RegistryContext]:
    url = database_factory() or f"sqlite:///{tmp_path / 'moorage.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    settings = Settings(data=tmp_path)
    try:
        yield RegistryContext(db=db, storage=GatedDriver(tmp_path / "storage"), settings=settings)
    finally:
        await db.close()


async def _body(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _settle(*tasks: asyncio.Task[Any]) -> list[Any]:
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), TIMEOUT)


async def test_patch_racing_put_cannot_corrupt_the_blob(ctx: RegistryContext) -> None:
    """PUT (finish) checked the upload and is about to move its bytes; a PATCH arrives.

    The PATCH must not be able to write into the file that becomes the content-addressed
    blob: either the PATCH is refused, or the PUT is.
    """
    assert isinstance(ctx.storage, GatedDriver)
    name = "race/finish"
    data = os.urandom(200_000)
    digest = Digest.of(data)
    state = await uploads.start(ctx, name)
    await uploads.append(ctx, name, state.upload_id, _body(data))

    reached, release = ctx.storage.hold_stat(upload_key(state.upload_id))
    finish = asyncio.create_task(uploads.finish(ctx, name, state.upload_id, digest))
    await asyncio.wait_for(reached.wait(), TIMEOUT)  # PUT is past its checks

    writing, resume = asyncio.Event(), asyncio.Event()

    async def late_body() -> AsyncIterator[bytes]:
        yield b"A" * 10_000
        writing.set()
        await asyncio.wait_for(resume.wait(), TIMEOUT)
        yield b"B" * 10_000

    patch = asyncio.create_task(uploads.append(ctx, name, state.upload_id, late_body()))
    # Let the PATCH either fail at once or get into the middle of its body.
    waiter = asyncio.create_task(writing.wait())
    await asyncio.wait({patch, waiter}, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    release.set()
    (finished,) = await _settle(finish)
    resume.set()
    (patched,) = await _settle(patch)

    for result in (finished, patched):
        if isinstance(result, BaseException):
            assert isinstance(result, RegistryError), repr(result)
    assert isinstance(finished, BaseException) or isinstance(patched, BaseException), (
        "both the PUT and the PATCH succeeded"
    )
    if not isinstance(finished, BaseException):
        assert finished.size == len(data)
        stored = await ctx.storage.read_bytes(blob_key(digest))
        assert len(stored) == len(data), "a late PATCH wrote into the committed blob"
        assert stored == data
        info = await blobs.stat(ctx, name, digest)
        assert info.size == len(data)


async def test_put_while_patch_streams_is_refused(ctx: RegistryContext) -> None:
    """The PATCH holds the upload; a PUT in the middle is refused and the PATCH completes."""
    name = "race/put-mid-patch"
    first = os.urandom(50_000)
    state = await uploads.start(ctx, name)
    writing, resume = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield first[:25_000]
        writing.set()
        await asyncio.wait_for(resume.wait(), TIMEOUT)
        yield first[25_000:]

    patch = asyncio.create_task(uploads.append(ctx, name, state.upload_id, slow_body()))
    await asyncio.wait_for(writing.wait(), TIMEOUT)
    with pytest.raises(BlobUploadInvalid):
        await uploads.finish(ctx, name, state.upload_id, Digest.of(first[:25_000]))
    resume.set()
    (patched,) = await _settle(patch)
    assert not isinstance(patched, BaseException), repr(patched)
    assert patched.offset == len(first)
    info = await uploads.finish(ctx, name, state.upload_id, Digest.of(first))
    assert await ctx.storage.read_bytes(info.key) == first


async def test_two_patches_at_the_same_offset(
    ctx: RegistryContext, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PATCH read the upload row, then another PATCH for the same offset ran to completion.

    The first may not then claim the upload with its stale offset: that would truncate the
    acknowledged chunk away (and its saved hash state with it).
    """
    if ctx.db.is_sqlite:
        pytest.skip("SQLite write transactions are serialized: nothing runs between read and claim")
    name = "race/stale"
    state = await uploads.start(ctx, name)
    first, second = os.urandom(30_000), os.urandom(30_000)

    original_row = uploads._row
    reached, release = asyncio.Event(), asyncio.Event()
    held = False

    async def gated_row(conn: Any, repo: str, upload_id: str) -> Any:
        nonlocal held
        row = await original_row(conn, repo, upload_id)
        if not held:
            held = True
            reached.set()
            await asyncio.wait_for(release.wait(), TIMEOUT)
        return row

    monkeypatch.setattr(uploads, "_row", gated_row)
    stale = asyncio.create_task(
        uploads.append(
            ctx,
            name,
            state.upload_id,
            _body(second),
            content_range=(0, len(second) - 1),
            content_length=len(second),
        )
    )
    await asyncio.wait_for(reached.wait(), TIMEOUT)
    done = await uploads.append(
        ctx,
        name,
        state.upload_id,
        _body(first),
        content_range=(0, len(first) - 1),
        content_length=len(first),
    )
    assert done.offset == len(first)
    release.set()
    (result,) = await _settle(stale)
    monkeypatch.undo()

    assert isinstance(result, BlobUploadInvalid), f"stale PATCH was accepted: {result!r}"
    status = await uploads.status(ctx, name, state.upload_id)
    assert status.offset == len(first)
    assert (await read_all(ctx.storage.read(upload_key(state.upload_id))))[: len(first)] == first
    info = await uploads.finish(ctx, name, state.upload_id, Digest.of(first))
    assert await ctx.storage.read_bytes(info.key) == first


async def test_finish_twice(ctx: RegistryContext) -> None:
    """A retried PUT after success finds no upload; the blob is untouched."""
    name = "race/twice"
    data = os.urandom(10_000)
    state = await uploads.start(ctx, name)
    await uploads.append(ctx, name, state.upload_id, _body(data))
    info = await uploads.finish(ctx, name, state.upload_id, Digest.of(data))
    with pytest.raises(BlobUploadUnknown):
        await uploads.finish(ctx, name, state.upload_id, Digest.of(data))
    with pytest.raises(BlobUploadUnknown):
        await uploads.append(ctx, name, state.upload_id, _body(b"more"))
    assert await ctx.storage.read_bytes(info.key) == data
