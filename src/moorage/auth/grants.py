"""Team access grants on repositories and namespaces, and the level a principal holds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.schema import Table

from moorage.auth import accounts
from moorage.auth.levels import Level, Principal, RepositoryFacts, effective_level
from moorage.db import tables as t
from moorage.db.engine import Connection, Database
from moorage.errors import NoSuchTeam
from moorage.events import store as events


@dataclass(frozen=True, slots=True)
class TeamGrant:
    team: accounts.Team
    level: Level


async def namespace_level(conn: Connection, principal: Principal, namespace: str) -> Level:
    """Level on the whole namespace: own namespace or org owner → admin; else namespace grants."""
    if principal.is_admin:
        return Level.ADMIN
    if principal.account_id is None:
        return Level.NONE
    if principal.name == namespace:
        return Level.ADMIN
    owner = (
        await conn.execute(
            select(t.org_members.c.is_owner)
            .select_from(t.org_members.join(t.accounts, t.accounts.c.id == t.org_members.c.org_id))
            .where(
                and_(
                    t.accounts.c.name == namespace,
                    t.org_members.c.user_id == principal.account_id,
                )
            )
        )
    ).first()
    if owner is not None and owner.is_owner:
        return Level.ADMIN
    rows = await conn.execute(
        select(t.namespace_team_access.c.level)
        .select_from(
            t.namespace_team_access.join(
                t.team_members, t.team_members.c.team_id == t.namespace_team_access.c.team_id
            )
        )
        .where(
            and_(
                t.namespace_team_access.c.namespace == namespace,
                t.team_members.c.user_id == principal.account_id,
            )
        )
    )
    return max((Level.parse(r.level) for r in rows), default=Level.NONE)


async def repository_team_level(
    conn: Connection, principal: Principal, repository_id: int
) -> Level:
    if principal.account_id is None:
        return Level.NONE
    rows = await conn.execute(
        select(t.repository_team_access.c.level)
        .select_from(
            t.repository_team_access.join(
                t.team_members, t.team_members.c.team_id == t.repository_team_access.c.team_id
            )
        )
        .where(
            and_(
                t.repository_team_access.c.repository_id == repository_id,
                t.team_members.c.user_id == principal.account_id,
            )
        )
    )
    return max((Level.parse(r.level) for r in rows), default=Level.NONE)


async def level_on(db: Database, principal: Principal, repo: RepositoryFacts) -> Level:
    """The level ``principal`` holds on ``repo`` (which may not exist yet)."""
    if principal.is_admin:
        return Level.ADMIN
    if principal.is_anonymous:
        return effective_level(principal, repo, namespace_level=Level.NONE, team_level=Level.NONE)
    async with db.read() as conn:
        ns = await namespace_level(conn, principal, repo.namespace)
        team = (
            await repository_team_level(conn, principal, repo.id)
            if repo.id is not None and ns < Level.ADMIN
            else Level.NONE
        )
    return effective_level(principal, repo, namespace_level=ns, team_level=team)


# ---- managing grants -----------------------------------------------------------------------


async def _access_event(
    conn: Connection,
    repository_id: int | None,
    target: str,
    team: accounts.Team,
    level: Level | None,
    actor: str | None,
) -> None:
    """TEAM_ACCESS_CHANGE in the grant's transaction (``level`` None: access removed)."""
    if repository_id is not None:
        target = (
            await conn.execute(
                select(t.repositories.c.name).where(t.repositories.c.id == repository_id)
            )
        ).scalar_one_or_none() or target
    await events.record(
        conn,
        events.TEAM_ACCESS_CHANGE,
        repository=target,
        repository_id=repository_id,
        object_type=events.TEAM,
        object_id=f"{team.org_name}/{team.name}",
        actor=actor,
        details={
            "team": team.name,
            "org": team.org_name,
            "accessLevel": level.label if level is not None else Level.NONE.label,
        },
    )


async def set_repository_access(
    db: Database,
    repository_id: int,
    org_name: str,
    team_name: str,
    level: Level,
    actor: str | None = None,
) -> accounts.Team:
    async with db.write() as conn:
        team = await accounts.require_team(conn, org_name, team_name)
        await conn.execute(
            db.insert(t.repository_team_access)
            .values(repository_id=repository_id, team_id=team.id, level=level.label)
            .on_conflict_do_update(
                index_elements=["repository_id", "team_id"], set_={"level": level.label}
            )
        )
        await _access_event(conn, repository_id, "", team, level, actor)
    return team


