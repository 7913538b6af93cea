"""Re-matching stored inventories after a vulnerability database update: no layer is read.

An update to generation ``G`` changed the records of some (ecosystem, name) pairs
(``vulndb.query.changed_packages``). Re-evaluated, from their stored components, against ``G``:

* results matched against ``G - 1`` with a component the changed records name (its lookup name
  equal, its stream covered by the record's ecosystem as ``osv.matching.ecosystem_matches``
  decides: ``Debian`` and ``Debian:12`` records both reach a ``Debian:12`` component);
* results matched against an older generation, or none (a re-match that never ran): every
  component;
* images whose scan failed for want of a database (``engine_results.NO_DATABASE``): their
  inventory was kept, so the first import turns them into results;
* with ``everything`` (DTR's "scan all" without a layer scan): every stored result.

Images are handled ``BATCH`` at a time: their components' distinct queries matched once
(``engine_match``, with one bounded ``RecordCache`` for all batches: each record parsed once per
re-match; a query already matched by an earlier batch keeps its outcome, up to ``OUTCOMES``
remembered, since the generation does not change during a re-match), the new findings
compared with the stored ones, and only an image whose findings (or match problems) differ is
rewritten; one transaction per batch rewrites those (overrides and VEX applied again, counts
recomputed) and marks the rest as matched against ``G``. An image rescanned meanwhile (its
state row changed since it was read) is left to that scan. Finally every result still at
``G - 1`` (the changed records name none of its packages) is marked current with one
statement. No webhook event per image: ``SCANNER_UPDATE_COMPLETED``
announces the update.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from moorage.db import scan_result_tables as sr
from moorage.db.engine import Database, utcnow
from moorage.scanning import ecosystems
from moorage.scanning.engine import query_of
from moorage.scanning.engine_match import FindingRow, Outcome, Query, RecordCache, match_all
from moorage.scanning.engine_results import (
    NO_DATABASE,
    ComponentRow,
    bump_generation,
    insert_findings,
    suppress,
)
from moorage.scanning.osv.matching import ecosystem_matches
from moorage.scanning.vulndb import query

S, C, F, IDS = (
    sr.image_scans,
    sr.image_scan_components,
    sr.image_scan_findings,
    sr.image_scan_finding_ids,
)
BATCH = 200  # images per batch
KEYS = 500  # names per IN (…)
OUTCOMES = 50_000  # query outcomes one re-match remembers across its batches
Note = Callable[[str], Awaitable[None]]


async def _silent(message: str) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class RematchReport:
    generation: int = 0
    images: int = 0  # re-evaluated
    rewritten: int = 0  # whose findings changed
    unchanged: int = 0
    current: int = 0  # marked current without re-evaluation (nothing they hold changed)
    skipped: int = 0  # rescanned meanwhile
    stopped: bool = False

    def summary(self) -> str:
        return (
            f"re-matched {self.images} images against vulnerability database version "
            f"{self.generation}: {self.rewritten} changed, {self.unchanged} unchanged, "
            f"{self.skipped} rescanned meanwhile; {self.current} others already current"
            + (" (stopped)" if self.stopped else "")
        )


async def _naming(db: Database, changed: Sequence[tuple[str, str]], before: int) -> set[str]:
    """Results at ``before`` with a component the changed records name."""
    by_key: dict[str, set[str]] = defaultdict(set)
    for ecosystem, key in changed:
        by_key[key].add(ecosystem)
    keys = sorted(by_key)
    found: set[str] = set()
    async with db.read() as conn:
        for start in range(0, len(keys), KEYS):
            rows = await conn.execute(
                select(C.c.manifest_digest, C.c.ecosystem, C.c.match_name)
                .join(S, S.c.manifest_digest == C.c.manifest_digest)
                .where(
                    and_(
                        S.c.status == "scanned",
                        S.c.vulndb_generation == before,
                        C.c.match_name.in_(keys[start : start + KEYS]),
                    )
                )
                .distinct()
            )
            for row in rows:
                if row.manifest_digest in found or row.ecosystem is None:
                    continue
                if any(
                    ecosystem_matches(record_ecosystem, stream)
                    for stream in ecosystems.streams(row.ecosystem)
                    for record_ecosystem in by_key[row.match_name]
                ):
                    found.add(row.manifest_digest)
    return found


async def _others(db: Database, before: int, everything: bool) -> set[str]:
    """Results behind ``before`` (or all of them), and inventories waiting for a database."""
    waiting = and_(S.c.status == "failed", S.c.reason == NO_DATABASE)
    if everything:
        behind = S.c.status == "scanned"
    else:
        behind = and_(
            S.c.status == "scanned",
            or_(S.c.vulndb_generation.is_(None), S.c.vulndb_generation < before),
        )
    async with db.read() as conn:
        rows = await conn.execute(select(S.c.manifest_digest).where(or_(waiting, behind)))
        return {r.manifest_digest for r in rows}


def _component(row: Any) -> ComponentRow:
    return ComponentRow(
        layer_index=row.layer_index,
        layer_digest=row.layer_digest,
        type=row.type,
        name=row.name,
        version=row.version,
        path=row.path,
        source_version=row.source_version,
        ecosystem=row.ecosystem,
        match_name=row.match_name,
        match_problem=row.match_problem,
    )


def _stored_finding(row: Any) -> FindingRow:
    try:
        ids = tuple(str(i) for i in json.loads(row.ids or "[]"))
    except ValueError:
        ids = (row.vuln_id,)
    return FindingRow(
        vuln_id=row.vuln_id,
        ids=ids,
        severity=row.severity,
        cvss=float(row.cvss) if row.cvss is not None else None,
        cvss_vector=row.cvss_vector,
        fixed_version=row.fixed_version,
        status=row.status,
        summary=row.summary,
    )


@dataclass
class _Image:
    state: Any
    components: list[tuple[int, ComponentRow, Query | None]]
    stored: dict[int, set[FindingRow]]


async def _load(db: Database, digests: Sequence[str]) -> dict[str, _Image]:
    images: dict[str, _Image] = {}
    async with db.read() as conn:
        for row in await conn.execute(
            select(S.c.manifest_digest, S.c.status, S.c.reason, S.c.completed_at).where(
                S.c.manifest_digest.in_(digests)
            )
        ):
            images[row.manifest_digest] = _Image(row, [], {})
        for row in await conn.execute(
            select(C).where(C.c.manifest_digest.in_(digests)).order_by(C.c.pk)
        ):
            image = images.get(row.manifest_digest)
            if image is not None:
                component = _component(row)
                image.components.append((int(row.pk), component, query_of(component)))
        for row in await conn.execute(select(F).where(F.c.manifest_digest.in_(digests))):
            image = images.get(row.manifest_digest)
            if image is not None:
                image.stored.setdefault(int(row.component_pk), set()).add(_stored_finding(row))
    return images


def _changes(
    image: _Image, outcomes: dict[Query, Outcome]
) -> tuple[bool, list[tuple[int, FindingRow]], dict[int, str | None]]:
    """Whether the image's findings change, its new findings, and new match problems."""
    findings: list[tuple[int, FindingRow]] = []
    problems: dict[int, str | None] = {}
    changed = image.state.status != "scanned"
    for pk, component, q in image.components:
        outcome = outcomes.get(q) if q is not None else None
        if outcome is None:
            new: tuple[FindingRow, ...] = ()
            problem = component.match_problem
        else:
            new, problem = outcome.findings, outcome.problem
        findings += [(pk, f) for f in new]
        if problem != component.match_problem:
            problems[pk] = problem
        if set(new) != image.stored.get(pk, set()) or len(set(new)) != len(new):
            changed = True
    return changed or bool(problems), findings, problems


