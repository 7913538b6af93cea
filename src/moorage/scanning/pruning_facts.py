"""What pruning rules read of a repository's scans (``registry.pruning.ScanFactsLoader``): per
manifest digest with a completed scan, DTR's critical / major / minor counts and, when asked,
the names of its components and of their licenses (an index: its platforms' images together).

A manifest whose scan is not complete (never queued, queued, scanning, failed, or an index
with a platform not scanned yet) is left out: pruning rules on scan fields match only what a
finished scan found. Counts come from ``report_tags.tag_scans`` (one statement); components and
licenses from one more statement per batch of digests. Queries only; nothing here decides
access (the caller acts for a repository administrator or for the pruning job).
"""

from __future__ import annotations

import json
from collections import defaultdict

from sqlalchemy import and_, select, union_all

from moorage.db import scan_result_tables as sr
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.oci import mediatypes as mt
from moorage.registry.pruning_rules import ScanFacts
from moorage.scanning.report_tags import tag_scans
from moorage.scanning.reports import BATCH

_INDEXES = sorted(mt.INDEXES)


async def _contents(
    db: Database, repository_id: int, digests: list[str]
) -> dict[str, tuple[set[str], set[str]]]:
    """Component names and license names of each digest's image(s)."""
    m, refs, c = t.manifests, t.manifest_references, sr.image_scan_components
    out: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    async with db.read() as conn:
        for start in range(0, len(digests), BATCH):
            part = digests[start : start + BATCH]
            in_repo = and_(m.c.repository_id == repository_id, m.c.digest.in_(part))
            images = select(m.c.digest.label("head"), m.c.digest.label("image")).where(
                in_repo, m.c.media_type.not_in(_INDEXES)
            )
            platforms = (
                select(m.c.digest.label("head"), refs.c.child_digest.label("image"))
                .select_from(
                    m.join(refs, and_(refs.c.parent_id == m.c.id, refs.c.child_kind == "manifest"))
                )
                .where(in_repo, m.c.media_type.in_(_INDEXES), refs.c.media_type.not_in(_INDEXES))
            )
            u = union_all(images, platforms).subquery("pruned")
            query = (
                select(u.c.head, c.c.name, c.c.licenses)
                .select_from(u.join(c, c.c.manifest_digest == u.c.image))
                .distinct()
            )
            for row in await conn.execute(query):
                names, licenses = out[row.head]
                names.add(row.name)
                try:
                    found = json.loads(row.licenses or "[]")
                except ValueError:
                    found = []
                licenses.update(str(name) for name in found if name)
    return out


async def load(
    db: Database, repository_id: int, digests: list[str], with_contents: bool
) -> dict[str, ScanFacts]:
    """The facts of each of ``digests`` (manifests of the repository) that has a completed
    scan; ``with_contents``: with component and license names too."""
    scans = await tag_scans(db, repository_id, digests)
    done = sorted(d for d, scan in scans.items() if scan.status == "scanned")
    contents = await _contents(db, repository_id, done) if with_contents and done else {}
    out: dict[str, ScanFacts] = {}
    for digest in done:
        counts = scans[digest].counts
        names, licenses = contents.get(digest, (set(), set()))
        out[digest] = ScanFacts(
            critical=counts.critical,
            major=counts.major,
            minor=counts.minor,
            components=frozenset(names),
            licenses=frozenset(licenses),
        )
    return out
