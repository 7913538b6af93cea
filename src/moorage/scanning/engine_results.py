"""Writing a scan's state and result into the result tables (``db/scan_result_tables.py``).

A result replaces the previous one of its manifest digest in one short transaction: the old
components, findings and IDs go, the new ones are inserted in bulk, the layer overrides of the
image's layers (``layer_overrides.apply``) and the VEX statements (``vex.apply``, which also
recounts DTR's critical / major / minor from the findings nothing suppresses) are applied, the
state row says ``scanned`` with the database generation matched, and the webhook event
(``SCAN_COMPLETED``, DTR's payload with its ``scanSummary``) is recorded in the same
transaction. A failure is recorded the same way with its reason (``SCAN_FAILED``): the previous
result goes, so a failed scan never shows stale counts, and "failed" is never "0
vulnerabilities". A failure for want of a vulnerability database keeps the inventory it read
(components without findings), so the first import matches it without reading a layer again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from moorage.db import scan_result_tables as sr
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.events import store as events
from moorage.registry import repositories
from moorage.scanning import layer_overrides, vex
from moorage.scanning.engine_match import FindingRow
from moorage.scanning.reports import override_of

S, C, F, IDS, OV, LIC = (
    sr.image_scans,
    sr.image_scan_components,
    sr.image_scan_findings,
    sr.image_scan_finding_ids,
    sr.scan_overrides,
    sr.image_scan_component_licenses,
)
NO_DATABASE = "no vulnerability database has been imported yet"
DTR_FAILED, DTR_COMPLETED = 0, 6  # DTR's last_scan_status
CHUNK = 500


@dataclass(frozen=True, slots=True)
class ComponentRow:
    """One component as ``image_scan_components`` holds it."""

    layer_index: int
    layer_digest: str
    type: str
    name: str
    version: str
    path: str
    namespace: str | None = None
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    licenses: tuple[str, ...] = ()
    ecosystem: str | None = None
    match_name: str | None = None
    match_problem: str | None = None

    def values(self, digest: str) -> dict[str, Any]:
        return {
            "manifest_digest": digest,
            "layer_index": self.layer_index,
            "layer_digest": self.layer_digest,
            "type": self.type[:32],
            "name": self.name[: sr.MAX_NAME],
            "version": self.version[: sr.MAX_VERSION],
            "namespace": self.namespace[: sr.MAX_NAME] if self.namespace else None,
            "source_name": self.source_name[: sr.MAX_NAME] if self.source_name else None,
            "source_version": self.source_version[: sr.MAX_VERSION]
            if self.source_version
            else None,
            "arch": self.arch[:64] if self.arch else None,
            "path": self.path,
            "licenses": json.dumps(list(self.licenses)),
            "ecosystem": self.ecosystem[:255] if self.ecosystem else None,
            "match_name": self.match_name[: sr.MAX_NAME] if self.match_name else None,
            "match_problem": self.match_problem,
        }


@dataclass(frozen=True, slots=True)
class Announce:
    """Where a scan's webhook event goes: the repository and tag the scan was asked for."""

    repository: str
    tag: str = ""


@dataclass(frozen=True, slots=True)
class Counts:
    critical: int = 0
    major: int = 0
    minor: int = 0


def iso(value: dt.datetime) -> str:
    """DTR's timestamps (as ``webhooks.payloads`` writes them)."""
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def mark_scanning(db: Database, digest: str, job_id: str | None) -> dt.datetime:
    """The scan of ``digest`` has started (a row is made if it was not queued)."""
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            db.insert(S)
            .values(
                manifest_digest=digest,
                status="scanning",
                queued_at=now,
                started_at=now,
                job_id=job_id,
            )
            .on_conflict_do_update(
                index_elements=["manifest_digest"],
                set_={"status": "scanning", "started_at": now, "job_id": job_id, "reason": None},
            )
        )
    return now


