"""Scan results written straight into the result tables (``db/scan_result_tables.py``), as the
scan engine writes them: the tests of the summaries, searches, overrides and pages do not depend
on the engine (``moorage.scanning.engine``), only on the tables' contract.

Images are pushed through the real /v2 API (``tests/http/ui/content.py``); their layers here are
the manifest's own.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from moorage.db import scan_result_tables as sr
from moorage.db.engine import Database
from tests.http.ui import content
from tests.inprocess import InProcessApp


@dataclass(frozen=True)
class Vuln:
    vuln_id: str
    severity: str  # critical | major | minor | unknown
    cvss: float | None = None
    aliases: tuple[str, ...] = ()
    fixed: str | None = None
    status: str | None = None
    summary: str = ""

    @property
    def ids(self) -> list[str]:
        return [self.vuln_id, *self.aliases]


@dataclass(frozen=True)
class Pkg:
    name: str
    version: str
    layer: int = 0  # index of the manifest layer that introduced it
    type: str = "deb"
    licenses: tuple[str, ...] = ()
    path: str = "var/lib/dpkg/status"
    vulns: tuple[Vuln, ...] = ()
    source: str | None = None


@dataclass
class Seeded:
    digest: str
    layers: list[str]
    finding_pks: dict[tuple[str, str], int] = field(default_factory=dict)  # (pkg, vuln) → pk


async def image(
    client: httpx.AsyncClient, repo: str, reference: str, *, layers: int = 2, arch: str = "amd64"
) -> tuple[str, list[str]]:
    """Push an image of ``layers`` random layers; its digest and layer digests."""
    digests = [await content.blob(client, repo, uuid.uuid4().bytes * 16) for _ in range(layers)]
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": digests},
            "history": [{"created_by": f"ADD layer{i}"} for i in range(layers)],
        }
    ).encode()
    config_digest = await content.blob(client, repo, config)
    digest = await content.put_manifest(
        client,
        repo,
        reference,
        {
            "schemaVersion": 2,
            "mediaType": content.OCI_MANIFEST,
            "config": {
                "mediaType": content.OCI_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": content.OCI_LAYER, "digest": d, "size": 16 * 16} for d in digests
            ],
        },
    )
    return digest, digests


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def scan(
    app: InProcessApp,
    digest: str,
    layers: list[str],
    packages: list[Pkg],
    *,
    status: str = "scanned",
    reason: str | None = None,
    generation: int = 1,
    os: str = "debian 12",
) -> Seeded:
    """One image's result: its scan row (counts tallied from the findings, one per component
    and vulnerability), components and findings with every ID."""
    tally = {"critical": 0, "major": 0, "minor": 0}
    for pkg in packages:
        for v in pkg.vulns:
            if v.severity in tally:
                tally[v.severity] += 1
    seeded = Seeded(digest, layers)
    db = Database(app.settings.database_url)
    try:
        async with db.write() as conn:
            await conn.execute(
                sr.image_scans.delete().where(sr.image_scans.c.manifest_digest == digest)
            )
            await conn.execute(
                sr.image_scans.insert().values(
                    manifest_digest=digest,
                    status=status,
                    reason=reason,
                    os=os,
                    vulndb_generation=generation if status == "scanned" else None,
                    queued_at=_now(),
                    started_at=_now() if status != "queued" else None,
                    completed_at=_now() if status in ("scanned", "failed") else None,
                    **(tally if status == "scanned" else {}),
                )
            )
            for pkg in packages if status == "scanned" else []:
                result = await conn.execute(
                    sr.image_scan_components.insert().values(
                        manifest_digest=digest,
                        layer_index=pkg.layer,
                        layer_digest=layers[pkg.layer],
                        type=pkg.type,
                        name=pkg.name,
                        version=pkg.version,
                        source_name=pkg.source,
                        path=pkg.path,
                        licenses=json.dumps(list(pkg.licenses)),
                        ecosystem="Debian:12" if pkg.type == "deb" else None,
                        match_name=pkg.source or pkg.name,
                    )
                )
                component_pk = int(result.inserted_primary_key[0])  # type: ignore[index]
                licences = sr.license_rows(component_pk, digest, pkg.licenses)
                if licences:  # as engine_results.insert_components writes them
                    await conn.execute(sr.image_scan_component_licenses.insert(), licences)
                for v in pkg.vulns:
                    row = await conn.execute(
                        sr.image_scan_findings.insert().values(
                            component_pk=component_pk,
                            manifest_digest=digest,
                            vuln_id=v.vuln_id,
                            ids=json.dumps(v.ids),
                            severity=v.severity,
                            cvss=v.cvss,
                            fixed_version=v.fixed,
                            status=v.status,
                            summary=v.summary,
                        )
                    )
                    finding_pk = int(row.inserted_primary_key[0])  # type: ignore[index]
                    seeded.finding_pks[(pkg.name, v.vuln_id)] = finding_pk
                    await conn.execute(
                        sr.image_scan_finding_ids.insert(),
                        [{"finding_pk": finding_pk, "vuln_id": i} for i in v.ids],
                    )
    finally:
        await db.close()
    return seeded


async def rows(app: InProcessApp, table: Any, **where: Any) -> list[Any]:
    """The rows of a result table (for assertions on what an override changed)."""
    db = Database(app.settings.database_url)
    try:
        async with db.read() as conn:
            query = table.select()
            for key, value in where.items():
                query = query.where(table.c[key] == value)
            return list(await conn.execute(query))
    finally:
        await db.close()
