"""The storage driver interface every backend implements.

Paths are relative, ``/``-separated keys (``blobs/sha256/ab/<hex>/data``).
A driver never interprets them beyond refusing path tricks.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator

from moorage.errors import StorageError


def check_key(key: str) -> str:
    """Refuse keys that could escape the store: absolute, empty parts, ``..``."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in key:
        raise StorageError(f"invalid storage key {key[:200]!r}")
    return key


class AppendWriter(abc.ABC):
    """Appends to an object from a known offset. The bytes are readable once ``close``
    returns, and durable (they survive a power cut) once ``move`` has placed the object."""

    offset: int

    @abc.abstractmethod
    async def write(self, data: bytes | bytearray) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def abort(self) -> None:
        """Stop writing; bytes past the offset last closed may be discarded."""


class StorageDriver(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    async def stat(self, key: str) -> int | None:
        """Size of the object at ``key``, or None when it does not exist."""

    @abc.abstractmethod
    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes (or to the end) from ``offset``; StorageNotFound if missing."""

    @abc.abstractmethod
    async def read_bytes(self, key: str) -> bytes: ...

    @abc.abstractmethod
    async def put_bytes(self, key: str, data: bytes) -> None:
        """Write a whole object atomically: readers see the old object or the new one."""

    @abc.abstractmethod
    async def open_append(self, key: str, offset: int) -> AppendWriter:
        """Open ``key`` for appending at ``offset``, discarding anything past it."""

    @abc.abstractmethod
    async def move(self, src: str, dst: str) -> None:
        """Atomically and durably make ``src``'s bytes visible at ``dst`` and remove ``src``."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete an object or every object under a prefix; missing is not an error."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> list[str]:
        """Keys of every object under ``prefix``."""

    def local_path(self, key: str) -> str | None:
        """A filesystem path the web server may send with sendfile, when the driver has one."""
        return None

    async def last_modified(self, prefix: str) -> float | None:
        """When an object at or under ``prefix`` last changed (Unix seconds, the newest),
        or None when there is none. GC ages uploads that have no row by it."""
        return None

    async def redirect_url(self, key: str) -> str | None:
        """A URL clients may fetch the object from directly (presigned), when supported."""
        return None

    @abc.abstractmethod
    async def check_health(self) -> None:
        """Raise when the store cannot be written and read."""


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])
