"""What the scanner found in an image manifest, read back from the result tables: its scan's state
(status, the reason a scan failed, DTR's critical / major / minor counts, when it completed and
against which database generation), its layers in manifest order with the components each
introduced and their findings, the overrides and VEX statements that suppress some of them.

Queries only: the engine (``moorage.scanning.engine``) writes these tables, this module reads
them for the API and the web UI. Who may see a result is decided by the repositories that hold
the manifest, by the caller (``services.access.repository_level``) or by ``report_search``.
Everything is read in batches (``IN`` over the digests at hand), never one query per component.
An export's rows are ``report_export``'s.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from moorage.db import scan_result_tables as sr
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc
from moorage.errors import MoorageError
from moorage.oci.manifest import DOCKER_FOREIGN_LAYERS, parse_manifest
from moorage.scanning import vex
from moorage.scanning.vulndb import status as vulndb_status

NOT_SCANNED = "not_scanned"  # no row: the image was never queued for a scan
STATUSES = ("queued", "scanning", "scanned", "failed")
OVERRIDE_PREFIX = "override:"  # image_scan_findings.suppressed_by of a layer override
VEX_PREFIX = vex.PREFIX  # … of an OpenVEX statement (``vex:<statement pk>``)
BATCH = 500  # digests or keys per IN (…) list


@dataclass(frozen=True, slots=True)
class Counts:
    critical: int = 0
    major: int = 0
    minor: int = 0

    @property
    def total(self) -> int:
        return self.critical + self.major + self.minor


@dataclass(frozen=True, slots=True)
class ScanState:
    """One manifest's scan without its content: what a tags list or a search result shows."""

    manifest_digest: str
    status: str  # queued | scanning | scanned | failed | not_scanned
    reason: str | None  # why it failed (never shown as "0 vulnerabilities")
    os: str | None
    counts: Counts
    generation: int | None  # the vulnerability database generation matched
    queued_at: dt.datetime | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None  # DTR's check_completed_at
    current_generation: int  # the database in force now

    @property
    def scanned(self) -> bool:
        return self.status == "scanned"

    @property
    def should_rescan(self) -> bool:
        """A failed scan, or a result matched against an older database than the one in force
        (the re-match job brings it up to date)."""
        if self.status == "failed":
            return True
        return self.scanned and (self.generation or 0) < self.current_generation


@dataclass(frozen=True, slots=True)
class Finding:
    vuln_id: str  # the primary ID; ``ids`` every ID of the finding (aliases merged)
    ids: tuple[str, ...]
    severity: str  # critical | major | minor | unknown
    cvss: float | None
    cvss_vector: str | None
    fixed_version: str | None
    status: str | None  # "will not fix", "fix deferred" … (None: nothing said)
    summary: str | None
    suppressed_by: str | None  # "override:<id>" or "vex:<statement pk>"; None: it counts
    suppression_reason: str | None  # the override's notes, the VEX justification

    @property
    def suppressed(self) -> bool:
        return self.suppressed_by is not None


@dataclass(frozen=True, slots=True)
class Component:
    pk: int
    layer_index: int
    layer_digest: str
    type: str  # purl type: deb, apk, rpm, pypi, npm …
    name: str
    version: str
    namespace: str | None
    source_name: str | None
    source_version: str | None
    arch: str | None
    path: str
    licenses: tuple[str, ...]
    ecosystem: str | None
    match_problem: str | None  # why it could not be matched (an unparseable version …)
    findings: tuple[Finding, ...]

    @property
    def counts(self) -> Counts:
        return count_findings(self.findings)


@dataclass(frozen=True, slots=True)
class ReportLayer:
    index: int
    digest: str
    media_type: str
    size: int
    foreign: bool
    components: tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class Override:
    """DTR's layer override: ``vuln_id`` does not apply to ``component`` in ``layer_digest``."""

    id: str
    layer_digest: str
    component: str
    component_version: str | None  # None: every version of the component in the layer
    vuln_id: str
    notes: str
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ScanReport:
    state: ScanState
    layers: tuple[ReportLayer, ...]
    overrides: tuple[Override, ...]  # the overrides on this image's layers

    @property
    def components(self) -> list[Component]:
        return [c for layer in self.layers for c in layer.components]

    @property
    def has_foreign_layers(self) -> bool:
        return any(layer.foreign for layer in self.layers)

    @property
    def licenses(self) -> list[str]:
        return sorted({name for c in self.components for name in c.licenses})

    def findings(self) -> list[tuple[Component, Finding]]:
        return [(c, f) for c in self.components for f in c.findings]

    @property
    def max_cvss(self) -> float:
        scores = [f.cvss for _, f in self.findings() if f.cvss is not None and not f.suppressed]
        return max(scores, default=0.0)


