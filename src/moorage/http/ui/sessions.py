"""Web UI sessions, kept in SQL so every replica knows them.

The cookie carries a random id; the table keeps only its SHA-256, the account and the
session's CSRF token (every form posts it back)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import and_, delete, select

from moorage.db import tables as t
from moorage.db.engine import Database, as_utc, utcnow

LIFETIME = dt.timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: str
    account_id: int
    csrf_token: str
    expires_at: dt.datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def create(db: Database, account_id: int) -> tuple[str, Session]:
    """A new session for ``account_id``; returns the cookie value and the session."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    found = Session(_hash(session_id), account_id, secrets.token_urlsafe(32), now + LIFETIME)
    async with db.write() as conn:
        await conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.expires_at < now))
        await conn.execute(
            t.ui_sessions.insert().values(
                id_hash=found.id_hash,
                account_id=account_id,
                csrf_token=found.csrf_token,
                created_at=now,
                expires_at=found.expires_at,
            )
        )
    return session_id, found


async def lookup(db: Database, session_id: str) -> Session | None:
    if not session_id or len(session_id) > 128:
        return None
    query = select(t.ui_sessions).where(
        and_(t.ui_sessions.c.id_hash == _hash(session_id), t.ui_sessions.c.expires_at > utcnow())
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Session(row.id_hash, int(row.account_id), row.csrf_token, as_utc(row.expires_at))


async def end(db: Database, id_hash: str) -> None:
    async with db.write() as conn:
        await conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.id_hash == id_hash))
