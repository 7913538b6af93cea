"""OpenVEX statements imported by administrators, and the findings they suppress.

``import_document`` replaces every statement of a document (its ``@id``) with the new ones and
re-applies the statements, in one transaction; ``delete_document`` removes them and re-applies.
``apply(conn, digests)`` is the one rule, also called by the scan engine in the transaction that
writes a new result: every finding of the images it evaluates that is suppressed by VEX is
evaluated again, then each finding's severity counts on ``image_scans`` are recomputed.

The rule (written here; OpenVEX leaves the consumer's policy open):

- a statement applies to a finding when the statement's vulnerability is one of the finding's
  IDs (the matcher merged the aliases) and its product names the finding: an image product
  (``pkg:oci/...@<digest>``, the image manifest or an index that holds it) applies to every
  component of that image, or with subcomponents to the components their purls name; a package
  product applies to the components it names in any image (``purls.matches``), or with
  subcomponents to those components in the images that hold the product;
- ``not_affected`` and ``fixed`` suppress, ``affected`` keeps the finding shown whatever else
  says (a conflict resolves towards showing it), ``under_investigation`` changes nothing;
- a finding an administrator overrode (``suppressed_by`` not ``vex:``) keeps its override;
- ``suppressed_by`` is ``vex:<statement pk>`` (the lowest of the applying statements), so the
  reason shown beside it is one lookup away (``reasons``);
- ``critical`` / ``major`` / ``minor`` count the findings of each severity not suppressed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from packageurl import PackageURL
from sqlalchemy import and_, delete, func, or_, select, update

from moorage.db import scan_result_tables as st
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import NotFound
from moorage.scanning import purls
from moorage.scanning.vex_document import SUPPRESSING, ParsedDocument, parse

PREFIX = "vex:"
CHUNK = 500
SCANNED = "scanned"
SEVERITIES = ("critical", "major", "minor")

T = TypeVar("T")


class NoSuchVexDocument(NotFound):
    code, default_message = "NO_SUCH_VEX_DOCUMENT", "no OpenVEX document with this @id"


@dataclass(frozen=True, slots=True)
class Statement:
    pk: int
    document_id: str
    vuln_id: str
    product: str
    subcomponent: str | None
    status: str
    justification: str | None
    impact_statement: str | None
    created_by: str
    created_at: Any  # datetime (UTC)


@dataclass(frozen=True, slots=True)
class Applied:
    images: int  # images evaluated
    suppressed: int  # their findings suppressed by VEX now


@dataclass(frozen=True, slots=True)
class Imported:
    document: ParsedDocument
    replaced: int  # statement rows of an earlier version removed
    applied: Applied


def _chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _statement(row: Any) -> Statement:
    return Statement(
        pk=int(row.pk),
        document_id=row.document_id,
        vuln_id=row.vuln_id,
        product=row.product,
        subcomponent=row.subcomponent,
        status=row.status,
        justification=row.justification,
        impact_statement=row.impact_statement,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
    )


async def statements(conn: Connection, document_id: str | None = None) -> list[Statement]:
    query = select(st.scan_vex_statements).order_by(
        st.scan_vex_statements.c.document_id, st.scan_vex_statements.c.pk
    )
    if document_id is not None:
        query = query.where(st.scan_vex_statements.c.document_id == document_id)
    return [_statement(r) for r in await conn.execute(query)]


async def reasons(conn: Connection, suppressed_by: Iterable[str]) -> dict[str, Statement]:
    """The statement behind each ``vex:<pk>`` value (others are ignored)."""
    pks = sorted({int(v[len(PREFIX) :]) for v in suppressed_by if _is_vex_value(v)})
    out: dict[str, Statement] = {}
    for part in _chunks(pks):
        query = select(st.scan_vex_statements).where(st.scan_vex_statements.c.pk.in_(part))
        for row in await conn.execute(query):
            out[f"{PREFIX}{row.pk}"] = _statement(row)
    return out


def _is_vex_value(value: str | None) -> bool:
    return bool(value) and str(value).startswith(PREFIX) and str(value)[len(PREFIX) :].isdigit()


async def import_document(db: Database, raw: bytes, actor: str) -> Imported:
    """Check ``raw`` (``VexInvalid`` writes nothing), replace the document's statements, apply."""
    doc = parse(raw)
    table = st.scan_vex_statements
    now = utcnow()
    async with db.write() as conn:
        removed = await conn.execute(delete(table).where(table.c.document_id == doc.id))
        await conn.execute(
            table.insert(),
            [
                {
                    "document_id": doc.id,
                    "vuln_id": row.vuln_id,
                    "product": row.product,
                    "subcomponent": row.subcomponent,
                    "status": row.status,
                    "justification": row.justification,
                    "impact_statement": row.impact_statement,
                    "created_by": actor,
                    "created_at": now,
                }
                for row in doc.rows
            ],
        )
        applied = await apply(conn)
    return Imported(doc, int(removed.rowcount or 0), applied)


