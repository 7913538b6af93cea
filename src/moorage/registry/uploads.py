"""Blob uploads: the hottest path (DESIGN.md §3).

Each request appending to an upload reads the upload row (offset, saved hash
state) in a short transaction, claims a lease, streams its body into the
hasher and the store with no transaction open, then saves the new offset and
hash state. Any process can take the next chunk, and finishing never re-reads
the bytes when the digest is sha256 (the hash state already holds the answer).
Storage first, metadata last: the blob row appears only after its bytes are at
their content address. Every step answers with an ``UploadProgress`` (repository, upload
id, offset), and a refused chunk carries one in its ``RangeInvalid``: the /v2 edge writes
them as ``Location``, ``Range`` and ``Docker-Upload-UUID``; nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, delete, or_, select, update

from moorage.db import tables as t
from moorage.db.engine import Connection, utcnow
from moorage.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RangeInvalid,
    SizeInvalid,
    UploadProgress,
)
from moorage.oci.digest import Digest
from moorage.oci.names import validate_name
from moorage.registry import blobs, repositories, upload_limits
from moorage.registry.context import RegistryContext
from moorage.registry.hashstate import ResumableHash
from moorage.registry.layout import blob_key, upload_key, upload_prefix
from moorage.storage.base import AppendWriter

LEASE = dt.timedelta(seconds=60)
_RENEW_EVERY = 20.0  # seconds between lease renewals while a body streams in
_HASH = "sha256"


def _valid_upload_id(upload_id: str) -> str:
    try:
        return str(uuid.UUID(upload_id))
    except ValueError as exc:
        raise BlobUploadUnknown(detail={"uuid": upload_id[:100]}) from exc


async def start(
    ctx: RegistryContext, name: str, account_id: int | None = None, account: str | None = None
) -> UploadProgress:
    """Open an upload for ``account_id`` (refused past the account's limit of open uploads)."""
    validate_name(name)
    upload_id = str(uuid.uuid4())
    now = utcnow()
    limit = ctx.settings.upload_limit_per_account
    async with ctx.db.write() as conn:
        await upload_limits.check_open(conn, account_id, limit, account or "the account")
        await conn.execute(
            t.uploads.insert().values(
                account_id=account_id,
                id=upload_id,
                repository=name,
                offset=0,
                hash_algorithm=_HASH,
                hash_state=ResumableHash(_HASH).state,
                created_at=now,
                updated_at=now,
            )
        )
    return UploadProgress(name, upload_id, 0)


async def _row(conn: Connection, name: str, upload_id: str) -> Row[Any]:
    row = (
        await conn.execute(
            select(t.uploads).where(
                and_(t.uploads.c.id == upload_id, t.uploads.c.repository == name)
            )
        )
    ).first()
    if row is None:
        raise BlobUploadUnknown(detail={"uuid": upload_id})
    return row


async def status(ctx: RegistryContext, name: str, upload_id: str) -> UploadProgress:
    upload_id = _valid_upload_id(upload_id)
    async with ctx.db.read() as conn:
        row = await _row(conn, name, upload_id)
    return UploadProgress(name, upload_id, int(row.offset))


class _Sink:
    """Hashes and stores a body in batches, in worker threads (both release the GIL), while
    the event loop keeps receiving the next batch: hashing, writing and receiving overlap."""

    BATCH = 1024 * 1024

    def __init__(self, hasher: ResumableHash, writer: AppendWriter) -> None:
        self._hasher = hasher
        self._writer = writer
        self._buffer = bytearray()
        self._inflight: asyncio.Future[Any] | None = None

    async def _consume(self, data: bytearray) -> None:
        await asyncio.gather(asyncio.to_thread(self._hasher.update, data), self._writer.write(data))

    SMALL = 64 * 1024

    async def _submit(self, data: bytearray) -> None:
        if self._inflight is not None:
            await self._inflight
        self._inflight = asyncio.ensure_future(self._consume(data))

    def _take(self) -> bytearray:
        """Hand the filled buffer over (no copy) and start a new one."""
        data, self._buffer = self._buffer, bytearray()
        return data

    async def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) >= self.BATCH:
            await self._submit(self._take())

    async def drain(self) -> None:
        """Everything fed so far is hashed and written."""
        if self._inflight is None and 0 < len(self._buffer) <= self.SMALL:
            # A small body (config, small layer): cheaper here than two thread hand-offs.
            data = self._take()
            self._hasher.update(data)
            await self._writer.write(data)
            return
        if self._buffer:
            await self._submit(self._take())
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            await inflight

    async def settle(self) -> None:
        """Wait out a batch still in a thread (before the writer closes), ignoring its outcome."""
        if self._inflight is not None:
            with contextlib.suppress(BaseException):
                await self._inflight
            self._inflight = None


