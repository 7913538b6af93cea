"""Read one layer blob once, as a stream, and keep what the analysers find in it.

The blob is a sync binary stream (the storage driver's reader). Its first bytes say what it is:
gzip (``1f 8b``), zstd (``28 b5 2f fd``, or a skippable frame) or a plain tar; xz and bzip2 are
refused by name. ``tarfile`` reads the tar in stream mode (``r|``), so the layer is never held
in memory and never seeked; a member that some participant wants is copied into a bounded
``SpooledTemporaryFile`` (at most ``spool_memory`` bytes in memory, then on disk; never more
than ``max_file_size``) and handed to each participant that wants it.

What is recorded (``LayerInventory``, JSON-able so it can be cached by layer digest and the
participants' versions): per wanted path, the packages each analyser found, the facts each fact
finder found and the reason a participant could not read it; every symlink (path → target),
because a symlink in an upper layer replaces whatever a lower layer had at that path or under
it; the OCI whiteouts (``.wh.<name>``) and opaque directories (``.wh..wh..opq``).

Written by hand, because no library does it: the magic-byte choice; path normalisation (``./``
and ``/`` stripped, ``a/../b`` resolved as containerd does, a path that climbs out of the root
refused); the whiteout rules of the OCI image layer specification; and three guards around
``tarfile``: (1) it appends every member to ``TarFile.members`` even when streaming, so the loop
calls ``next()`` itself and clears that list, and reads up to the next header itself (tarfile
would loop over the size a header claims, petabytes if a PAX header says so, after the stream
has ended); (2) it reads GNU long-name and PAX headers into
memory whatever size they claim, so a header kind that carries data is refused over 1 MiB before
it is read; (3) it treats a missing, truncated or garbled header after the first member as the
end of the archive, so the reader notes whether the two zero blocks that end a tar were seen and
calls a layer without them truncated. After the last member the rest of the stream is read, so
gzip's CRC and length are checked.

Also by hand, for speed: gzip is inflated by ``_Inflated`` (``zlib`` with the gzip wrapper, which
checks each member's CRC-32 and length; members read one after another, zero padding after the
last one allowed, as ``gzip.GzipFile`` does) in 256 KiB reads and up to 512 KiB of output per call,
instead of ``GzipFile``'s 8 KiB reads: each call releases the GIL for a long stretch, so layers
read in parallel threads (``engine_layers``) decompress while another thread parses its tar.

Hard links: a link whose target was read in this layer gets the target's findings under its own
path; a wanted link whose target was not read (no participant wanted the target's name) is
recorded as unreadable, never silently skipped. Symlinks are not followed here (the image merge
knows every layer; an ``etc/os-release`` symlink is resolved there).

Known limit: a regular file no participant wants, or a directory, in an upper layer does not
hide a lower wanted file at the same path (only wanted paths, symlinks and whiteouts are kept),
so analysers should choose files by path and use mode and size only to turn away obvious
misses.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import IO, Any, cast

import zstandard

from moorage.errors import LayerInvalid
from moorage.scanning.inventory.model import Analyzer, FactFinder, Facts, Package

FORMAT_VERSION = 1
DEFAULT_MAX_FILE_SIZE = 512 * 1024 * 1024
DEFAULT_SPOOL_MEMORY = 4 * 1024 * 1024
META_HEADER_LIMIT = 1024 * 1024
_COPY_CHUNK = 1024 * 1024
_INFLATE_INPUT = 256 * 1024
_INFLATE_OUTPUT = 512 * 1024
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_META_TYPES = frozenset(
    {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE}
    | {tarfile.SOLARIS_XHDTYPE}
)


@dataclass
class FileFindings:
    """What the participants found in one file of a layer."""

    packages: dict[str, list[Package]] = field(default_factory=dict)
    """Analyser name → the packages it found (an empty list: read, nothing there)."""
    facts: dict[str, Facts] = field(default_factory=dict)
    """Fact finder name → the facts it found."""
    errors: dict[str, str] = field(default_factory=dict)
    """Participant name → why it could not read the file."""

    def all_packages(self) -> list[Package]:
        return [p for found in self.packages.values() for p in found]


@dataclass
class LayerInventory:
    """One layer's findings, whiteouts and symlinks; paths are relative to the layer root."""

    files: dict[str, FileFindings] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    whiteouts: list[str] = field(default_factory=list)
    """Paths a lower layer had that this layer removes (``a/.wh.b`` → ``a/b``)."""
    opaque_dirs: list[str] = field(default_factory=list)
    """Directories whose lower-layer contents this layer hides (``""`` is the root)."""
    participants: dict[str, int] = field(default_factory=dict)
    """Name → version of every analyser and fact finder that read the layer."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "participants": dict(self.participants),
            "files": {
                path: {
                    "packages": {
                        name: [package_to_dict(p) for p in found]
                        for name, found in findings.packages.items()
                    },
                    "facts": findings.facts,
                    "errors": findings.errors,
                }
                for path, findings in self.files.items()
            },
            "symlinks": dict(self.symlinks),
            "whiteouts": list(self.whiteouts),
            "opaque_dirs": list(self.opaque_dirs),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerInventory:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"layer inventory format {data.get('format')!r} is not {FORMAT_VERSION}"
            )
        files = {
            str(path): FileFindings(
                packages={
                    str(name): [package_from_dict(p) for p in found]
                    for name, found in entry["packages"].items()
                },
                facts={str(name): dict(facts) for name, facts in entry["facts"].items()},
                errors={str(name): str(why) for name, why in entry["errors"].items()},
            )
            for path, entry in data["files"].items()
        }
        return cls(
            files=files,
            symlinks={str(k): str(v) for k, v in data["symlinks"].items()},
            whiteouts=[str(p) for p in data["whiteouts"]],
            opaque_dirs=[str(p) for p in data["opaque_dirs"]],
            participants={str(k): int(v) for k, v in data["participants"].items()},
        )


def package_to_dict(package: Package) -> dict[str, Any]:
    """A package as JSON-able values (tuples become lists); ``None`` fields are left out."""
    out: dict[str, Any] = {}
    for f in fields(Package):
        value = getattr(package, f.name)
        if value is None or value == ():
            continue
        out[f.name] = _lists(value)
    return out


def package_from_dict(data: dict[str, Any]) -> Package:
    known = {f.name for f in fields(Package)}
    return Package(**{k: _tuples(v) for k, v in data.items() if k in known})


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, tuple) else value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def normalize_path(name: str) -> str:
    """``./usr//lib/../bin/`` → ``usr/bin``; a path that climbs above the root is refused."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise LayerInvalid(f"layer member {name[:300]!r} points outside the layer root")
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def read_layer(
    stream: IO[bytes],
    analyzers: Sequence[Analyzer],
    fact_finders: Sequence[FactFinder] = (),
    *,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    spool_memory: int = DEFAULT_SPOOL_MEMORY,
) -> LayerInventory:
    """Read the layer in ``stream`` once; ``LayerInvalid`` says why a layer cannot be read."""
    participants = {a.name: a.version for a in analyzers}
    participants.update({f.name: f.version for f in fact_finders})
    inventory = LayerInventory(participants=participants)
    reader = _decompressed(stream)
    end = _TarEnd()
    try:
        with tarfile.open(fileobj=reader, mode="r|", tarinfo=_checked_tarinfo(end)) as tar:
            _Walk(tar, inventory, analyzers, fact_finders, max_file_size, spool_memory).run()
        if not end.marker:
            why = f" ({end.problem})" if end.problem else ""
            raise LayerInvalid(f"layer tar ends without its end-of-archive blocks{why}: truncated")
        while reader.read(_COPY_CHUNK):
            pass  # the compressed trailer: gzip checks its CRC and length at the end
    except LayerInvalid:
        raise
    except tarfile.TarError as exc:
        if str(exc) == "empty file":  # zstd gives no error for a cut frame, only fewer bytes
            raise LayerInvalid("layer holds no tar data: empty or truncated") from exc
        raise LayerInvalid(f"layer is not a readable tar: {exc}") from exc
    except EOFError as exc:
        raise LayerInvalid(f"compressed layer is truncated: {exc}") from exc
    except zlib.error as exc:
        raise LayerInvalid(f"gzip layer is corrupt: {exc}") from exc
    except zstandard.ZstdError as exc:
        raise LayerInvalid(f"zstd layer is corrupt: {exc}") from exc
    return inventory


