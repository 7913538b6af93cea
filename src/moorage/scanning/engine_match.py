"""Matching components against one generation of the vulnerability database.

A component is matched as a ``Query`` (ecosystem, lookup name, version); identical queries of
many components and images are matched once. The database is asked by name key and base
ecosystem (``ix_vuln_packages_lookup``), one statement per ``CHUNK`` names, pinned to the
generation the scan started with, and the rows whose record ecosystem covers the query's stream
are kept: the same release or a prefix of it (``Debian`` covers ``Debian:12``), or a longer stream
of it (``Red Hat:enterprise_linux:9::appstream`` covers ``Red Hat:enterprise_linux:9``), as
``osv.matching.ecosystem_matches`` decides. Each record is decompressed and parsed once per
call, or once per ``RecordCache`` shared by many calls against one generation (a re-match's
batches; and, through a ``RecordKeeper`` that whoever runs the scan jobs holds, the scans that
follow each other against the generation in force), each installed version
parsed once per query (``affects_version``), and the matches of
one component (both streams of a Pro image) merged by alias (``osv.aliases``) into findings with
DTR's severity (``osv.severity``) and the fix status (``osv.status``).

A query whose version its ecosystem cannot order, or that a record names but cannot be compared
with, keeps the reason (``Outcome.problem``: the component's ``match_problem``), never a silent
"not affected"; a stored record that does not parse as OSV is such a reason too.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select

from moorage.db.engine import Database
from moorage.errors import EcosystemUnknown, MoorageError, VersionUnparseable
from moorage.scanning import ecosystems
from moorage.scanning.osv.aliases import Finding, merge_findings
from moorage.scanning.osv.matching import (
    Indeterminate,
    Match,
    ParsedVersions,
    affects_version,
    ecosystem_matches,
)
from moorage.scanning.osv.record import OsvRecord, load_record
from moorage.scanning.versions import Version, scheme_for
from moorage.scanning.vulndb.store import P, R, visible

CHUNK = 200  # (stream, name) pairs asked per statement
MAX_SUMMARY = 1000
MAX_ID = 255
MAX_VERSION = 255
MAX_VECTOR = 255
KEPT = 10_000  # parsed records a RecordKeeper keeps between scans
STATUS_WORDS = {
    "will_not_fix": "will not fix",
    "fix_deferred": "fix deferred",
    "end_of_life": "end of life",
    "under_investigation": "under investigation",
}


@dataclass(frozen=True, slots=True)
class Query:
    ecosystem: str
    name: str  # the lookup key (``vulndb.records.package_key``)
    version: str


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding as ``image_scan_findings`` holds it (every ID in ``ids``)."""

    vuln_id: str
    ids: tuple[str, ...]
    severity: str  # critical | major | minor | unknown
    cvss: float | None
    cvss_vector: str | None
    fixed_version: str | None
    status: str | None  # "will not fix", "fix deferred" … (None: fixed, or nothing said)
    summary: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    findings: tuple[FindingRow, ...] = ()
    problem: str | None = None


def _summary(record: OsvRecord) -> str | None:
    text = record.summary or (record.details or "").strip().split("\n", 1)[0]
    return text[:MAX_SUMMARY] if text else None


def finding_row(finding: Finding) -> FindingRow:
    severity = finding.severity
    score = float(severity.score) if severity is not None and severity.score is not None else None
    vector = severity.vector if severity is not None else None
    return FindingRow(
        vuln_id=finding.ids[0][:MAX_ID],
        ids=tuple(dict.fromkeys(i[:MAX_ID] for i in finding.ids)),
        severity=severity.level if severity is not None else "unknown",
        cvss=score,
        cvss_vector=vector[:MAX_VECTOR] if vector else None,
        fixed_version=finding.fixed[0][:MAX_VERSION] if finding.fixed else None,
        status=STATUS_WORDS.get(finding.status),
        summary=_summary(finding.matches[0].record),
    )