def parse_content_range(value: str) -> tuple[int, int]:
    """``start-end`` (inclusive), as the distribution spec writes it; ``bytes=`` tolerated."""
    raw = value.strip()
    for prefix in ("bytes=", "bytes "):
        if raw.startswith(prefix):
            raw = raw[len(prefix) :]
    raw = raw.split("/", 1)[0]
    start_s, sep, end_s = raw.partition("-")
    if not sep or not start_s.isdigit() or not end_s.isdigit():
        raise RangeInvalid("malformed Content-Range", detail={"Content-Range": value[:100]})
    start_i, end_i = int(start_s), int(end_s)
    if end_i < start_i:
        raise RangeInvalid("Content-Range ends before it starts", detail={"Content-Range": value})
    return start_i, end_i


@dataclass(slots=True)
class _Received:
    token: str  # the lease this request holds on the upload
    hasher: ResumableHash
    start: int  # offset the body was appended at
    end: int  # offset after it


async def _receive(
    ctx: RegistryContext,
    name: str,
    upload_id: str,
    body: AsyncIterator[bytes],
    content_range: tuple[int, int] | None,
    content_length: int | None,
) -> _Received:
    """Claim the upload, stream the body into the hasher and the store, close the store.

    On success the caller holds the lease (``token``); on failure nothing was recorded
    and the lease is released."""
    writer_token = str(uuid.uuid4())
    async with ctx.db.write() as conn:
        row = await _row(conn, name, upload_id)
        offset = int(row.offset)
        if content_range is not None and content_range[0] != offset:
            raise RangeInvalid(
                f"chunk starts at {content_range[0]}, upload is at {offset}",
                upload=UploadProgress(name, upload_id, offset),
            )
        if (
            content_range is not None
            and content_length is not None
            and content_range[1] - content_range[0] + 1 != content_length
        ):
            raise RangeInvalid(
                "Content-Range and Content-Length disagree",
                upload=UploadProgress(name, upload_id, offset),
            )
        if not await _claim(conn, upload_id, offset, writer_token):
            raise RangeInvalid(
                "another request is writing to this upload",
                upload=UploadProgress(name, upload_id, offset),
            )
        hasher = ResumableHash(row.hash_algorithm, row.hash_state)

    received = 0
    done = False
    writer = await ctx.storage.open_append(upload_key(upload_id), offset)
    sink = _Sink(hasher, writer)
    try:
        last_renew = time.monotonic()
        async for chunk in body:
            if not chunk:
                continue
            await sink.feed(chunk)
            received += len(chunk)
            if time.monotonic() - last_renew > _RENEW_EVERY:
                await _renew(ctx, upload_id, writer_token)
                last_renew = time.monotonic()
        await sink.drain()
        if content_length is not None and received != content_length:
            raise SizeInvalid(
                f"received {received} bytes, Content-Length said {content_length}",
            )
        if content_range is not None and received != content_range[1] - content_range[0] + 1:
            raise RangeInvalid(
                f"received {received} bytes, Content-Range said "
                f"{content_range[1] - content_range[0] + 1}",
                upload=UploadProgress(name, upload_id, offset),
            )
        await writer.close()
        done = True
        return _Received(writer_token, hasher, offset, offset + received)
    finally:
        if not done:
            await sink.settle()
            await writer.abort()
            await _release(ctx, upload_id, writer_token)


