"""The component and licence inventory of each image on a tag answer (DTR's ``responses.Tag``
``components`` and ``licenses`` on ``/api/v0/repositories/{ns}/{repo}/tags/{reference}``), read
in TWO statements for every image of the answer: the components, then their findings' IDs and
severities (no summaries, no VEX or override texts: a tag shows counts and IDs, the scan summary
routes show the rest).

A component's ``cves`` and counts leave out the findings an override or a VEX statement
suppresses, as ``reports.count_findings`` counts them. An image with no completed scan has no
inventory (an empty one). The caller has checked that the principal may see the repository;
nothing here decides access.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from moorage.db import scan_result_tables as sr
from moorage.db.engine import Database
from moorage.scanning.reports import BATCH, Counts

_LEVELS = ("critical", "major", "minor")


@dataclass(frozen=True, slots=True)
class InventoryComponent:
    """One component of an image as a tag shows it."""

    pk: int
    name: str
    version: str
    type: str  # purl type: deb, apk, rpm, pypi, npm …
    path: str
    layer_digest: str
    licenses: tuple[str, ...]
    cves: tuple[str, ...]  # the vulnerability IDs that count (not suppressed), sorted
    counts: Counts


@dataclass(frozen=True, slots=True)
class Inventory:
    components: tuple[InventoryComponent, ...]

    @property
    def licenses(self) -> list[str]:
        """Every licence some component declares, once each, sorted."""
        return sorted({name for c in self.components for name in c.licenses})


def _licenses(raw: str | None) -> tuple[str, ...]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


async def inventories(db: Database, digests: Iterable[str]) -> dict[str, Inventory]:
    """The inventory of each of ``digests`` (image manifests; at most an answer's worth): one
    statement for the components, one for their findings, per ``BATCH`` digests."""
    wanted = sorted(set(digests))
    c, f = sr.image_scan_components, sr.image_scan_findings
    rows: dict[str, list[tuple[int, str, str, str, str, str, tuple[str, ...]]]] = defaultdict(list)
    cves: dict[int, set[str]] = defaultdict(set)
    tally: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_LEVELS, 0))
    async with db.read() as conn:
        for i in range(0, len(wanted), BATCH):
            part = wanted[i : i + BATCH]
            components = (
                select(
                    c.c.pk,
                    c.c.manifest_digest,
                    c.c.name,
                    c.c.version,
                    c.c.type,
                    c.c.path,
                    c.c.layer_digest,
                    c.c.licenses,
                )
                .where(c.c.manifest_digest.in_(part))
                .order_by(c.c.manifest_digest, c.c.layer_index, c.c.name, c.c.version, c.c.pk)
            )
            for r in await conn.execute(components):
                rows[r.manifest_digest].append(
                    (
                        int(r.pk),
                        r.name,
                        r.version,
                        r.type,
                        r.path,
                        r.layer_digest,
                        _licenses(r.licenses),
                    )
                )
            findings = select(f.c.component_pk, f.c.vuln_id, f.c.severity).where(
                f.c.manifest_digest.in_(part), f.c.suppressed_by.is_(None)
            )
            for r in await conn.execute(findings):
                pk = int(r.component_pk)
                if r.vuln_id in cves[pk]:
                    continue
                cves[pk].add(r.vuln_id)
                if r.severity in _LEVELS:
                    tally[pk][r.severity] += 1
    return {
        digest: Inventory(
            tuple(
                InventoryComponent(
                    pk=pk,
                    name=name,
                    version=version,
                    type=kind,
                    path=path,
                    layer_digest=layer,
                    licenses=licenses,
                    cves=tuple(sorted(cves.get(pk, ()))),
                    counts=Counts(**tally[pk]) if pk in tally else Counts(),
                )
                for pk, name, version, kind, path, layer, licenses in rows.get(digest, [])
            )
        )
        for digest in wanted
    }