async def forget_queued(db: Database, digest: str) -> None:
    """A manifest queued for a scan that is no image (an attestation, an artifact): its
    ``queued`` row goes, so it is shown as what it is, not as waiting forever."""
    async with db.write() as conn:
        await conn.execute(
            delete(S).where(and_(S.c.manifest_digest == digest, S.c.status == "queued"))
        )


async def clear(conn: Connection, digests: Sequence[str]) -> None:
    """The components, findings and IDs of ``digests``."""
    for start in range(0, len(digests), CHUNK):
        part = list(digests[start : start + CHUNK])
        doomed = select(F.c.pk).where(F.c.manifest_digest.in_(part))
        await conn.execute(delete(IDS).where(IDS.c.finding_pk.in_(doomed)))
        await conn.execute(delete(F).where(F.c.manifest_digest.in_(part)))
        await conn.execute(delete(LIC).where(LIC.c.manifest_digest.in_(part)))
        await conn.execute(delete(C).where(C.c.manifest_digest.in_(part)))


async def insert_components(
    conn: Connection, digest: str, components: Sequence[ComponentRow]
) -> list[int]:
    """The new components' primary keys, in order."""
    if not components:
        return []
    result = await conn.execute(
        insert(C).returning(C.c.pk, sort_by_parameter_order=True),
        [c.values(digest) for c in components],
    )
    pks = [int(r.pk) for r in result]
    licences = [
        row
        for pk, c in zip(pks, components, strict=True)
        for row in sr.license_rows(pk, digest, c.licenses)
    ]
    if licences:
        await conn.execute(insert(LIC), licences)
    return pks


async def insert_findings(
    conn: Connection, digest: str, findings: Sequence[tuple[int, FindingRow]]
) -> None:
    """Findings of components (by pk) of ``digest``, with a row per ID."""
    if not findings:
        return
    rows = [
        {
            "component_pk": pk,
            "manifest_digest": digest,
            "vuln_id": f.vuln_id,
            "ids": json.dumps(list(f.ids)),
            "severity": f.severity,
            "cvss": f.cvss,
            "cvss_vector": f.cvss_vector,
            "fixed_version": f.fixed_version,
            "status": f.status,
            "summary": f.summary,
            "suppressed_by": None,
        }
        for pk, f in findings
    ]
    result = await conn.execute(insert(F).returning(F.c.pk, sort_by_parameter_order=True), rows)
    pks = [int(r.pk) for r in result]
    ids = [
        {"finding_pk": fpk, "vuln_id": vuln}
        for fpk, (_, f) in zip(pks, findings, strict=True)
        for vuln in f.ids
    ]
    await conn.execute(insert(IDS), ids)


async def suppress(conn: Connection, digests: Collection[str], layers: Iterable[str]) -> None:
    """Apply the layer overrides of ``layers`` and the VEX statements to ``digests``' findings,
    and recount them (``vex.apply`` recounts every image it is handed)."""
    held = sorted(set(layers))
    overrides = []
    for start in range(0, len(held), CHUNK):
        query = select(OV).where(OV.c.layer_digest.in_(held[start : start + CHUNK]))
        overrides += [override_of(row) for row in await conn.execute(query)]
    touched = await layer_overrides.apply(conn, overrides) if overrides else set()
    await vex.apply(conn, set(digests) | touched)


async def _counts(conn: Connection, digest: str) -> Counts:
    row = (
        await conn.execute(
            select(S.c.critical, S.c.major, S.c.minor).where(S.c.manifest_digest == digest)
        )
    ).first()
    return Counts(int(row.critical), int(row.major), int(row.minor)) if row else Counts()


async def _announce(
    conn: Connection,
    announce: Announce | None,
    event_type: str,
    digest: str,
    details: dict[str, Any],
) -> None:
    if announce is None or not announce.repository:
        return
    repo = await repositories.find(conn, announce.repository)
    if repo is None:
        return  # deleted while it was scanned: nobody to tell
    await events.record(
        conn,
        event_type,
        repository=repo.name,
        repository_id=repo.id,
        object_type=events.TAG if announce.tag else events.MANIFEST,
        object_id=announce.tag or digest,
        actor=None,
        details={"digest": digest, **details},
    )


