"""Changing accounts and managing organizations: the checks every edge applies alike."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import and_, delete, insert, select, update

from moorage.auth import accounts
from moorage.auth.credentials import Authenticator
from moorage.auth.levels import Principal
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import (
    Conflict,
    Denied,
    InvalidInput,
    NoSuchAccount,
    NotFound,
    TeamExists,
)


async def require_org_admin(db: Database, principal: Principal, org: str) -> None:
    """Managing an organization (members, teams, a team's LDAP sync): its owners and system
    administrators, eNZi's org admins. A team's grant on the namespace, even admin, is about the
    namespace's repositories: it does not make the team's members admins of the organization."""
    if principal.is_admin:
        return
    if principal.account_id is not None and any(
        owned.name == org for owned in await accounts.owned_orgs(db, principal.account_id)
    ):
        return
    raise Denied("only the organization's owners and system administrators may do this")


async def change_account(
    db: Database,
    principal: Principal,
    name: str,
    changes: dict[str, Any],
    *,
    authenticator: Authenticator | None = None,
    current_password: str | None = None,
    source: str | None = None,
) -> accounts.Account:
    """An account's changes (DTR field names: ``fullName``, ``isAdmin``, ``password`` ...).

    Only system administrators change other accounts or anyone's admin and active flags, and
    an administrator cannot demote or deactivate their own account (the registry would lose
    the one who can undo it). A new password for the caller's own account needs
    ``current_password``, checked (and throttled) by ``authenticator`` against the password
    alone; a system administrator sets another user's password without it. ``accounts.modify``
    ends, in its transaction, what a new password or a deactivation ends (sessions, refresh
    tokens, access tokens)."""
    is_self = principal.name == name
    if not principal.is_admin and (not is_self or {"isAdmin", "isActive"} & set(changes)):
        raise Denied("only system administrators may change other accounts or admin status")
    if is_self and (changes.get("isAdmin") is False or changes.get("isActive") is False):
        raise InvalidInput("administrators cannot demote or deactivate themselves")
    if changes.get("password") is not None and is_self:
        if authenticator is None:
            raise InvalidInput(
                "change your own password on your account page, with your current password"
            )
        await authenticator.confirm_password(principal, current_password or "", source=source)
    return await accounts.modify(db, name, changes)


# ---- eNZi's account public keys (``/enzi/v0/accounts/{accountNameOrID}/publicKeys``) --------


@dataclass(frozen=True)
class PublicKey:
    account_id: int
    key_id: str
    public_key: str
    label: str
    certificates: list[dict[str, str]]


async def resolve_account(db: Database, name_or_id: str) -> accounts.Account:
    """eNZi's ``{accountNameOrID}``: a name first (so a name is never taken for an id), then,
    for digits, the account with that id."""
    async with db.read() as conn:
        found = await accounts.find(conn, name_or_id)
        if found is None and name_or_id.isdigit() and len(name_or_id) < 12:
            found = await accounts.by_id(conn, int(name_or_id))
    if found is None:
        raise NoSuchAccount(detail={"name": name_or_id})
    return found


async def require_account_manager(
    db: Database, principal: Principal, account: accounts.Account
) -> None:
    """eNZi's "an admin user, the target user (if a user), or an admin member of the target
    organization (if an organization)"."""
    if principal.is_admin:
        return
    if not account.is_org and principal.account_id == account.id:
        return
    if account.is_org:
        await require_org_admin(db, principal, account.name)
        return
    raise Denied("only the account itself and system administrators may do this")


def _certificates(certs: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for cert in certs:
        try:
            x509.load_pem_x509_certificate(cert["cert"].encode())
        except (ValueError, KeyError) as exc:
            raise InvalidInput("a certificate is not a PEM-encoded X.509 certificate") from exc
        out.append({"label": cert.get("label", ""), "cert": cert["cert"]})
    return out


def _key_row(row: Any) -> PublicKey:
    return PublicKey(
        account_id=row.account_id,
        key_id=row.key_id,
        public_key=row.public_key,
        label=row.label,
        certificates=list(json.loads(row.certificates)),
    )


def public_key_id(pem: str) -> str:
    """eNZi's key ID: the SHA-256 (hex) of the public key's DER bytes; ``pem`` must be a
    PEM-encoded public key."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise InvalidInput("publicKey is not a PEM-encoded public key") from exc
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


async def list_public_keys(
    db: Database, account: accounts.Account, start: str, limit: int
) -> tuple[list[PublicKey], str]:
    """Keys in ascending key ID from ``start``; the next page's start ("" on the last)."""
    k = t.account_public_keys
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(k)
                .where(and_(k.c.account_id == account.id, k.c.key_id >= start))
                .order_by(k.c.key_id)
                .limit(limit + 1)
            )
        ).all()
    keys = [_key_row(r) for r in rows]
    return keys[:limit], (keys[limit].key_id if len(keys) > limit else "")


