"""Java archives: jar, war, ear, par (and Jenkins' jpi/hpi), with the archives nested in them.

Archives are read with ``zipfile``; embedded ``pom.xml`` with defusedxml (no entity expansion);
SPDX licence IDs come from ``license_expression``'s list. Type ``maven``, the group ID as the
namespace, the artifact ID as the name; a package found in a nested archive has the path
``outer.jar!WEB-INF/lib/inner.jar``.

Written by hand, because no Python library does it: the choice of what an archive is, following
trivy (whose tests are the fixtures' oracle) in its offline mode:

* every ``META-INF/maven/**/pom.properties`` with a group ID, artifact ID and version is a
  package of the archive that holds it (a shaded jar holds several);
* when none of them describes the archive itself (same artifact ID and version as the file name,
  ``name-1.2.3.jar``), the main section of ``META-INF/MANIFEST.MF`` may: group ID from
  ``Implementation-Vendor-Id``, else ``Bundle-SymbolicName`` without its last part, else
  ``Implementation-Vendor``, else ``Specification-Vendor`` (only a value that is a valid Maven
  group ID: ``[A-Za-z0-9_.-]+``); artifact ID from ``Implementation-Title``, else
  ``Specification-Title``, else ``Bundle-Name``; version from ``Implementation-Version``, else
  ``Specification-Version``, else ``Bundle-Version``; all three or nothing;
* the file name alone never makes a package (offline: there is no SHA-1 search to confirm a
  guessed group ID, so such a guess is not reported);
* licences: an embedded ``META-INF/maven/<g>/<a>/pom.xml``'s ``<licenses>`` names for the
  package ``g:a``; the manifest's Jenkins ``Plugin-License-Name[-N]``, else its OSGi
  ``Bundle-License`` entries that are SPDX IDs, for the archive's own package when exactly one
  package belongs to the archive. Packed LICENSE files are not classified.
* One package per group, artifact, version and archive path.

Also by hand: the bounds that make a hostile archive a clear ``ValueError`` instead of a
memory, disk or time sink (``ArchiveTooLarge``): the entry count read from the end of central
directory record before ``zipfile`` builds its index, the bytes inflated for one top-level
archive (``MAX_INFLATED``), the size of one nested archive (``MAX_NESTED_SIZE``), the number of
nested archives (``MAX_ARCHIVES``); archives nested deeper than ``MAX_DEPTH`` are not opened, so a
jar that contains itself ends there. A nested archive that is corrupt is skipped (its outer
archive's packages stand); a top-level one that starts like a zip but cannot be read raises
``ValueError``; a file that is not a zip at all gives ``[]``.
"""

from __future__ import annotations

import functools
import lzma
import posixpath
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, ClassVar
from xml.etree.ElementTree import Element

import defusedxml.ElementTree
from defusedxml import DefusedXmlException

from moorage.scanning.inventory.model import Package

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par", ".jpi", ".hpi")
MAX_DEPTH = 5
MAX_ENTRIES = 300_000
MAX_ARCHIVES = 2_000
MAX_NESTED_SIZE = 256 * 1024 * 1024
MAX_INFLATED = 1024 * 1024 * 1024
MAX_METADATA = 1024 * 1024
_SPOOL_MEMORY = 8 * 1024 * 1024
_CHUNK = 1024 * 1024
_FILE_NAME = re.compile(
    r"^([a-zA-Z0-9._-]*[^-*])-(\d\S*(?:-SNAPSHOT)?)\.(?:jar|war|ear|par|jpi|hpi)$"
)
_GROUP_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_EOCD = b"PK\x05\x06"
# What zipfile raises for a corrupt, encrypted or oddly compressed member.
_MEMBER_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    OSError,
    EOFError,
    RuntimeError,
    NotImplementedError,
)
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"


class ArchiveTooLarge(ValueError):
    """An archive past one of the bounds: it is refused whole, never half-read."""