def _summary(announce: Announce, counts: Counts, status: int, at: dt.datetime) -> dict[str, Any]:
    namespace, _, short = announce.repository.partition("/")
    return {
        "namespace": namespace,
        "repository": short,
        "tag": announce.tag,
        "critical": counts.critical,
        "major": counts.major,
        "minor": counts.minor,
        "last_scan_status": status,
        "check_completed_at": iso(at),
    }


@dataclass(frozen=True, slots=True)
class ScanWrite:
    digest: str
    os: str | None
    os_detail: dict[str, Any]
    components: Sequence[tuple[ComponentRow, Sequence[FindingRow]]]
    layers: Sequence[str]
    generation: int
    job_id: str | None
    started_at: dt.datetime | None = None


async def write_scanned(db: Database, result: ScanWrite, announce: Announce | None) -> Counts:
    """Replace the result of ``result.digest`` (see the module's documentation)."""
    now = utcnow()
    digest = result.digest
    async with db.write() as conn:
        state = {
            "status": "scanned",
            "reason": None,
            "os": (result.os or "")[:255] or None,
            "os_detail": json.dumps(result.os_detail, sort_keys=True),
            "vulndb_generation": result.generation,
            "job_id": result.job_id,
            "completed_at": now,
            "critical": 0,
            "major": 0,
            "minor": 0,
        }
        await conn.execute(
            db.insert(S)
            .values(manifest_digest=digest, queued_at=now, started_at=result.started_at, **state)
            .on_conflict_do_update(index_elements=["manifest_digest"], set_=state)
        )
        # After the state row: its upsert locks the row (PostgreSQL), so a concurrent scan of
        # the same digest waits here and its clear() then sees this one's rows.
        await clear(conn, [digest])
        pks = await insert_components(conn, digest, [c for c, _ in result.components])
        pairs = [
            (pk, f) for pk, (_, found) in zip(pks, result.components, strict=True) for f in found
        ]
        await insert_findings(conn, digest, pairs)
        await suppress(conn, [digest], result.layers)
        counts = await _counts(conn, digest)
        if announce is not None:
            summary = _summary(announce, counts, DTR_COMPLETED, now)
            await _announce(conn, announce, events.SCAN_COMPLETED, digest, {"scanSummary": summary})
    return counts


async def write_failed(
    db: Database,
    digest: str,
    reason: str,
    *,
    job_id: str | None,
    announce: Announce | None,
    os: str | None = None,
    os_detail: dict[str, Any] | None = None,
    components: Sequence[ComponentRow] = (),
) -> None:
    """Record that the scan of ``digest`` failed and why (the previous result goes)."""
    now = utcnow()
    async with db.write() as conn:
        state = {
            "status": "failed",
            "reason": reason[:4000],
            "os": (os or "")[:255] or None,
            "os_detail": json.dumps(os_detail, sort_keys=True) if os_detail else None,
            "vulndb_generation": None,
            "job_id": job_id,
            "completed_at": now,
            "critical": 0,
            "major": 0,
            "minor": 0,
        }
        await conn.execute(
            db.insert(S)
            .values(manifest_digest=digest, queued_at=now, **state)
            .on_conflict_do_update(index_elements=["manifest_digest"], set_=state)
        )
        await clear(conn, [digest])  # after the state row, as in write_scanned
        await insert_components(conn, digest, components)
        await _announce(conn, announce, events.SCAN_FAILED, digest, {"error": reason[:4000]})


async def bump_generation(conn: Connection, before: int, after: int) -> int:
    """Scanned results matched against ``before`` that an update to ``after`` does not change
    are current: they say ``after``. Returns how many."""
    done = await conn.execute(
        update(S)
        .where(and_(S.c.status == "scanned", S.c.vulndb_generation == before))
        .values(vulndb_generation=after)
    )
    return int(done.rowcount or 0)