async def add_public_key(
    db: Database,
    account: accounts.Account,
    pem: str,
    label: str,
    certificates: list[dict[str, str]],
) -> PublicKey:
    key_id = public_key_id(pem)
    certs = _certificates(certificates)
    k = t.account_public_keys
    async with db.write() as conn:
        exists = (
            await conn.execute(
                select(k.c.key_id).where(and_(k.c.account_id == account.id, k.c.key_id == key_id))
            )
        ).first()
        if exists is not None:
            raise Conflict("the account already has this public key", detail={"keyID": key_id})
        await conn.execute(
            insert(k).values(
                account_id=account.id,
                key_id=key_id,
                public_key=pem,
                label=label,
                certificates=json.dumps(certs),
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return PublicKey(account.id, key_id, pem, label, certs)


async def change_public_key(
    db: Database,
    account: accounts.Account,
    key_id: str,
    label: str | None,
    certificates: list[dict[str, str]] | None,
) -> PublicKey:
    k = t.account_public_keys
    where = and_(k.c.account_id == account.id, k.c.key_id == key_id)
    values: dict[str, Any] = {}
    if label is not None:
        values["label"] = label
    if certificates is not None:
        values["certificates"] = json.dumps(_certificates(certificates))
    async with db.write() as conn:
        if values:
            await conn.execute(update(k).where(where).values(**values))
        row = (await conn.execute(select(k).where(where))).first()
    if row is None:
        raise NotFound("no such public key", detail={"keyID": key_id})
    return _key_row(row)


async def remove_public_key(db: Database, account: accounts.Account, key_id: str) -> None:
    k = t.account_public_keys
    async with db.write() as conn:
        gone = await conn.execute(
            delete(k).where(and_(k.c.account_id == account.id, k.c.key_id == key_id))
        )
    if not gone.rowcount:
        raise NotFound("no such public key", detail={"keyID": key_id})


async def member_orgs(
    db: Database, principal: Principal, user: accounts.Account
) -> list[tuple[accounts.Account, bool]]:
    """The organizations ``user`` belongs to, by name, each with whether the user is an owner
    (eNZi's org admin); for the user itself and system administrators only."""
    if not principal.is_admin and principal.account_id != user.id:
        raise Denied("only the user and system administrators may list the user's organizations")
    if user.is_org:
        raise InvalidInput("an organization belongs to no organization")
    org = t.accounts.alias("org")
    async with db.read() as conn:
        rows = await conn.execute(
            select(org, t.org_members.c.is_owner)
            .select_from(t.org_members.join(org, org.c.id == t.org_members.c.org_id))
            .where(t.org_members.c.user_id == user.id)
            .order_by(org.c.name)
        )
        return [(accounts.row_account(r), bool(r.is_owner)) for r in rows]


async def update_team(
    db: Database,
    org_name: str,
    team_name: str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> accounts.Team:
    """eNZi's team update: a new name (the team's grants and members stay: they hold its id)
    and/or description."""
    if name is not None and (not isinstance(name, str) or not accounts.TEAM_NAME.fullmatch(name)):
        raise InvalidInput(
            "team names are letters, digits, '.', '_' and '-'", detail={"name": name}
        )
    async with db.write() as conn:
        team = await accounts.require_team(conn, org_name, team_name)
        values: dict[str, Any] = {}
        if name is not None and name != team.name:
            org = await accounts.require_org(conn, org_name)
            if await accounts.find_team(conn, org, name) is not None:
                raise TeamExists(detail={"org": org_name, "team": name})
            values["name"] = name
        if description is not None:
            values["description"] = description[:1024]
        if values:
            await conn.execute(update(t.teams).where(t.teams.c.id == team.id).values(**values))
        return await accounts.require_team(conn, org_name, values.get("name", team.name))