async def append(
    ctx: RegistryContext,
    name: str,
    upload_id: str,
    body: AsyncIterator[bytes],
    *,
    content_range: tuple[int, int] | None = None,
    content_length: int | None = None,
) -> UploadProgress:
    """Append a request body to the upload; nothing is recorded unless the whole body arrived."""
    upload_id = _valid_upload_id(upload_id)
    got = await _receive(ctx, name, upload_id, body, content_range, content_length)
    saved_ok = False
    try:
        async with ctx.db.write() as conn:
            saved = await conn.execute(
                update(t.uploads)
                .where(and_(t.uploads.c.id == upload_id, t.uploads.c.writer == got.token))
                .values(
                    offset=got.end,
                    hash_state=got.hasher.state,
                    writer=None,
                    lease_until=None,
                    updated_at=utcnow(),
                )
            )
            if saved.rowcount == 0:
                raise BlobUploadInvalid("upload lease lost while writing; retry the chunk")
        saved_ok = True
        return UploadProgress(name, upload_id, got.end)
    finally:
        if not saved_ok:
            await _release(ctx, upload_id, got.token)


async def complete(
    ctx: RegistryContext,
    name: str,
    upload_id: str,
    digest: Digest,
    body: AsyncIterator[bytes],
    *,
    content_range: tuple[int, int] | None = None,
    content_length: int | None = None,
) -> blobs.BlobInfo:
    """``PUT ?digest=`` with a final body: append it and finish under one lease, without
    saving the intermediate offset (two transactions fewer than PATCH then PUT)."""
    upload_id = _valid_upload_id(upload_id)
    got = await _receive(ctx, name, upload_id, body, content_range, content_length)
    finished = False
    try:
        if digest.algorithm == got.hasher.algorithm:
            actual = got.hasher.hexdigest()
        else:
            actual = await blobs.rehash(ctx, upload_key(upload_id), digest.algorithm)
        if actual != digest.hex:
            await cancel(ctx, name, upload_id)
            finished = True  # nothing left to release
            raise DigestInvalid(
                detail={"expected": str(digest), "actual": f"{digest.algorithm}:{actual}"}
            )
        info = await _place(ctx, name, upload_id, digest, got.end, upload_row=True)
        finished = True
        return info
    finally:
        if not finished:
            await _release(ctx, upload_id, got.token)


async def _claim(conn: Connection, upload_id: str, offset: int, token: str) -> bool:
    """Take the upload's lease, unless another request holds it or moved the offset since
    ``offset`` was read (on PostgreSQL another transaction may commit in between)."""
    now = utcnow()
    claimed = await conn.execute(
        update(t.uploads)
        .where(
            and_(
                t.uploads.c.id == upload_id,
                t.uploads.c.offset == offset,
                or_(t.uploads.c.writer.is_(None), t.uploads.c.lease_until < now),
            )
        )
        .values(writer=token, lease_until=now + LEASE)
    )
    return bool(claimed.rowcount)


async def _renew(ctx: RegistryContext, upload_id: str, token: str) -> None:
    async with ctx.db.write() as conn:
        await conn.execute(
            update(t.uploads)
            .where(and_(t.uploads.c.id == upload_id, t.uploads.c.writer == token))
            .values(lease_until=utcnow() + LEASE)
        )


async def _release(ctx: RegistryContext, upload_id: str, token: str) -> None:
    async with ctx.db.write() as conn:
        await conn.execute(
            update(t.uploads)
            .where(and_(t.uploads.c.id == upload_id, t.uploads.c.writer == token))
            .values(writer=None, lease_until=None)
        )


async def finish(ctx: RegistryContext, name: str, upload_id: str, digest: Digest) -> blobs.BlobInfo:
    """Verify digest and size, move the bytes to their content address, then link the blob."""
    upload_id = _valid_upload_id(upload_id)
    token = str(uuid.uuid4())
    async with ctx.db.write() as conn:
        row = await _row(conn, name, upload_id)
        # Hold the lease while the bytes are checked and moved: a PATCH arriving now must not
        # write into the file that is about to become the content-addressed blob.
        if not await _claim(conn, upload_id, int(row.offset), token):
            raise BlobUploadInvalid("upload is still being written")
    finished = False
    try:
        info = await _finish_claimed(ctx, name, upload_id, digest, row)
        finished = True
        return info
    finally:
        if not finished:
            await _release(ctx, upload_id, token)


