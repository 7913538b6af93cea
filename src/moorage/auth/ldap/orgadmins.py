"""An organization's admin sync (eNZi's ``adminMemberSyncConfig``), kept in ``org_admin_sync``.

The options are a team's member sync options (``MemberSyncConfig``); what a sync does with them
is in ``moorage.auth.ldap.sync``: the imported users of the group (or search) become the
organization's admins, and imported users who were made admins and are no longer found lose it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update

from moorage.auth import accounts
from moorage.auth.ldap.teams import MemberSyncConfig
from moorage.db import tables as t
from moorage.db.engine import Connection, Database
from moorage.errors import InvalidInput


def admin_sync_of(row: Any) -> MemberSyncConfig:
    if row is None:
        return MemberSyncConfig.model_validate({})
    return MemberSyncConfig.model_construct(
        enable_sync=bool(row.enable_sync),
        select_group_members=bool(row.select_group_members),
        group_dn=row.group_dn or "",
        group_member_attr=row.group_member_attr or "member",
        search_base_dn=row.search_base_dn or "",
        search_filter=row.search_filter or "",
        search_scope_subtree=bool(row.search_scope_subtree),
    )


async def _row(conn: Connection, org_id: int) -> Any:
    s = t.org_admin_sync
    return (await conn.execute(select(s).where(s.c.org_id == org_id))).first()


async def get_admin_sync(db: Database, org: str) -> MemberSyncConfig:
    async with db.read() as conn:
        found = await accounts.require_org(conn, org)
        return admin_sync_of(await _row(conn, found.id))


def merge(current: MemberSyncConfig, changes: dict[str, Any]) -> MemberSyncConfig:
    """``changes`` (eNZi's ``forms.MemberSyncOpts``, or part of it) over ``current``."""
    try:
        return MemberSyncConfig.model_validate({**current.model_dump(by_alias=True), **changes})
    except ValidationError as exc:
        problems = [
            {
                "setting": ".".join(str(p) for p in e["loc"]) or "memberSyncConfig",
                "msg": e["msg"],
            }
            for e in exc.errors()
        ]
        raise InvalidInput("invalid member sync configuration", detail=problems) from exc


async def set_admin_sync(db: Database, org: str, changes: dict[str, Any]) -> MemberSyncConfig:
    s = t.org_admin_sync
    async with db.write() as conn:
        found = await accounts.require_org(conn, org)
        row = await _row(conn, found.id)
        merged = merge(admin_sync_of(row), changes)
        values = {
            "enable_sync": merged.enable_sync,
            "select_group_members": merged.select_group_members,
            "group_dn": merged.group_dn,
            "group_member_attr": merged.group_member_attr,
            "search_base_dn": merged.search_base_dn,
            "search_filter": merged.search_filter,
            "search_scope_subtree": merged.search_scope_subtree,
        }
        if row is None:
            await conn.execute(s.insert().values(org_id=found.id, **values))
        else:
            await conn.execute(update(s).where(s.c.org_id == found.id).values(**values))
    return merged


async def synced_orgs(db: Database) -> list[tuple[int, str, MemberSyncConfig]]:
    """The organizations whose admins the sync sets: (org id, name, options)."""
    s = t.org_admin_sync
    async with db.read() as conn:
        rows = await conn.execute(
            select(s, t.accounts.c.name)
            .select_from(s.join(t.accounts, t.accounts.c.id == s.c.org_id))
            .where(s.c.enable_sync.is_(True))
            .order_by(t.accounts.c.name)
        )
        return [(r.org_id, r.name, admin_sync_of(r)) for r in rows]
