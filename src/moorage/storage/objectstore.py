"""The object-store driver: S3 (and S3-compatible stores), Azure Blob, GCS and Swift behind
one ``StorageDriver``, over an opendal ``AsyncOperator`` rooted at the configured prefix.

Library: OpenDAL's Python binding (``opendal`` 0.47). Measured on this project's machine at
114-118 MiB/s for a 32 MiB PUT against obstore's 27-41 MiB/s, and it reaches s3, azblob, gcs
and swift with one Operator API (obstore has no Swift), so one driver serves them all.

Objects are immutable and there is no append: appends are part objects
(moorage.storage.objectstore_parts). Readers see whole objects: ``put_bytes`` is one PUT, and
``move`` places its destination with one server-side copy (a plain object or a single part)
or one streamed write that the store makes visible only when it completes. opendal's binding
exposes no server-side compose (S3 UploadPartCopy, GCS compose, Azure Put Block From URL,
Swift SLO), so moving an upload made of several parts re-reads its bytes through this process
on every store; a single-PATCH or monolithic push (the clients' usual way) is one copy.
"""

from __future__ import annotations

import abc
import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar

import opendal
from opendal.exceptions import NotFound
from opendal.layers import RetryLayer
from opendal.types import Metadata

from moorage.errors import StorageError, StorageNotFound
from moorage.storage.base import AppendWriter, StorageDriver, check_key
from moorage.storage.objectstore_parts import (
    OPENDAL_ERRORS,
    PARTS_SUFFIX,
    Part,
    PartWriter,
    contiguous,
    owner_key,
    part_offset,
    part_path,
    parts_dir,
)

_READ_CHUNK = 1 << 20
_DELETE_BATCH = 16
_READ_RETRIES = 10
_COPY_MAX = 5 << 30  # S3's CopyObject limit; larger objects are streamed into a writer
T = TypeVar("T")
OSERRORS: tuple[type[Exception], ...] = (*OPENDAL_ERRORS, OSError)


class Renewal(abc.ABC):
    """Makes a new operator when credentials run out; ``due`` is a ``time.monotonic()``."""

    due: float

    @abc.abstractmethod
    async def renew(self) -> opendal.AsyncOperator: ...


def _reserved(key: str) -> str:
    """Refuse path tricks (``check_key``) and keys that would alias a parts folder."""
    check_key(key)
    if any(p.endswith(PARTS_SUFFIX) for p in key.split("/")):
        raise StorageError(f"invalid storage key {key[:200]!r}: {PARTS_SUFFIX} is reserved")
    return key


