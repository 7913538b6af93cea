"""Each layer's inventory for a scan: from the cache (``scan_layers``), else its blob read once.

The cache is keyed by the layer digest and the catalog's version (``catalog.Catalog.version``):
a layer shared by a thousand images is read once per set of analysers, and all the cached layers
of an image are fetched in one statement. A layer that is not cached is read by
``inventory.layers.read_layer`` in a child process at idle CPU priority (``engine_process``: the
blob's path for the filesystem driver, else the driver's chunks streamed through a pipe), so the
scan takes no CPU that requests want and escapes this process's GIL; or, with ``child=False``,
in a worker thread of this process, streamed from the driver (``StorageDriver.read``, the same
reader a pull uses) one chunk at a time (``_BlobStream``). Either way the layer is never held in
memory and the event loop keeps serving. The layers of an image that are not cached are read at
the same time, one per core and at most ``MAX_READERS`` (``readers()``); the largest start first,
and a layer that fails cancels the reads of the layers above it (those below finish: the lowest
failed layer is named, whatever the timing). Each inventory is stored as soon
as its layer is read (zlib-compressed JSON; ``size`` is the stored inventory's size), in a short
transaction of its own, so the layers read before a failure stay cached.

Foreign (non-distributable) layers are not in the registry and are not read: they take an empty
inventory, which keeps every other layer at its position in the image. A layer whose media type
is not a file-system tar, whose blob is missing from storage, or that cannot be read as a tar
(``LayerInvalid``: corrupt, truncated, unsafe paths) fails the scan with the layer named.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, cast

from sqlalchemy import and_, select

from moorage.db import scan_result_tables as sr
from moorage.db.engine import Database, utcnow
from moorage.errors import LayerInvalid, MoorageError, ScanError
from moorage.oci.digest import Digest
from moorage.oci.manifest import Descriptor
from moorage.registry.layout import blob_key
from moorage.registry.scan_on_push import LAYER_TYPES, is_foreign
from moorage.scanning.catalog import Catalog
from moorage.scanning.engine_process import ScanStopped, read_in_child
from moorage.scanning.inventory.layers import LayerInventory, read_layer
from moorage.storage.base import StorageDriver

Note = Callable[[str], Awaitable[None]]
StopAsked = Callable[[], bool]
L = sr.scan_layers
MAX_READERS = 4


@dataclass(frozen=True, slots=True)
class LayersRead:
    inventories: list[tuple[str, LayerInventory]]  # in the manifest's order, foreign ones empty
    read: int  # blobs read from storage
    cached: int  # inventories taken from the cache
    foreign: int


def check_layer_types(layers: Sequence[Descriptor]) -> None:
    """ScanError when a layer is not a file-system tar (an artifact's blobs are not)."""
    for index, layer in enumerate(layers):
        if not is_foreign(layer) and layer.media_type not in LAYER_TYPES:
            raise ScanError(
                f"layer {index + 1} ({layer.digest}) has the media type {layer.media_type!r}:"
                " not a file-system layer"
            )


class _BlobStream(io.RawIOBase):
    """The driver's async chunks as the sync stream ``read_layer`` takes, in a worker thread:
    each read the chunk before has not satisfied waits for the next one from the event loop."""

    def __init__(
        self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop, stop: StopAsked
    ) -> None:
        self._chunks = chunks
        self._loop = loop
        self._stop = stop
        self._pending = memoryview(b"")
        self.cancelled = False
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            if self.cancelled or self._stop():
                raise ScanStopped()
            chunk = asyncio.run_coroutine_threadsafe(_next(self._chunks), self._loop).result()
            if not chunk:
                return 0
            self._pending = memoryview(chunk)
            self.bytes_read += len(chunk)
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


async def _next(chunks: AsyncIterator[bytes]) -> bytes:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return b""


async def _close(chunks: AsyncIterator[bytes]) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


async def read_blob(
    storage: StorageDriver, digest: str, catalog: Catalog, stop: StopAsked, *, child: bool = True
) -> tuple[LayerInventory, str]:
    """Stream one layer blob from ``storage`` through the catalog's analysers: in a child
    process at idle priority (``engine_process``), or with ``child=False`` in a thread of this
    one; the inventory, and how it was read (for the job's log)."""
    key = blob_key(Digest.parse(digest))
    if await storage.stat(key) is None:
        raise ScanError(f"the layer {digest} is missing from storage")
    if child:
        read = await read_in_child(storage, key, catalog, stop)
        where = f"in a child process at {read.priority} priority, {read.cpu_seconds:.2f} CPU-s"
        return read.inventory, where
    return await _read_in_thread(storage, key, catalog, stop), "in a thread"


async def _read_in_thread(
    storage: StorageDriver, key: str, catalog: Catalog, stop: StopAsked
) -> LayerInventory:
    chunks = storage.read(key)
    stream = _BlobStream(chunks, asyncio.get_running_loop(), stop)
    source = cast(IO[bytes], stream)
    reading = asyncio.ensure_future(
        asyncio.to_thread(read_layer, source, catalog.analyzers, catalog.fact_finders)
    )
    try:
        return await asyncio.shield(reading)
    except asyncio.CancelledError:
        stream.cancelled = True  # the thread stops at its next read; wait for it
        with contextlib.suppress(BaseException):
            await reading
        raise
    finally:
        await _close(chunks)


def encode(inventory: LayerInventory) -> bytes:
    return zlib.compress(json.dumps(inventory.to_dict(), separators=(",", ":")).encode(), 6)


def decode(data: bytes) -> LayerInventory:
    loaded: dict[str, Any] = json.loads(zlib.decompress(data))
    return LayerInventory.from_dict(loaded)


async def cached(db: Database, digests: Sequence[str], version: str) -> dict[str, LayerInventory]:
    """The cached inventories of ``digests`` (an entry that no longer decodes is left out)."""
    found: dict[str, LayerInventory] = {}
    wanted = sorted(set(digests))
    async with db.read() as conn:
        for start in range(0, len(wanted), 500):
            rows = await conn.execute(
                select(L.c.layer_digest, L.c.inventory).where(
                    and_(
                        L.c.analyzers == version, L.c.layer_digest.in_(wanted[start : start + 500])
                    )
                )
            )
            for row in rows:
                with contextlib.suppress(ValueError, KeyError, TypeError, zlib.error):
                    found[row.layer_digest] = decode(bytes(row.inventory))
    return found


async def store(db: Database, digest: str, version: str, inventory: LayerInventory) -> None:
    data = encode(inventory)
    async with db.write() as conn:
        await conn.execute(
            db.insert(L)
            .values(
                layer_digest=digest,
                analyzers=version,
                inventory=data,
                size=len(data),
                scanned_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["layer_digest", "analyzers"])
        )


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def readers() -> int:
    """Layers read at once: one per core, at most ``MAX_READERS``."""
    return max(1, min(os.cpu_count() or 1, MAX_READERS))


async def _read_one(
    db: Database,
    storage: StorageDriver,
    layer: Descriptor,
    label: str,
    catalog: Catalog,
    note: Note,
    stop: StopAsked,
    child: bool,
) -> LayerInventory:
    digest = str(layer.digest)
    if stop():
        raise ScanStopped()
    started = time.monotonic()
    try:
        inventory, where = await read_blob(storage, digest, catalog, stop, child=child)
    except LayerInvalid as exc:
        raise LayerInvalid(f"{label}: {exc.message}") from exc
    except ScanError:
        raise
    except MoorageError as exc:  # a storage error while reading
        raise ScanError(f"{label}: {exc.message}") from exc
    await store(db, digest, catalog.version, inventory)
    await note(
        f"{label}: read {_size(layer.size)} in {time.monotonic() - started:.1f}s"
        f" ({where}), {len(inventory.files)} files of interest"
    )
    return inventory


async def _read_all(
    db: Database,
    storage: StorageDriver,
    wanted: dict[str, tuple[int, Descriptor]],
    count: int,
    catalog: Catalog,
    note: Note,
    stop: StopAsked,
    child: bool,
) -> dict[str, LayerInventory]:
    """The blobs of ``wanted`` (digest → first position, descriptor), ``readers()`` at a time.
    A failure cancels the reads of the layers above it; those below it finish, and the lowest
    failed layer is the one named."""
    gate = asyncio.Semaphore(readers())

    async def one(index: int, layer: Descriptor) -> LayerInventory:
        async with gate:
            label = f"layer {index + 1} of {count} ({layer.digest})"
            return await _read_one(db, storage, layer, label, catalog, note, stop, child)

    biggest_first = sorted(wanted.items(), key=lambda item: -item[1][1].size)
    tasks = {digest: asyncio.ensure_future(one(*item)) for digest, item in biggest_first}
    try:
        pending: set[asyncio.Future[LayerInventory]] = set(tasks.values())
        failures: list[tuple[int, BaseException]] = []
        while pending:
            await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            failures = [
                (wanted[digest][0], error)
                for digest, task in tasks.items()
                if task.done() and not task.cancelled() and (error := task.exception()) is not None
            ]
            lowest = min((index for index, _ in failures), default=count)
            # After a failure, the reads of higher layers stop; lower ones finish (one of them
            # may fail too, and is named then, whatever the timing).
            for digest, task in tasks.items():
                if wanted[digest][0] > lowest:
                    task.cancel()
            pending = {t for d, t in tasks.items() if not t.done() and wanted[d][0] < lowest}
        if failures:
            raise min(failures, key=lambda failure: failure[0])[1]
        return {digest: task.result() for digest, task in tasks.items()}
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def inventories(
    db: Database,
    storage: StorageDriver,
    layers: Sequence[Descriptor],
    catalog: Catalog,
    *,
    note: Note,
    stop: StopAsked,
    child: bool = True,
) -> LayersRead:
    """Every layer's inventory, in order (see the module's documentation); ``child``: each
    uncached layer read in a child process at idle priority, else in a thread."""
    check_layer_types(layers)
    have = await cached(db, [str(d.digest) for d in layers if not is_foreign(d)], catalog.version)
    wanted: dict[str, tuple[int, Descriptor]] = {}
    for index, layer in enumerate(layers):
        digest = str(layer.digest)
        if not is_foreign(layer) and digest not in have and digest not in wanted:
            wanted[digest] = (index, layer)
    if wanted:
        have.update(await _read_all(db, storage, wanted, len(layers), catalog, note, stop, child))
    out: list[tuple[str, LayerInventory]] = []
    foreign = 0
    for index, layer in enumerate(layers):
        digest = str(layer.digest)
        if is_foreign(layer):
            foreign += 1
            out.append((digest, LayerInventory(participants=catalog.participants())))
            label = f"layer {index + 1} of {len(layers)} ({digest})"
            await note(f"{label}: foreign, not in this registry: not scanned")
            continue
        out.append((digest, have[digest]))
    return LayersRead(out, len(wanted), len(layers) - foreign - len(wanted), foreign)