@dataclass(frozen=True)
class Limits:
    """The bounds on one top-level archive and everything nested in it."""

    max_depth: int = MAX_DEPTH
    max_entries: int = MAX_ENTRIES
    max_archives: int = MAX_ARCHIVES
    max_nested_size: int = MAX_NESTED_SIZE
    max_inflated: int = MAX_INFLATED


@dataclass(frozen=True)
class Coordinates:
    group_id: str
    artifact_id: str
    version: str

    def valid(self) -> bool:
        return bool(self.group_id and self.artifact_id and self.version)


@dataclass
class Manifest:
    """The main section of a ``MANIFEST.MF``: attribute name → value, licence names."""

    attributes: dict[str, str] = field(default_factory=dict)
    plugin_licenses: list[str] = field(default_factory=list)

    def coordinates(self) -> Coordinates:
        get = self.attributes.get
        symbolic = (get("Bundle-SymbolicName") or "").split(";")[0].strip()
        symbolic_group = symbolic.rpartition(".")[0] if "." in symbolic else symbolic
        groups = [get("Implementation-Vendor-Id"), symbolic_group]
        groups += [get("Implementation-Vendor"), get("Specification-Vendor")]
        group = next((g.strip() for g in groups if g and _GROUP_ID.match(g.strip())), "")
        titles = [get("Implementation-Title"), get("Specification-Title"), get("Bundle-Name")]
        artifact = next((a.strip() for a in titles if a and a.strip()), "")
        versions = [get("Implementation-Version"), get("Specification-Version")]
        version = next((v.strip() for v in [*versions, get("Bundle-Version")] if v), "")
        return Coordinates(group, artifact, version)

    def licenses(self) -> list[str]:
        if self.plugin_licenses:
            return self.plugin_licenses
        return bundle_licenses(self.attributes.get("Bundle-License", ""))


def parse_manifest(lines: Iterator[bytes]) -> Manifest:
    """The main section (up to the first empty line), long lines unfolded as the JAR spec says."""
    manifest = Manifest()
    attributes: list[str] = []
    total = 0
    for raw in lines:
        total += len(raw)
        if total > MAX_METADATA:
            raise ValueError(f"MANIFEST.MF main section is larger than {MAX_METADATA} bytes")
        for line in raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\r"):
            text = line.rstrip("\n")
            if not text:
                return _manifest_from(attributes, manifest)
            if text.startswith(" ") and attributes:
                attributes[-1] += text[1:]
            else:
                attributes.append(text)
    return _manifest_from(attributes, manifest)


def _manifest_from(attributes: list[str], manifest: Manifest) -> Manifest:
    for attribute in attributes:
        name, sep, value = attribute.partition(":")
        value = value.strip()
        if not sep or not value or value.startswith("%"):  # %bundleName: a localised variable
            continue
        name = name.strip()
        if name == "Plugin-License-Name" or name.startswith("Plugin-License-Name-"):
            manifest.plugin_licenses.append(value)
        else:
            manifest.attributes.setdefault(name, value)
    return manifest


@functools.cache
def _spdx_ids() -> dict[str, str]:
    from license_expression import get_spdx_licensing  # type: ignore[import-untyped]

    keys = get_spdx_licensing().known_symbols
    return {key.lower(): key for key in keys if not key.startswith("LicenseRef-")}


def _split_unquoted(text: str, separator: str) -> list[str]:
    parts, quoted, start, index = [], False, 0, 0
    while index < len(text):
        char = text[index]
        if char == "\\" and quoted:
            index += 1
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts


def bundle_licenses(header: str) -> list[str]:
    """The SPDX IDs an OSGi ``Bundle-License`` header names (free text and URLs are skipped)."""
    found = []
    for entry in _split_unquoted(header, ","):
        name = _split_unquoted(entry, ";")[0].strip().strip('"').strip()
        spdx = _spdx_ids().get(name.lower()) if name else None
        if spdx is not None:
            found.append(spdx)
    return list(dict.fromkeys(found))


