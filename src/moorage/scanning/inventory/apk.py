"""apk: the installed packages of Alpine (and Wolfi, Chainguard) from ``lib/apk/db/installed``.

The database is records separated by blank lines, each line ``<letter>:<value>`` (apk-tools'
``apk_db_index_read``; read by hand, no library reads it). The fields used: ``P`` name, ``V``
version, ``A`` arch, ``o`` origin (the aports package advisories name; a record without one is
its own origin), ``L`` licence, ``m`` maintainer, ``c`` the aports commit, ``C`` the checksum
(``Q1`` + base64 SHA-1 → ``sha1:<hex>``), ``I`` installed size, ``D`` / ``p`` dependencies and
what a package provides (``so:libc.musl-x86_64.so.1``), resolved to the installed packages
(``name@version``) as trivy lists them.

Licences: ``L`` is either an SPDX expression (``MIT AND BSD-2-Clause``, ``(Apache-2.0 OR MIT)
AND MPL-2.0``) or, in older releases, names separated by spaces (``MIT BSD GPL2+``). ``licenses``
holds each licence it names once, in order, operators and parentheses left out (``WITH`` kept
with its exception); the expression as written stays in ``metadata["license"]`` (what
osv-scalibr reports). Names are not translated to SPDX (trivy maps ``GPL2`` to
``GPL-2.0-only``): the inventory keeps what the package says.

A record without ``P`` or ``V`` is skipped (apk does not install one); a line that is not
``<letter>:<value>`` means the file is not an apk database (``ValueError``).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import IO, ClassVar

from moorage.scanning.inventory.model import Package

INSTALLED = "lib/apk/db/installed"
_OPERATORS = re.compile(r"[<>=~]")
_LICENSE_TOKENS = re.compile(r"[()]|\s+")


class ApkAnalyzer:
    name: ClassVar[str] = "apk"
    version: ClassVar[int] = 1

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path == INSTALLED

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        return parse_installed(file, path)


def parse_installed(file: IO[bytes], path: str) -> list[Package]:
    records: list[dict[str, list[str]]] = []
    record: dict[str, list[str]] = {}
    for number, raw in enumerate(file, start=1):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.strip():
            if record:
                records.append(record)
            record = {}
            continue
        if len(line) < 2 or line[1] != ":" or not line[0].isalpha():
            raise ValueError(f"not an apk installed database: line {number} is {line[:80]!r}")
        key = line[0]
        if key in "FRaZMr":
            continue  # the files a package owns: not needed for the inventory
        record.setdefault(key, []).append(line[2:])
    if record:
        records.append(record)
    complete = [r for r in records if _first(r, "P") and _first(r, "V")]
    provides: dict[str, str] = {}
    for r in complete:
        provides[_first(r, "P")] = _first(r, "P")
        for provided in r.get("p", [""])[0].split():
            provides.setdefault(_OPERATORS.split(provided, 1)[0], _first(r, "P"))
    versions = {_first(r, "P"): _first(r, "V") for r in complete}
    return [_package(r, path, provides, versions) for r in complete]


def _first(record: dict[str, list[str]], key: str) -> str:
    values = record.get(key)
    return values[0].strip() if values else ""


def _package(
    record: dict[str, list[str]], path: str, provides: dict[str, str], versions: dict[str, str]
) -> Package:
    name, version = _first(record, "P"), _first(record, "V")
    licence = _first(record, "L")
    metadata = {
        "license": licence,
        "commit": _first(record, "c"),
        "checksum": _checksum(_first(record, "C")),
    }
    size = _first(record, "I")
    return Package(
        type="apk",
        name=name,
        version=version,
        path=path,
        source_name=_first(record, "o") or name,
        source_version=version,
        arch=_first(record, "A") or None,
        licenses=split_licenses(licence),
        maintainer=_first(record, "m") or None,
        installed_size=int(size) if size.isdigit() else None,
        dependencies=_dependencies(record, name, provides, versions),
        metadata=tuple(sorted((k, v) for k, v in metadata.items() if v)),
    )


def split_licenses(expression: str) -> tuple[str, ...]:
    """Each licence an ``L`` value names: ``(A OR B) AND C`` → (A, B, C); ``A B`` → (A, B)."""
    out: list[str] = []
    tokens = [t for t in _LICENSE_TOKENS.split(expression) if t]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.upper() in ("AND", "OR"):
            i += 1
            continue
        if i + 2 < len(tokens) and tokens[i + 1].upper() == "WITH":
            token = f"{token} WITH {tokens[i + 2]}"
            i += 2
        out.append(token)
        i += 1
    return tuple(dict.fromkeys(out))


def _checksum(value: str) -> str:
    if not value.startswith("Q1"):
        return value
    try:
        return "sha1:" + base64.b64decode(value[2:], validate=True).hex()
    except (binascii.Error, ValueError):
        return value


def _dependencies(
    record: dict[str, list[str]], name: str, provides: dict[str, str], versions: dict[str, str]
) -> tuple[str, ...]:
    names: set[str] = set()
    for depend in record.get("D", [""])[0].split():
        if depend.startswith("!"):
            continue  # a conflict, not a dependency
        target = provides.get(_OPERATORS.split(depend, 1)[0])
        if target is not None and target != name:
            names.add(target)
    return tuple(sorted(f"{n}@{versions[n]}" for n in names))
