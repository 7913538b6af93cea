"""Real layer tars built in the tests: files, symlinks, hard links, whiteouts, opaque dirs.

``layer(...)`` writes the members with ``tarfile`` (the same ustar/PAX encoding Docker and
buildkit produce) and compresses them as a registry stores a layer: gzip, zstd or not at all.
``fixture_layer`` packs a shared fixture directory (its files at their image paths).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import zstandard

from moorage.scanning.inventory.apk import ApkAnalyzer
from moorage.scanning.inventory.dpkg import DpkgAnalyzer, DpkgCopyrightFinder
from moorage.scanning.inventory.image import ImageInventory, merge_layers
from moorage.scanning.inventory.layers import LayerInventory, read_layer
from moorage.scanning.inventory.osrelease import OsReleaseFinder
from moorage.scanning.inventory.rpm import RpmAnalyzer

DATA = Path(__file__).resolve().parent.parent / "data" / "scanner"
Compression = Literal["gzip", "zstd", "none"]
ANALYZERS = (DpkgAnalyzer(), ApkAnalyzer(), RpmAnalyzer())
FINDERS = (OsReleaseFinder(), DpkgCopyrightFinder())


@dataclass(frozen=True)
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644


@dataclass(frozen=True)
class Dir:
    path: str


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str


@dataclass(frozen=True)
class HardLink:
    path: str
    target: str


@dataclass(frozen=True)
class Whiteout:
    path: str
    """The path removed: written as ``<dir>/.wh.<name>``."""


@dataclass(frozen=True)
class Opaque:
    directory: str
    """Written as ``<directory>/.wh..wh..opq``."""


Entry = File | Dir | Symlink | HardLink | Whiteout | Opaque


def tar_bytes(entries: Iterable[Entry], *, end_marker: bool = True) -> bytes:
    """A tar of ``entries``; without its end-of-archive blocks when ``end_marker`` is off."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            _add(tar, entry)
        end = tar.offset
    data = buffer.getvalue()
    return data if end_marker else data[:end]


def _add(tar: tarfile.TarFile, entry: Entry) -> None:
    if isinstance(entry, File):
        info = tarfile.TarInfo(entry.path)
        info.size, info.mode = len(entry.data), entry.mode
        tar.addfile(info, io.BytesIO(entry.data))
        return
    if isinstance(entry, Whiteout):
        head, _, name = entry.path.rpartition("/")
        tar.addfile(tarfile.TarInfo(f"{head}/.wh.{name}" if head else f".wh.{name}"))
        return
    if isinstance(entry, Opaque):
        tar.addfile(tarfile.TarInfo(f"{entry.directory}/.wh..wh..opq".lstrip("/")))
        return
    info = tarfile.TarInfo(entry.path)
    if isinstance(entry, Dir):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif isinstance(entry, Symlink):
        info.type, info.linkname = tarfile.SYMTYPE, entry.target
    else:
        info.type, info.linkname = tarfile.LNKTYPE, entry.target
    tar.addfile(info)


def compress(data: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor(write_checksum=True).compress(data)
    return data


def layer(*entries: Entry, compression: Compression = "gzip") -> bytes:
    return compress(tar_bytes(entries), compression)


def fixture_entries(root: Path) -> list[Entry]:
    """Every file under a fixture directory at its image path (``rpmdb.sqlite.gz`` unpacked)."""
    out: list[Entry] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name == "expected-packages.json":
            continue
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        if rel.endswith("rpmdb.sqlite.gz"):
            rel, data = rel[: -len(".gz")], gzip.decompress(data)
        out.append(File(rel, data))
    return out


def read(blob: bytes, **kwargs: Any) -> LayerInventory:
    return read_layer(io.BytesIO(blob), ANALYZERS, FINDERS, **kwargs)


def image(*layers: bytes) -> ImageInventory:
    """Read each layer, round-trip it through JSON as a cache would, and merge them."""
    inventories = []
    for number, blob in enumerate(layers):
        inventory = read(blob)
        cached = LayerInventory.from_dict(json.loads(json.dumps(inventory.to_dict())))
        assert cached == inventory
        inventories.append((f"sha256:{number:064x}", cached))
    return merge_layers(inventories)


def expected(case: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((case / "expected-packages.json").read_text())
    return data


def cases(ecosystem: str) -> list[Path]:
    return sorted(p.parent for p in (DATA / ecosystem).glob("*/expected-packages.json"))
