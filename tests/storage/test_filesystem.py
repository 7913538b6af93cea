"""The filesystem driver: the shared driver suite, plus what only a filesystem has."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import cast

import pytest

from moorage.errors import StorageError
from moorage.storage.base import StorageDriver, read_all
from moorage.storage.filesystem import FilesystemDriver
from tests.storage.driver_suite import BAD_KEYS, DriverSuite, payload


def _all_files(root: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _dirs, files in os.walk(root)
        for f in files
    )


class TestFilesystemDriver(DriverSuite):
    @pytest.fixture
    def driver(self, tmp_path: Path) -> StorageDriver:
        return FilesystemDriver(tmp_path / "store")


class TestFilesystemDriverWithoutFsync(DriverSuite):
    """``fsync=False`` (tests, tmpfs) must behave the same."""

    @pytest.fixture
    def driver(self, tmp_path: Path) -> StorageDriver:
        return FilesystemDriver(tmp_path / "store", fsync=False)


@pytest.fixture
def fs(tmp_path: Path) -> FilesystemDriver:
    return FilesystemDriver(tmp_path / "store")


def test_root_is_created_and_resolved(tmp_path: Path) -> None:
    d = FilesystemDriver(tmp_path / "a" / ".." / "b" / "store")
    assert d.root == (tmp_path / "b" / "store").resolve()
    assert d.root.is_dir()


async def test_put_leaves_no_temporary_files(fs: FilesystemDriver) -> None:
    for i in range(10):
        await fs.put_bytes("blobs/sha256/ab/abc/data", payload(10_000 + i, seed=i))
        await fs.put_bytes(f"other/{i}", b"x")
    files = _all_files(fs.root)
    assert not [f for f in files if f.endswith(".tmp")], files
    assert "blobs/sha256/ab/abc/data" in files


async def test_failed_put_leaves_no_temporary_file(
    fs: FilesystemDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fs.put_bytes("p/data", b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        await fs.put_bytes("p/data", b"new")
    monkeypatch.undo()
    assert _all_files(fs.root) == ["p/data"]
    assert await fs.read_bytes("p/data") == b"old"


async def test_leftover_temporary_files_are_not_listed(fs: FilesystemDriver) -> None:
    """A crash between write and rename leaves ``.<name>.<uuid>.tmp``; nobody may see it."""
    await fs.put_bytes("blobs/sha256/ab/abc/data", b"complete")
    stray = fs.root / "blobs/sha256/ab/abc/.data.0123456789abcdef.tmp"
    stray.write_bytes(b"half")
    assert await fs.list("blobs") == ["blobs/sha256/ab/abc/data"]
    assert await fs.read_bytes("blobs/sha256/ab/abc/data") == b"complete"


async def test_local_path(fs: FilesystemDriver) -> None:
    data = payload(5000)
    await fs.put_bytes("blobs/sha256/ab/abc/data", data)
    local = fs.local_path("blobs/sha256/ab/abc/data")
    assert local is not None
    assert Path(local) == fs.root / "blobs/sha256/ab/abc/data"
    assert Path(local).read_bytes() == data
    # A path for a key not yet written is still inside the root (sendfile needs the real file).
    missing = fs.local_path("blobs/none/data")
    assert missing is not None and Path(missing).is_relative_to(fs.root)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_local_path_refuses_path_tricks(fs: FilesystemDriver, key: str) -> None:
    with pytest.raises(StorageError):
        fs.local_path(key)


async def test_append_writes_the_file_in_place(fs: FilesystemDriver) -> None:
    w = await fs.open_append("uploads/u/data", 0)
    await w.write(b"abc")
    # Appended bytes land in the upload file itself (visible size grows as written).
    assert (fs.root / "uploads/u/data").stat().st_size == 3
    await w.close()


async def test_everything_stays_under_the_root(tmp_path: Path, fs: FilesystemDriver) -> None:
    """Everything the driver writes stays under its root."""
    before = set(_all_files(tmp_path))
    await fs.put_bytes("x/y/data", b"1")
    w = await fs.open_append("u/1/data", 0)
    await w.write(b"2")
    await w.close()
    await fs.move("u/1/data", "x/z/data")
    await fs.check_health()
    added = set(_all_files(tmp_path)) - before
    assert added == {"store/x/y/data", "store/x/z/data"}


async def test_read_is_lazy_and_closes_its_file(fs: FilesystemDriver) -> None:
    data = payload(3 * (1 << 20))
    await fs.put_bytes("big", data)
    fds_before = len(os.listdir("/proc/self/fd"))
    stream = cast(AsyncGenerator[bytes, None], fs.read("big"))  # an async generator
    first = await stream.__anext__()
    assert first == data[: len(first)]
    await stream.aclose()  # a client that disconnects mid-download
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert await read_all(fs.read("big", 5, 5)) == data[5:10]


async def test_check_health_reports_a_broken_store(fs: FilesystemDriver) -> None:
    # The probe goes under ``_health/``; a file in its place makes every probe write fail.
    (fs.root / "_health").write_bytes(b"in the way")
    with pytest.raises(StorageError):
        await fs.check_health()


async def test_folders_and_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Blobs of private repositories are nobody else's: folders 0700, files 0600, even when
    the process's umask would give others read access (mkdir -p's parents included)."""
    old = os.umask(0o022)
    try:
        driver = FilesystemDriver(tmp_path / "a" / "b" / "store")
        await driver.put_bytes("blobs/sha256/ab/abcd/data", b"whole")
        writer = await driver.open_append("uploads/u1/data", 0)
        await writer.write(b"part")
        await writer.close()
        await driver.move("uploads/u1/data", "blobs/sha256/cd/cdef/data")
        await driver.put_bytes("uploads/u2/data", b"")
    finally:
        os.umask(old)
    modes = {}
    for dirpath, dirnames, filenames in os.walk(tmp_path / "a"):
        for name in (*dirnames, *filenames):
            path = Path(dirpath, name)
            modes[str(path.relative_to(tmp_path))] = oct(path.stat().st_mode & 0o777)
    assert modes and {m for p, m in modes.items() if Path(tmp_path, p).is_dir()} == {"0o700"}
    assert {m for p, m in modes.items() if Path(tmp_path, p).is_file()} == {"0o600"}
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o700
