"""Layers read in a child process (``engine_process``): at idle CPU priority where the OS allows
it, the same inventory as a read in a thread (from a file path and through a pipe), the same
failure for a broken layer, and a stop that leaves no child behind."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from moorage.errors import LayerInvalid, StorageNotFound
from moorage.oci.digest import Digest
from moorage.registry.layout import blob_key
from moorage.scanning import engine_layers, engine_process
from moorage.scanning.catalog import default_catalog
from moorage.storage.base import StorageDriver
from moorage.storage.filesystem import FilesystemDriver
from tests.scanning import engine_images as ei
from tests.scanning.inventory.layer_tars import File, compress, layer

LINUX_IDLE = sys.platform == "linux" and hasattr(os, "SCHED_IDLE")


def _never() -> bool:
    return False


async def _stored(storage: StorageDriver, blob: bytes) -> str:
    digest = Digest.of(blob)
    await storage.put_bytes(blob_key(digest), blob)
    return str(digest)


def _drivers(tmp_path: Path) -> tuple[StorageDriver, StorageDriver]:
    """The filesystem driver (the child opens the blob's path) and the same store behind a
    driver without local paths (the blob's bytes go through a pipe)."""
    fs = FilesystemDriver(tmp_path / "store", fsync=False)
    piped = ei.CountingStorage(fs)
    assert fs.local_path("blobs/x") is not None and piped.local_path("blobs/x") is None
    return fs, piped


def test_a_process_lowers_its_priority_as_far_as_the_os_allows() -> None:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got = pool.apply(engine_process.lower_priority)
    assert got in ("idle", "nice 19", "normal")
    if LINUX_IDLE:  # any process may move itself to SCHED_IDLE on Linux
        assert got == "idle"


def _alpine_zstd() -> bytes:
    return layer(File("etc/alpine-release", b"3.18.4\n"), compression="zstd")


@pytest.mark.parametrize(
    "blob", [ei.debian_base, ei.application, _alpine_zstd], ids=["dpkg", "languages", "zstd"]
)
async def test_a_layer_read_in_a_child_is_the_one_read_in_a_thread(
    tmp_path: Path, blob: Callable[[], bytes]
) -> None:
    data = blob()
    catalog = default_catalog()
    for storage in _drivers(tmp_path):
        digest = await _stored(storage, data)
        in_thread, where = await engine_layers.read_blob(
            storage, digest, catalog, _never, child=False
        )
        assert where == "in a thread"
        in_child, where = await engine_layers.read_blob(storage, digest, catalog, _never)
        assert in_child == in_thread and in_child.files, where
        assert where.startswith("in a child process at ")
        if LINUX_IDLE:
            assert " at idle priority" in where
    assert not multiprocessing.active_children()


async def test_the_child_runs_at_idle_priority_and_says_its_cpu(tmp_path: Path) -> None:
    storage, _ = _drivers(tmp_path)
    digest = await _stored(storage, ei.debian_base())
    key = blob_key(Digest.parse(digest))
    read = await engine_process.read_in_child(storage, key, default_catalog(), _never)
    assert read.cpu_seconds >= 0
    assert read.priority == ("idle" if LINUX_IDLE else read.priority)
    assert read.inventory.files


async def test_a_broken_layer_fails_in_a_child_as_in_a_thread(tmp_path: Path) -> None:
    corrupt = compress(b"\x00" * 600, "gzip")[:-8] + b"garbage!"
    catalog = default_catalog()
    for storage in _drivers(tmp_path):
        digest = await _stored(storage, corrupt)
        with pytest.raises(LayerInvalid) as in_thread:
            await engine_layers.read_blob(storage, digest, catalog, _never, child=False)
        with pytest.raises(LayerInvalid) as in_child:
            await engine_layers.read_blob(storage, digest, catalog, _never)
        assert in_child.value.message == in_thread.value.message
    assert not multiprocessing.active_children()


async def test_a_stop_kills_the_child(tmp_path: Path) -> None:
    files = [
        File(f"usr/lib/python3/dist-packages/p{i}/x.py", os.urandom(64 << 10)) for i in range(64)
    ]
    big = layer(*files)
    for storage in _drivers(tmp_path):
        digest = await _stored(storage, big)
        with pytest.raises(engine_process.ScanStopped):
            await engine_layers.read_blob(storage, digest, default_catalog(), lambda: True)
        assert not multiprocessing.active_children()


async def test_a_blob_gone_before_the_child_opens_it_is_missing_from_storage(
    tmp_path: Path,
) -> None:
    storage, _ = _drivers(tmp_path)
    key = blob_key(Digest.of(b"never stored"))
    with pytest.raises(StorageNotFound):
        await engine_process.read_in_child(storage, key, default_catalog(), _never)
    assert not multiprocessing.active_children()


def test_a_large_answer_arrives_whole_under_uvloop(tmp_path: Path) -> None:
    """The serving processes run uvloop, whose watch of the answer's pipe makes it non-blocking:
    an inventory larger than the pipe's buffer must still be read whole."""
    uvloop = pytest.importorskip("uvloop")
    blob = layer(*(ei.dist_info(f"package-{i}", f"1.{i}.0") for i in range(1500)))
    storage, _ = _drivers(tmp_path)

    async def both() -> tuple[object, object]:
        digest = await _stored(storage, blob)
        catalog = default_catalog()
        in_thread, _ = await engine_layers.read_blob(storage, digest, catalog, _never, child=False)
        in_child, _ = await engine_layers.read_blob(storage, digest, catalog, _never)
        return in_thread, in_child

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        in_thread, in_child = runner.run(both())
    assert in_child == in_thread
    assert len(pickle.dumps(in_child)) > 1 << 16  # more than a pipe holds at once
