"""A team's member sync (enzi's ``memberSyncConfig``), kept in the team's row."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select, update

from moorage.auth import accounts
from moorage.auth.ldap.config import attribute_name, ldap_filter
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import InvalidInput


class MemberSyncConfig(BaseModel):
    """enzi's ``memberSyncConfig`` of a team."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    enable_sync: bool = Field(False, alias="enableSync")
    select_group_members: bool = Field(True, alias="selectGroupMembers")
    group_dn: str = Field("", alias="groupDN", max_length=1024)
    group_member_attr: str = Field("member", alias="groupMemberAttr")
    search_base_dn: str = Field("", alias="searchBaseDN", max_length=1024)
    search_filter: str = Field("", alias="searchFilter", max_length=1024)
    search_scope_subtree: bool = Field(False, alias="searchScopeSubtree")

    @field_validator("group_member_attr")
    @classmethod
    def _attr(cls, value: str) -> str:
        return attribute_name(value)

    @field_validator("search_filter")
    @classmethod
    def _flt(cls, value: str) -> str:
        return ldap_filter(value)

    @model_validator(mode="after")
    def _complete(self) -> MemberSyncConfig:
        if self.enable_sync and self.select_group_members and not self.group_dn:
            raise ValueError("groupDN is needed to sync a team from a group")
        if self.enable_sync and not self.select_group_members and not self.search_base_dn:
            raise ValueError("searchBaseDN is needed to sync a team from a search")
        return self


def member_sync_of(row: Any) -> MemberSyncConfig:
    return MemberSyncConfig.model_construct(
        enable_sync=bool(row.ldap_sync_enabled),
        select_group_members=bool(row.ldap_select_group_members),
        group_dn=row.ldap_group_dn or "",
        group_member_attr=row.ldap_group_member_attr or "member",
        search_base_dn=row.ldap_search_base_dn or "",
        search_filter=row.ldap_filter or "",
        search_scope_subtree=bool(row.ldap_search_subtree),
    )


async def get_member_sync(db: Database, org: str, team: str) -> MemberSyncConfig:
    async with db.read() as conn:
        found = await accounts.require_team(conn, org, team)
        row = (await conn.execute(select(t.teams).where(t.teams.c.id == found.id))).one()
    return member_sync_of(row)


async def set_member_sync(
    db: Database, org: str, team: str, changes: dict[str, Any]
) -> MemberSyncConfig:
    async with db.write() as conn:
        found = await accounts.require_team(conn, org, team)
        row = (await conn.execute(select(t.teams).where(t.teams.c.id == found.id))).one()
        try:
            merged = MemberSyncConfig.model_validate(
                {**member_sync_of(row).model_dump(by_alias=True), **changes}
            )
        except ValidationError as exc:
            problems = [
                {
                    "setting": ".".join(str(p) for p in e["loc"]) or "memberSyncConfig",
                    "msg": e["msg"],
                }
                for e in exc.errors()
            ]
            raise InvalidInput("invalid member sync configuration", detail=problems) from exc
        await conn.execute(
            update(t.teams)
            .where(t.teams.c.id == found.id)
            .values(
                ldap_sync_enabled=merged.enable_sync,
                ldap_select_group_members=merged.select_group_members,
                ldap_group_dn=merged.group_dn or None,
                ldap_group_member_attr=merged.group_member_attr,
                ldap_search_base_dn=merged.search_base_dn or None,
                ldap_filter=merged.search_filter or None,
                ldap_search_subtree=merged.search_scope_subtree,
            )
        )
    return merged
