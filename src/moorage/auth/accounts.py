"""Accounts (users and organizations), teams and memberships."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update

from moorage.auth import access_tokens
from moorage.auth.passwords import hash_password
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, utcnow
from moorage.errors import (
    AccountExists,
    InvalidInput,
    NoSuchAccount,
    NoSuchMember,
    NoSuchTeam,
    TeamExists,
)

# Account names are repository namespaces, so they follow the name-component grammar.
ACCOUNT_NAME = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
TEAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MIN_PASSWORD = 8


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    is_org: bool
    full_name: str
    email: str
    is_admin: bool
    is_active: bool
    is_imported: bool
    password_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    org_id: int
    org_name: str
    name: str
    description: str


def row_account(row: Any) -> Account:
    """An ``Account`` from a row holding the ``accounts`` columns."""
    return Account(
        id=row.id,
        name=row.name,
        is_org=bool(row.is_org),
        full_name=row.full_name,
        email=row.email,
        is_admin=bool(row.is_admin),
        is_active=bool(row.is_active),
        is_imported=bool(row.is_imported),
        password_hash=row.password_hash,
    )


def validate_account_name(name: str) -> str:
    if not isinstance(name, str) or len(name) > 255 or not ACCOUNT_NAME.fullmatch(name):
        raise InvalidInput(
            "account names are lowercase letters, digits and single separators (. _ -)",
            detail={"name": str(name)[:100]},
        )
    return name


def validate_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD} characters")
    return password


# Built once: every authenticated request runs one of these.
_BY_NAME = select(t.accounts).where(t.accounts.c.name == bindparam("name"))
_BY_ID = select(t.accounts).where(t.accounts.c.id == bindparam("id"))


async def find(conn: Connection, name: str) -> Account | None:
    row = (await conn.execute(_BY_NAME, {"name": name})).first()
    return None if row is None else row_account(row)


async def by_id(conn: Connection, account_id: int) -> Account | None:
    row = (await conn.execute(_BY_ID, {"id": account_id})).first()
    return None if row is None else row_account(row)


async def get(db: Database, name: str) -> Account:
    async with db.read() as conn:
        found = await find(conn, name)
    if found is None:
        raise NoSuchAccount(detail={"name": name})
    return found


async def create(
    db: Database,
    *,
    name: str,
    is_org: bool = False,
    password: str | None = None,
    full_name: str = "",
    email: str = "",
    is_admin: bool = False,
    is_active: bool = True,
    is_imported: bool = False,
    ldap_dn: str | None = None,
) -> Account:
    validate_account_name(name)
    if is_org and (password or is_admin):
        raise InvalidInput("organizations have no password and cannot be administrators")
    password_hash = None
    if password is not None and not is_org:
        password_hash = await hash_password(validate_password(password))
    now = utcnow()
    async with db.write() as conn:
        if await find(conn, name) is not None:
            raise AccountExists(detail={"name": name})
        await conn.execute(
            t.accounts.insert().values(
                name=name,
                is_org=is_org,
                full_name=full_name[:255],
                email=email[:255],
                password_hash=password_hash,
                is_admin=is_admin and not is_org,
                is_active=is_active,
                is_imported=is_imported,
                ldap_dn=ldap_dn,
                created_at=now,
                updated_at=now,
            )
        )
        created = await find(conn, name)
    assert created is not None
    return created


# eNZi's account filters beyond all/users/orgs: users by one flag.
_USER_FILTERS = {
    "admins": (t.accounts.c.is_admin, True),
    "non-admins": (t.accounts.c.is_admin, False),
    "active-users": (t.accounts.c.is_active, True),
    "inactive-users": (t.accounts.c.is_active, False),
}


async def account_counts(db: Database) -> tuple[int, int]:
    """How many users and how many organizations there are (eNZi's page totals)."""
    query = select(t.accounts.c.is_org, func.count().label("n")).group_by(t.accounts.c.is_org)
    async with db.read() as conn:
        counts = {bool(row.is_org): int(row.n) for row in await conn.execute(query)}
    return counts.get(False, 0), counts.get(True, 0)


async def org_counts(db: Database, org_id: int) -> tuple[int, int]:
    """An organization's number of members and of teams."""
    members = select(func.count()).where(t.org_members.c.org_id == org_id)
    teams = select(func.count()).where(t.teams.c.org_id == org_id)
    async with db.read() as conn:
        return int((await conn.execute(members)).scalar_one()), int(
            (await conn.execute(teams)).scalar_one()
        )


async def list_accounts(
    db: Database, *, start: str | None, limit: int, kind: str | None = None
) -> tuple[list[Account], str | None]:
    """A page of accounts ordered by name, and the name the next page starts at."""
    query = select(t.accounts).order_by(t.accounts.c.name).limit(limit + 1)
    if start:
        query = query.where(t.accounts.c.name >= start)
    if kind == "users":
        query = query.where(t.accounts.c.is_org.is_(False))
    elif kind == "orgs":
        query = query.where(t.accounts.c.is_org.is_(True))
    elif kind in _USER_FILTERS:
        column, value = _USER_FILTERS[kind]
        query = query.where(and_(t.accounts.c.is_org.is_(False), column.is_(value)))
    async with db.read() as conn:
        rows = [row_account(r) for r in await conn.execute(query)]
    nxt = rows[limit].name if len(rows) > limit else None
    return rows[:limit], nxt


async def modify(db: Database, name: str, changes: dict[str, Any]) -> Account:
    """Apply ``fullName``, ``email``, ``isAdmin``, ``isActive``, ``password`` changes, in one
    transaction with what they end: a new password ends the web UI sessions and the refresh
    tokens of docker logins made with the old one; a deactivation ends every session (UI
    sessions, access tokens and refresh tokens). Who may ask is the caller's rule."""
    account = await get(db, name)
    values: dict[str, Any] = {}
    if "fullName" in changes:
        values["full_name"] = str(changes["fullName"])[:255]
    if "email" in changes:
        values["email"] = str(changes["email"])[:255]
    if "isAdmin" in changes:
        if account.is_org and changes["isAdmin"]:
            raise InvalidInput("organizations cannot be administrators")
        values["is_admin"] = bool(changes["isAdmin"])
    if "isActive" in changes:
        values["is_active"] = bool(changes["isActive"])
    if changes.get("password") is not None:
        if account.is_org:
            raise InvalidInput("organizations have no password")
        values["password_hash"] = await hash_password(validate_password(changes["password"]))
    if values:
        values["updated_at"] = utcnow()
        async with db.write() as conn:
            await conn.execute(
                update(t.accounts).where(t.accounts.c.id == account.id).values(**values)
            )
            if "password_hash" in values or values.get("is_active") is False:
                await end_ui_sessions(conn, account.id)
                kinds = [access_tokens.REFRESH]
                if values.get("is_active") is False:
                    kinds.append(access_tokens.API)
                await conn.execute(
                    delete(t.access_tokens).where(
                        and_(
                            t.access_tokens.c.account_id == account.id,
                            t.access_tokens.c.kind.in_(kinds),
                        )
                    )
                )
    return await get(db, name)


async def end_ui_sessions(conn: Connection, account_id: int) -> None:
    """Inside the change's transaction: the account's web UI sessions end (a new password or a
    deactivation signs it out of every browser)."""
    await conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.account_id == account_id))