def parse_pom_properties(data: bytes) -> Coordinates:
    """``groupId``, ``artifactId`` and ``version`` of a ``pom.properties`` (``=`` or ``:``)."""
    values: dict[str, str] = {}
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        match = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
        if match:
            values.setdefault(match.group(1), match.group(2).strip())
    return Coordinates(
        values.get("groupId", ""), values.get("artifactId", ""), values.get("version", "")
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(str(child.tag)) == name]


def parse_pom_licenses(data: bytes) -> list[str]:
    """The ``<licenses><license><name>`` values of a ``pom.xml``; ``[]`` when it is unreadable."""
    try:
        root = defusedxml.ElementTree.fromstring(data)
    except (DefusedXmlException, SyntaxError, ValueError):
        return []
    names = []
    for licenses in _children(root, "licenses"):
        for license_element in _children(licenses, "license"):
            for name in _children(license_element, "name"):
                if name.text and name.text.strip():
                    names.append(" ".join(name.text.split()))
    return names


def entry_count(file: IO[bytes], size: int) -> int | None:
    """The entries the end of central directory record claims (zip64 too); ``None`` if absent."""
    tail_length = min(size, 22 + 65535)
    file.seek(size - tail_length)
    tail = file.read(tail_length)
    index = tail.rfind(_EOCD)
    if index < 0 or len(tail) - index < 22:
        return None
    (count,) = struct.unpack("<H", tail[index + 10 : index + 12])
    locator = index - 20
    if count == 0xFFFF and locator >= 0 and tail[locator : locator + 4] == _EOCD64_LOCATOR:
        (record_at,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
        if record_at + 56 <= size:
            file.seek(record_at)
            record = file.read(56)
            if record[:4] == _EOCD64:
                (count,) = struct.unpack("<Q", record[32:40])
    return int(count)


def file_name_coordinates(archive_path: str) -> tuple[str, str]:
    """(artifact ID, version) the file name states (``spring-core-5.3.4.jar``), or empty."""
    match = _FILE_NAME.match(posixpath.basename(archive_path.rpartition("!")[2]))
    return (match.group(1), match.group(2)) if match else ("", "")


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass
class _Budget:
    limits: Limits
    inflated: int = 0
    archives: int = 0

    def take(self, count: int) -> None:
        self.inflated += count
        if self.inflated > self.limits.max_inflated:
            raise ArchiveTooLarge(
                f"archive inflates past {self.limits.max_inflated} bytes (a zip bomb?); not read"
            )


@dataclass
class _Found:
    coordinates: Coordinates
    path: str
    licenses: list[str] = field(default_factory=list)


class _Reader:
    """One top-level archive and everything nested in it, within one budget."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.budget = _Budget(limits)

    def read_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
        if info.file_size > limit:
            return b""
        self.budget.take(info.file_size)
        with archive.open(info) as member:
            return member.read(limit + 1)[:limit]

    def member_lines(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
        with archive.open(info) as member:
            while line := member.readline(64 * 1024):
                self.budget.take(len(line))
                yield line

    def scan(self, archive_path: str, file: IO[bytes], size: int, depth: int) -> list[_Found]:
        count = entry_count(file, size)
        if count is not None and count > self.limits.max_entries:
            limit = self.limits.max_entries
            raise ArchiveTooLarge(f"{archive_path}: {count} entries, more than {limit}")
        file.seek(0)
        try:
            archive = zipfile.ZipFile(file)
        except (*_MEMBER_ERRORS, zipfile.LargeZipFile, struct.error) as exc:
            raise ValueError(f"{archive_path}: not a readable zip archive: {exc}") from None
        with archive:
            return self._scan_open(archive_path, archive, depth)

    def _scan_open(self, archive_path: str, archive: zipfile.ZipFile, depth: int) -> list[_Found]:
        found: list[_Found] = []
        nested: list[_Found] = []
        own_artifact, own_version = file_name_coordinates(archive_path)
        found_own = False
        manifest: Manifest | None = None
        pom_licenses: dict[tuple[str, str], list[str]] = {}
        for info in archive.infolist():
            name = info.filename
            base = posixpath.basename(name)
            try:
                if base == "pom.properties" and name.startswith("META-INF/"):
                    coordinates = parse_pom_properties(self.read_member(archive, info, 64 * 1024))
                    if coordinates.valid():
                        found.append(_Found(coordinates, archive_path))
                        own = (coordinates.artifact_id, coordinates.version)
                        found_own = found_own or own == (own_artifact, own_version)
                elif base == "pom.xml" and name.startswith("META-INF/maven/"):
                    parts = name.split("/")
                    if len(parts) == 5:
                        data = self.read_member(archive, info, MAX_METADATA)
                        pom_licenses[(parts[2], parts[3])] = parse_pom_licenses(data)
                elif name == "META-INF/MANIFEST.MF":
                    manifest = parse_manifest(self.member_lines(archive, info))
                elif is_archive(name) and not info.is_dir() and depth < self.limits.max_depth:
                    nested.extend(self.nested(archive_path, archive, info, depth))
            except ArchiveTooLarge:
                raise
            except _MEMBER_ERRORS:
                continue  # an unreadable member (corrupt, encrypted, unknown compression)
        if not found_own and manifest is not None:
            coordinates = manifest.coordinates()
            if coordinates.valid():
                found.append(_Found(coordinates, archive_path))
        for item in found:
            key = (item.coordinates.group_id, item.coordinates.artifact_id)
            item.licenses = list(pom_licenses.get(key) or [])
        if manifest is not None and len(found) == 1 and not found[0].licenses:
            found[0].licenses = manifest.licenses()
        return found + nested

    def nested(
        self, archive_path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, depth: int
    ) -> list[_Found]:
        inner_path = f"{archive_path}!{info.filename}"
        limits = self.limits
        if info.file_size > limits.max_nested_size:
            raise ArchiveTooLarge(
                f"{inner_path}: {info.file_size} bytes, over {limits.max_nested_size}"
            )
        self.budget.archives += 1
        if self.budget.archives > limits.max_archives:
            raise ArchiveTooLarge(f"more than {limits.max_archives} nested archives; not read")
        with archive.open(info) as member, tempfile.SpooledTemporaryFile(_SPOOL_MEMORY) as spool:
            head = member.read(4)
            self.budget.take(len(head))
            if head[:2] != b"PK":
                return []  # named like an archive, is something else: not inflated further
            spool.write(head)
            copied = len(head)
            while chunk := member.read(_CHUNK):
                self.budget.take(len(chunk))
                copied += len(chunk)
                spool.write(chunk)
            try:
                return self.scan(inner_path, spool, copied, depth + 1)
            except ArchiveTooLarge:
                raise
            except ValueError:
                return []  # a corrupt nested archive: the outer one's packages stand


def _dedupe(found: list[_Found]) -> list[Package]:
    packages: dict[tuple[str, str, str, str], Package] = {}
    for item in found:
        c = item.coordinates
        key = (c.group_id, c.artifact_id, c.version, item.path)
        if key in packages:
            continue
        packages[key] = Package(
            type="maven",
            name=c.artifact_id,
            version=c.version,
            path=item.path,
            namespace=c.group_id,
            licenses=tuple(dict.fromkeys(item.licenses)),
        )
    return list(packages.values())


class JavaArchiveAnalyzer:
    """Maven artifacts in Java archives, nested ones included."""

    name: ClassVar[str] = "java-archive"
    version: ClassVar[int] = 1

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def wants(self, path: str, mode: int, size: int) -> bool:
        return is_archive(path) and size >= 22

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        file.seek(0)
        if file.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            return []  # not a zip archive, whatever its name says
        return _dedupe(_Reader(self.limits).scan(path, file, size, 0))
