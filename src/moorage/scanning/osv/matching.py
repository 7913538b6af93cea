"""Does an OSV record affect one installed package? OSV's evaluation rules, exactly.

From the schema's "Evaluation" section (https://ossf.github.io/osv-schema/#evaluation):

* a withdrawn record affects nothing;
* an ``affected`` entry applies when its package's ecosystem and name are the package's
  (:func:`ecosystem_matches`, :func:`names_match`);
* the version is affected when it is listed in ``versions[]`` or falls in any ``ECOSYSTEM`` or
  ``SEMVER`` range (ranges are ORed; ``GIT`` ranges name commits and are skipped here);
* in a range the events are sorted by version (``introduced: "0"`` first); walking them, an
  ``introduced`` at or below the version turns "affected" on, a ``fixed`` at or below it, or a
  ``last_affected`` below it, turns it off; when the range has ``limit`` events the version must
  also be below one of them (``"*"`` is no limit).

A version that the ecosystem's rules cannot read (or a record whose own versions cannot be read)
gives :class:`Indeterminate` for a record that names the package: never a silent "not affected".

A caller matching many packages against the same records (a re-match) passes one
:class:`ParsedVersions` to :func:`affects_version`, so each version a record names is parsed
once per ordering rather than once per package and record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from moorage.errors import VersionUnparseable
from moorage.scanning.osv.record import Affected, OsvRecord, Range
from moorage.scanning.versions import SemVer, Version, ecosystem_base, is_distribution, scheme_for

_KIND_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}


@dataclass(frozen=True)
class Match:
    """The record affects the package; ``fixed`` lists the fixes newer than the installed
    version, oldest first (empty: no fix known)."""

    record: OsvRecord
    affected: Affected
    ecosystem: str
    name: str
    version: str
    via: Literal["versions", "range"]
    fixed: tuple[str, ...]
    last_affected: tuple[str, ...]


@dataclass(frozen=True)
class Indeterminate:
    """The record names the package but the versions cannot be compared (``reason`` says why)."""

    record: OsvRecord
    affected: Affected
    ecosystem: str
    name: str
    version: str
    reason: str


def _release_parts(ecosystem: str) -> list[str]:
    base = ecosystem_base(ecosystem)
    parts = [p.strip() for p in ecosystem.split(":")[1:]]
    if base == "Ubuntu" and parts and parts[-1] == "LTS":
        parts = parts[:-1]
    if base == "Alpine" and parts:
        release = parts[0].removeprefix("v").split(".")
        parts = [".".join(release[:2]), *parts[1:]]
    if base == "Debian" and parts:
        parts = [parts[0].split(".")[0], *parts[1:]]
    return parts


def ecosystem_matches(record_ecosystem: str, package_ecosystem: str) -> bool:
    """Whether an advisory's ecosystem covers the package's: same base name; a record without a
    release covers every release; otherwise one release list is a prefix of the other, after
    spelling differences (``Alpine:v3.18`` = ``Alpine:3.18.4``, ``Ubuntu:22.04:LTS`` =
    ``Ubuntu:22.04``, ``Debian:12`` = ``Debian:12.5``). Streams are not mixed: ``Ubuntu:Pro:…``
    records apply to packages the caller places in the Pro stream."""
    if ecosystem_base(record_ecosystem) != ecosystem_base(package_ecosystem):
        return False
    theirs, ours = _release_parts(record_ecosystem), _release_parts(package_ecosystem)
    if not theirs:
        return True
    if not ours:
        return not is_distribution(record_ecosystem)
    shorter = min(len(theirs), len(ours))
    return theirs[:shorter] == ours[:shorter]


def _canonical_name(ecosystem: str, name: str) -> str:
    base = ecosystem_base(ecosystem)
    if base == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503
    if base in ("NuGet", "Packagist"):
        return name.lower()
    return name


def names_match(ecosystem: str, record_name: str, package_name: str) -> bool:
    return _canonical_name(ecosystem, record_name) == _canonical_name(ecosystem, package_name)


class ParsedVersions:
    """Versions parsed by an ordering, remembered (failures too); at most ``limit`` kept: when
    full it starts again empty."""

    __slots__ = ("_known", "limit")

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._known: dict[tuple[type[Version], str], Version | VersionUnparseable] = {}

    def __len__(self) -> int:
        return len(self._known)

    def parse(self, scheme: type[Version], text: str) -> Version:
        """``scheme.parse(text)``, :class:`VersionUnparseable` as it raised it."""
        key = (scheme, text)
        found = self._known.get(key)
        if found is None:
            try:
                found = scheme.parse(text)
            except VersionUnparseable as e:
                found = e
            if len(self._known) >= self.limit:
                self._known.clear()
            self._known[key] = found
        if isinstance(found, VersionUnparseable):
            raise found.with_traceback(None)  # the one instance: no traceback piling up
        return found


class _Unreadable(Exception):
    pass


def _parse(versions: ParsedVersions, scheme: type[Version], text: str) -> Version:
    try:
        return versions.parse(scheme, text)
    except VersionUnparseable as e:
        raise _Unreadable(f"the record's version {text!r}: {e.reason}") from None


def _in_range(
    rng: Range, version: Version, scheme: type[Version], versions: ParsedVersions
) -> bool:
    limits = [e.value for e in rng.events if e.kind == "limit"]
    if limits and not any(lim == "*" or version < _parse(versions, scheme, lim) for lim in limits):
        return False
    keyed = []
    for event in rng.events:
        kind = event.kind
        if kind == "limit":
            continue
        zero = kind == "introduced" and event.value == "0"
        parsed = None if zero else _parse(versions, scheme, event.value)
        keyed.append((zero, parsed, kind))
    keyed.sort(key=_event_key)
    affected = False
    for zero, parsed, kind in keyed:
        if zero:
            affected = True
        elif parsed is None:
            continue
        elif kind == "introduced" and version >= parsed:
            affected = True
        elif (kind == "fixed" and version >= parsed) or (
            kind == "last_affected" and version > parsed
        ):
            affected = False
    return affected


class _EventKey:
    """Sort key: ``introduced: "0"`` first, then by version, then introduced < last_affected <
    fixed for events at one version."""

    __slots__ = ("kind", "version", "zero")

    def __init__(self, zero: bool, version: Version | None, kind: str) -> None:
        self.zero, self.version, self.kind = zero, version, kind

    def __lt__(self, other: _EventKey) -> bool:
        if self.zero != other.zero:
            return self.zero
        if self.version is not None and other.version is not None and self.version != other.version:
            return self.version < other.version
        return _KIND_ORDER[self.kind] < _KIND_ORDER[other.kind]


def _event_key(item: tuple[bool, Version | None, str]) -> _EventKey:
    return _EventKey(*item)


def _range_scheme(rng: Range, scheme: type[Version]) -> type[Version]:
    if rng.type == "SEMVER" and not issubclass(scheme, SemVer):
        return SemVer
    return scheme


def _later(
    affected: Affected,
    kind: str,
    version: Version,
    scheme: type[Version],
    inclusive: bool,
    versions: ParsedVersions,
) -> tuple[str, ...]:
    found: list[Version] = []
    for rng in affected.ranges:
        if rng.type == "GIT" or _range_scheme(rng, scheme) is not scheme:
            continue
        for event in rng.events:
            if event.kind != kind:
                continue
            try:
                parsed = versions.parse(scheme, event.value)
            except VersionUnparseable:
                continue
            if (parsed >= version if inclusive else parsed > version) and event.value not in [
                f.text for f in found
            ]:
                found.append(parsed)
    return tuple(v.text for v in sorted(found))


def _evaluate(
    affected: Affected,
    version: str,
    scheme: type[Version],
    installed: Version | None,
    versions: ParsedVersions,
) -> tuple[Literal["versions", "range"] | None, str | None]:
    """How the entry affects the version (None: it does not), and why it could not tell."""
    reason = None
    if version in affected.versions:
        return "versions", None
    if affected.versions:
        if installed is None:
            reason = "the installed version cannot be parsed"
        else:
            for listed in affected.versions:
                try:
                    if versions.parse(scheme, listed) == installed:
                        return "versions", None
                except VersionUnparseable:
                    continue
    for rng in affected.ranges:
        if rng.type == "GIT":
            continue
        rscheme = _range_scheme(rng, scheme)
        try:
            current = installed if rscheme is scheme else versions.parse(rscheme, version)
        except VersionUnparseable as e:
            reason = f"the installed version is not {rscheme.scheme}: {e.reason}"
            continue
        if current is None:
            reason = "the installed version cannot be parsed"
            continue
        try:
            if _in_range(rng, current, rscheme, versions):
                return "range", None
        except _Unreadable as e:
            reason = str(e)
    return None, reason


def affects(
    record: OsvRecord, ecosystem: str, name: str, version: str
) -> Match | Indeterminate | None:
    """Whether ``record`` affects ``name`` at ``version`` in ``ecosystem`` (``Debian:12``,
    ``PyPI``…); :class:`moorage.errors.EcosystemUnknown` for an ecosystem with no ordering."""
    if record.withdrawn is not None:
        return None
    try:
        installed: Version | None = scheme_for(ecosystem).parse(version)
    except VersionUnparseable:
        installed = None
    return affects_version(record, ecosystem, name, version, installed)


def affects_version(
    record: OsvRecord,
    ecosystem: str,
    name: str,
    version: str,
    installed: Version | None,
    versions: ParsedVersions | None = None,
) -> Match | Indeterminate | None:
    """:func:`affects` with the installed version already parsed by ``scheme_for(ecosystem)``
    (None: it cannot be), for a caller matching one package against many records; the
    record's versions parsed through ``versions`` (a fresh one for this call when None)."""
    if record.withdrawn is not None:
        return None
    if versions is None:
        versions = ParsedVersions()
    scheme = scheme_for(ecosystem)
    undecided: Indeterminate | None = None
    for entry in record.affected:
        package = entry.package
        if package is None or not ecosystem_matches(package.ecosystem, ecosystem):
            continue
        if not names_match(ecosystem, package.name, name):
            continue
        via, reason = _evaluate(entry, version, scheme, installed, versions)
        if via is not None:
            fixed: tuple[str, ...] = ()
            last: tuple[str, ...] = ()
            if installed is not None:
                fixed = _later(entry, "fixed", installed, scheme, False, versions)
                last = _later(entry, "last_affected", installed, scheme, True, versions)
            return Match(record, entry, ecosystem, name, version, via, fixed, last)
        if reason is not None and undecided is None:
            undecided = Indeterminate(record, entry, ecosystem, name, version, reason)
    return undecided