async def _write(
    db: Database,
    generation: int,
    images: dict[str, _Image],
    plans: dict[str, tuple[bool, list[tuple[int, FindingRow]], dict[int, str | None]]],
    report: RematchReport,
) -> None:
    now = utcnow()
    async with db.write() as conn:
        digests = sorted(plans)
        fresh = {
            r.manifest_digest: r
            for r in await conn.execute(
                select(S.c.manifest_digest, S.c.status, S.c.completed_at)
                .where(S.c.manifest_digest.in_(digests))
                .with_for_update()  # a scan writing one of them waits, or is waited for
            )
        }
        rewritten: list[str] = []
        unchanged: list[str] = []
        layers: set[str] = set()
        for digest in digests:
            seen, now_row = images[digest].state, fresh.get(digest)
            if now_row is None or (now_row.status, now_row.completed_at) != (
                seen.status,
                seen.completed_at,
            ):
                report.skipped += 1
                continue
            changed, findings, problems = plans[digest]
            if not changed:
                unchanged.append(digest)
                continue
            doomed = select(F.c.pk).where(F.c.manifest_digest == digest)
            await conn.execute(delete(IDS).where(IDS.c.finding_pk.in_(doomed)))
            await conn.execute(delete(F).where(F.c.manifest_digest == digest))
            for pk, problem in problems.items():
                await conn.execute(update(C).where(C.c.pk == pk).values(match_problem=problem))
            await insert_findings(conn, digest, findings)
            await conn.execute(
                update(S)
                .where(S.c.manifest_digest == digest)
                .values(
                    status="scanned", reason=None, vulndb_generation=generation, completed_at=now
                )
            )
            rewritten.append(digest)
            layers.update(c.layer_digest for _, c, _ in images[digest].components)
        if unchanged:
            await conn.execute(
                update(S)
                .where(S.c.manifest_digest.in_(unchanged))
                .values(vulndb_generation=generation)
            )
        if rewritten:
            await suppress(conn, rewritten, layers)
        report.rewritten += len(rewritten)
        report.unchanged += len(unchanged)


