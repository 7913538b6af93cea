"""Reading what the scan engine wrote (``db/scan_result_tables.py``), for its tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from moorage.db import scan_result_tables as sr
from moorage.db.engine import Database


@dataclass(frozen=True)
class Found:
    component: str
    layer: int
    vuln_id: str
    ids: tuple[str, ...]
    severity: str
    cvss: float | None
    fixed: str | None
    status: str | None = None
    suppressed: str | None = None  # "override" | "vex" | None


async def state(db: Database, digest: str) -> Any:
    async with db.read() as conn:
        s = sr.image_scans
        return (await conn.execute(select(s).where(s.c.manifest_digest == digest))).first()


async def components(db: Database, digest: str) -> dict[tuple[str, str], Any]:
    """(type, name) → the component row."""
    c = sr.image_scan_components
    async with db.read() as conn:
        rows = await conn.execute(select(c).where(c.c.manifest_digest == digest))
        return {(r.type, r.name): r for r in rows}


async def findings(db: Database, digest: str) -> set[Found]:
    c, f = sr.image_scan_components, sr.image_scan_findings
    async with db.read() as conn:
        rows = await conn.execute(
            select(f, c.c.name.label("component"), c.c.layer_index)
            .join(c, c.c.pk == f.c.component_pk)
            .where(f.c.manifest_digest == digest)
        )
        return {
            Found(
                component=r.component,
                layer=r.layer_index,
                vuln_id=r.vuln_id,
                ids=tuple(json.loads(r.ids)),
                severity=r.severity,
                cvss=r.cvss,
                fixed=r.fixed_version,
                status=r.status,
                suppressed=r.suppressed_by.split(":", 1)[0] if r.suppressed_by else None,
            )
            for r in rows
        }


async def counts(db: Database, digest: str) -> tuple[int, int, int]:
    row = await state(db, digest)
    assert row is not None, digest
    return int(row.critical), int(row.major), int(row.minor)


async def id_rows(db: Database, digest: str) -> set[str]:
    """Every ID row of the image's findings (image_scan_finding_ids)."""
    f, i = sr.image_scan_findings, sr.image_scan_finding_ids
    async with db.read() as conn:
        rows = await conn.execute(
            select(i.c.vuln_id)
            .join(f, f.c.pk == i.c.finding_pk)
            .where(f.c.manifest_digest == digest)
        )
        return {r.vuln_id for r in rows}


async def rows_of(db: Database, digest: str) -> tuple[int, int, int]:
    """How many component, finding and ID rows the image has."""
    c, f, i = sr.image_scan_components, sr.image_scan_findings, sr.image_scan_finding_ids
    async with db.read() as conn:
        n_c = (
            await conn.execute(select(func.count()).where(c.c.manifest_digest == digest))
        ).scalar_one()
        n_f = (
            await conn.execute(select(func.count()).where(f.c.manifest_digest == digest))
        ).scalar_one()
        n_i = (
            await conn.execute(
                select(func.count())
                .select_from(i.join(f, f.c.pk == i.c.finding_pk))
                .where(f.c.manifest_digest == digest)
            )
        ).scalar_one()
    return int(n_c), int(n_f), int(n_i)
