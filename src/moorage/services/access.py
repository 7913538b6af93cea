"""What a principal may do to a repository or namespace: registry facts handed to auth's rules.

``AccessPolicy`` is shared by the /v2 authorizer (every request) and the token service (what a
token may carry), so a token never carries more than its account may do; ``repository_level``
and ``namespace_level`` by the API and the web UI, so a hidden repository answers alike on both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select

from moorage.auth import accounts, grants
from moorage.auth.levels import Level, Principal, RepositoryFacts, allowed_actions
from moorage.db import site_settings
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import NoSuchRepository
from moorage.oci.names import validate_name
from moorage.registry import repositories
from moorage.registry.context import RegistryContext


class Refusal(enum.Enum):
    NONE = "none"
    READ_ONLY_REGISTRY = "read-only registry"
    NO_SUCH_REPOSITORY = "no such repository"
    NO_SUCH_NAMESPACE = "no such namespace"


@dataclass(frozen=True, slots=True)
class Decision:
    granted: frozenset[str]
    refusal: Refusal = Refusal.NONE


class AccessPolicy:
    def __init__(self, ctx: RegistryContext) -> None:
        self.ctx = ctx

    async def facts(self, name: str) -> RepositoryFacts:
        async with self.ctx.db.read() as conn:
            repo = await repositories.find_remembered(conn, name)
        namespace = repositories.namespace_of(name)
        if repo is None:
            return RepositoryFacts(name=name, namespace=namespace)
        return RepositoryFacts(name, namespace, repo.id, repo.visibility)

    async def decide(self, principal: Principal, name: str, requested: frozenset[str]) -> Decision:
        """The subset of ``requested`` repository actions ``principal`` may perform on ``name``."""
        try:
            validate_name(name)
        except Exception:
            return Decision(frozenset())
        facts = await self.facts(name)
        level = await grants.level_on(self.ctx.db, principal, facts)
        if facts.exists and level < Level.READ_ONLY:
            # Who cannot pull a repository learns nothing of it: it is refused exactly as a
            # repository that does not exist (same status, code and message).
            facts = RepositoryFacts(name=name, namespace=facts.namespace)
        writes = requested & {"push", "delete", "*"}
        read_only = False
        refusal = Refusal.NONE
        if writes:
            site = await site_settings.load(self.ctx.db)
            read_only = site.read_only_registry
            if read_only and level >= Level.READ_WRITE:
                refusal = Refusal.READ_ONLY_REGISTRY
            if not facts.exists:
                if not site.create_repository_on_push:
                    level = min(level, Level.READ_ONLY)
                    refusal = refusal if refusal is not Refusal.NONE else Refusal.NO_SUCH_REPOSITORY
                elif not principal.is_admin and not await self._namespace_exists(facts.namespace):
                    level = min(level, Level.READ_ONLY)
                    refusal = Refusal.NO_SUCH_NAMESPACE
        granted = allowed_actions(level, requested, read_only_registry=read_only)
        return Decision(granted, refusal if granted != requested else Refusal.NONE)

    async def _namespace_exists(self, namespace: str) -> bool:
        async with self.ctx.db.read() as conn:
            return await accounts.find(conn, namespace) is not None


async def repository_level(
    db: Database, principal: Principal, name: str
) -> tuple[Level, repositories.RepositoryDetails]:
    """The caller's level on an existing repository; 404 when it may not even see it."""
    repo = await repositories.details(db, name)
    facts = RepositoryFacts(name, repo.namespace, repo.id, repo.visibility)
    level = await grants.level_on(db, principal, facts)
    if level < Level.READ_ONLY:
        raise NoSuchRepository(detail={"name": name})
    return level, repo


async def namespace_level(db: Database, principal: Principal, namespace: str) -> Level:
    async with db.read() as conn:
        return await grants.namespace_level(conn, principal, namespace)


async def namespace_types(db: Database, namespaces: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    async with db.read() as conn:
        for ns in namespaces:
            account = await accounts.find(conn, ns)
            out[ns] = "organization" if account and account.is_org else "user"
    return out


async def teams_of_caller(db: Database, principal: Principal, team_ids: set[int]) -> set[int]:
    """Those of ``team_ids`` that ``principal`` is a member of (DTR's ``clientUserIsMember``)."""
    if principal.account_id is None or not team_ids:
        return set()
    async with db.read() as conn:
        rows = await conn.execute(
            select(t.team_members.c.team_id).where(
                t.team_members.c.user_id == principal.account_id,
                t.team_members.c.team_id.in_(sorted(team_ids)),
            )
        )
        return {int(r.team_id) for r in rows}
