"""DTR's team-access and access-query objects (``responses.TeamAccess``,
``responses.ListRepoTeamAccess``, ``responses.ListRepoNamespaceTeamAccess``,
``responses.NamespaceTeamAccess``, ``responses.RepoUserAccess``, ``responses.RepoAccess``,
``responses.ListTeamRepoAccess``) and DTR's own team object inside them (``responses.Team``:
``id`` and ``clientUserIsMember``, not eNZi's team).

DTR names a namespace by a plain string in these answers; its team by ``id`` with whether the
caller is one of its members. Moorage adds the team's eNZi fields (``name``, ``orgID``,
``description``, ``type``) so a client need not look the id up."""

from __future__ import annotations

from pydantic import Field

from moorage.auth import accounts
from moorage.http.api.models.accounts import Account
from moorage.http.api.models.repositories import Repository
from moorage.http.api.models.wire import WireModel


class DtrTeam(WireModel):
    """DTR's ``responses.Team``; ``clientUserIsMember``: the caller is a member of the team."""

    id: str
    client_user_is_member: bool = Field(serialization_alias="clientUserIsMember")
    org_id: str = Field(serialization_alias="orgID")
    name: str
    description: str
    type: str = "managed"

    @classmethod
    def of(cls, team: accounts.Team, *, caller_is_member: bool) -> DtrTeam:
        return cls(
            id=str(team.id),
            client_user_is_member=caller_is_member,
            org_id=str(team.org_id),
            name=team.name,
            description=team.description,
        )


class TeamAccess(WireModel):
    access_level: str = Field(serialization_alias="accessLevel")
    team: DtrTeam


class RepositoryTeamAccessList(WireModel):
    """``responses.ListRepoTeamAccess``."""

    repository: Repository
    team_access_list: list[TeamAccess] = Field(serialization_alias="teamAccessList")


class RepositoryTeamAccessGrant(RepositoryTeamAccessList):
    """The answer to a grant: DTR's Swagger declares ``responses.ListRepoTeamAccess`` (the
    repository's whole list after the grant); the grant itself rides along as ``accessLevel``
    and ``team``, for clients that read those."""

    access_level: str = Field(serialization_alias="accessLevel")
    team: DtrTeam


class NamespaceTeamAccessList(WireModel):
    """``responses.ListRepoNamespaceTeamAccess``: ``namespace`` is the namespace's name."""

    namespace: str
    team_access_list: list[TeamAccess] = Field(serialization_alias="teamAccessList")


class NamespaceTeamAccess(WireModel):
    """``responses.NamespaceTeamAccess``."""

    access_level: str = Field(serialization_alias="accessLevel")
    team: DtrTeam
    namespace: str


class UserRepositoryAccess(WireModel):
    """``responses.RepoUserAccess``."""

    access_level: str = Field(serialization_alias="accessLevel")
    repository: Repository
    user: Account


class RepositoryAccess(WireModel):
    """``responses.RepoAccess``."""

    access_level: str = Field(serialization_alias="accessLevel")
    repository: Repository


class TeamRepositoryAccessList(WireModel):
    """``responses.ListTeamRepoAccess``."""

    team: DtrTeam
    repository_access_list: list[RepositoryAccess] = Field(
        serialization_alias="repositoryAccessList"
    )
