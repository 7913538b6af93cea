"""DTR's layer overrides: an administrator marks a vulnerability as not applying to a component of
a layer (``POST /api/v0/imagescan/layeroverride/{layerid}``), with a note saying why.

An override applies at once to every stored result that holds the layer: the matching findings
(the vulnerability by any of its IDs, the component by name, and by version when the override
names one) get ``suppressed_by = "override:<id>"`` and stop counting, and the affected images'
critical / major / minor counts are recomputed, in the override's own transaction. Deleting it
lifts exactly the suppressions it made (another override of the same finding, or else a VEX
statement, then takes over). An override wins over a VEX statement (``scanning.vex`` leaves
``override:`` findings alone). The engine applies the stored overrides the same way (``apply``)
when it writes a new result.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import scan_result_tables as sr
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, utcnow
from moorage.errors import InvalidInput, NotFound
from moorage.oci.digest import Digest
from moorage.scanning import vex
from moorage.scanning.report_search import vulnerability_id
from moorage.scanning.reports import OVERRIDE_PREFIX, Override, override_of

MAX_NOTES = 4000
OV, C, F, IDS, S = (
    sr.scan_overrides,
    sr.image_scan_components,
    sr.image_scan_findings,
    sr.image_scan_finding_ids,
    sr.image_scans,
)


class NoSuchLayer(NotFound):
    code, default_message = "NO_SUCH_LAYER", "no scanned image holds this layer"


class NoSuchOverride(NotFound):
    code, default_message = "NO_SUCH_OVERRIDE", "no such vulnerability override"


async def scanned_layer_exists(db: Database, layer_digest: str) -> bool:
    """Whether any scanned image holds ``layer_digest`` (with or without components)."""
    c, r = sr.image_scan_components, t.manifest_references
    async with db.read() as conn:
        hit = (
            await conn.execute(select(c.c.pk).where(c.c.layer_digest == layer_digest).limit(1))
        ).first()
        if hit is not None:
            return True
        query = (
            select(r.c.parent_id)
            .select_from(r.join(t.manifests, t.manifests.c.id == r.c.parent_id))
            .join(sr.image_scans, sr.image_scans.c.manifest_digest == t.manifests.c.digest)
            .where(and_(r.c.child_digest == layer_digest, r.c.child_kind == "blob"))
            .limit(1)
        )
        return (await conn.execute(query)).first() is not None


def _text(value: str, what: str, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > limit:
        raise InvalidInput(f"{what} must be at most {limit} characters")
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in value):
        raise InvalidInput(f"{what} holds control characters")
    return value


async def listing(db: Database, *, layer_digest: str | None = None) -> list[Override]:
    query = select(OV).order_by(OV.c.created_at, OV.c.id)
    if layer_digest is not None:
        query = query.where(OV.c.layer_digest == layer_digest)
    async with db.read() as conn:
        return [override_of(row) for row in await conn.execute(query)]


def _matching_findings(override: Override) -> ColumnElement[bool]:
    """The findings ``override`` suppresses (its layer, component and vulnerability)."""
    component = and_(
        C.c.pk == F.c.component_pk,
        C.c.layer_digest == override.layer_digest,
        C.c.name == override.component,
    )
    if override.component_version:
        component = and_(component, C.c.version == override.component_version)
    by_alias = exists().where(and_(IDS.c.finding_pk == F.c.pk, IDS.c.vuln_id == override.vuln_id))
    return and_(exists().where(component), or_(F.c.vuln_id == override.vuln_id, by_alias))


async def apply(conn: Connection, overrides: Sequence[Override]) -> set[str]:
    """Suppress what ``overrides`` cover among findings no other override suppresses (an
    override wins over a VEX statement); returns the digests of the images whose findings
    changed (their counts need ``vex.recount``)."""
    touched: set[str] = set()
    for override in overrides:
        free = or_(F.c.suppressed_by.is_(None), F.c.suppressed_by.like(f"{vex.PREFIX}%"))
        condition = and_(free, _matching_findings(override))
        digests = await conn.execute(select(F.c.manifest_digest).where(condition).distinct())
        found = {row[0] for row in digests}
        if found:
            await conn.execute(
                update(F).where(condition).values(suppressed_by=OVERRIDE_PREFIX + override.id)
            )
            touched |= found
    return touched


async def create(
    db: Database,
    *,
    layer_digest: str,
    component: str,
    component_version: str,
    vuln_id: str,
    notes: str,
    actor: str,
) -> Override:
    """Set (or, for the same layer, component and vulnerability, replace the note and version
    of) an override, and apply it to the stored results. NoSuchLayer when no scanned image holds
    the layer."""
    try:
        layer = str(Digest.parse(layer_digest.strip()))
    except Exception as exc:
        raise InvalidInput("the layer is named by its digest (sha256:…)") from exc
    name = _text(component, "component", sr.MAX_NAME)
    version = _text(component_version, "componentVersion", sr.MAX_VERSION, required=False)
    vuln = vulnerability_id(_text(vuln_id, "cve", sr.MAX_ID))
    note = _text(notes, "notes", MAX_NOTES, required=False)
    if not await scanned_layer_exists(db, layer):
        raise NoSuchLayer(detail={"layer": layer})
    now = utcnow()
    touched: set[str] = set()
    async with db.write() as conn:
        existing = (
            await conn.execute(
                select(OV).where(
                    and_(OV.c.layer_digest == layer, OV.c.component == name, OV.c.vuln_id == vuln)
                )
            )
        ).first()
        if existing is None:
            override_id = str(uuid.uuid4())
            await conn.execute(
                OV.insert().values(
                    id=override_id,
                    layer_digest=layer,
                    component=name,
                    component_version=version or None,
                    vuln_id=vuln,
                    reason=note,
                    created_by=actor,
                    created_at=now,
                )
            )
        else:
            override_id = existing.id
            await conn.execute(
                update(OV)
                .where(OV.c.id == override_id)
                .values(component_version=version or None, reason=note)
            )
            # A narrower version lifts what the old override covered; apply() puts back the rest.
            touched = await _lift(conn, override_id)
        row = (await conn.execute(select(OV).where(OV.c.id == override_id))).one()
        override = override_of(row)
        touched |= await apply(conn, [override])
        await vex.recount(conn, touched)
    return override


async def _lift(conn: Connection, override_id: str) -> set[str]:
    """Lift the suppressions override ``override_id`` made; the digests they were in."""
    mine = F.c.suppressed_by == OVERRIDE_PREFIX + override_id
    found = {
        row[0] for row in await conn.execute(select(F.c.manifest_digest).where(mine).distinct())
    }
    if found:
        await conn.execute(update(F).where(mine).values(suppressed_by=None))
    return found


async def remove(db: Database, key: str) -> list[Override]:
    """Delete the override with id ``key``; failing that, every override of the vulnerability
    ``key`` (DTR names the path parameter "vulnerability id"). Lifts what they suppressed, lets
    the remaining overrides of the same layers take over, recounts. NoSuchOverride if none."""
    key = key.strip()
    async with db.write() as conn:
        rows = list(await conn.execute(select(OV).where(OV.c.id == key)))
        if not rows:
            rows = list(await conn.execute(select(OV).where(OV.c.vuln_id == vulnerability_id(key))))
        if not rows:
            raise NoSuchOverride(detail={"id": key[:200]})
        gone = [override_of(row) for row in rows]
        touched: set[str] = set()
        for override in gone:
            touched |= await _lift(conn, override.id)
        await conn.execute(delete(OV).where(OV.c.id.in_([o.id for o in gone])))
        layers = sorted({o.layer_digest for o in gone})
        rest = [
            override_of(row)
            for row in await conn.execute(select(OV).where(OV.c.layer_digest.in_(layers)))
        ]
        touched |= await apply(conn, rest)
        # What no override covers any more, VEX may (it recounts the images too).
        await vex.apply(conn, touched)
    return gone