async def _finish_claimed(
    ctx: RegistryContext, name: str, upload_id: str, digest: Digest, row: Row[Any]
) -> blobs.BlobInfo:
    offset = int(row.offset)
    key = upload_key(upload_id)
    stored = await ctx.storage.stat(key)
    if offset == 0 and stored is None:
        await ctx.storage.put_bytes(key, b"")
        stored = 0
    if stored is None or stored < offset:
        raise BlobUploadInvalid(
            "upload data is missing from storage", detail={"expected": offset, "found": stored}
        )
    if digest.algorithm == row.hash_algorithm:
        actual = ResumableHash(row.hash_algorithm, row.hash_state).hexdigest()
    else:
        if stored > offset:  # bytes of a request that never completed
            writer = await ctx.storage.open_append(key, offset)
            await writer.close()
        actual = await blobs.rehash(ctx, key, digest.algorithm)
    if actual != digest.hex:
        await cancel(ctx, name, upload_id)
        raise DigestInvalid(
            detail={"expected": str(digest), "actual": f"{digest.algorithm}:{actual}"}
        )
    if stored > offset:
        writer = await ctx.storage.open_append(key, offset)
        await writer.close()
    return await _place(ctx, name, upload_id, digest, offset, upload_row=True)


async def _place(
    ctx: RegistryContext,
    name: str,
    upload_id: str,
    digest: Digest,
    size: int,
    *,
    upload_row: bool,
) -> blobs.BlobInfo:
    """Put verified upload bytes at their content address (unless already there), then record
    the blob and its link in one transaction: storage first, metadata last."""
    target = blob_key(digest)
    async with ctx.db.read() as conn:
        present = await blobs.known_size(conn, str(digest))
    if present is None or await ctx.storage.stat(target) != present:
        await ctx.storage.move(upload_key(upload_id), target)
    await ctx.storage.delete(upload_prefix(upload_id))
    async with ctx.db.write() as conn:
        repository_id = await repositories.ensure_in(ctx.db, conn, name)
        await blobs.link(ctx.db, conn, repository_id, str(digest), size)
        await blobs.revive(ctx, conn, digest, size)  # meets online GC (registry/gc.py)
        if upload_row:
            await conn.execute(delete(t.uploads).where(t.uploads.c.id == upload_id))
    return blobs.BlobInfo(digest, size, target)


async def monolithic(
    ctx: RegistryContext,
    name: str,
    digest: Digest,
    body: AsyncIterator[bytes],
    *,
    content_length: int | None,
) -> blobs.BlobInfo:
    """``POST ?digest=`` with the whole blob: no upload row, one transaction at the end."""
    validate_name(name)
    upload_id = str(uuid.uuid4())
    hasher = ResumableHash(digest.algorithm)
    writer = await ctx.storage.open_append(upload_key(upload_id), 0)
    sink = _Sink(hasher, writer)
    received = 0
    placed = False
    try:
        async for chunk in body:
            if chunk:
                await sink.feed(chunk)
                received += len(chunk)
        await sink.drain()
        if content_length is not None and received != content_length:
            raise SizeInvalid(f"received {received} bytes, Content-Length said {content_length}")
        await writer.close()
        actual = hasher.hexdigest()
        if actual != digest.hex:
            raise DigestInvalid(
                detail={"expected": str(digest), "actual": f"{digest.algorithm}:{actual}"}
            )
        info = await _place(ctx, name, upload_id, digest, received, upload_row=False)
        placed = True
        return info
    finally:
        if not placed:
            await sink.settle()
            await writer.abort()
            await ctx.storage.delete(upload_prefix(upload_id))


async def cancel(ctx: RegistryContext, name: str, upload_id: str) -> None:
    upload_id = _valid_upload_id(upload_id)
    async with ctx.db.write() as conn:
        await _row(conn, name, upload_id)
        await conn.execute(delete(t.uploads).where(t.uploads.c.id == upload_id))
    await ctx.storage.delete(upload_prefix(upload_id))
