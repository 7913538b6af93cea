"""What the database reads of an OSV record to store and index it, and the lookup keys.

Only ``id``, ``modified``, ``withdrawn``, ``aliases`` and ``affected[].package.{ecosystem,name}``
are read here (with :mod:`json`); the record itself is kept whole, as the archive held it, for
the matcher (``moorage.scanning.osv``) to parse. A record that is not a JSON object or lacks a
valid ``id`` or ``modified`` is refused with the archive member's name: an archive with one bad
record is a bad archive, never imported in part.

Lookup keys (``package_key``) are written here: PyPI names compare as PEP 503 says
(``packaging.utils.canonicalize_name``), NuGet and Packagist names without regard to case (both
registries treat names so); every other ecosystem's names compare exactly. ``lookup_ecosystems``
gives the prefix semantics: ``Ubuntu:22.04:LTS`` also asks for ``Ubuntu:22.04`` and ``Ubuntu``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from moorage.db.scan_tables import MAX_ECOSYSTEM, MAX_ID, MAX_NAME
from moorage.errors import InvalidInput

_CASELESS = frozenset({"NuGet", "Packagist"})


class ArchiveInvalid(InvalidInput):
    """The archive (or a record in it) cannot be imported; nothing of it was."""

    code, default_message = "INVALID_VULNERABILITY_ARCHIVE", "invalid vulnerability archive"


@dataclass(frozen=True, slots=True)
class PackageRef:
    ecosystem: str  # as the record says: ``Debian:12``
    base: str  # ``Debian``
    name: str
    key: str  # ``package_key(ecosystem, name)``


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    id: str
    modified: dt.datetime
    withdrawn: dt.datetime | None
    aliases: tuple[str, ...]
    packages: tuple[PackageRef, ...]
    raw: bytes  # the record's JSON exactly as read


def base_ecosystem(ecosystem: str) -> str:
    return ecosystem.split(":", 1)[0]


def package_key(ecosystem: str, name: str) -> str:
    """The name as the index compares it in ``ecosystem``."""
    base = base_ecosystem(ecosystem)
    if base == "PyPI":
        return str(canonicalize_name(name))
    if base in _CASELESS:
        return name.lower()
    return name


def lookup_ecosystems(ecosystem: str) -> list[str]:
    """``ecosystem`` and each of its ``:`` prefixes, longest first."""
    parts = ecosystem.split(":")
    return [":".join(parts[:n]) for n in range(len(parts), 0, -1) if parts[n - 1] or n == 1]


def parse_time(value: Any, what: str) -> dt.datetime:
    """An RFC 3339 time with its offset, in UTC (sub-microsecond digits dropped)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} is not an RFC 3339 time")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{what} {value[:64]!r} is not an RFC 3339 time") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"{what} {value[:64]!r} has no time zone")
    return parsed.astimezone(dt.UTC)


def _text(value: Any, what: str, longest: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} is not a non-empty string")
    if len(value) > longest:
        raise ValueError(f"{what} is longer than {longest} characters")
    return value


def _packages(affected: Any) -> tuple[PackageRef, ...]:
    if affected is None:
        return ()
    if not isinstance(affected, list):
        raise ValueError("affected is not a list")
    found: dict[tuple[str, str], PackageRef] = {}
    for entry in affected:
        if not isinstance(entry, dict):
            raise ValueError("an affected entry is not an object")
        package = entry.get("package")
        if package is None:  # a GIT-only entry names a repository, not a package
            continue
        if not isinstance(package, dict):
            raise ValueError("affected[].package is not an object")
        ecosystem = _text(package.get("ecosystem"), "affected[].package.ecosystem", MAX_ECOSYSTEM)
        name = _text(package.get("name"), "affected[].package.name", MAX_NAME)
        key = package_key(ecosystem, name)
        found.setdefault(
            (ecosystem, key), PackageRef(ecosystem, base_ecosystem(ecosystem), name, key)
        )
    return tuple(found.values())


def parse(member: str, raw: bytes) -> ParsedRecord:
    """The parts of the record in archive member ``member`` the database stores; ArchiveInvalid
    (naming the member) when the record cannot be one."""
    try:
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("the record is not a JSON object")
        record_id = _text(document.get("id"), "id", MAX_ID)
        modified = parse_time(document.get("modified"), "modified")
        withdrawn_value = document.get("withdrawn")
        withdrawn = None if withdrawn_value is None else parse_time(withdrawn_value, "withdrawn")
        aliases_value = document.get("aliases") or []
        if not isinstance(aliases_value, list):
            raise ValueError("aliases is not a list")
        aliases = tuple(
            dict.fromkeys(_text(a, "an alias", MAX_ID) for a in aliases_value if a != record_id)
        )
        packages = _packages(document.get("affected"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeError included
        raise ArchiveInvalid(
            f"{member[:300]}: not an OSV record: {str(exc)[:300]}", detail={"member": member[:300]}
        ) from exc
    return ParsedRecord(record_id, modified, withdrawn, aliases, packages, raw)