async def remove_repository_access(
    db: Database, repository_id: int, org_name: str, team_name: str, actor: str | None = None
) -> None:
    async with db.write() as conn:
        team = await accounts.require_team(conn, org_name, team_name)
        result = await conn.execute(
            delete(t.repository_team_access).where(
                and_(
                    t.repository_team_access.c.repository_id == repository_id,
                    t.repository_team_access.c.team_id == team.id,
                )
            )
        )
        if result.rowcount:
            await _access_event(conn, repository_id, "", team, None, actor)
    if result.rowcount == 0:
        raise NoSuchTeam("the team has no access to this repository")


async def _team_grants(
    db: Database, grants: Table, condition: ColumnElement[bool]
) -> list[TeamGrant]:
    """The teams (with their organization) holding a grant in ``grants`` matching ``condition``."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(t.teams, t.accounts.c.name.label("org_name"), grants.c.level)
            .select_from(
                grants.join(t.teams, t.teams.c.id == grants.c.team_id).join(
                    t.accounts, t.accounts.c.id == t.teams.c.org_id
                )
            )
            .where(condition)
            .order_by(t.teams.c.name)
        )
        return [
            TeamGrant(
                accounts.Team(r.id, r.org_id, r.org_name, r.name, r.description),
                Level.parse(r.level),
            )
            for r in rows
        ]


async def repository_access_list(db: Database, repository_id: int) -> list[TeamGrant]:
    return await _team_grants(
        db,
        t.repository_team_access,
        t.repository_team_access.c.repository_id == repository_id,
    )


async def set_namespace_access(
    db: Database, namespace: str, team_name: str, level: Level, actor: str | None = None
) -> accounts.Team:
    """Namespace grants are for teams of the organization that owns the namespace (as in DTR)."""
    async with db.write() as conn:
        team = await accounts.require_team(conn, namespace, team_name)
        await conn.execute(
            db.insert(t.namespace_team_access)
            .values(namespace=namespace, team_id=team.id, level=level.label)
            .on_conflict_do_update(
                index_elements=["namespace", "team_id"], set_={"level": level.label}
            )
        )
        await _access_event(conn, None, namespace, team, level, actor)
    return team


async def remove_namespace_access(
    db: Database, namespace: str, team_name: str, actor: str | None = None
) -> None:
    async with db.write() as conn:
        team = await accounts.require_team(conn, namespace, team_name)
        result = await conn.execute(
            delete(t.namespace_team_access).where(
                and_(
                    t.namespace_team_access.c.namespace == namespace,
                    t.namespace_team_access.c.team_id == team.id,
                )
            )
        )
        if result.rowcount:
            await _access_event(conn, None, namespace, team, None, actor)
    if result.rowcount == 0:
        raise NoSuchTeam("the team has no access to this namespace")


async def namespace_access_list(db: Database, namespace: str) -> list[TeamGrant]:
    return await _team_grants(
        db, t.namespace_team_access, t.namespace_team_access.c.namespace == namespace
    )


async def team_repository_access(
    db: Database, org_name: str, team_name: str
) -> list[tuple[int, Level]]:
    """(repository id, level) for every repository the team has a grant on."""
    async with db.read() as conn:
        team = await accounts.require_team(conn, org_name, team_name)
        rows = await conn.execute(
            select(t.repository_team_access.c.repository_id, t.repository_team_access.c.level)
            .where(t.repository_team_access.c.team_id == team.id)
            .order_by(t.repository_team_access.c.repository_id)
        )
        return [(r.repository_id, Level.parse(r.level)) for r in rows]


def visible_repositories(principal: Principal) -> ColumnElement[bool]:
    """SQL condition on ``repositories``: the rows ``principal`` may pull."""
    if principal.is_admin:
        return true()
    public = t.repositories.c.visibility == "public"
    if principal.account_id is None:
        return public
    uid = principal.account_id
    owned_orgs = (
        select(t.accounts.c.name)
        .select_from(t.org_members.join(t.accounts, t.accounts.c.id == t.org_members.c.org_id))
        .where(and_(t.org_members.c.user_id == uid, t.org_members.c.is_owner.is_(True)))
    )
    granted_namespaces = (
        select(t.namespace_team_access.c.namespace)
        .select_from(
            t.namespace_team_access.join(
                t.team_members, t.team_members.c.team_id == t.namespace_team_access.c.team_id
            )
        )
        .where(t.team_members.c.user_id == uid)
    )
    granted_repositories = (
        select(t.repository_team_access.c.repository_id)
        .select_from(
            t.repository_team_access.join(
                t.team_members, t.team_members.c.team_id == t.repository_team_access.c.team_id
            )
        )
        .where(t.team_members.c.user_id == uid)
    )
    return or_(
        public,
        t.repositories.c.namespace == principal.name,
        t.repositories.c.namespace.in_(owned_orgs),
        t.repositories.c.namespace.in_(granted_namespaces),
        t.repositories.c.id.in_(granted_repositories),
    )
