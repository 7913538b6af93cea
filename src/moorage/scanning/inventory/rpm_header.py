"""An rpm header blob, as the rpm database stores one per installed package.

Hand-written from rpm's file format documentation (``docs/manual/format.md``) and the
semantics of ``lib/header.c`` (``hdrblobInit`` / ``headerImport``): no maintained Python
library reads header blobs without linking librpm. The blob is

    il (uint32 BE)   number of index entries        (at most 0xffff, as rpm's HEADER_TAGS_MAX)
    dl (uint32 BE)   bytes in the data store        (at most 256 MiB, as rpm's HEADER_DATA_MAX)
    il entries of {tag int32, type uint32, offset int32, count uint32}   (big-endian)
    dl bytes of data

Every entry is checked before it is read: a known type, an offset inside the data store, the
type's alignment, the count's bytes (or strings, NUL-terminated) inside the store; a bad entry
makes the whole header unreadable (``ValueError``), as ``hdrblobVerifyInfo`` does. The region
entries (tags 61-63) are bookkeeping and skipped; a tag that occurs again later (a "dribble"
entry added after install) replaces the earlier value, as in ``headerImport``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_TAGS_MAX = 0xFFFF
HEADER_DATA_MAX = 0x0FFFFFFF

# Tag types (rpmTagType)
NULL, CHAR, INT8, INT16, INT32, INT64, STRING, BIN, STRING_ARRAY, I18NSTRING = range(10)
_SIZES = {CHAR: 1, INT8: 1, INT16: 2, INT32: 4, INT64: 8, BIN: 1}
_STRUCT = {INT16: ">H", INT32: ">I", INT64: ">Q"}

# Tags (rpmTag)
REGION_TAGS = frozenset({61, 62, 63})
SIGMD5 = 261
NAME = 1000
VERSION = 1001
RELEASE = 1002
EPOCH = 1003
SUMMARY = 1004
SIZE = 1009
VENDOR = 1011
LICENSE = 1014
ARCH = 1022
SOURCERPM = 1044
LONGSIZE = 5009
MODULARITYLABEL = 5096
WANTED = frozenset(
    {SIGMD5, NAME, VERSION, RELEASE, EPOCH, SUMMARY, SIZE, VENDOR, LICENSE, ARCH, SOURCERPM}
    | {LONGSIZE, MODULARITYLABEL}
)

Value = str | list[str] | list[int] | bytes


@dataclass(frozen=True)
class RpmHeader:
    """The decoded entries of one header (only the tags the inventory uses)."""

    values: dict[int, Value]

    def string(self, tag: int) -> str | None:
        value = self.values.get(tag)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and isinstance(value[0], str):
            return value[0]  # an I18NSTRING: the first is the C locale's
        return None

    def integer(self, tag: int) -> int | None:
        value = self.values.get(tag)
        if isinstance(value, list) and value and isinstance(value[0], int):
            return value[0]
        return None

    def binary(self, tag: int) -> bytes | None:
        value = self.values.get(tag)
        return value if isinstance(value, bytes) else None


def parse_header(blob: bytes, wanted: frozenset[int] = WANTED) -> RpmHeader:
    """Decode a header blob; ``ValueError`` says what is wrong with a damaged one."""
    if len(blob) < 8:
        raise ValueError(f"rpm header of {len(blob)} bytes is too short")
    il, dl = struct.unpack_from(">II", blob, 0)
    if not 1 <= il <= HEADER_TAGS_MAX:
        raise ValueError(f"rpm header has {il} index entries")
    if dl > HEADER_DATA_MAX:
        raise ValueError(f"rpm header claims {dl} bytes of data")
    start = 8 + 16 * il
    if len(blob) < start + dl:
        raise ValueError(f"rpm header is cut short: {len(blob)} bytes of {start + dl}")
    values: dict[int, Value] = {}
    for i in range(il):
        tag, kind, offset, count = struct.unpack_from(">iIiI", blob, 8 + 16 * i)
        _check_bounds(tag, kind, offset, dl)
        if tag in wanted and tag not in REGION_TAGS:
            values[tag] = _value(blob, start, dl, tag, kind, offset, count)
    return RpmHeader(values)


def _check_bounds(tag: int, kind: int, offset: int, dl: int) -> None:
    if kind > I18NSTRING:
        raise ValueError(f"rpm header tag {tag} has unknown type {kind}")
    if offset < 0 or offset > dl:
        raise ValueError(f"rpm header tag {tag} points outside its data (offset {offset})")


def _value(blob: bytes, start: int, dl: int, tag: int, kind: int, offset: int, count: int) -> Value:
    """The value of one entry; ``start`` is where the data store begins in ``blob``."""
    if count == 0 or count > dl:
        raise ValueError(f"rpm header tag {tag} has count {count}")
    end_of_data = start + dl
    if kind in (STRING, STRING_ARRAY, I18NSTRING):
        if kind == STRING and count != 1:
            raise ValueError(f"rpm header string tag {tag} has count {count}")
        strings: list[str] = []
        pos = start + offset
        for _ in range(count):
            end = blob.find(b"\x00", pos, end_of_data)
            if end < 0:
                raise ValueError(f"rpm header tag {tag} has an unterminated string")
            strings.append(blob[pos:end].decode("utf-8", "replace"))
            pos = end + 1
        return strings[0] if kind == STRING else strings
    size = _SIZES.get(kind)
    if size is None:  # NULL
        raise ValueError(f"rpm header tag {tag} has no value")
    if offset % size:
        raise ValueError(f"rpm header tag {tag} is not aligned (offset {offset})")
    if offset + size * count > dl:
        raise ValueError(f"rpm header tag {tag} runs past its data")
    chunk = blob[start + offset : start + offset + size * count]
    if kind == BIN:
        return chunk
    if kind in (CHAR, INT8):
        return list(chunk)
    return [v for (v,) in struct.iter_unpack(_STRUCT[kind], chunk)]