def count_findings(findings: Iterable[Finding]) -> Counts:
    """DTR's counts of ``findings``: one per finding (a component and a vulnerability) that is
    not suppressed, at its severity (``unknown`` counts nowhere)."""
    tally = {"critical": 0, "major": 0, "minor": 0}
    for finding in findings:
        if not finding.suppressed and finding.severity in tally:
            tally[finding.severity] += 1
    return Counts(**tally)


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), BATCH):
        yield values[i : i + BATCH]


def _json_list(raw: str | None) -> tuple[str, ...]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _time(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value) if value is not None else None


# ---- states --------------------------------------------------------------------------------


async def current_generation(db: Database) -> int:
    return (await vulndb_status.read(db)).generation


def _state(row: Any, digest: str, generation: int) -> ScanState:
    if row is None:
        return ScanState(
            digest, NOT_SCANNED, None, None, Counts(), None, None, None, None, generation
        )
    scanned = row.status == "scanned"
    counts = Counts(int(row.critical), int(row.major), int(row.minor)) if scanned else Counts()
    return ScanState(
        manifest_digest=digest,
        status=row.status,
        reason=row.reason,
        os=row.os,
        counts=counts,
        generation=row.vulndb_generation,
        queued_at=_time(row.queued_at),
        started_at=_time(row.started_at),
        completed_at=_time(row.completed_at),
        current_generation=generation,
    )


