"""What the matcher asks the database: the records that name a package, by id or alias, and
which packages the last update changed.

Every query reads one generation in one statement: the current one by default (the generation
number read in the same statement as the rows), or one the caller pinned with ``snapshot()``
so that many queries (an image's packages) see one database. A pinned generation stays whole
until the update after the next one completes. Withdrawn records are left out unless asked
for.

Lookups by ecosystem use prefix semantics (``records.lookup_ecosystems``): a package of
``Debian:12`` is affected by records for ``Debian:12`` and for ``Debian``; names compare by
``records.package_key`` (PEP 503 for PyPI). ``changed_packages`` names the (ecosystem, name key)
pairs of every record the last update added, changed, withdrew or removed, so only the
inventories that hold them are matched again.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select

from moorage.db.engine import Database, as_utc
from moorage.scanning.vulndb.records import lookup_ecosystems, package_key
from moorage.scanning.vulndb.store import ST, A, P, R, current_generation, visible

_COLUMNS = (R.c.pk, R.c.id, R.c.modified, R.c.withdrawn, R.c.source, R.c.document)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    id: str
    modified: dt.datetime
    withdrawn: dt.datetime | None
    source: str  # online | offline
    document: bytes  # the record's JSON, as imported

    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.document)
        return found


def _record(row: Any) -> StoredRecord:
    return StoredRecord(
        id=row.id,
        modified=as_utc(row.modified),
        withdrawn=as_utc(row.withdrawn) if row.withdrawn is not None else None,
        source=row.source,
        document=zlib.decompress(row.document),
    )


def _where(generation: int | None, include_withdrawn: bool) -> Any:
    seen = visible(current_generation() if generation is None else generation)
    return seen if include_withdrawn else and_(seen, R.c.withdrawn.is_(None))


async def snapshot(db: Database) -> int:
    """The current generation (0: no database yet), to pin several queries to it."""
    async with db.read() as conn:
        row = (await conn.execute(select(ST.c.generation).where(ST.c.id == 1))).first()
    return int(row.generation) if row is not None else 0


async def records_for(
    db: Database,
    ecosystem: str,
    name: str,
    *,
    generation: int | None = None,
    include_withdrawn: bool = False,
) -> list[StoredRecord]:
    """Records naming package ``name`` of ``ecosystem`` (or of one of its prefixes), by id."""
    found = await records_for_packages(
        db, [(ecosystem, name)], generation=generation, include_withdrawn=include_withdrawn
    )
    return found[(ecosystem, name)]


async def records_for_packages(
    db: Database,
    packages: Iterable[tuple[str, str]],
    *,
    generation: int | None = None,
    include_withdrawn: bool = False,
) -> dict[tuple[str, str], list[StoredRecord]]:
    """``records_for`` of many (ecosystem, name) pairs, in one statement per 200 of them."""
    wanted = list(dict.fromkeys(packages))
    answer: dict[tuple[str, str], list[StoredRecord]] = {p: [] for p in wanted}
    where = _where(generation, include_withdrawn)
    for start in range(0, len(wanted), 200):
        chunk = wanted[start : start + 200]
        asks: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (ecosystem, key) → packages
        for ecosystem, name in chunk:
            key = package_key(ecosystem, name)
            for candidate in lookup_ecosystems(ecosystem):
                asks.setdefault((candidate, key), []).append((ecosystem, name))
        keys = sorted({key for _, key in asks})
        ecosystems = sorted({candidate for candidate, _ in asks})
        statement = (
            select(P.c.ecosystem, P.c.name_key, *_COLUMNS)
            .join(R, R.c.pk == P.c.record_pk)
            .where(and_(P.c.name_key.in_(keys), P.c.ecosystem.in_(ecosystems), where))
            .order_by(R.c.id)
        )
        async with db.read() as conn:
            rows = list(await conn.execute(statement))
        for row in rows:
            for package in asks.get((row.ecosystem, row.name_key), ()):
                if not answer[package] or answer[package][-1].id != row.id:  # ordered by id
                    answer[package].append(_record(row))
    return answer


async def records_by_id(
    db: Database,
    ids: Sequence[str],
    *,
    generation: int | None = None,
    include_withdrawn: bool = False,
) -> dict[str, StoredRecord]:
    where = _where(generation, include_withdrawn)
    async with db.read() as conn:
        rows = await conn.execute(select(*_COLUMNS).where(and_(R.c.id.in_(list(ids)), where)))
        return {row.id: _record(row) for row in rows}


async def records_by_alias(
    db: Database,
    alias: str,
    *,
    generation: int | None = None,
    include_withdrawn: bool = False,
) -> list[StoredRecord]:
    """Records whose id is ``alias`` or that list it among their aliases (a CVE's DSA, USN and
    GHSA records), by id."""
    where = _where(generation, include_withdrawn)
    listed = select(A.c.record_pk).where(A.c.alias == alias)
    statement = (
        select(*_COLUMNS)
        .where(and_(or_(R.c.id == alias, R.c.pk.in_(listed)), where))
        .order_by(R.c.id)
    )
    async with db.read() as conn:
        return [_record(row) for row in await conn.execute(statement)]


@dataclass(frozen=True, slots=True)
class ChangedPackages:
    generation: int  # the update that changed them (0: no database yet)
    packages: tuple[tuple[str, str], ...]  # (ecosystem as records say, package_key), sorted


async def changed_packages(db: Database) -> ChangedPackages:
    """The packages whose records the last update added, changed, withdrew or removed (the
    rows it superseded stay until the next update, so both sides are known)."""
    async with db.read() as conn:
        row = (await conn.execute(select(ST.c.generation).where(ST.c.id == 1))).first()
        generation = int(row.generation) if row is not None else 0
        if generation == 0:
            return ChangedPackages(0, ())
        rows = await conn.execute(
            select(P.c.ecosystem, P.c.name_key)
            .join(R, R.c.pk == P.c.record_pk)
            .where(or_(R.c.gen_from == generation, R.c.gen_to == generation))
            .distinct()
            .order_by(P.c.ecosystem, P.c.name_key)
        )
        return ChangedPackages(generation, tuple((r.ecosystem, r.name_key) for r in rows))
