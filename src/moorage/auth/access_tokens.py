"""Access tokens (DTR's API tokens) and refresh tokens: random secrets stored only as SHA-256.

The secrets carry 256 bits of entropy, so a fast hash is enough to store them;
the plaintext is returned once, at creation. DTR's ``generatedBy`` tells how a token was made:
``manual`` (a user asked for it: an access token) or ``auto`` (a login made it: the refresh
token of a ``docker login``); it follows from the token's kind. ``creator_ua`` is the
User-Agent of the request that made it."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from moorage.db import tables as t
from moorage.db.engine import Database, as_utc, utcnow
from moorage.errors import NoSuchAccount, NoSuchToken

API = "api"
REFRESH = "refresh"
# DTR's ``generatedBy`` values, by kind.
MANUAL = "manual"
AUTO = "auto"
GENERATED_BY = {API: MANUAL, REFRESH: AUTO}
KINDS_MADE = {MANUAL: (API,), AUTO: (REFRESH,)}
EVERY_KIND = (API, REFRESH)
MAX_USER_AGENT = 1024


class NoSuchApiToken(NoSuchToken):
    """DTR's code for a token that is not there (or not the caller's to see)."""

    api_code = "NO_SUCH_API_TOKEN"


class NoSuchTokenOwner(NoSuchAccount):
    """``?username=`` names no user (DTR: NO_SUCH_USER)."""

    api_code = "NO_SUCH_USER"


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
    kind: str = API
    creator_ua: str = ""

    @property
    def generated_by(self) -> str:
        return GENERATED_BY.get(self.kind, MANUAL)


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        row.token_hash,
        row.account_id,
        row.name,
        row.label,
        bool(row.is_active),
        row.created_at,
        row.last_used_at,
        row.kind,
        row.creator_ua or "",
    )


_SELECT = select(
    t.access_tokens.c.token_hash,
    t.access_tokens.c.account_id,
    t.accounts.c.name,
    t.access_tokens.c.label,
    t.access_tokens.c.is_active,
    t.access_tokens.c.created_at,
    t.access_tokens.c.last_used_at,
    t.access_tokens.c.kind,
    t.access_tokens.c.creator_ua,
).select_from(t.access_tokens.join(t.accounts, t.accounts.c.id == t.access_tokens.c.account_id))


async def issue(
    db: Database, account_id: int, *, kind: str, label: str = "", creator_ua: str = ""
) -> tuple[str, str]:
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
                creator_ua=creator_ua[:MAX_USER_AGENT],
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


async def list_for(
    db: Database,
    account_id: int | None,
    *,
    kinds: tuple[str, ...] = (API,),
    start: str | None = None,
    limit: int | None = None,
) -> list[TokenInfo]:
    """The tokens of ``kinds`` (of ``account_id``; None: everyone's), oldest first; with
    ``start`` (a hashed token) from that one on, and at most ``limit``."""
    table = t.access_tokens
    query = _SELECT.where(table.c.kind.in_(kinds)).order_by(table.c.id)
    if account_id is not None:
        query = query.where(table.c.account_id == account_id)
    if start is not None:
        first = select(table.c.id).where(table.c.token_hash == start).scalar_subquery()
        query = query.where(table.c.id >= first)
    if limit is not None:
        query = query.limit(limit)
    async with db.read() as conn:
        return [_info(r) for r in await conn.execute(query)]


async def count_for(db: Database, account_id: int | None, *, kinds: tuple[str, ...]) -> int:
    table = t.access_tokens
    query = select(func.count()).select_from(table).where(table.c.kind.in_(kinds))
    if account_id is not None:
        query = query.where(table.c.account_id == account_id)
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def get(db: Database, hashed: str, *, kinds: tuple[str, ...] = (API,)) -> TokenInfo:
    async with db.read() as conn:
        row = (
            await conn.execute(
                _SELECT.where(
                    and_(t.access_tokens.c.token_hash == hashed, t.access_tokens.c.kind.in_(kinds))
                )
            )
        ).first()
    if row is None:
        raise NoSuchApiToken(detail={"hashedToken": hashed[:64]})
    return _info(row)


async def modify(
    db: Database,
    hashed: str,
    *,
    label: str | None,
    is_active: bool | None,
    kinds: tuple[str, ...] = (API,),
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
    return await get(db, hashed, kinds=kinds)


async def revoke(db: Database, hashed: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(
            delete(t.access_tokens).where(t.access_tokens.c.token_hash == hashed)
        )
    if result.rowcount == 0:
        raise NoSuchApiToken(detail={"hashedToken": hashed[:64]})


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
