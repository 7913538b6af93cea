"""Scan results written straight into the result tables (``db/scan_result_tables.py``), as the
scan engine would leave them, for the tests of what reads them (SBOM export, VEX): an
``image_scans`` row, its components layer by layer and their findings (with every ID).

The components come from the scanner fixtures' expected package lists
(``tests/scanning/data/scanner/*/expected-packages.json``, the owning projects' test oracles; see
the SOURCES.md beside them), so the SBOMs describe packages real images hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moorage.db import scan_result_tables as st
from moorage.db.engine import Database, utcnow
from moorage.db.migrate import upgrade

DATA = Path(__file__).parent / "data" / "scanner"
LAYER_BASE = "sha256:" + "a1" * 32
LAYER_APP = "sha256:" + "b2" * 32
_TEMPLATE: list[Path] = []


@contextlib.asynccontextmanager
async def migrated(tmp_path: Path, url: str | None) -> AsyncIterator[Database]:
    """A migrated database: ``url`` (PostgreSQL, already migrated by the fixture) or a fresh
    SQLite copy of one template migrated once per session."""
    if url is None:
        if not _TEMPLATE:
            folder = Path(tempfile.mkdtemp(prefix="moorage-scan-rows-"))
            await asyncio.to_thread(upgrade, f"sqlite:///{folder / 'moorage.db'}")
            _TEMPLATE.append(folder / "moorage.db")
        path = tmp_path / "moorage.db"
        shutil.copyfile(_TEMPLATE[0], path)
        url = f"sqlite:///{path}"
    db = Database(url)
    try:
        yield db
    finally:
        await db.close()


@dataclass(frozen=True)
class ComponentRow:
    type: str
    name: str
    version: str
    path: str
    layer_index: int = 0
    layer_digest: str = LAYER_BASE
    namespace: str | None = None
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    licenses: tuple[str, ...] = ()


@dataclass(frozen=True)
class FindingRow:
    component: str  # the component's name
    vuln_id: str
    aliases: tuple[str, ...] = ()
    severity: str = "major"
    suppressed_by: str | None = None


@dataclass
class Seeded:
    digest: str
    components: dict[str, int] = field(default_factory=dict)  # name -> pk
    findings: dict[tuple[str, str], int] = field(default_factory=dict)  # (name, vuln) -> pk


def _expected(relative: str) -> list[dict[str, Any]]:
    packages: list[dict[str, Any]] = json.loads(
        (DATA / relative / "expected-packages.json").read_text()
    )["packages"]
    return packages


def dpkg(relative: str, *, layer: int = 0, digest: str = LAYER_BASE) -> list[ComponentRow]:
    """The dpkg packages of a fixture (licences where its oracle parsed the copyright file)."""
    return [
        ComponentRow(
            type="deb",
            name=p["name"],
            version=p["version"],
            path=p.get("file", "var/lib/dpkg/status"),
            layer_index=layer,
            layer_digest=digest,
            source_name=p.get("source_name"),
            source_version=p.get("source_version"),
            arch=p.get("arch"),
            licenses=tuple(p.get("licenses_from_copyright") or ()),
        )
        for p in _expected(relative)
    ]


def language(
    relative: str, kind: str, *, layer: int = 1, digest: str = LAYER_APP
) -> list[ComponentRow]:
    """The language packages of a fixture (Maven ``group:artifact`` split into the namespace)."""
    rows = []
    for p in _expected(relative):
        if p.get("expect_error") or "version" not in p:
            continue  # the oracle's "must fail to parse" cases hold no package
        namespace = p.get("group_id")
        name = p.get("artifact_id") or p["name"]
        rows.append(
            ComponentRow(
                type=kind,
                name=name,
                version=p["version"],
                path=p.get("file") or p.get("path_in_archive") or relative,
                layer_index=layer,
                layer_digest=digest,
                namespace=namespace,
                licenses=tuple(p.get("licenses") or ()),
            )
        )
    return rows


def rpm(relative: str) -> list[ComponentRow]:
    return [
        ComponentRow(
            type="rpm",
            name=p["name"],
            version=(f"{p['epoch']}:" if p.get("epoch") else "") + f"{p['version']}-{p['release']}",
            path="var/lib/rpm/Packages",
            source_name=p["source_rpm"].removesuffix(".src.rpm").rsplit("-", 2)[0]
            if p.get("source_rpm")
            else None,
            arch=p.get("arch"),
            licenses=tuple(p.get("licenses") or ()),
        )
        for p in _expected(relative)
    ]


def debian_app_image() -> list[ComponentRow]:
    """A Debian base layer and an application layer of Python, npm, Maven and Ruby packages."""
    return [
        *dpkg("dpkg/debian-syft-image-dpkg"),
        *dpkg("dpkg/debian-12-scalibr-valid"),
        *language("python/trivy-site-packages", "pypi"),
        *language("npm/trivy-node-modules", "npm"),
        *language("java/trivy-multi-license-1.0.0", "maven"),
        *language("ruby/trivy-gemspecs", "gem"),
    ]


async def seed_scan(
    db: Database,
    digest: str,
    components: Sequence[ComponentRow] = (),
    findings: Iterable[FindingRow] = (),
    *,
    os: str | None = "debian 12",
    os_detail: dict[str, str] | None = None,
    status: str = "scanned",
    reason: str | None = None,
) -> Seeded:
    """One image manifest's scan, as the engine writes it (counts from the findings)."""
    now = utcnow()
    detail = os_detail
    if detail is None and os:
        ident, _, version = os.partition(" ")
        detail = {"id": ident, "version_id": version}
    findings = list(findings)
    counts = {"critical": 0, "major": 0, "minor": 0}
    for f in findings:
        if f.suppressed_by is None and f.severity in counts:
            counts[f.severity] += 1
    seeded = Seeded(digest)
    async with db.write() as conn:
        await conn.execute(
            st.image_scans.insert().values(
                manifest_digest=digest,
                status=status,
                reason=reason,
                os=os,
                os_detail=json.dumps(detail) if detail else None,
                queued_at=now,
                started_at=now if status != "queued" else None,
                completed_at=now if status in ("scanned", "failed") else None,
                **counts,
            )
        )
        for c in components:
            result = await conn.execute(
                st.image_scan_components.insert().values(
                    manifest_digest=digest,
                    layer_index=c.layer_index,
                    layer_digest=c.layer_digest,
                    type=c.type,
                    name=c.name,
                    version=c.version,
                    namespace=c.namespace,
                    source_name=c.source_name,
                    source_version=c.source_version,
                    arch=c.arch,
                    path=c.path,
                    licenses=json.dumps(list(c.licenses)),
                )
            )
            component_pk = int(result.inserted_primary_key[0])
            seeded.components.setdefault(c.name, component_pk)
            licences = st.license_rows(component_pk, digest, c.licenses)
            if licences:  # as engine_results.insert_components writes them
                await conn.execute(st.image_scan_component_licenses.insert(), licences)
        for f in findings:
            ids = [f.vuln_id, *f.aliases]
            result = await conn.execute(
                st.image_scan_findings.insert().values(
                    component_pk=seeded.components[f.component],
                    manifest_digest=digest,
                    vuln_id=f.vuln_id,
                    ids=json.dumps(ids),
                    severity=f.severity,
                    suppressed_by=f.suppressed_by,
                )
            )
            pk = int(result.inserted_primary_key[0])
            seeded.findings[(f.component, f.vuln_id)] = pk
            await conn.execute(
                st.image_scan_finding_ids.insert(),
                [{"finding_pk": pk, "vuln_id": i} for i in dict.fromkeys(ids)],
            )
    return seeded
