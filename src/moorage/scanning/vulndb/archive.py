"""Zip archives of OSV records (osv.dev's ``<ecosystem>/all.zip`` layout: one JSON record per
member; one or many ecosystems, nested folders allowed), checked, then read member by member.

``inspect`` reads only the central directory and refuses, before any record is imported:
what is not a zip archive; member names that climb out (``..``), are absolute, carry a drive,
a backslash or a NUL; symbolic links; encrypted members or compression methods zipfile cannot
read; a record larger than ``Limits.max_record_bytes``; more members than ``max_members``; a
declared uncompressed total over ``max_total_bytes``; and members that inflate more than
``max_ratio`` times (zip bombs). ``read`` then hands out one member's bytes at a time (never
more than its checked size: zipfile stops at the declared size and checks the CRC), so memory
holds one batch of records, whatever the archive's size. Members that are not ``*.json`` files
(a README, folders) are skipped and counted. Nothing is ever extracted to disk.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from moorage.scanning.vulndb.records import ArchiveInvalid

_READABLE = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_RATIO_FLOOR = 1024 * 1024  # members smaller than this inflate as they like


@dataclass(frozen=True, slots=True)
class Limits:
    max_record_bytes: int = 16 * 1024 * 1024
    max_members: int = 5_000_000
    max_total_bytes: int = 64 * 1024**3
    max_ratio: int = 200


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    path: Path
    records: int  # JSON members
    skipped: int  # other files
    total_bytes: int  # declared, uncompressed, of the JSON members


def _refuse(path: Path, why: str, member: str | None = None) -> ArchiveInvalid:
    detail: dict[str, str] = {"archive": path.name}
    if member is not None:
        detail["member"] = member[:300]
    return ArchiveInvalid(f"{path.name}: {why}", detail=detail)


def _name_problem(name: str) -> str | None:
    if "\x00" in name or "\\" in name:
        return "a member name holds a NUL or a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "a member name is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "a member name climbs out of the archive (..)"
    return None


def _is_record(info: zipfile.ZipInfo) -> bool:
    return not info.is_dir() and info.filename.lower().endswith(".json")


def _check(path: Path, info: zipfile.ZipInfo, limits: Limits) -> None:
    name = info.filename
    problem = _name_problem(name)
    if problem is not None:
        raise _refuse(path, f"{problem}: {name[:200]!r}", name)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _refuse(path, f"a member is a symbolic link: {name[:200]!r}", name)
    if info.flag_bits & 0x1:
        raise _refuse(path, f"a member is encrypted: {name[:200]!r}", name)
    if info.compress_type not in _READABLE:
        raise _refuse(path, f"a member uses an unsupported compression: {name[:200]!r}", name)
    if not _is_record(info):
        return
    if info.file_size > limits.max_record_bytes:
        raise _refuse(
            path,
            f"the record {name[:200]!r} is larger than {limits.max_record_bytes} bytes",
            name,
        )
    if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_ratio * max(
        1, info.compress_size
    ):
        raise _refuse(
            path, f"the member {name[:200]!r} inflates more than {limits.max_ratio} times", name
        )


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _refuse(path, f"not a readable zip archive ({exc})") from exc


def inspect(path: Path, limits: Limits) -> ArchiveSummary:
    """Check the archive's directory (see the module's documentation); ArchiveInvalid if not."""
    with _open(path) as archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise _refuse(path, f"more than {limits.max_members} members")
        records = skipped = total = 0
        for info in infos:
            _check(path, info, limits)
            if _is_record(info):
                records += 1
                total += info.file_size
                if total > limits.max_total_bytes:
                    raise _refuse(
                        path, f"the records inflate to more than {limits.max_total_bytes} bytes"
                    )
            elif not info.is_dir():
                skipped += 1
    return ArchiveSummary(path=path, records=records, skipped=skipped, total_bytes=total)


def read(path: Path, limits: Limits) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) of each JSON member, in the archive's order; the archive is checked
    again as it is read (``inspect`` first gives the clear error before anything is written)."""
    with _open(path) as archive:
        for info in archive.infolist():
            _check(path, info, limits)
            if not _is_record(info):
                continue
            try:
                with archive.open(info) as member:
                    data = member.read(limits.max_record_bytes + 1)
            except Exception as exc:  # BadZipFile (a bad CRC), zlib.error, LZMAError, OSError
                raise _refuse(path, f"{info.filename[:200]!r} is damaged ({exc})") from exc
            if len(data) > limits.max_record_bytes:
                raise _refuse(
                    path,
                    f"the record {info.filename[:200]!r} is larger than "
                    f"{limits.max_record_bytes} bytes",
                    info.filename,
                )
            yield info.filename, data
