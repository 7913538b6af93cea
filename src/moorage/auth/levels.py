"""DTR's permission model, as pure functions.

read-only < read-write < admin, granted to teams on one repository or a whole
namespace. A user is admin of their own namespace; organization owners are admins
of the organization's namespace; system administrators can do everything.
Anonymous users may pull public repositories and nothing else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Level(enum.IntEnum):
    NONE = 0
    READ_ONLY = 1
    READ_WRITE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """DTR's name of the level (read-only, read-write, admin), as stored and sent."""
        return _WIRE[self]

    @classmethod
    def parse(cls, value: str) -> Level:
        for level, name in _WIRE.items():
            if name == value and level is not cls.NONE:
                return level
        raise ValueError(f"unknown access level {value!r}; use read-only, read-write or admin")


_WIRE = {
    Level.NONE: "none",
    Level.READ_ONLY: "read-only",
    Level.READ_WRITE: "read-write",
    Level.ADMIN: "admin",
}

# What each registry action needs.
ACTION_LEVEL = {
    "pull": Level.READ_ONLY,
    "push": Level.READ_WRITE,
    "delete": Level.READ_WRITE,
    "*": Level.ADMIN,
}
WRITE_ACTIONS = frozenset({"push", "delete", "*"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: an account, or nobody."""

    account_id: int | None
    name: str | None
    is_admin: bool = False
    via: str = "anonymous"  # anonymous | password | access-token | bearer | session

    @property
    def is_anonymous(self) -> bool:
        return self.account_id is None


ANONYMOUS = Principal(None, None)


@dataclass(frozen=True, slots=True)
class RepositoryFacts:
    """What RBAC needs to know of a repository (or of one that does not exist yet)."""

    name: str
    namespace: str
    id: int | None = None
    visibility: str = "private"

    @property
    def exists(self) -> bool:
        return self.id is not None


def effective_level(
    principal: Principal,
    repo: RepositoryFacts,
    *,
    namespace_level: Level,
    team_level: Level,
) -> Level:
    """The level ``principal`` holds on ``repo``.

    ``namespace_level`` is what the principal holds on the whole namespace (own
    namespace or org owner → admin; namespace team grants); ``team_level`` is the
    best repository team grant.
    """
    if principal.is_admin:
        return Level.ADMIN
    level = Level.NONE
    if repo.exists and repo.visibility == "public":
        level = Level.READ_ONLY
    if principal.is_anonymous:
        return level
    return max(level, namespace_level, team_level)


def allowed_actions(
    level: Level, requested: frozenset[str], *, read_only_registry: bool
) -> frozenset[str]:
    allowed = {a for a in requested if a in ACTION_LEVEL and level >= ACTION_LEVEL[a]}
    if read_only_registry:
        allowed -= WRITE_ACTIONS
    return frozenset(allowed)