class _Walk:
    def __init__(
        self,
        tar: tarfile.TarFile,
        inventory: LayerInventory,
        analyzers: Sequence[Analyzer],
        fact_finders: Sequence[FactFinder],
        max_file_size: int,
        spool_memory: int,
    ) -> None:
        self.tar = tar
        self.inventory = inventory
        self.analyzers = analyzers
        self.fact_finders = fact_finders
        self.max_file_size = max_file_size
        self.spool_memory = spool_memory
        self.read: dict[str, tuple[int, int]] = {}
        """Each wanted regular file of the layer so far: path → (mode, size), for hard links."""

    def run(self) -> None:
        while (member := self.tar.next()) is not None:
            self.tar.members.clear()  # type: ignore[attr-defined]  # else it keeps them all
            self.member(member)
            self.skip_rest()

    def skip_rest(self) -> None:
        """Read up to the next header ourselves: tarfile's own skip loops over the size a header
        claims (a PAX ``size`` can claim petabytes) even after the stream has ended."""
        stream = cast(IO[bytes], self.tar.fileobj)
        remaining = self.tar.offset - stream.tell()
        while remaining > 0:
            chunk = stream.read(min(remaining, _COPY_CHUNK))
            if not chunk:
                raise LayerInvalid("layer tar is cut short inside a member: truncated")
            remaining -= len(chunk)

    def member(self, member: tarfile.TarInfo) -> None:
        path = normalize_path(member.name)
        if not path:
            return
        base = path.rsplit("/", 1)[-1]
        parent = path[: -len(base) - 1] if "/" in path else ""
        if base.startswith(_WHITEOUT):
            self.whiteout(path, parent, base)
            return
        inv = self.inventory
        inv.files.pop(path, None)
        inv.symlinks.pop(path, None)
        self.read.pop(path, None)
        if member.issym():
            inv.symlinks[path] = member.linkname
        elif member.islnk():
            self.hard_link(path, normalize_path(member.linkname), member.mode)
        elif member.isreg():
            self.regular_file(path, member)

    def whiteout(self, path: str, parent: str, base: str) -> None:
        if base == _OPAQUE:
            self.inventory.opaque_dirs.append(parent)
            return
        if base.startswith(_WHITEOUT + _WHITEOUT):
            return  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not a whiteout
        name = base[len(_WHITEOUT) :]
        if name in ("", ".", ".."):
            raise LayerInvalid(f"layer whiteout {path[:300]!r} names no file")
        self.inventory.whiteouts.append(f"{parent}/{name}" if parent else name)

    def wanted(self, path: str, mode: int, size: int) -> tuple[list[Analyzer], list[FactFinder]]:
        return (
            [a for a in self.analyzers if a.wants(path, mode, size)],
            [f for f in self.fact_finders if f.wants(path, mode, size)],
        )

    def regular_file(self, path: str, member: tarfile.TarInfo) -> None:
        analyzers, finders = self.wanted(path, member.mode, member.size)
        if not analyzers and not finders:
            return
        findings = FileFindings()
        self.inventory.files[path] = findings
        self.read[path] = (member.mode, member.size)
        if member.size > self.max_file_size:
            why = f"file is {member.size} bytes, over the {self.max_file_size}-byte limit"
            for name in [a.name for a in analyzers] + [f.name for f in finders]:
                findings.errors[name] = why
            return
        source = self.tar.extractfile(member)
        if source is None:  # pragma: no cover - a regular member always has a file object
            return
        with tempfile.SpooledTemporaryFile(max_size=self.spool_memory) as spool:
            copied = 0
            while chunk := source.read(min(_COPY_CHUNK, member.size - copied)):
                spool.write(chunk)
                copied += len(chunk)
                if copied >= member.size:
                    break
            if copied != member.size:
                raise LayerInvalid(f"layer member {path[:300]!r} is cut short: truncated")
            for analyzer in analyzers:
                spool.seek(0)
                try:
                    findings.packages[analyzer.name] = analyzer.analyze(path, spool, member.size)
                except ValueError as exc:
                    findings.errors[analyzer.name] = str(exc) or type(exc).__name__
            for finder in finders:
                spool.seek(0)
                try:
                    findings.facts[finder.name] = finder.find(path, spool, member.size)
                except ValueError as exc:
                    findings.errors[finder.name] = str(exc) or type(exc).__name__

    def hard_link(self, path: str, target: str, mode: int) -> None:
        mode, size = self.read.get(target, (mode, 0))
        analyzers, finders = self.wanted(path, mode, size)
        if not analyzers and not finders:
            return
        source = self.inventory.files.get(target)
        findings = FileFindings()
        self.inventory.files[path] = findings
        unread = f"hard link to {target[:300]!r}, which was not read"
        for name in [a.name for a in analyzers] + [f.name for f in finders]:
            if source is not None and name in source.errors:
                findings.errors[name] = source.errors[name]
            elif source is not None and name in source.packages:
                findings.packages[name] = [_moved(p, path) for p in source.packages[name]]
            elif source is not None and name in source.facts:
                findings.facts[name] = dict(source.facts[name])
            else:
                findings.errors[name] = unread


