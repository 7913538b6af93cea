"""Appendable objects on stores whose objects are immutable: part objects.

An object store has no append, so ``open_append(key, offset)`` writes one new object
``<key>.parts/<offset, zero padded to 20 digits>`` per writer, streamed through opendal's
writer (multipart on S3 and Azure, so a 1 GiB PATCH is never held in memory). The object at
``key`` is the run of parts that follows on from offset 0 without a gap; a plain object at
``key`` itself wins over parts. Written by hand because no store offers this shape: it is
the smallest layout that keeps "resume at the recorded offset, discard what lies past it"
with nothing but whole-object writes, listings and deletes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import opendal
from opendal.file import AsyncFile

from moorage.errors import StorageError
from moorage.storage.base import AppendWriter

# opendal's exceptions share no base class but Exception: the ones a store call can raise.
OPENDAL_ERRORS: tuple[type[Exception], ...] = tuple(
    cls
    for name in dir(opendal.exceptions)
    if isinstance(cls := getattr(opendal.exceptions, name), type) and issubclass(cls, Exception)
)

PARTS_SUFFIX = ".parts"
_DIGITS = 20


def parts_dir(key: str) -> str:
    """The folder (opendal path, ``/``-terminated) holding ``key``'s parts."""
    return f"{key}{PARTS_SUFFIX}/"


def part_path(key: str, offset: int) -> str:
    return f"{parts_dir(key)}{offset:0{_DIGITS}d}"


def part_offset(name: str) -> int | None:
    """The offset a part's file name encodes; None for anything else in the folder."""
    if len(name) == _DIGITS and name.isascii() and name.isdigit():
        return int(name)
    return None


def owner_key(path: str) -> str:
    """The key a stored path belongs to: a part (or anything in a parts folder) belongs to
    the key before ``.parts``; any other path is its own key."""
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.endswith(PARTS_SUFFIX) and len(part) > len(PARTS_SUFFIX):
            return "/".join([*parts[:i], part[: -len(PARTS_SUFFIX)]])
    return path


@dataclass(frozen=True)
class Part:
    offset: int
    size: int
    path: str

    @property
    def end(self) -> int:
        return self.offset + self.size


def contiguous(parts: Iterable[Part]) -> list[Part]:
    """The parts that make the object: from offset 0, each starting where the last ended.
    A part past a gap is not part of it (a writer that never finished the bytes before)."""
    out: list[Part] = []
    end = 0
    for part in sorted(parts, key=lambda p: (p.offset, -p.size)):
        if part.offset != end:
            if part.offset > end:
                break
            continue  # overlapping leftovers: open_append removes them, never read them
        if part.size == 0 and out:
            continue
        out.append(part)
        end = part.end
    return out


class PartWriter(AppendWriter):
    """Writes one part object from ``offset``; the part exists once ``close`` returns.
    ``abort`` drops opendal's writer unclosed, so nothing becomes visible."""

    def __init__(self, op: opendal.AsyncOperator, key: str, offset: int, chunk: int | None):
        self._op = op
        self._path = part_path(key, offset)
        self._chunk = chunk
        self._file: AsyncFile | None = None
        self._done = False
        self.offset = offset
        self._start = offset

    async def _open(self) -> AsyncFile:
        if self._file is None:
            try:
                if self._chunk is None:
                    self._file = await self._op.open(self._path, "wb")
                else:
                    self._file = await self._op.open(self._path, "wb", chunk=self._chunk)
            except OPENDAL_ERRORS as exc:
                raise StorageError(f"cannot write {self._path}: {exc}") from exc
        return self._file

    async def write(self, data: bytes | bytearray) -> None:
        if self._done:
            raise StorageError(f"{self._path}: write after close")
        if not data:
            return
        file = await self._open()
        try:
            await file.write(bytes(data))
        except OPENDAL_ERRORS as exc:
            self._done = True
            self._file = None  # dropped unclosed: the store never shows it
            raise StorageError(f"cannot write {self._path}: {exc}") from exc
        self.offset += len(data)

    async def close(self) -> None:
        if self._done:
            return
        self._done = True
        if self._file is None and self._start > 0:
            return  # nothing written past a kept offset: no empty part needed
        file = await self._open()
        self._file = None
        try:
            await file.close()
        except OPENDAL_ERRORS as exc:
            raise StorageError(f"cannot write {self._path}: {exc}") from exc

    async def abort(self) -> None:
        self._done = True
        self._file = None
