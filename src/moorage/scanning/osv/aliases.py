"""One finding per vulnerability: matches of records that name each other are merged.

Records are the same vulnerability when one lists the other among its ``aliases`` (a GHSA and
its CVE, PYSEC and CVE), or when one is derived from exactly one other (``upstream``: Debian's
DEBIAN-CVE and Alpine's ALPINE-CVE records name their CVE). A notice that covers several CVEs
(a DSA, DLA or USN with several ``upstream`` IDs) is not one vulnerability: its ID is added to
the finding of each CVE it covers that has one, and it stands as its own finding only for what no
other finding covers. Findings are per package (ecosystem, name, version); IDs are listed CVE
first, then the rest in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from moorage.errors import VersionUnparseable
from moorage.scanning.osv.matching import Match
from moorage.scanning.osv.severity import Severity, severity_of, worst
from moorage.scanning.osv.status import FixStatus, fix_status
from moorage.scanning.versions import scheme_for


@dataclass(frozen=True)
class Finding:
    ids: tuple[str, ...]
    ecosystem: str
    name: str
    version: str
    fixed: tuple[str, ...]  # the oldest fix first
    severity: Severity | None
    status: FixStatus
    status_word: str | None
    matches: tuple[Match, ...]


def _ordered_ids(ids: set[str]) -> tuple[str, ...]:
    return tuple(sorted(ids, key=lambda i: (not i.startswith("CVE-"), i)))


def _sort_versions(ecosystem: str, texts: set[str]) -> tuple[str, ...]:
    scheme = scheme_for(ecosystem)
    try:
        return tuple(sorted(texts, key=scheme.parse))
    except VersionUnparseable:
        return tuple(sorted(texts))


class _Groups:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _merge_package(matches: list[Match]) -> list[Finding]:
    groups = _Groups()
    notices: list[Match] = []
    for m in matches:
        record = m.record
        groups.find(record.id)
        for alias in record.aliases:
            groups.union(record.id, alias)
        if len(record.upstream) == 1:
            groups.union(record.id, record.upstream[0])
        elif len(record.upstream) > 1:
            notices.append(m)
    members: dict[str, list[Match]] = {}
    ids: dict[str, set[str]] = {}
    notice_ids = {id(m) for m in notices}
    single = [m for m in matches if id(m) not in notice_ids]
    for m in single:
        root = groups.find(m.record.id)
        members.setdefault(root, []).append(m)
        ids.setdefault(root, set()).update([m.record.id, *m.record.aliases, *m.record.upstream[:1]])
    for m in notices:
        covered = [groups.find(u) for u in m.record.upstream if groups.find(u) in members]
        uncovered = [u for u in m.record.upstream if groups.find(u) not in members]
        for root in dict.fromkeys(covered):
            members[root].append(m)
            ids[root].add(m.record.id)
        if uncovered or not covered:
            root = groups.find(m.record.id)
            members.setdefault(root, []).append(m)
            ids.setdefault(root, set()).update([m.record.id, *m.record.aliases, *uncovered])
    findings = []
    for root, group in members.items():
        first = group[0]
        fixed = _sort_versions(first.ecosystem, {f for m in group for f in m.fixed})
        statuses = [fix_status(m) for m in group]
        status = next((s for s in statuses if s.status == "fixed"), None) or next(
            (s for s in statuses if s.status != "affected"), statuses[0]
        )
        findings.append(
            Finding(
                ids=_ordered_ids(ids[root]),
                ecosystem=first.ecosystem,
                name=first.name,
                version=first.version,
                fixed=fixed,
                severity=worst([severity_of(m.record, m.affected) for m in group]),
                status=status.status,
                status_word=status.word,
                matches=tuple(group),
            )
        )
    return sorted(findings, key=lambda f: f.ids)


def merge_findings(matches: Iterable[Match]) -> list[Finding]:
    """The findings of ``matches`` (any packages), one per vulnerability per package."""
    by_package: dict[tuple[str, str, str], list[Match]] = {}
    for m in matches:
        by_package.setdefault((m.ecosystem, m.name, m.version), []).append(m)
    out: list[Finding] = []
    for key in sorted(by_package):
        out += _merge_package(by_package[key])
    return out
