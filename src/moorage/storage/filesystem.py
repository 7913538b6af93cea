"""Filesystem driver (also NFS). Crash-safe: whole objects are written to a temporary
name, fsynced and renamed into place, so a reader or a restart never sees a partial object.

Private: every folder it creates is mode 0700 and every file 0600 (blobs of private
repositories are nobody else's business on a shared machine), whatever the umask."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from moorage.errors import StorageError, StorageNotFound
from moorage.storage.base import AppendWriter, StorageDriver, check_key

_READ_CHUNK = 1 << 20
DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(path: Path) -> None:
    """``mkdir -p`` where every folder created gets mode 0700 (``os.makedirs`` gives the
    intermediate ones the umask's default)."""
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
    except FileNotFoundError:
        make_private_dirs(path.parent)
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not path.is_dir():
                raise


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _newest_mtime(base: Path) -> float | None:
    try:
        if base.is_file():
            return base.stat().st_mtime
        times = [
            os.stat(os.path.join(d, f)).st_mtime for d, _, files in os.walk(base) for f in files
        ]
        return max(times, default=base.stat().st_mtime if base.is_dir() else None)
    except FileNotFoundError:
        return None


_INLINE_WRITE = 256 * 1024  # larger writes go to a worker thread (os.write releases the GIL)


class _FileAppendWriter(AppendWriter):
    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self.offset = offset
        self._closed = False

    def _write_all(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    async def write(self, data: bytes | bytearray) -> None:
        if len(data) >= _INLINE_WRITE:
            await asyncio.to_thread(self._write_all, data)
        else:
            self._write_all(data)
        self.offset += len(data)

    async def close(self) -> None:
        # No fsync here: an upload's bytes are made durable once, when ``move`` places them.
        if not self._closed:
            self._closed = True
            os.close(self._fd)

    async def abort(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)


class FilesystemDriver(StorageDriver):
    name = "filesystem"

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root).resolve()
        make_private_dirs(self.root)
        self._fsync = fsync

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def stat(self, key: str) -> int | None:
        try:
            st = os.stat(self._path(key))
        except FileNotFoundError:
            return None
        return st.st_size if not os.path.isdir(self._path(key)) else None

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise StorageNotFound(key) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # O_RDONLY opens directories too
            os.close(fd)
            raise StorageNotFound(key)
        try:
            remaining = length
            pos = offset
            while remaining is None or remaining > 0:
                want = _READ_CHUNK if remaining is None else min(_READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(os.pread, fd, want, pos)
                if not chunk:
                    break
                pos += len(chunk)
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise StorageNotFound(key) from exc

    async def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        await asyncio.to_thread(self._put_sync, path, data)

    def _put_sync(self, path: Path, data: bytes) -> None:
        make_private_dirs(path.parent)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with open(fd, "wb") as f:
                f.write(data)
                if self._fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
            if self._fsync:
                _fsync_dir(path.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def open_append(self, key: str, offset: int) -> AppendWriter:
        path = self._path(key)
        make_private_dirs(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        try:
            size = os.fstat(fd).st_size
            if size < offset:
                raise StorageError(f"{key}: holds {size} bytes, cannot append at {offset}")
            if size > offset:
                os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return _FileAppendWriter(fd, offset)

    async def move(self, src: str, dst: str) -> None:
        src_path, dst_path = self._path(src), self._path(dst)
        if not src_path.is_file():
            raise StorageNotFound(src)
        make_private_dirs(dst_path.parent)
        if self._fsync:
            await asyncio.to_thread(self._durable_replace, src_path, dst_path)
        else:
            os.replace(src_path, dst_path)

    @staticmethod
    def _durable_replace(src: Path, dst: Path) -> None:
        """fsync the bytes, rename, fsync the directory: one trip to a worker thread."""
        _fsync_file(src)
        os.replace(src, dst)
        _fsync_dir(dst.parent)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():
            try:
                path.rmdir()  # the common case: an upload folder already emptied by move
            except OSError:
                await asyncio.to_thread(shutil.rmtree, path, True)
        else:
            path.unlink(missing_ok=True)

    async def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        out: list[str] = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".") and name.endswith(".tmp"):
                    continue
                out.append(os.path.relpath(os.path.join(dirpath, name), self.root))
        return sorted(out)

    async def last_modified(self, prefix: str) -> float | None:
        base = self._path(prefix)
        return await asyncio.to_thread(_newest_mtime, base)

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))

    async def check_health(self) -> None:
        probe = f"_health/{uuid.uuid4().hex}"
        try:
            await self.put_bytes(probe, b"ok")
            if await self.read_bytes(probe) != b"ok":
                raise StorageError("storage health probe read back different bytes")
        except OSError as exc:
            raise StorageError(f"storage unhealthy: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                self._path(probe).unlink(missing_ok=True)