class ObjectStoreDriver(StorageDriver):
    """``chunk``: the writer's part size (S3/Azure multipart), None for one streamed upload
    (GCS: fake-gcs-server has no XML multipart API). ``redirect_seconds``: presigned GET
    redirects of that lifetime, or None to stream every blob through the registry.
    ``presign``: signs them (key, seconds) where opendal cannot (moorage.storage.azure_sas)."""

    def __init__(
        self,
        op: opendal.AsyncOperator,
        *,
        name: str,
        chunk: int | None = 8 << 20,
        redirect_seconds: int | None = None,
        renew: Renewal | None = None,
        presign: Callable[[str, int], str] | None = None,
    ) -> None:
        self.name = name
        self._presign = presign
        self._chunk = chunk
        self._redirect_seconds = redirect_seconds
        self._renew = renew
        self._use(op)

    def _use(self, op: opendal.AsyncOperator) -> None:
        # opendal's own retries for what the store calls temporary (500, 503, throttling).
        self._op = op.layer(RetryLayer(max_times=4, jitter=True, min_delay=0.05, max_delay=2.0))
        capability = op.capability()
        self._can_copy = capability.copy
        self._if_match = capability.read_with_if_match
        self._can_presign = capability.presign_read

    # ---- helpers ---------------------------------------------------------------------------

    async def _fresh(self) -> None:
        """A new operator before the old one's credentials expire (Swift tokens)."""
        if self._renew is not None and time.monotonic() >= self._renew.due:
            self._use(await self._renew.renew())

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except NotFound as exc:
            raise StorageNotFound(what) from exc
        except OSERRORS as exc:  # an opened file's reads raise OSError
            raise StorageError(f"{self.name}: {what}: {_short(exc)}") from exc

    async def _stat_plain(self, path: str) -> Metadata | None:
        try:
            meta = await self._op.stat(path)
        except NotFound:
            return None
        except OPENDAL_ERRORS as exc:
            raise StorageError(f"{self.name}: stat {path}: {_short(exc)}") from exc
        return None if meta.is_dir else meta

    async def _entries(self, folder: str) -> list[tuple[str, int]]:
        """Every object under ``folder`` (``/``-terminated), recursively: (path, size)."""

        async def listing() -> list[tuple[str, int]]:
            out: list[tuple[str, int]] = []
            async for entry in await self._op.list(folder, recursive=True):
                if entry.path.endswith("/"):
                    continue
                out.append((entry.path, entry.metadata.content_length))
            return out

        try:
            return await self._call(f"list {folder}", listing)
        except StorageNotFound:
            return []

    async def _parts(self, key: str) -> list[Part]:
        out: list[Part] = []
        for path, size in await self._entries(parts_dir(key)):
            offset = part_offset(path.rsplit("/", 1)[-1])
            if offset is not None and path.count("/") == key.count("/") + 1:
                out.append(Part(offset, size, path))
        return out

    async def _delete_paths(self, paths: list[str]) -> None:
        for i in range(0, len(paths), _DELETE_BATCH):
            batch = paths[i : i + _DELETE_BATCH]
            await asyncio.gather(
                *(self._call(f"delete {p}", partial(self._op.delete, p)) for p in batch)
            )

    async def _copy(self, src: str, dst: str, size: int) -> None:
        if self._can_copy and size <= _COPY_MAX:
            await self._call(f"copy {src} to {dst}", lambda: self._op.copy(src, dst))
        else:
            await self._stream_into(dst, [Part(0, size, src)], 0, size)

    async def _stream_into(self, dst: str, parts: list[Part], start: int, end: int) -> None:
        """One streamed write at ``dst`` of bytes [start, end) of ``parts``: visible whole,
        once the store completes it."""
        if self._chunk is None:
            file = await self._call(f"write {dst}", partial(self._op.open, dst, "wb"))
        else:
            opening = partial(self._op.open, dst, "wb", chunk=self._chunk)
            file = await self._call(f"write {dst}", opening)
        async for chunk in self._read_parts(parts, start, end, None):
            await self._call(f"write {dst}", partial(file.write, chunk))
        await self._call(f"write {dst}", file.close)

    async def _read_range(
        self, path: str, start: int, end: int, etag: str | None
    ) -> AsyncIterator[bytes]:
        if end <= start:
            return
        if etag is not None and self._if_match:
            opened = self._op.open(path, "rb", offset=start, size=end - start, if_match=etag)
        else:
            opened = self._op.open(path, "rb", offset=start, size=end - start)
        file = await self._call(f"read {path}", lambda: opened)
        try:
            remaining = end - start
            while remaining > 0:
                want = min(_READ_CHUNK, remaining)
                chunk = await self._call(f"read {path}", partial(file.read, want))
                if not chunk:
                    raise StorageError(f"{self.name}: {path} ended {remaining} bytes early")
                remaining -= len(chunk)
                yield chunk
        finally:
            await file.close()

    async def _read_parts(
        self, parts: list[Part], start: int, end: int, etag: str | None
    ) -> AsyncIterator[bytes]:
        for part in parts:
            lo, hi = max(start, part.offset), min(end, part.end)
            if lo < hi:
                ranged = self._read_range(part.path, lo - part.offset, hi - part.offset, etag)
                async for chunk in ranged:
                    yield chunk

    async def _layout(self, key: str) -> tuple[list[Part], str | None] | None:
        """What makes the object at ``key``: one plain object (with its ETag) or its parts."""
        meta = await self._stat_plain(key)
        if meta is not None:
            return [Part(0, meta.content_length, key)], meta.etag
        parts = contiguous(await self._parts(key))
        return (parts, None) if parts else None

    # ---- the interface ---------------------------------------------------------------------

    async def stat(self, key: str) -> int | None:
        _reserved(key)
        await self._fresh()
        layout = await self._layout(key)
        return None if layout is None else layout[0][-1].end

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        _reserved(key)
        await self._fresh()
        for attempt in range(_READ_RETRIES):
            layout = await self._layout(key)
            if layout is None:
                raise StorageNotFound(key)
            parts, etag = layout
            total = parts[-1].end
            start = min(offset, total)
            end = total if length is None else min(total, offset + length)
            sent = False
            try:
                async for chunk in self._read_parts(parts, start, end, etag):
                    sent = True
                    yield chunk
                return
            except StorageError:
                # Replaced between stat and read (If-Match failed, or a size that no longer
                # holds), a part moved away, a store's hiccup: read again from the new layout,
                # unless bytes were already sent.
                if sent or attempt == _READ_RETRIES - 1:
                    raise
                await asyncio.sleep(0.01 * attempt)

    async def read_bytes(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.read(key)])

    async def put_bytes(self, key: str, data: bytes) -> None:
        path = _reserved(key)
        await self._fresh()
        await self._call(f"write {path}", lambda: self._op.write(path, data))

    async def open_append(self, key: str, offset: int) -> AppendWriter:
        _reserved(key)
        await self._fresh()
        if offset < 0:
            raise StorageError(f"{key}: cannot append at {offset}")
        meta = await self._stat_plain(key)
        parts = await self._parts(key)
        if meta is not None:
            # A whole object (put_bytes, or a store's copy): its first ``offset`` bytes become
            # part 0, then it goes; until then it wins over any stale parts.
            if offset > meta.content_length:
                raise StorageError(
                    f"{key}: holds {meta.content_length} bytes, cannot append at {offset}"
                )
            await self._delete_paths([p.path for p in parts])
            if offset > 0:
                plain = Part(0, meta.content_length, key)
                await self._stream_into(part_path(key, 0), [plain], 0, offset)
            await self._call(f"delete {key}", lambda: self._op.delete(key))
            return PartWriter(self._op, key, offset, self._chunk)
        run = contiguous(parts)
        size = run[-1].end if run else 0
        if offset > size:
            raise StorageError(f"{key}: holds {size} bytes, cannot append at {offset}")
        straddling = [p for p in run if p.offset < offset < p.end]
        await self._delete_paths([p.path for p in parts if p.offset >= offset])
        for part in straddling:
            await self._trim(key, part, offset)
        return PartWriter(self._op, key, offset, self._chunk)

    async def _trim(self, key: str, part: Part, end: int) -> None:
        """Keep bytes [part.offset, end) of a part: copied aside, then back over it, so the
        part is never read and rewritten at once."""
        scratch = f"{parts_dir(key)}trim-{uuid.uuid4().hex}"
        await self._stream_into(scratch, [part], part.offset, end)
        try:
            if self._can_copy:
                await self._call(f"copy {scratch}", lambda: self._op.copy(scratch, part.path))
            else:
                kept = Part(part.offset, end - part.offset, scratch)
                await self._stream_into(part.path, [kept], part.offset, end)
        finally:
            await self._delete_paths([scratch])

    async def move(self, src: str, dst: str) -> None:
        _reserved(src)
        _reserved(dst)
        await self._fresh()
        meta = await self._stat_plain(src)
        if meta is not None:
            await self._copy(src, dst, meta.content_length)
            await self._call(f"delete {src}", lambda: self._op.delete(src))
            return
        parts = await self._parts(src)
        run = contiguous(parts)
        if not run:
            raise StorageNotFound(src)
        if len(run) == 1:
            await self._copy(run[0].path, dst, run[0].size)
        else:
            await self._stream_into(dst, run, 0, run[-1].end)
        await self._delete_paths([p for p, _ in await self._entries(parts_dir(src))])

    async def delete(self, key: str) -> None:
        _reserved(key)
        await self._fresh()
        await self._call(f"delete {key}", lambda: self._op.delete(key))
        paths = [p for p, _ in await self._entries(f"{key}/")]
        paths += [p for p, _ in await self._entries(parts_dir(key))]
        await self._delete_paths(paths)

    async def list(self, prefix: str) -> list[str]:
        _reserved(prefix)
        await self._fresh()
        keys = {owner_key(path) for path, _ in await self._entries(f"{prefix}/")}
        if await self._layout(prefix) is not None:
            keys.add(prefix)
        return sorted(keys)

    async def last_modified(self, prefix: str) -> float | None:
        _reserved(prefix)
        await self._fresh()

        async def newest() -> float | None:
            found: float | None = None
            for folder in (f"{prefix}/", parts_dir(prefix)):
                try:
                    listing = await self._op.list(folder, recursive=True)
                except NotFound:
                    continue
                async for entry in listing:
                    when = entry.metadata.last_modified
                    if when is not None and (found is None or when.timestamp() > found):
                        found = when.timestamp()
            meta = await self._stat_plain(prefix)
            if meta is not None and meta.last_modified is not None:
                found = max(found or 0.0, meta.last_modified.timestamp())
            return found

        return await self._call(f"list {prefix}", newest)

    async def redirect_url(self, key: str) -> str | None:
        _reserved(key)
        await self._fresh()
        if self._redirect_seconds is not None and self._presign is not None:
            return self._presign(key, self._redirect_seconds)
        if self._redirect_seconds is None or not self._can_presign:
            return None
        ttl = self._redirect_seconds
        request = await self._call(f"presign {key}", lambda: self._op.presign_read(key, ttl))
        if request.method != "GET" or request.headers:
            return None  # a URL a client cannot fetch as it is
        return request.url

    async def check_health(self) -> None:
        await self._fresh()
        probe = f"_health/{uuid.uuid4().hex}"
        try:
            await self.put_bytes(probe, b"ok")
            if await self.read_bytes(probe) != b"ok":
                raise StorageError(f"{self.name}: health probe read back different bytes")
        finally:
            try:
                await self._op.delete(probe)
            except OPENDAL_ERRORS as exc:
                raise StorageError(
                    f"{self.name}: cannot delete health probe: {_short(exc)}"
                ) from exc


def _short(exc: BaseException) -> str:
    """opendal's message up to its context and backtrace (they name the bucket and URI, which
    belong in debug logs, not in errors a client may see)."""
    text = str(exc).split("\n", 1)[0].split(", context:", 1)[0]
    return text[:300]
