"""Go binaries: the module path, version and dependencies a Go executable records about itself.

``go build`` (Go 1.13 and later) embeds a build-info blob that ``go version -m`` prints. The ELF
file is read with pyelftools (any architecture, 32 or 64 bits, either byte order): the blob is
at the start of the ``.go.buildinfo`` section, else within the first 64 KiB of the first
writable, non-executable ``PT_LOAD`` segment (a binary whose section headers were stripped).
Before pyelftools parses anything, two cheap checks: the build-info magic occurs in the file (most
executables of an image are not Go: they are passed over with one C-speed search, whatever state
their ELF structures are in), then the header's tables and loaded segments lie within the file (a
cut-short or garbage file that holds the magic is refused).

Written by hand, because no Python library reads Go build info: the blob's two formats and the
text it holds, following Go's ``debug/buildinfo`` and ``runtime/debug.ParseBuildInfo``:

* a 32-byte header, 16-byte aligned: ``\\xff Go buildinf:``, the pointer size, a flags byte
  (bit 0: big-endian; bit 1: the strings follow inline);
* Go 1.18 and later (inline): two varint-length-prefixed strings after the header, the Go
  version and the module info;
* Go 1.13 to 1.17 (pointers): two virtual addresses of Go string headers (data pointer,
  length), read through the ``PT_LOAD`` segments that map them;
* the module info, framed by two 16-byte sentinels, is lines of tab-separated fields:
  ``path``, ``mod``, ``dep`` and ``=>`` (a replacement of the module on the line before),
  ``build``.

What is reported (type ``golang``):

* the main module (``mod``) with the version Go recorded, ``(devel)`` for a build from a
  checkout (nothing else is known about it);
* every ``dep``; a replacement by another module is reported as that module at its version
  (what the binary holds); a replacement by a local directory (``=> ../fork``, no version) as
  the original module path at ``(devel)``;
* the Go toolchain as ``stdlib`` at ``v<go version>`` (``go1.19.8`` → ``v1.19.8``), as trivy
  and osv-scalibr report it; a binary built in GOPATH mode (Debian's) records only this and its
  ``path``.

``wants`` looks only at the mode and size (an executable bit and ``MIN_SIZE``..``MAX_SIZE``); a
file that is not ELF, or an ELF file without the build-info magic, gives ``[]``, even when its ELF
structures are broken or cut short: it is not Go, and this analyser reports only Go (a Go binary
cut short before its build info cannot be told from any other cut-short ELF file, so it gives
``[]`` too). An ELF file with the magic that cannot be parsed, whose segments or sections reach
past its end (cut short), or whose build info points outside the file, raises ``ValueError``.
Mach-O and PE are not read (images are Linux root file systems). Module info longer than
``MAX_MODINFO`` is refused.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from moorage.scanning.inventory.model import Package

MAGIC = b"\xff Go buildinf:"
MIN_SIZE = 64 * 1024
MAX_SIZE = 384 * 1024 * 1024
MAX_MODINFO = 4 * 1024 * 1024
_SEARCH = 64 * 1024
_HEADER = 32
_ALIGN = 16
_EXECUTABLE = 0o111
_PF_X, _PF_W = 1, 2


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    sum: str = ""


@dataclass
class BuildInfo:
    """What ``go version -m`` prints."""

    go_version: str
    path: str = ""
    main: Module | None = None
    deps: list[Module] = field(default_factory=list)
    replacements: dict[str, Module] = field(default_factory=dict)
    """Module path (``main`` or a dep) → what replaced it."""
    settings: list[tuple[str, str]] = field(default_factory=list)


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """The module info text (``runtime/debug.ParseBuildInfo``'s grammar), sentinels removed."""
    info = BuildInfo(go_version=go_version)
    last: Module | None = None
    for line in text.splitlines():
        fields = line.split("\t")
        kind = fields[0]
        if kind == "path" and len(fields) >= 2:
            info.path = fields[1]
        elif kind in ("mod", "dep") and len(fields) >= 3:
            last = Module(fields[1], fields[2], fields[3] if len(fields) > 3 else "")
            if kind == "mod":
                info.main = last
            elif last.path:
                info.deps.append(last)
        elif kind == "=>" and len(fields) >= 2 and last is not None:
            version = fields[2] if len(fields) > 2 else ""
            info.replacements[last.path] = Module(fields[1], version)
            last = None
        elif kind == "build" and len(fields) >= 2:
            key, _, value = fields[1].partition("=")
            info.settings.append((key, value))
    return info


def _uvarint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while offset < len(data) and shift < 64:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7
    raise ValueError("Go build info: bad varint length")


class _Image:
    """An ELF file's virtual memory, as far as its ``PT_LOAD`` segments map it from the file."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self.file = file
        self.size = size
        self.elf = ELFFile(file)
        self.little = bool(self.elf.little_endian)
        self.loads = [
            (int(s["p_vaddr"]), int(s["p_offset"]), int(s["p_filesz"]), int(s["p_flags"]))
            for s in self.elf.iter_segments()
            if s["p_type"] == "PT_LOAD"
        ]
        header = self.elf.header
        ends = [offset + filesz for _vaddr, offset, filesz, _flags in self.loads]
        ends.append(int(header["e_shoff"]) + int(header["e_shnum"]) * int(header["e_shentsize"]))
        ends += [
            int(section["sh_offset"]) + int(section["sh_size"])
            for section in self.elf.iter_sections()
            if section["sh_type"] != "SHT_NOBITS"
        ]
        if max(ends) > size:
            raise ValueError(f"ELF file is cut short: it needs {max(ends)} bytes, has {size}")

    def data_start(self) -> int | None:
        section = self.elf.get_section_by_name(".go.buildinfo")
        if section is not None:
            return int(section["sh_addr"])
        for vaddr, _offset, _size, flags in self.loads:
            if flags & (_PF_X | _PF_W) == _PF_W:
                return vaddr
        return None

    def read(self, addr: int, length: int) -> bytes:
        """Up to ``length`` bytes mapped at ``addr``; ``b""`` when nothing maps it."""
        for vaddr, offset, filesz, _flags in self.loads:
            if vaddr <= addr < vaddr + filesz:
                start = offset + (addr - vaddr)
                count = min(length, vaddr + filesz - addr, max(0, self.size - start))
                self.file.seek(start)
                return self.file.read(count)
        return b""


def _find_header(data: bytes) -> int | None:
    """Where the build-info blob starts in ``data``: the magic at a 16-byte boundary, with a
    whole header after it."""
    start = 0
    while True:
        index = data.find(MAGIC, start)
        if index < 0 or len(data) - index < _HEADER:
            return None
        if index % _ALIGN == 0:
            return index
        start = index + 1


def _inline_strings(image: _Image, blob_addr: int, blob: bytes) -> tuple[bytes, bytes]:
    """Go 1.18+: the version and module info right after the header, varint-prefixed."""
    version_length, offset = _uvarint(blob, _HEADER)
    if version_length > MAX_MODINFO:
        raise ValueError(f"Go version string of {version_length} bytes is too long")
    version = blob[offset : offset + version_length]
    mod_length, mod_offset = _uvarint(blob, offset + version_length)
    if mod_length > MAX_MODINFO:
        raise ValueError(f"Go module info of {mod_length} bytes is too long")
    end = mod_offset + mod_length
    if len(blob) < end:  # longer than the first read: read exactly what the lengths claim
        blob = image.read(blob_addr, end)
        if len(blob) < end:
            raise ValueError("Go build info is cut short")
    return version, blob[mod_offset:end]


def _read_go_string(
    image: _Image, addr: int, ptr_size: int, read_ptr: Callable[[bytes], int]
) -> bytes:
    header = image.read(addr, 2 * ptr_size)
    if len(header) < 2 * ptr_size:
        raise ValueError("Go build info points outside the file")
    data_addr, length = read_ptr(header[:ptr_size]), read_ptr(header[ptr_size:])
    if length > MAX_MODINFO:
        raise ValueError(f"Go build info string of {length} bytes is too long")
    data = image.read(data_addr, length)
    if len(data) < length:
        raise ValueError("Go build info string points outside the file")
    return data


def _check_tables(file: IO[bytes], size: int) -> None:
    """The ELF header's program and section header tables lie within the file, read from the
    header alone: what a cut-short or garbage file fails before the costlier checks."""
    file.seek(0)
    head = file.read(64)
    if len(head) < 52 or head[4] not in (1, 2) or head[5] not in (1, 2):
        raise ValueError("unreadable ELF file: bad class or byte order")
    order = "<" if head[5] == 1 else ">"
    if head[4] == 2:
        if len(head) < 64:
            raise ValueError("unreadable ELF file: header cut short")
        phoff, shoff = struct.unpack_from(order + "QQ", head, 0x20)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", head, 0x36)
    else:
        phoff, shoff = struct.unpack_from(order + "II", head, 0x1C)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", head, 0x2A)
    needs = [
        offset + count * entry
        for offset, count, entry in ((phoff, phnum, phentsize), (shoff, shnum, shentsize))
        if count
    ]
    if needs and max(needs) > size:
        raise ValueError(f"unreadable ELF file: cut short (needs {max(needs)} bytes, has {size})")
    # The loaded segments' file extents (the program headers are a few hundred bytes).
    if phnum and phentsize >= (56 if head[4] == 2 else 32):
        file.seek(phoff)
        table = file.read(phnum * phentsize)
        for i in range(phnum):
            if head[4] == 2:
                offset, filesz = struct.unpack_from(order + "8xQ16xQ", table, i * phentsize)
            else:
                offset, filesz = struct.unpack_from(order + "4xI8xI", table, i * phentsize)
            if offset + filesz > size:
                raise ValueError(
                    f"unreadable ELF file: cut short (needs {offset + filesz} bytes, has {size})"
                )


def _holds_magic(file: IO[bytes]) -> bool:
    """Whether the build-info magic occurs anywhere in the file: a cheap read in 1 MiB steps (C's
    ``bytes.find``) that spares the ELF parse of the many executables that are not Go."""
    file.seek(0)
    tail = b""
    while chunk := file.read(1 << 20):
        if MAGIC in tail + chunk[: len(MAGIC) - 1] or MAGIC in chunk:
            return True
        tail = chunk[-(len(MAGIC) - 1) :]
    return False


def read_build_info(file: IO[bytes], size: int) -> BuildInfo | None:
    """The build info of the ELF file in ``file``; ``None`` when it is not ELF or not Go."""
    file.seek(0)
    if file.read(4) != b"\x7fELF" or not _holds_magic(file):
        return None  # not Go, whatever state the rest of the file is in
    _check_tables(file, size)
    file.seek(0)
    try:
        image = _Image(file, size)
        start = image.data_start()
        data = image.read(start, _SEARCH) if start is not None else b""
    except (ELFError, struct.error, ValueError, OverflowError) as exc:
        raise ValueError(f"unreadable ELF file: {exc}") from None
    index = _find_header(data)
    if index is None or start is None:
        return None
    blob = data[index:]
    ptr_size, flags = blob[14], blob[15]
    if flags & 2:
        go_version, modinfo = _inline_strings(image, start + index, blob)
    else:
        if ptr_size not in (4, 8):
            return None
        code = (">" if flags & 1 else "<") + ("I" if ptr_size == 4 else "Q")

        def read_ptr(raw: bytes) -> int:
            return int(struct.unpack(code, raw)[0])

        version_at = read_ptr(blob[16 : 16 + ptr_size])
        modinfo_at = read_ptr(blob[16 + ptr_size : 16 + 2 * ptr_size])
        go_version = _read_go_string(image, version_at, ptr_size, read_ptr)
        modinfo = _read_go_string(image, modinfo_at, ptr_size, read_ptr)
    if not go_version:
        return None
    # The module info is framed by two 16-byte sentinels (cmd/go's infoStart and infoEnd).
    framed = len(modinfo) >= 33 and modinfo[-17] == ord("\n")
    text = modinfo[16:-16].decode("utf-8", "replace") if framed else ""
    return parse_modinfo(go_version.decode("utf-8", "replace"), text)


def stdlib_version(go_version: str) -> str:
    """``go1.19.8`` → ``v1.19.8``; ``go1.22.0 X:boringcrypto`` → ``v1.22.0``; a development
    toolchain (``devel go1.23-abc123 ...``) → ``v1.23-abc123``."""
    words = go_version.split()
    if words[:1] == ["devel"] and len(words) > 1:
        words = words[1:]
    return "v" + (words[0] if words else go_version).removeprefix("go")


def _is_local(path: str) -> bool:
    return path.startswith(("./", "../", "/")) or path in (".", "..")


def packages_of(info: BuildInfo, path: str) -> list[Package]:
    """The packages a binary's build info names (see the module docstring for the choices)."""

    def resolved(module: Module) -> tuple[str, str]:
        replacement = info.replacements.get(module.path)
        if replacement is None:
            return module.path, module.version
        if _is_local(replacement.path) or not replacement.version:
            return module.path, "(devel)"
        return replacement.path, replacement.version

    deps = [resolved(m) for m in info.deps]
    settings: list[tuple[str, str]] = [("go_version", info.go_version)]
    if info.path:
        settings.append(("main_package", info.path))
    out: list[Package] = []
    if info.main is not None and info.main.path:
        name, version = resolved(info.main)
        out.append(
            Package(
                type="golang",
                name=name,
                version=version,
                path=path,
                dependencies=tuple(f"{n}@{v}" for n, v in deps),
                metadata=tuple(sorted([*settings, ("relationship", "main")])),
            )
        )
    for name, version in dict.fromkeys(deps):
        out.append(Package(type="golang", name=name, version=version, path=path))
    out.append(
        Package(
            type="golang",
            name="stdlib",
            version=stdlib_version(info.go_version),
            path=path,
            metadata=tuple(sorted(settings)),
        )
    )
    return out


class GoBinaryAnalyzer:
    """Go executables: module, dependencies and toolchain from the embedded build info."""

    name: ClassVar[str] = "golang-binary"
    version: ClassVar[int] = 1

    def wants(self, path: str, mode: int, size: int) -> bool:
        return bool(mode & _EXECUTABLE) and MIN_SIZE <= size <= MAX_SIZE

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        info = read_build_info(file, size)
        return [] if info is None else packages_of(info, path)


def describe(info: BuildInfo) -> dict[str, Any]:
    """The build info as ``go version -m`` shows it, for logs and tests."""
    return {
        "go_version": info.go_version,
        "path": info.path,
        "main": None if info.main is None else (info.main.path, info.main.version),
        "deps": [(m.path, m.version, m.sum) for m in info.deps],
        "replacements": {k: (v.path, v.version) for k, v in info.replacements.items()},
        "settings": list(info.settings),
    }