def _moved(package: Package, path: str) -> Package:
    return replace(package, path=path)


@dataclass
class _TarEnd:
    marker: bool = False
    problem: str | None = None


def _checked_tarinfo(end: _TarEnd) -> type[tarfile.TarInfo]:
    class CheckedTarInfo(tarfile.TarInfo):
        @classmethod
        def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> CheckedTarInfo:
            info = super().frombuf(buf, encoding, errors)
            if info.type in _META_TYPES and info.size > META_HEADER_LIMIT:
                raise LayerInvalid(
                    f"layer tar header claims {info.size} bytes of metadata"
                    f" (limit {META_HEADER_LIMIT})"
                )
            return info

        @classmethod
        def fromtarfile(cls, tarfile_: tarfile.TarFile) -> CheckedTarInfo:
            try:
                return super().fromtarfile(tarfile_)
            except tarfile.HeaderError as exc:
                if type(exc).__name__ == "EOFHeaderError":  # all zeros: the end-of-archive blocks
                    end.marker = True
                else:
                    end.problem = str(exc) or type(exc).__name__
                raise

    return CheckedTarInfo


class _Prefixed(io.RawIOBase):
    """The bytes already read to find the format, then the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


class _Inflated(io.RawIOBase):
    """A gzip stream's members, inflated (see the module's documentation)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._input = b""
        self._ended = False  # the last member's trailer read, nothing but zeros after it

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._ended:
            if not self._input:
                self._input = self._raw.read(_INFLATE_INPUT)
            if self._inflate.eof:
                self._next_member()
                continue
            if not self._input:
                raise EOFError("the gzip stream ends before its end-of-stream marker")
            try:
                data = self._inflate.decompress(self._input, min(len(view), _INFLATE_OUTPUT))
            except zlib.error as exc:  # raised as ours: tarfile would call it "not a tar"
                raise LayerInvalid(f"gzip layer is corrupt: {exc}") from exc
            self._input = self._inflate.unconsumed_tail
            if data:
                view[: len(data)] = data
                return len(data)
        return 0

    def _next_member(self) -> None:
        rest = self._inflate.unused_data + self._input
        while True:
            rest = rest.lstrip(b"\0")
            if rest:
                break
            rest = self._raw.read(_INFLATE_INPUT)
            if not rest:
                self._ended = True
                return
        if not rest.startswith(b"\x1f"):
            raise LayerInvalid("gzip layer is corrupt: data after its last member is not gzip")
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._input = rest


def _decompressed(stream: IO[bytes]) -> IO[bytes]:
    head = b""
    while len(head) < 6 and (more := stream.read(6 - len(head))):
        head += more
    if not head:
        raise LayerInvalid("layer blob is empty")
    raw = io.BufferedReader(_Prefixed(head, stream), buffer_size=256 * 1024)
    if head[:2] == b"\x1f\x8b":
        inflated = io.BufferedReader(_Inflated(cast(IO[bytes], raw)), _INFLATE_OUTPUT)
        return cast(IO[bytes], inflated)
    if head[:4] == b"\x28\xb5\x2f\xfd" or (head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18"):
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return cast(IO[bytes], reader)
    if head.startswith(b"\xfd7zXZ\x00"):
        raise LayerInvalid("layer is xz-compressed: OCI layers are gzip, zstd or plain tar")
    if head.startswith(b"BZh"):
        raise LayerInvalid("layer is bzip2-compressed: OCI layers are gzip, zstd or plain tar")
    return raw
