"""The trust tables (``db/trust_tables.py``): every version of every role per GUN, the
server-held keys (private halves sealed by the secret box) and the changefeed."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import tables as t
from moorage.db.engine import Connection
from moorage.db.trust_tables import trust_changes, trust_keys, trust_metadata
from moorage.trust.errors import OldVersion
from moorage.trust.gun import Gun
from moorage.trust.validation import Update


@dataclass(frozen=True, slots=True)
class Stored:
    role: str
    version: int
    payload: bytes
    created_at: dt.datetime


def _stored(row: object) -> Stored:
    return Stored(row.role, row.version, bytes(row.payload), row.created_at)  # type: ignore[attr-defined]


_COLUMNS = (
    trust_metadata.c.role,
    trust_metadata.c.version,
    trust_metadata.c.payload,
    trust_metadata.c.created_at,
)


async def current_all(conn: Connection, gun: str) -> dict[str, Stored]:
    """The newest version of each role of ``gun``."""
    newest = (
        select(trust_metadata.c.role, func.max(trust_metadata.c.version).label("version"))
        .where(trust_metadata.c.gun == gun)
        .group_by(trust_metadata.c.role)
        .subquery()
    )
    rows = await conn.execute(
        select(*_COLUMNS)
        .join(
            newest,
            and_(
                trust_metadata.c.role == newest.c.role,
                trust_metadata.c.version == newest.c.version,
            ),
        )
        .where(trust_metadata.c.gun == gun)
    )
    return {row.role: _stored(row) for row in rows}


async def current(conn: Connection, gun: str, role: str) -> Stored | None:
    row = (
        await conn.execute(
            select(*_COLUMNS)
            .where(trust_metadata.c.gun == gun, trust_metadata.c.role == role)
            .order_by(trust_metadata.c.version.desc())
            .limit(1)
        )
    ).first()
    return _stored(row) if row else None


async def by_version(conn: Connection, gun: str, role: str, version: int) -> Stored | None:
    row = (
        await conn.execute(
            select(*_COLUMNS).where(
                trust_metadata.c.gun == gun,
                trust_metadata.c.role == role,
                trust_metadata.c.version == version,
            )
        )
    ).first()
    return _stored(row) if row else None


async def by_checksum(conn: Connection, gun: str, role: str, sha256: str) -> Stored | None:
    row = (
        await conn.execute(
            select(*_COLUMNS)
            .where(
                trust_metadata.c.gun == gun,
                trust_metadata.c.role == role,
                trust_metadata.c.sha256 == sha256,
            )
            .limit(1)
        )
    ).first()
    return _stored(row) if row else None


async def write(conn: Connection, gun: Gun, updates: Sequence[Update], now: dt.datetime) -> None:
    """Store ``updates`` (inside the caller's transaction): each version above the stored
    one (``OldVersion`` otherwise), and one changefeed record for the new timestamp."""
    stored = await current_all(conn, gun.name)
    for update in updates:
        have = stored.get(update.role)
        if have is not None and update.version <= have.version:
            raise OldVersion(
                f"{update.role} version {update.version} is not above the stored {have.version}",
                detail={"role": update.role, "version": update.version, "current": have.version},
            )
    try:
        for update in updates:
            await conn.execute(
                insert(trust_metadata).values(
                    gun=gun.name,
                    repository=gun.repository,
                    role=update.role,
                    version=update.version,
                    sha256=hashlib.sha256(update.payload).hexdigest(),
                    payload=update.payload,
                    created_at=now,
                )
            )
    except IntegrityError as exc:  # a concurrent publish stored the same version first
        raise OldVersion(detail={"gun": gun.name}) from exc
    ts = next((u for u in updates if u.role == "timestamp"), None)
    if ts is not None:
        await record_change(
            conn, gun, ts.version, hashlib.sha256(ts.payload).hexdigest(), "update", now
        )


async def record_change(
    conn: Connection, gun: Gun, version: int, sha256: str, category: str, now: dt.datetime
) -> None:
    await conn.execute(
        insert(trust_changes).values(
            gun=gun.name,
            repository=gun.repository,
            version=version,
            sha256=sha256,
            category=category,
            created_at=now,
        )
    )


async def delete_metadata(conn: Connection, gun: Gun, now: dt.datetime) -> None:
    await conn.execute(delete(trust_metadata).where(trust_metadata.c.gun == gun.name))
    await record_change(conn, gun, 0, "", "deletion", now)


# ---- keys --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredKey:
    key_id: str
    algorithm: str
    public: bytes
    sealed_private: str


async def keys(conn: Connection, gun: str, role: str) -> list[StoredKey]:
    """The server's keys for ``role`` of ``gun``, newest first."""
    rows = await conn.execute(
        select(trust_keys)
        .where(trust_keys.c.gun == gun, trust_keys.c.role == role)
        .order_by(trust_keys.c.id.desc())
    )
    return [StoredKey(r.key_id, r.algorithm, bytes(r.public), r.sealed_private) for r in rows]


async def add_key(conn: Connection, gun: Gun, role: str, key: StoredKey, now: dt.datetime) -> None:
    await conn.execute(
        insert(trust_keys).values(
            gun=gun.name,
            repository=gun.repository,
            role=role,
            key_id=key.key_id,
            algorithm=key.algorithm,
            public=key.public,
            sealed_private=key.sealed_private,
            created_at=now,
        )
    )


# ---- changefeed --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    gun: str
    version: int
    sha256: str
    category: str
    created_at: dt.datetime


async def changes(
    conn: Connection,
    change_id: int,
    records: int,
    *,
    gun: str | None = None,
    visible: ColumnElement[bool] | None = None,
) -> list[Change]:
    """Notary's paging: after ``change_id`` (0: from the start), ``records`` of them; a
    negative ``records`` or ``change_id`` reads backwards (-1: from the newest). Oldest first.
    ``visible``: a condition on ``repositories`` (those the caller may pull): only their changes."""
    query = select(trust_changes)
    if gun is not None:
        query = query.where(trust_changes.c.gun == gun)
    if visible is not None:
        names = select(t.repositories.c.name).where(visible)
        query = query.where(trust_changes.c.repository.in_(names))
    reverse = change_id < 0 or records < 0
    limit = abs(records)
    if reverse:
        if change_id > 0:
            query = query.where(trust_changes.c.id < change_id)
        query = query.order_by(trust_changes.c.id.desc())
    else:
        query = query.where(trust_changes.c.id > change_id).order_by(trust_changes.c.id.asc())
    rows = list(await conn.execute(query.limit(limit)))
    if reverse:
        rows.reverse()
    return [Change(r.id, r.gun, r.version, r.sha256, r.category, r.created_at) for r in rows]
