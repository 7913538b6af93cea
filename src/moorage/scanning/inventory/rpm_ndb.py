"""The header blobs of rpm's NDB database (``Packages.db``, rpm ≥ 4.16's own format; SUSE).

Read by hand from the layout rpm writes in ``lib/backend/ndb/rpmpkg.c`` (no library reads it):

    header (32 bytes, little-endian): magic "RpmP", version 0, generation, slot page count, 4 zeros
    slot pages (4 KiB each) right after: 16-byte slots {magic "Slot", package index, block
    offset, block count}; the first two slot positions are the header itself
    a used slot's blob, at block offset * 16: {magic "BlbS", package index, checksum, length}
    and then ``length`` bytes of header blob

Every slot, offset and length is checked against the file's size before anything is read; a
slot whose blob has the wrong magic or package index makes the database unreadable.
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from typing import IO

HEADER_MAGIC = b"RpmP"
SLOT_MAGIC = b"Slot"
BLOB_MAGIC = b"BlbS"
SLOT_PAGE = 4096
SLOTS_PER_PAGE = SLOT_PAGE // 16
BLOCK = 16
MAX_SLOT_PAGES = 2048


def is_ndb(head: bytes) -> bool:
    return head[:4] == HEADER_MAGIC


def ndb_blobs(file: IO[bytes], size: int) -> Generator[bytes, None, None]:
    """Every package header blob in the NDB database in ``file`` (``size`` bytes long)."""
    file.seek(0)
    header = file.read(32)
    if len(header) < 32 or not is_ndb(header):
        raise ValueError("not an rpm NDB database")
    version, _generation, slot_pages = struct.unpack_from("<III", header, 4)
    if version != 0:
        raise ValueError(f"rpm NDB database version {version} is not 0")
    if not 0 < slot_pages <= MAX_SLOT_PAGES or slot_pages * SLOT_PAGE > size:
        raise ValueError(f"rpm NDB database claims {slot_pages} slot pages")
    slots = file.read(slot_pages * SLOT_PAGE - 32)
    if len(slots) != slot_pages * SLOT_PAGE - 32:
        raise ValueError("rpm NDB slot pages are cut short")
    for number in range(slot_pages * SLOTS_PER_PAGE - 2):
        magic = slots[16 * number : 16 * number + 4]
        index, block, _count = struct.unpack_from("<III", slots, 16 * number + 4)
        if magic != SLOT_MAGIC:
            raise ValueError(f"rpm NDB slot {number} has a bad magic {magic!r}")
        if index == 0:
            continue  # a free slot
        offset = block * BLOCK
        if offset + 16 > size:
            raise ValueError(f"rpm NDB slot {number} points past the end of the file")
        file.seek(offset)
        blob_header = file.read(16)
        blob_index, _checksum, length = struct.unpack_from("<III", blob_header, 4)
        if blob_header[:4] != BLOB_MAGIC or blob_index != index:
            raise ValueError(f"rpm NDB package {index} has no blob where its slot points")
        if offset + 16 + length > size:
            raise ValueError(f"rpm NDB package {index} claims {length} bytes past the file's end")
        yield file.read(length)