async def _state_rows(conn: Connection, digests: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    s = sr.image_scans
    for part in _chunks(digests):
        for row in await conn.execute(select(s).where(s.c.manifest_digest.in_(part))):
            found[row.manifest_digest] = row
    return found


async def states(db: Database, digests: Iterable[str]) -> dict[str, ScanState]:
    """The scan state of each of ``digests`` (``not_scanned`` for one never queued)."""
    wanted = sorted(set(digests))
    generation = await current_generation(db)
    async with db.read() as conn:
        rows = await _state_rows(conn, wanted)
    return {d: _state(rows.get(d), d, generation) for d in wanted}


# ---- full reports --------------------------------------------------------------------------


async def _layers_of(
    conn: Connection, digests: Sequence[str]
) -> dict[str, list[tuple[str, str, int]]]:
    """Each manifest's layers (digest, media type, size) in order, from its stored bytes (any
    repository's copy: the bytes are the digest's)."""
    m = t.manifests
    out: dict[str, list[tuple[str, str, int]]] = {}
    for part in _chunks(digests):
        query = select(m.c.digest, m.c.media_type, m.c.payload).where(m.c.digest.in_(part))
        for row in await conn.execute(query):
            if row.digest in out:
                continue
            try:
                parsed = parse_manifest(bytes(row.payload), row.media_type)
            except MoorageError:
                out[row.digest] = []
                continue
            out[row.digest] = [(str(d.digest), d.media_type, d.size) for d in parsed.layers]
    return out


async def _components(conn: Connection, digests: Sequence[str]) -> dict[str, list[Any]]:
    c = sr.image_scan_components
    out: dict[str, list[Any]] = defaultdict(list)
    for part in _chunks(digests):
        query = (
            select(c)
            .where(c.c.manifest_digest.in_(part))
            .order_by(c.c.manifest_digest, c.c.layer_index, c.c.name, c.c.version, c.c.pk)
        )
        for row in await conn.execute(query):
            out[row.manifest_digest].append(row)
    return out


async def _findings(conn: Connection, digests: Sequence[str]) -> dict[int, list[Any]]:
    f = sr.image_scan_findings
    out: dict[int, list[Any]] = defaultdict(list)
    for part in _chunks(digests):
        query = select(f).where(f.c.manifest_digest.in_(part)).order_by(f.c.vuln_id, f.c.pk)
        for row in await conn.execute(query):
            out[int(row.component_pk)].append(row)
    return out


def override_of(row: Any) -> Override:
    return Override(
        id=row.id,
        layer_digest=row.layer_digest,
        component=row.component,
        component_version=row.component_version,
        vuln_id=row.vuln_id,
        notes=row.reason or "",
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
    )


async def _overrides_on(conn: Connection, layers: Sequence[str]) -> list[Override]:
    o = sr.scan_overrides
    found: list[Override] = []
    for part in _chunks(sorted(set(layers))):
        query = select(o).where(o.c.layer_digest.in_(part)).order_by(o.c.created_at, o.c.id)
        found.extend(override_of(row) for row in await conn.execute(query))
    return found


def _vex_reason(statement: vex.Statement) -> str:
    words = [w for w in (statement.justification, statement.impact_statement) if w]
    return f"VEX {statement.document_id}: {statement.status}" + (
        f" ({'; '.join(words)})" if words else ""
    )


def _finding(row: Any, overrides: dict[str, Override], statements: dict[str, str]) -> Finding:
    ids = _json_list(row.ids) or (row.vuln_id,)
    reason = None
    by = row.suppressed_by
    if by and by.startswith(OVERRIDE_PREFIX):
        found = overrides.get(by.removeprefix(OVERRIDE_PREFIX))
        reason = found.notes if found is not None else "layer override"
    elif by:
        reason = statements.get(by, "VEX statement" if by.startswith(VEX_PREFIX) else by)
    return Finding(
        vuln_id=row.vuln_id,
        ids=ids,
        severity=row.severity,
        cvss=float(row.cvss) if row.cvss is not None else None,
        cvss_vector=row.cvss_vector,
        fixed_version=row.fixed_version,
        status=row.status,
        summary=row.summary,
        suppressed_by=by,
        suppression_reason=reason,
    )


def _component(row: Any, findings: tuple[Finding, ...]) -> Component:
    return Component(
        pk=int(row.pk),
        layer_index=int(row.layer_index),
        layer_digest=row.layer_digest,
        type=row.type,
        name=row.name,
        version=row.version,
        namespace=row.namespace,
        source_name=row.source_name,
        source_version=row.source_version,
        arch=row.arch,
        path=row.path,
        licenses=_json_list(row.licenses),
        ecosystem=row.ecosystem,
        match_problem=row.match_problem,
        findings=findings,
    )


def _assemble(
    state: ScanState,
    manifest_layers: list[tuple[str, str, int]],
    components: list[Component],
    overrides: list[Override],
) -> ScanReport:
    by_layer: dict[str, list[Component]] = defaultdict(list)
    for component in components:
        by_layer[component.layer_digest].append(component)
    layers: list[ReportLayer] = []
    for index, (digest, media_type, size) in enumerate(manifest_layers):
        foreign = media_type in DOCKER_FOREIGN_LAYERS
        layers.append(
            ReportLayer(index, digest, media_type, size, foreign, tuple(by_layer.pop(digest, [])))
        )
    for digest, rest in sorted(by_layer.items(), key=lambda kv: kv[1][0].layer_index):
        # The manifest is gone from every repository, or names the layer no longer: keep
        # what the scan saw.
        layers.append(ReportLayer(rest[0].layer_index, digest, "", 0, False, tuple(rest)))
    held = {layer.digest for layer in layers}
    return ScanReport(state, tuple(layers), tuple(o for o in overrides if o.layer_digest in held))


async def reports(db: Database, digests: Iterable[str]) -> dict[str, ScanReport]:
    """The full report of each of ``digests``: one batch of queries for all of them."""
    wanted = sorted(set(digests))
    generation = await current_generation(db)
    async with db.read() as conn:
        rows = await _state_rows(conn, wanted)
        layer_lists = await _layers_of(conn, wanted)
        component_rows = await _components(conn, wanted)
        finding_rows = await _findings(conn, wanted)
        layer_digests = [d for lst in layer_lists.values() for d, _, _ in lst]
        layer_digests += [r.layer_digest for lst in component_rows.values() for r in lst]
        overrides = await _overrides_on(conn, layer_digests)
        suppressions = [r.suppressed_by for lst in finding_rows.values() for r in lst]
        found = await vex.reasons(conn, [s for s in suppressions if s])
        statements = {key: _vex_reason(statement) for key, statement in found.items()}
    by_id = {o.id: o for o in overrides}
    out: dict[str, ScanReport] = {}
    for digest in wanted:
        state = _state(rows.get(digest), digest, generation)
        components = [
            _component(
                row, tuple(_finding(f, by_id, statements) for f in finding_rows.get(row.pk, []))
            )
            for row in component_rows.get(digest, [])
        ]
        out[digest] = _assemble(state, layer_lists.get(digest, []), components, overrides)
    return out


async def report(db: Database, digest: str) -> ScanReport:
    return (await reports(db, [digest]))[digest]