@dataclass
class _Work:
    """What one query collects across the chunks of its streams."""

    installed: Version | None
    matches: list[Match] = dataclasses.field(default_factory=list)
    problem: str | None = None
    seen: set[tuple[str, str]] = dataclasses.field(default_factory=set)  # (record, stream)

    def note(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem


def _start(query: Query) -> _Work:
    try:
        scheme = scheme_for(query.ecosystem)
    except EcosystemUnknown as exc:
        return _Work(None, problem=exc.message)
    try:
        return _Work(scheme.parse(query.version))
    except VersionUnparseable as exc:
        return _Work(None, problem=f"{exc.message}: not compared with any advisory")


async def _rows(db: Database, generation: int, asks: Sequence[tuple[str, str]]) -> list[Any]:
    keys = sorted({key for _, key in asks})
    bases = sorted({stream.split(":", 1)[0] for stream, _ in asks})
    statement = (
        select(P.c.ecosystem, P.c.base_ecosystem, P.c.name_key, R.c.pk, R.c.id, R.c.document)
        .join(R, R.c.pk == P.c.record_pk)
        .where(
            and_(
                P.c.name_key.in_(keys),
                P.c.base_ecosystem.in_(bases),
                visible(generation),
                R.c.withdrawn.is_(None),
            )
        )
        .order_by(R.c.id)
    )
    async with db.read() as conn:
        return list(await conn.execute(statement))


class RecordCache:
    """Parsed records of one generation by row, the ``limit`` most recently used kept.

    A stored record's document never changes under its row (an import adds rows and retires
    them), so a parse is good for as long as the row is visible: for calls pinned to the same
    generation. Each entry is checked against the row's ID too, so a row number reused after a
    later import pruned the old row is parsed again rather than trusted."""

    __slots__ = ("_entries", "generation", "hits", "limit", "misses", "versions")

    def __init__(self, generation: int, limit: int = 20_000) -> None:
        if limit < 1:
            raise ValueError("a record cache holds at least one record")
        self.generation = generation
        self.limit = limit
        self.versions = ParsedVersions(5 * limit)  # the versions these records name, parsed
        self._entries: OrderedDict[int, tuple[str, OsvRecord | str]] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, row: Any) -> OsvRecord | str:
        """The row's record, or why it cannot be read."""
        pk, ident = int(row.pk), str(row.id)
        entry = self._entries.get(pk)
        if entry is not None and entry[0] == ident:
            self._entries.move_to_end(pk)
            self.hits += 1
            return entry[1]
        self.misses += 1
        try:
            found: OsvRecord | str = load_record(zlib.decompress(row.document))
        except (MoorageError, ValueError, zlib.error) as exc:
            found = f"the advisory {ident} cannot be read: {str(exc)[:200]}"
        self._entries[pk] = (ident, found)
        self._entries.move_to_end(pk)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)
        return found


class RecordKeeper:
    """The ``RecordCache`` of the generation in force, kept between the calls of one owner (the
    job runner of a process: its scans), replaced by an empty one when a call
    names another generation, so the parses of an older generation are dropped at once.

    Bounded by ``limit`` records (``KEPT``: a scan against 500,000 records reads ~6,500
    candidates; a parsed record of osv.dev's shape is ~8 KB, so ≤ ~80 MB kept). Calls share it
    from one event loop; ``RecordCache.record`` does no I/O, so they never interleave in it."""

    __slots__ = ("_cache", "limit")

    def __init__(self, limit: int = KEPT) -> None:
        if limit < 1:
            raise ValueError("a record keeper holds at least one record")
        self.limit = limit
        self._cache: RecordCache | None = None

    @property
    def generation(self) -> int | None:
        """The generation whose records are kept (None: nothing kept yet)."""
        return None if self._cache is None else self._cache.generation

    @property
    def kept(self) -> RecordCache | None:
        return self._cache

    def cache(self, generation: int) -> RecordCache:
        """The cache of ``generation``: the kept one, or a new one that replaces it."""
        if self._cache is None or self._cache.generation != generation:
            self._cache = RecordCache(generation, self.limit)
        return self._cache


async def match_all(
    db: Database,
    queries: Iterable[Query],
    generation: int,
    records: RecordCache | None = None,
) -> dict[Query, Outcome]:
    """The outcome of every distinct query against ``generation``; ``records``, when given,
    keeps parsed records for the next call against the same generation."""
    if records is None:
        records = RecordCache(generation)
    elif records.generation != generation:
        raise ValueError(f"a record cache of generation {records.generation} used for {generation}")
    work = {q: _start(q) for q in dict.fromkeys(queries)}
    by_ask: dict[tuple[str, str], list[Query]] = defaultdict(list)
    for query in work:
        for stream in ecosystems.streams(query.ecosystem):
            by_ask[(stream, query.name)].append(query)
    asks = sorted(by_ask, key=lambda a: (a[1], a[0]))
    for start in range(0, len(asks), CHUNK):
        chunk = asks[start : start + CHUNK]
        wanted: dict[str, list[tuple[str, str]]] = defaultdict(list)  # key → asks
        for ask in chunk:
            wanted[ask[1]].append(ask)
        for row in await _rows(db, generation, chunk):
            for stream, key in wanted.get(row.name_key, ()):
                if not ecosystem_matches(row.ecosystem, stream):
                    continue
                record = records.record(row)
                for query in by_ask[(stream, key)]:
                    _evaluate(work[query], record, stream, query, records.versions)
    return {q: _outcome(q, w) for q, w in work.items()}


def _evaluate(
    work: _Work, record: OsvRecord | str, stream: str, query: Query, versions: ParsedVersions
) -> None:
    if isinstance(record, str):
        work.note(record)
        return
    if (record.id, stream) in work.seen:
        return  # the same record met through another of its packages' rows
    work.seen.add((record.id, stream))
    result = affects_version(record, stream, query.name, query.version, work.installed, versions)
    if isinstance(result, Match):
        # One component, one ecosystem: both streams of a Pro image merge into one finding.
        work.matches.append(dataclasses.replace(result, ecosystem=query.ecosystem))
    elif isinstance(result, Indeterminate):
        work.note(f"{record.id} cannot be compared: {result.reason}")


def _outcome(query: Query, work: _Work) -> Outcome:
    findings = tuple(finding_row(f) for f in merge_findings(work.matches))
    return Outcome(findings, work.problem)
