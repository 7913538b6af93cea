"""Web UI sessions, kept in SQL so every replica knows them.

The cookie carries a random id; the table keeps only its SHA-256, the account and the
session's CSRF token (every form posts it back). A sign-in made with an access token instead of
the password is recorded with that token: its session acts as ``session-access-token``, which
may not manage the account's credentials, and ends when the token is revoked or deactivated."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, or_, select

from moorage.auth.credentials import SESSION, SESSION_FROM_ACCESS_TOKEN, access_token_of
from moorage.auth.levels import Principal
from moorage.db import tables as t
from moorage.db.engine import Database, as_utc, utcnow

LIFETIME = dt.timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: str
    account_id: int
    csrf_token: str
    expires_at: dt.datetime
    access_token_id: int | None = None

    @property
    def via(self) -> str:
        """How the session's principal counts (``Principal.via``)."""
        return SESSION if self.access_token_id is None else SESSION_FROM_ACCESS_TOKEN


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def create(db: Database, principal: Principal) -> tuple[str, Session]:
    """A new session for the signed-in ``principal``; returns the cookie value and the session."""
    assert principal.account_id is not None
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    found = Session(
        _hash(session_id),
        principal.account_id,
        secrets.token_urlsafe(32),
        now + LIFETIME,
        access_token_of(principal),
    )
    async with db.write() as conn:
        await conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.expires_at < now))
        await conn.execute(
            t.ui_sessions.insert().values(
                id_hash=found.id_hash,
                account_id=found.account_id,
                csrf_token=found.csrf_token,
                created_at=now,
                expires_at=found.expires_at,
                access_token_id=found.access_token_id,
            )
        )
    return session_id, found


# A session made with an access token lives only while that token is active (a deleted token
# deletes it: ON DELETE CASCADE).
_LOOKUP = (
    select(t.ui_sessions)
    .select_from(
        t.ui_sessions.outerjoin(
            t.access_tokens, t.access_tokens.c.id == t.ui_sessions.c.access_token_id
        )
    )
    .where(
        and_(
            t.ui_sessions.c.id_hash == bindparam("id_hash"),
            t.ui_sessions.c.expires_at > bindparam("now"),
            or_(
                t.ui_sessions.c.access_token_id.is_(None),
                t.access_tokens.c.is_active.is_(True),
            ),
        )
    )
)


async def lookup(db: Database, session_id: str) -> Session | None:
    if not session_id or len(session_id) > 128:
        return None
    async with db.read() as conn:
        row = (await conn.execute(_LOOKUP, {"id_hash": _hash(session_id), "now": utcnow()})).first()
    if row is None:
        return None
    token_id = int(row.access_token_id) if row.access_token_id is not None else None
    return Session(
        row.id_hash, int(row.account_id), row.csrf_token, as_utc(row.expires_at), token_id
    )


async def end(db: Database, id_hash: str) -> None:
    async with db.write() as conn:
        await conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.id_hash == id_hash))
