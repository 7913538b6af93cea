"""Access tokens (DTR's API tokens) and refresh tokens: random secrets stored only as SHA-256.

The secrets carry 256 bits of entropy, so a fast hash is enough to store them;
the plaintext is returned once, at creation."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from moorage.db import tables as t
from moorage.db.engine import Database, as_utc, utcnow
from moorage.errors import NoSuchToken

API = "api"
REFRESH = "refresh"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    hashed: str
    account_id: int
    account_name: str
    label: str
    is_active: bool
    created_at: Any
    last_used_at: Any


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        row.token_hash,
        row.account_id,
        row.name,
        row.label,
        bool(row.is_active),
        row.created_at,
        row.last_used_at,
    )


_SELECT = select(
    t.access_tokens.c.token_hash,
    t.access_tokens.c.account_id,
    t.accounts.c.name,
    t.access_tokens.c.label,
    t.access_tokens.c.is_active,
    t.access_tokens.c.created_at,
    t.access_tokens.c.last_used_at,
).select_from(t.access_tokens.join(t.accounts, t.accounts.c.id == t.access_tokens.c.account_id))


async def issue(db: Database, account_id: int, *, kind: str, label: str = "") -> tuple[str, str]:
    """Create a token; returns (plaintext, hashed). The plaintext is never stored."""
    token = secrets.token_urlsafe(32)
    hashed = digest(token)
    async with db.write() as conn:
        await conn.execute(
            t.access_tokens.insert().values(
                account_id=account_id,
                kind=kind,
                token_hash=hashed,
                label=label[:255],
                is_active=True,
                created_at=utcnow(),
            )
        )
    return token, hashed


async def resolve(db: Database, token: str, *, kind: str) -> int | None:
    """The account id an active token of ``kind`` belongs to; records its use."""
    hashed = digest(token)
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(t.access_tokens.c.account_id, t.access_tokens.c.last_used_at).where(
                    and_(
                        t.access_tokens.c.token_hash == hashed,
                        t.access_tokens.c.kind == kind,
                        t.access_tokens.c.is_active.is_(True),
                    )
                )
            )
        ).first()
    if row is None:
        return None
    now = utcnow()
    # Record the use at most once a minute per token, to keep pulls off the write lock.
    if row.last_used_at is None or (now - as_utc(row.last_used_at)).total_seconds() > 60:
        async with db.write() as conn:
            await conn.execute(
                update(t.access_tokens)
                .where(t.access_tokens.c.token_hash == hashed)
                .values(last_used_at=now)
            )
    return int(row.account_id)


async def list_for(db: Database, account_id: int | None) -> list[TokenInfo]:
    query = _SELECT.where(t.access_tokens.c.kind == API).order_by(t.access_tokens.c.id)
    if account_id is not None:
        query = query.where(t.access_tokens.c.account_id == account_id)
    async with db.read() as conn:
        return [_info(r) for r in await conn.execute(query)]


async def get(db: Database, hashed: str) -> TokenInfo:
    async with db.read() as conn:
        row = (
            await conn.execute(
                _SELECT.where(
                    and_(t.access_tokens.c.token_hash == hashed, t.access_tokens.c.kind == API)
                )
            )
        ).first()
    if row is None:
        raise NoSuchToken(detail={"hashedToken": hashed[:64]})
    return _info(row)


async def modify(
    db: Database, hashed: str, *, label: str | None, is_active: bool | None
) -> TokenInfo:
    values: dict[str, Any] = {}
    if label is not None:
        values["label"] = label[:255]
    if is_active is not None:
        values["is_active"] = is_active
    if values:
        async with db.write() as conn:
            await conn.execute(
                update(t.access_tokens)
                .where(t.access_tokens.c.token_hash == hashed)
                .values(**values)
            )
    return await get(db, hashed)


async def revoke(db: Database, hashed: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(
            delete(t.access_tokens).where(t.access_tokens.c.token_hash == hashed)
        )
    if result.rowcount == 0:
        raise NoSuchToken(detail={"hashedToken": hashed[:64]})


async def revoke_matching(
    db: Database,
    account_id: int,
    *,
    kinds: tuple[str, ...],
    used_before: dt.datetime | None = None,
) -> int:
    """Delete ``account_id``'s tokens of ``kinds`` and, with ``used_before``, only those last
    used before it (a token never used counts from its creation). Returns how many went."""
    table = t.access_tokens
    conditions = [table.c.account_id == account_id, table.c.kind.in_(kinds)]
    if used_before is not None:
        conditions.append(func.coalesce(table.c.last_used_at, table.c.created_at) < used_before)
    async with db.write() as conn:
        result = await conn.execute(delete(table).where(and_(*conditions)))
    return int(result.rowcount or 0)


async def revoke_all(db: Database, account_id: int, kinds: tuple[str, ...] = (API,)) -> None:
    async with db.write() as conn:
        await conn.execute(
            delete(t.access_tokens).where(
                and_(
                    t.access_tokens.c.account_id == account_id,
                    t.access_tokens.c.kind.in_(kinds),
                )
            )
        )