async def delete_document(db: Database, document_id: str) -> Applied:
    table = st.scan_vex_statements
    async with db.write() as conn:
        removed = await conn.execute(delete(table).where(table.c.document_id == document_id))
        if not removed.rowcount:
            raise NoSuchVexDocument(detail={"id": document_id[:200]})
        return await apply(conn)


async def _targets(conn: Connection, vulns: Sequence[str]) -> set[str]:
    """Images whose findings VEX suppresses now or could suppress (one of ``vulns``)."""
    f, ids = st.image_scan_findings.c, st.image_scan_finding_ids.c
    found = {
        r.manifest_digest
        for r in await conn.execute(
            select(f.manifest_digest).where(f.suppressed_by.like(f"{PREFIX}%")).distinct()
        )
    }
    for part in _chunks(vulns):
        by_id = select(ids.finding_pk).where(ids.vuln_id.in_(part))
        query = (
            select(f.manifest_digest).where(or_(f.vuln_id.in_(part), f.pk.in_(by_id))).distinct()
        )
        found.update(r.manifest_digest for r in await conn.execute(query))
    return found


async def _covered(conn: Connection, digests: set[str]) -> dict[str, set[str]]:
    """For each image product digest: itself and the image manifests of an index with it."""
    out = {d: {d} for d in digests}
    m, refs = t.manifests.c, t.manifest_references.c
    for part in _chunks(sorted(digests)):
        query = (
            select(m.digest, refs.child_digest)
            .select_from(t.manifest_references.join(t.manifests, m.id == refs.parent_id))
            .where(and_(m.digest.in_(part), refs.child_kind == "manifest"))
        )
        for r in await conn.execute(query):
            out[r.digest].add(r.child_digest)
    return out


@dataclass(frozen=True, slots=True)
class _Candidate:
    pk: int
    image: str
    ids: frozenset[str]
    purl: PackageURL


async def _candidates(
    conn: Connection, images: Sequence[str], vulns: Sequence[str]
) -> list[_Candidate]:
    """Findings of ``images`` naming one of ``vulns`` that nothing else suppresses."""
    f, c = st.image_scan_findings.c, st.image_scan_components.c
    ids = st.image_scan_finding_ids.c
    oses = await _oses(conn, images)
    comp_cols = (c.type, c.name, c.version, c.namespace, c.arch, c.source_name, c.source_version)
    candidates: dict[int, _Candidate] = {}
    for part in _chunks(images):
        for vpart in _chunks(vulns):
            by_id = select(ids.finding_pk).where(ids.vuln_id.in_(vpart))
            query = (
                select(f.pk, f.manifest_digest, f.vuln_id, f.ids, *comp_cols)
                .select_from(
                    st.image_scan_findings.join(st.image_scan_components, c.pk == f.component_pk)
                )
                .where(
                    and_(
                        f.manifest_digest.in_(part),
                        f.suppressed_by.is_(None),
                        or_(f.vuln_id.in_(vpart), f.pk.in_(by_id)),
                    )
                )
            )
            for r in await conn.execute(query):
                os = oses.get(r.manifest_digest, _NO_OS)
                candidates[int(r.pk)] = _Candidate(
                    pk=int(r.pk),
                    image=r.manifest_digest,
                    ids=frozenset({r.vuln_id, *_ids(r.ids)}),
                    purl=purls.component_purl(_identity(r), os),
                )
    return list(candidates.values())


_NO_OS = purls.ImageOs()


async def _oses(conn: Connection, images: Sequence[str]) -> dict[str, purls.ImageOs]:
    """Each image's OS as its scan stored it (the distribution its OS packages' purls name)."""
    s = st.image_scans.c
    out: dict[str, purls.ImageOs] = {}
    for part in _chunks(images):
        query = select(s.manifest_digest, s.os, s.os_detail).where(s.manifest_digest.in_(part))
        for r in await conn.execute(query):
            out[r.manifest_digest] = purls.ImageOs.of(r.os, r.os_detail)
    return out


def _identity(r: Any) -> purls.ComponentIdentity:
    return purls.ComponentIdentity(
        type=r.type,
        name=r.name,
        version=r.version,
        namespace=r.namespace,
        arch=r.arch,
        source_name=r.source_name,
        source_version=r.source_version,
    )


def _ids(raw: str | None) -> list[str]:
    try:
        values = json.loads(raw or "[]")
    except ValueError:
        return []
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