class _Outcomes:
    """Outcomes of the queries matched so far in one re-match (one generation: a query's outcome
    is the same in every batch), at most ``OUTCOMES`` kept: when full it starts again empty."""

    def __init__(self) -> None:
        self._known: dict[Query, Outcome] = {}

    def take(self, queries: set[Query]) -> dict[Query, Outcome]:
        return {q: self._known[q] for q in queries if q in self._known}

    def keep(self, outcomes: dict[Query, Outcome]) -> None:
        if len(outcomes) > OUTCOMES:
            return
        if len(self._known) + len(outcomes) > OUTCOMES:
            self._known.clear()
        self._known.update(outcomes)


async def rematch(
    db: Database,
    *,
    note: Note = _silent,
    stop: Callable[[], bool] = _never,
    everything: bool = False,
) -> RematchReport:
    """Bring the stored results up to the database in force (see the module's documentation)."""
    changed = await query.changed_packages(db)
    report = RematchReport(generation=changed.generation)
    if changed.generation == 0:
        await note("no vulnerability database has been imported yet: nothing to match")
        return report
    before = changed.generation - 1
    digests = await _others(db, before, everything)
    if not everything:
        digests |= await _naming(db, changed.packages, before)
    wanted = sorted(digests)
    await note(
        f"{len(wanted)} images to re-match against version {changed.generation} "
        f"({len(changed.packages)} packages changed)"
    )
    records = RecordCache(changed.generation)  # one generation: every batch parses a record once
    known = _Outcomes()
    for start in range(0, len(wanted), BATCH):
        if stop():
            report.stopped = True
            break
        images = await _load(db, wanted[start : start + BATCH])
        queries = {q for image in images.values() for _, _, q in image.components if q is not None}
        outcomes = known.take(queries)
        fresh = [q for q in queries if q not in outcomes]
        if fresh:
            matched = await match_all(db, fresh, changed.generation, records)
            known.keep(matched)
            outcomes.update(matched)
        plans = {digest: _changes(image, outcomes) for digest, image in images.items()}
        report.images += len(plans)
        await _write(db, changed.generation, images, plans, report)
        await note(f"{min(start + BATCH, len(wanted))} of {len(wanted)} images re-matched")
    if not report.stopped:
        async with db.write() as conn:
            report.current = await bump_generation(conn, before, changed.generation)
    return report
