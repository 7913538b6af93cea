"""The values of a Berkeley DB hash file: rpm's ``Packages`` before rpm 4.16 (RHEL/CentOS ≤ 8).

Read by hand, read-only and bounded, from Berkeley DB's on-disk layout (``db_page.h``:
``DBMETA`` / ``HMETA``, ``PAGE``, ``HOFFPAGE``; the same facts go-rpmdb's ``pkg/bdb`` reads).
Two libraries were considered: ``bsddb3`` / ``berkeleydb`` link Oracle's libdb (a C library
opening attacker-supplied files, and AGPL since 6.0); ``dissect.database`` (pure Python) follows
page chains without a visited set or a progress check, so a crafted file with an overflow page of
length 0 loops for ever, a cycle with a large claimed length allocates up to 4 GiB, and a bucket
chain cycle ends in a RecursionError; it has no type information either. The part rpm needs is
small: every hash page's key/value pairs, and a value's chain of overflow pages.

Pages are visited in file order (as go-rpmdb does), so no bucket arithmetic is trusted; every
overflow chain visits distinct pages and must add up to the length its entry claims.
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from typing import IO

HASH_MAGIC = 0x00061561
P_HASH_UNSORTED = 2
P_OVERFLOW = 7
P_HASHMETA = 8
P_HASH = 13
H_KEYDATA = 1
H_OFFPAGE = 3
PAGE_HEADER = 26
CHECKSUM_SIZE = 20
DBMETA_CHKSUM = 0x01
PAGE_SIZES = frozenset(1 << n for n in range(9, 17))


def is_bdb_hash(head: bytes) -> bool:
    if len(head) < 16:
        return False
    magic_le, magic_be = (
        struct.unpack_from("<I", head, 12)[0],
        struct.unpack_from(">I", head, 12)[0],
    )
    return HASH_MAGIC in (magic_le, magic_be)


def bdb_values(file: IO[bytes], size: int) -> Generator[bytes, None, None]:
    """Every value stored in the hash database in ``file`` (``size`` bytes long)."""
    file.seek(0)
    meta = file.read(512)
    if not is_bdb_hash(meta):
        raise ValueError("not a Berkeley DB hash database")
    order = "<" if struct.unpack_from("<I", meta, 12)[0] == HASH_MAGIC else ">"
    page_size = struct.unpack_from(order + "I", meta, 20)[0]
    encrypted, page_type, meta_flags = meta[24], meta[25], meta[26]
    last_page = struct.unpack_from(order + "I", meta, 32)[0]
    if page_type != P_HASHMETA:
        raise ValueError(f"Berkeley DB metadata page has type {page_type}, not a hash database")
    if page_size not in PAGE_SIZES:
        raise ValueError(f"Berkeley DB page size {page_size} is not a power of two 512-65536")
    if encrypted:
        raise ValueError("Berkeley DB database is encrypted")
    pages = size // page_size
    if last_page >= pages:
        raise ValueError(f"Berkeley DB claims {last_page + 1} pages, the file holds {pages}")
    overhead = PAGE_HEADER + (CHECKSUM_SIZE if meta_flags & DBMETA_CHKSUM else 0)
    reader = _Pages(file, page_size, order, last_page, overhead)
    for number in range(1, last_page + 1):
        page = reader.page(number)
        if page[25] not in (P_HASH, P_HASH_UNSORTED):
            continue
        entries = struct.unpack_from(order + "H", page, 20)[0]
        if entries % 2 or overhead + 2 * entries > page_size:
            raise ValueError(f"Berkeley DB page {number} has {entries} entries")
        offsets = struct.unpack_from(f"{order}{entries}H", page, overhead)
        for index in range(1, entries, 2):  # (key, value) pairs: the values
            yield reader.item(page, number, offsets, index)


class _Pages:
    def __init__(self, file: IO[bytes], page_size: int, order: str, last: int, overhead: int):
        self.file = file
        self.page_size = page_size
        self.order = order
        self.last = last
        self.overhead = overhead

    def page(self, number: int) -> bytes:
        self.file.seek(number * self.page_size)
        page = self.file.read(self.page_size)
        if len(page) != self.page_size:
            raise ValueError(f"Berkeley DB page {number} is cut short")
        return page

    def item(self, page: bytes, number: int, offsets: tuple[int, ...], index: int) -> bytes:
        offset = offsets[index]
        end = self.page_size if index == 0 else offsets[index - 1]
        if not self.overhead <= offset < end <= self.page_size:
            raise ValueError(f"Berkeley DB page {number} has a bad item offset {offset}")
        kind = page[offset]
        if kind == H_KEYDATA:
            return page[offset + 1 : end]
        if kind != H_OFFPAGE or offset + 12 > self.page_size:
            raise ValueError(f"Berkeley DB page {number} has an item of type {kind}")
        first, length = struct.unpack_from(self.order + "II", page, offset + 4)
        return self.overflow(first, length)

    def overflow(self, first: int, length: int) -> bytes:
        """The chain of overflow pages from ``first``, exactly ``length`` bytes long."""
        capacity = self.page_size - self.overhead
        if length > capacity * self.last:
            raise ValueError(f"Berkeley DB item claims {length} bytes, more than the file holds")
        parts: list[bytes] = []
        got = 0
        seen: set[int] = set()
        number = first
        while got < length:
            if number == 0 or number > self.last or number in seen:
                raise ValueError(f"Berkeley DB overflow chain breaks at page {number}")
            seen.add(number)
            page = self.page(number)
            if page[25] != P_OVERFLOW:
                raise ValueError(f"Berkeley DB page {number} is not an overflow page")
            used = struct.unpack_from(self.order + "H", page, 22)[0]
            if not 0 < used <= capacity:
                raise ValueError(f"Berkeley DB overflow page {number} holds {used} bytes")
            take = min(used, length - got)
            parts.append(page[self.overhead : self.overhead + take])
            got += take
            number = struct.unpack_from(self.order + "I", page, 16)[0]
        return b"".join(parts)