async def _image_contents(conn: Connection, images: Sequence[str]) -> dict[str, list[PackageURL]]:
    c = st.image_scan_components.c
    oses = await _oses(conn, images)
    out: dict[str, list[PackageURL]] = defaultdict(list)
    for part in _chunks(images):
        query = select(
            c.manifest_digest,
            c.type,
            c.name,
            c.version,
            c.namespace,
            c.arch,
            c.source_name,
            c.source_version,
        ).where(c.manifest_digest.in_(part))
        for r in await conn.execute(query):
            os = oses.get(r.manifest_digest, _NO_OS)
            out[r.manifest_digest].append(purls.component_purl(_identity(r), os))
    return out


class _Rules:
    """The statements, parsed once, indexed by vulnerability."""

    def __init__(self, rows: list[Statement], covered: dict[str, set[str]]) -> None:
        self.by_vuln: dict[str, list[tuple[Statement, PackageURL, PackageURL | None]]] = (
            defaultdict(list)
        )
        self.covered = covered
        self.needs_contents = False
        for row in rows:
            product = purls.parse(row.product)
            sub = purls.parse(row.subcomponent) if row.subcomponent else None
            if product.type != "oci" and sub is not None:
                self.needs_contents = True
            self.by_vuln[row.vuln_id].append((row, product, sub))

    def decide(self, cand: _Candidate, contents: dict[str, list[PackageURL]]) -> int | None:
        """The statement pk that suppresses ``cand``, or None."""
        suppressing: list[int] = []
        for vuln in cand.ids:
            for row, product, sub in self.by_vuln.get(vuln, ()):
                if not self._applies(cand, product, sub, contents):
                    continue
                if row.status == "affected":
                    return None
                if row.status in SUPPRESSING:
                    suppressing.append(row.pk)
        return min(suppressing) if suppressing else None

    def _applies(
        self,
        cand: _Candidate,
        product: PackageURL,
        sub: PackageURL | None,
        contents: dict[str, list[PackageURL]],
    ) -> bool:
        digest = purls.image_digest(product)
        if digest is not None:
            if cand.image not in self.covered.get(digest, ()):
                return False
            return sub is None or purls.matches(sub, cand.purl)
        if sub is None:
            return purls.matches(product, cand.purl)
        held = contents.get(cand.image, ())
        return purls.matches(sub, cand.purl) and any(purls.matches(product, p) for p in held)


async def recount(conn: Connection, digests: Collection[str]) -> None:
    """``critical`` / ``major`` / ``minor`` of the scanned images: findings not suppressed."""
    f, s = st.image_scan_findings.c, st.image_scans.c

    def count(severity: str) -> Any:
        return (
            select(func.count())
            .where(
                and_(
                    f.manifest_digest == s.manifest_digest,
                    f.severity == severity,
                    f.suppressed_by.is_(None),
                )
            )
            .scalar_subquery()
        )

    values = {severity: count(severity) for severity in SEVERITIES}
    for part in _chunks(sorted(digests)):
        await conn.execute(
            update(st.image_scans)
            .where(and_(s.manifest_digest.in_(part), s.status == SCANNED))
            .values(**values)
        )


async def apply(conn: Connection, digests: Collection[str] | None = None) -> Applied:
    """Re-evaluate the VEX suppression of the findings of ``digests`` (None: of every image a
    statement could touch or VEX suppresses now) and recount them, in ``conn``'s transaction."""
    rows = await statements(conn)
    vulns = sorted({r.vuln_id for r in rows})
    images = sorted(set(digests) if digests is not None else await _targets(conn, vulns))
    if not images:
        return Applied(0, 0)
    f = st.image_scan_findings.c
    for part in _chunks(images):
        await conn.execute(
            update(st.image_scan_findings)
            .where(and_(f.manifest_digest.in_(part), f.suppressed_by.like(f"{PREFIX}%")))
            .values(suppressed_by=None)
        )
    suppressed = 0
    if rows:
        products = {purls.image_digest(purls.parse(r.product)) for r in rows}
        rules = _Rules(rows, await _covered(conn, {d for d in products if d}))
        candidates = await _candidates(conn, images, vulns)
        contents: dict[str, list[PackageURL]] = {}
        if rules.needs_contents:
            contents = await _image_contents(conn, sorted({c.image for c in candidates}))
        by_statement: dict[int, list[int]] = defaultdict(list)
        for cand in candidates:
            pk = rules.decide(cand, contents)
            if pk is not None:
                by_statement[pk].append(cand.pk)
        for pk, findings in by_statement.items():
            suppressed += len(findings)
            for fpart in _chunks(findings):
                await conn.execute(
                    update(st.image_scan_findings)
                    .where(f.pk.in_(fpart))
                    .values(suppressed_by=f"{PREFIX}{pk}")
                )
    await recount(conn, images)
    return Applied(len(images), suppressed)
