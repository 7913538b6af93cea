"""Replica registration and heartbeats (the ``replicas`` table of ``db/tables.py``).

Every ``moorage serve`` or ``moorage worker`` upserts its row on start and refreshes ``last_seen``
on each beat; a replica not seen for ``DOWN_AFTER_BEATS`` intervals is down. Plain SQL through
SQLAlchemy, written here because it is a handful of statements."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select, update

from moorage.background import BackgroundLoop
from moorage.config import Settings
from moorage.db.engine import Database, utcnow
from moorage.db.tables import replicas

HEARTBEAT_SECONDS = 10.0
DOWN_AFTER_BEATS = 3


@dataclass(frozen=True)
class Replica:
    id: str
    kind: str
    host: str
    address: str
    version: str
    started_at: dt.datetime
    last_seen: dt.datetime

    def healthy(self, now: dt.datetime, interval: float = HEARTBEAT_SECONDS) -> bool:
        """Seen within ``DOWN_AFTER_BEATS`` heartbeat intervals of ``now``."""
        seen = self.last_seen if self.last_seen.tzinfo else self.last_seen.replace(tzinfo=dt.UTC)
        return (now - seen).total_seconds() <= interval * DOWN_AFTER_BEATS


async def register(
    db: Database, replica_id: str, *, kind: str, host: str, address: str, version: str
) -> None:
    """Insert or refresh this replica's row: ``started_at`` and ``last_seen`` set to now."""
    now = utcnow()
    values = {
        "kind": kind,
        "host": host,
        "address": address,
        "version": version,
        "started_at": now,
        "last_seen": now,
    }
    stmt = db.insert(replicas).values(id=replica_id, **values)
    async with db.write() as conn:
        await conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))


async def beat(db: Database, replica_id: str) -> bool:
    """Refresh ``last_seen``; False when the row is gone (removed by an operator)."""
    async with db.write() as conn:
        result = await conn.execute(
            update(replicas).where(replicas.c.id == replica_id).values(last_seen=utcnow())
        )
    return bool(result.rowcount)


async def list_all(db: Database) -> list[Replica]:
    async with db.read() as conn:
        rows = (await conn.execute(select(replicas).order_by(replicas.c.id))).all()
    return [Replica(**row._mapping) for row in rows]


async def remove(db: Database, replica_id: str) -> bool:
    """Delete a replica's row; False when there was none."""
    async with db.write() as conn:
        result = await conn.execute(delete(replicas).where(replicas.c.id == replica_id))
    return bool(result.rowcount)


def replica_id_for(host: str, data: Path, kind: str = "serve", listen: str = "") -> str:
    """Stable across restarts of the same data folder and address on the same host; two
    serves of one folder on two ports differ, and a ``worker`` beside them gets its own
    (``…-worker``)."""
    where = f"{data.resolve()}" + (f"|{listen}" if listen else "")
    folder = hashlib.sha256(where.encode()).hexdigest()[:8]
    suffix = "" if kind == "serve" else f"-{kind[:8]}"
    return f"{host[:48]}-{folder}{suffix}"


def own_replica_id(settings: Settings, kind: str = "serve") -> str:
    """This process's ID: the configured ``replica_id`` (a worker's with ``-worker``), else
    derived from the host, the data folder and (for serve) the listen address."""
    if settings.replica_id:
        return settings.replica_id if kind == "serve" else f"{settings.replica_id}-{kind[:8]}"
    listen = settings.listen if kind == "serve" else ""
    return replica_id_for(socket.gethostname(), settings.data, kind, listen)


class Heartbeat:
    """This process's row, registered on the first pass and refreshed on each one (registered
    again if an operator removed it while it ran), on a ``BackgroundLoop``."""

    def __init__(
        self,
        db: Database,
        replica_id: str,
        *,
        kind: str,
        host: str,
        address: str,
        version: str,
        interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.replica_id = replica_id
        self._db = db
        self._facts = {"kind": kind, "host": host, "address": address, "version": version}
        self._registered = False
        self._loop = BackgroundLoop(
            "replica-heartbeat",
            self._pass,
            interval=interval,
            logger=logging.getLogger("moorage.replicas"),
        )

    async def _pass(self) -> None:
        if self._registered and await beat(self._db, self.replica_id):
            return
        await register(self._db, self.replica_id, **self._facts)
        self._registered = True

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
