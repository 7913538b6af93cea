"""Layer inventories read at the same time (``engine_layers``): bounded by ``readers()``, each
blob read once even when the manifest lists it twice, a failure naming the lowest failed layer
and cancelling the other reads, the layers read before it left in the cache."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from moorage.errors import LayerInvalid
from moorage.oci.digest import Digest
from moorage.oci.manifest import Descriptor
from moorage.registry.scan_on_push import LAYER_TYPES
from moorage.scanning import engine_layers
from moorage.scanning.catalog import default_catalog
from moorage.storage.base import StorageDriver
from tests.auth.creds_helpers import app_services
from tests.inprocess import InProcessApp, running_app
from tests.scanning import engine_images as ei
from tests.scanning.inventory.layer_tars import compress, layer

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class SlowStorage(ei.CountingStorage):
    """Counts reads, and how many blobs are being read at once (each chunk waits a little)."""

    def __init__(self, inner: StorageDriver) -> None:
        super().__init__(inner)
        self.active = self.most = 0

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        self.active += 1
        self.most = max(self.most, self.active)
        try:
            async for chunk in super().read(key, offset, length):
                await asyncio.sleep(0.05)
                yield chunk
        finally:
            self.active -= 1


@pytest.fixture()
async def app(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    async with running_app(tmp_path / "data", database_factory(), job_workers=0) as running:
        yield running


def _descriptors(digests: list[str], blobs: list[bytes]) -> list[Descriptor]:
    assert GZIP_LAYER in LAYER_TYPES
    return [
        Descriptor(GZIP_LAYER, Digest.parse(d), len(b)) for d, b in zip(digests, blobs, strict=True)
    ]


async def test_layers_are_read_at_once_bounded_and_once_each(
    app: InProcessApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = [ei.debian_base(), ei.application(), layer(ei.dist_info("zipp", "3.19.1"))]
    async with app.client() as c:
        pushed = await ei.push_image(c, "admin/many", "v1", blobs)
    services = app_services(app)
    storage = SlowStorage(services.registry.storage)
    descriptors = _descriptors(pushed.layers, blobs)
    monkeypatch.setattr(engine_layers, "MAX_READERS", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert engine_layers.readers() == 2
    seen: list[str] = []

    async def note(message: str) -> None:
        seen.append(message)

    catalog = default_catalog()
    listed_twice = [*descriptors, descriptors[0]]
    got = await engine_layers.inventories(
        services.db, storage, listed_twice, catalog, note=note, stop=lambda: False
    )
    assert storage.most == 2  # two at a time, never three
    assert all(n == 1 for n in storage.reads.values()) and len(storage.reads) == 3
    assert (got.read, got.cached, got.foreign) == (3, 1, 0)
    assert [d for d, _ in got.inventories] == [*pushed.layers, pushed.layers[0]]
    assert got.inventories[0][1] is got.inventories[3][1]
    assert sorted(m.split("): ")[0] + ")" for m in seen) == [
        f"layer {i} of 4 ({d})" for i, d in enumerate(pushed.layers, 1)
    ]
    # Read one at a time, the same inventories.
    monkeypatch.setattr(engine_layers, "MAX_READERS", 1)
    async with services.db.write() as conn:
        await conn.execute(engine_layers.L.delete())
    one = await engine_layers.inventories(
        services.db, storage, listed_twice, catalog, note=note, stop=lambda: False
    )
    assert one.inventories == got.inventories


async def test_a_failed_layer_is_named_and_stops_the_others(app: InProcessApp) -> None:
    corrupt = compress(b"\x00" * 600, "gzip")[:-8] + b"garbage!"
    blobs = [ei.debian_base(), corrupt, ei.application(), compress(b"\x01" * 600, "gzip")]
    async with app.client() as c:
        pushed = await ei.push_image(c, "admin/broken", "v1", blobs)
    services = app_services(app)
    storage = SlowStorage(services.registry.storage)

    async def note(message: str) -> None:
        return None

    with pytest.raises(LayerInvalid) as caught:
        await engine_layers.inventories(
            services.db,
            storage,
            _descriptors(pushed.layers, blobs),
            default_catalog(),
            note=note,
            stop=lambda: False,
        )
    # Layers 2 and 4 are both unreadable: the lower one is named.
    assert caught.value.message.startswith(f"layer 2 of 4 ({pushed.layers[1]}): gzip layer is")
    assert storage.active == 0  # every read closed, none left running
    cached = await engine_layers.cached(services.db, pushed.layers, default_catalog().version)
    assert pushed.layers[1] not in cached and pushed.layers[3] not in cached