async def remove(db: Database, name: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(delete(t.accounts).where(t.accounts.c.name == name))
    if result.rowcount == 0:
        raise NoSuchAccount(detail={"name": name})


async def bootstrap_admin(db: Database, name: str, password: str | None) -> str | None:
    """Create the first administrator when no administrator exists yet.

    Race-safe: of several replicas starting at once on one database, exactly one creates it
    (the check and the insert run in one write transaction serialized across processes, and
    the insert does nothing on a name already taken); the others see it and return None.
    Returns the password when it was generated here (the caller shows it once; it is
    never logged), else None."""
    any_admin = select(func.count()).select_from(t.accounts).where(t.accounts.c.is_admin.is_(True))
    async with db.read() as conn:
        if (await conn.execute(any_admin)).scalar_one():
            return None
    validate_account_name(name)
    generated = None if password else secrets.token_urlsafe(18)
    password_hash = await hash_password(validate_password(password or generated or ""))
    now = utcnow()
    async with db.write() as conn:
        await db.serialize(conn, "first-administrator")
        if (await conn.execute(any_admin)).scalar_one():
            return None
        created = await conn.execute(
            db.insert(t.accounts)
            .values(
                name=name,
                is_org=False,
                full_name="",
                email="",
                password_hash=password_hash,
                is_admin=True,
                is_active=True,
                is_imported=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["name"])
        )
    return generated if created.rowcount else None


# ---- organizations -------------------------------------------------------------------------


async def require_org(conn: Connection, name: str) -> Account:
    org = await find(conn, name)
    if org is None or not org.is_org:
        raise NoSuchAccount(f"no organization named {name!r}", detail={"name": name})
    return org


async def require_user(conn: Connection, name: str) -> Account:
    user = await find(conn, name)
    if user is None or user.is_org:
        raise NoSuchAccount(f"no user named {name!r}", detail={"name": name})
    return user


async def set_org_member(db: Database, org_name: str, user_name: str, *, is_owner: bool) -> None:
    async with db.write() as conn:
        org = await require_org(conn, org_name)
        user = await require_user(conn, user_name)
        await conn.execute(
            db.insert(t.org_members)
            .values(org_id=org.id, user_id=user.id, is_owner=is_owner)
            .on_conflict_do_update(
                index_elements=["org_id", "user_id"], set_={"is_owner": is_owner}
            )
        )


async def remove_org_member(db: Database, org_name: str, user_name: str) -> None:
    async with db.write() as conn:
        org = await require_org(conn, org_name)
        user = await require_user(conn, user_name)
        result = await conn.execute(
            delete(t.org_members).where(
                and_(t.org_members.c.org_id == org.id, t.org_members.c.user_id == user.id)
            )
        )
        if result.rowcount == 0:
            raise NoSuchMember(detail={"org": org_name, "user": user_name})
        team_ids = select(t.teams.c.id).where(t.teams.c.org_id == org.id)
        await conn.execute(
            delete(t.team_members).where(
                and_(t.team_members.c.user_id == user.id, t.team_members.c.team_id.in_(team_ids))
            )
        )


async def org_members(db: Database, org_name: str) -> list[tuple[Account, bool]]:
    async with db.read() as conn:
        org = await require_org(conn, org_name)
        rows = await conn.execute(
            select(t.accounts, t.org_members.c.is_owner)
            .select_from(t.org_members.join(t.accounts, t.accounts.c.id == t.org_members.c.user_id))
            .where(t.org_members.c.org_id == org.id)
            .order_by(t.accounts.c.name)
        )
        return [(row_account(r), bool(r.is_owner)) for r in rows]


async def owned_orgs(db: Database, user_id: int) -> list[Account]:
    """The organizations ``user_id`` owns, by name (the web UI lists them to their owners)."""
    org = t.accounts.alias("org")
    async with db.read() as conn:
        rows = await conn.execute(
            select(org)
            .select_from(t.org_members.join(org, org.c.id == t.org_members.c.org_id))
            .where(and_(t.org_members.c.user_id == user_id, t.org_members.c.is_owner.is_(True)))
            .order_by(org.c.name)
        )
        return [row_account(r) for r in rows]


# ---- teams ---------------------------------------------------------------------------------


def _team(row: Any, org_name: str) -> Team:
    return Team(row.id, row.org_id, org_name, row.name, row.description)


async def find_team(conn: Connection, org: Account, team_name: str) -> Team | None:
    row = (
        await conn.execute(
            select(t.teams).where(and_(t.teams.c.org_id == org.id, t.teams.c.name == team_name))
        )
    ).first()
    return None if row is None else _team(row, org.name)


async def require_team(conn: Connection, org_name: str, team_name: str) -> Team:
    org = await require_org(conn, org_name)
    team = await find_team(conn, org, team_name)
    if team is None:
        raise NoSuchTeam(detail={"org": org_name, "team": team_name})
    return team


async def create_team(db: Database, org_name: str, name: str, description: str = "") -> Team:
    if not isinstance(name, str) or not TEAM_NAME.fullmatch(name):
        raise InvalidInput(
            "team names are letters, digits, '.', '_' and '-'", detail={"name": name}
        )
    async with db.write() as conn:
        org = await require_org(conn, org_name)
        if await find_team(conn, org, name) is not None:
            raise TeamExists(detail={"org": org_name, "team": name})
        await conn.execute(
            t.teams.insert().values(
                org_id=org.id, name=name, description=description[:1024], created_at=utcnow()
            )
        )
        team = await find_team(conn, org, name)
    assert team is not None
    return team


async def list_teams(db: Database, org_name: str) -> list[Team]:
    async with db.read() as conn:
        org = await require_org(conn, org_name)
        rows = await conn.execute(
            select(t.teams).where(t.teams.c.org_id == org.id).order_by(t.teams.c.name)
        )
        return [_team(r, org.name) for r in rows]


async def get_team(db: Database, org_name: str, team_name: str) -> Team:
    async with db.read() as conn:
        return await require_team(conn, org_name, team_name)


async def delete_team(db: Database, org_name: str, team_name: str) -> None:
    async with db.write() as conn:
        team = await require_team(conn, org_name, team_name)
        await conn.execute(delete(t.teams).where(t.teams.c.id == team.id))


async def add_team_member(db: Database, org_name: str, team_name: str, user_name: str) -> None:
    """Add a user to a team (and to the team's organization, as DTR does)."""
    async with db.write() as conn:
        team = await require_team(conn, org_name, team_name)
        user = await require_user(conn, user_name)
        await conn.execute(
            db.insert(t.org_members)
            .values(org_id=team.org_id, user_id=user.id, is_owner=False)
            .on_conflict_do_nothing(index_elements=["org_id", "user_id"])
        )
        await conn.execute(
            db.insert(t.team_members)
            .values(team_id=team.id, user_id=user.id)
            .on_conflict_do_nothing(index_elements=["team_id", "user_id"])
        )


async def remove_team_member(db: Database, org_name: str, team_name: str, user_name: str) -> None:
    async with db.write() as conn:
        team = await require_team(conn, org_name, team_name)
        user = await require_user(conn, user_name)
        result = await conn.execute(
            delete(t.team_members).where(
                and_(t.team_members.c.team_id == team.id, t.team_members.c.user_id == user.id)
            )
        )
    if result.rowcount == 0:
        raise NoSuchMember(detail={"team": team_name, "user": user_name})


async def team_members(db: Database, org_name: str, team_name: str) -> list[Account]:
    async with db.read() as conn:
        team = await require_team(conn, org_name, team_name)
        rows = await conn.execute(
            select(t.accounts)
            .select_from(
                t.team_members.join(t.accounts, t.accounts.c.id == t.team_members.c.user_id)
            )
            .where(t.team_members.c.team_id == team.id)
            .order_by(t.accounts.c.name)
        )
        return [row_account(r) for r in rows]


async def search(db: Database, text: str, limit: int) -> list[Account]:
    """Accounts whose name contains ``text`` (the search box), ordered by name."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(t.accounts)
        .where(t.accounts.c.name.ilike(f"%{escaped}%", escape="\\"))
        .order_by(t.accounts.c.name)
        .limit(limit)
    )
    async with db.read() as conn:
        return [row_account(r) for r in await conn.execute(query)]
