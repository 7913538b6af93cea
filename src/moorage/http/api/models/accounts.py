"""eNZi's account, team and member objects (``/enzi/v0``), also inside /api/v0 answers."""

from __future__ import annotations

from pydantic import Field

from moorage.auth import accounts
from moorage.auth.levels import Principal
from moorage.http.api.models.wire import WireModel, optional


class Account(WireModel):
    """A user or an organization; ``email`` only for system administrators and the account
    itself."""

    id: str
    name: str
    full_name: str = Field(serialization_alias="fullName")
    is_org: bool = Field(serialization_alias="isOrg")
    is_admin: bool = Field(serialization_alias="isAdmin")
    is_active: bool = Field(serialization_alias="isActive")
    is_imported: bool = Field(serialization_alias="isImported")
    email: str | None = optional()
    # eNZi's counts of an organization (its GET and lists of accounts).
    members_count: int | None = optional("membersCount")
    teams_count: int | None = optional("teamsCount")

    @classmethod
    def of(cls, account: accounts.Account, *, with_email: bool = False) -> Account:
        return cls(
            id=str(account.id),
            name=account.name,
            full_name=account.full_name,
            is_org=account.is_org,
            is_admin=account.is_admin,
            is_active=account.is_active,
            is_imported=account.is_imported,
            email=account.email if with_email else None,
        )

    @classmethod
    def seen_by(cls, account: accounts.Account, principal: Principal) -> Account:
        """The account as ``principal`` may see it (its e-mail: admins and itself)."""
        mine = principal.is_admin or principal.account_id == account.id
        return cls.of(account, with_email=mine)


class AccountPage(WireModel):
    """eNZi's ``responses.Accounts``: the counts are of every account, whatever the filter."""

    accounts: list[Account]
    next_page_start: str = Field(serialization_alias="nextPageStart")
    users_count: int = Field(0, serialization_alias="usersCount")
    orgs_count: int = Field(0, serialization_alias="orgsCount")
    resource_count: int = Field(0, serialization_alias="resourceCount")


class Team(WireModel):
    """A team: eNZi's ``responses.Team`` with ``membersCount`` (eNZi's answers set it; DTR's
    /api/v0 ``responses.Team`` inside other answers has none)."""

    id: str
    org_id: str = Field(serialization_alias="orgID")
    name: str
    description: str
    type: str = "managed"
    members_count: int | None = optional("membersCount")

    @classmethod
    def of(cls, team: accounts.Team, members_count: int | None = None) -> Team:
        return cls(
            id=str(team.id),
            org_id=str(team.org_id),
            name=team.name,
            description=team.description,
            members_count=members_count,
        )


class TeamList(WireModel):
    """eNZi's ``responses.Teams``: ``resourceCount`` is the organization's number of teams."""

    teams: list[Team]
    next_page_start: str = Field("", serialization_alias="nextPageStart")
    resource_count: int = Field(0, serialization_alias="resourceCount")


class Member(WireModel):
    """eNZi's ``responses.Member`` of an organization (``isAdmin``: an org admin, which is an
    owner here) or of a team (a team admin)."""

    member: Account
    is_admin: bool = Field(serialization_alias="isAdmin")


class MemberList(WireModel):
    """eNZi's ``responses.Members``: ``resourceCount`` counts every member, whatever the
    filter."""

    members: list[Member]
    next_page_start: str = Field("", serialization_alias="nextPageStart")
    resource_count: int = Field(0, serialization_alias="resourceCount")


class Certificate(WireModel):
    """eNZi's ``responses.Certificate``."""

    label: str
    cert: str


class AccountPublicKey(WireModel):
    """eNZi's ``responses.AccountPublicKey``: ``id`` is the SHA-256 of the key's DER bytes."""

    id: str
    account_id: str = Field(serialization_alias="accountID")
    public_key: str = Field(serialization_alias="publicKey")
    label: str
    certificates: list[Certificate]


class AccountPublicKeys(WireModel):
    """eNZi's ``responses.AccountPublicKeys`` (``nextPageStart`` empty on the last page)."""

    account_public_keys: list[AccountPublicKey] = Field(serialization_alias="accountPublicKeys")
    next_page_start: str = Field(serialization_alias="nextPageStart")


class MemberOrg(WireModel):
    """eNZi's ``responses.MemberOrg``."""

    org: Account
    is_admin: bool = Field(serialization_alias="isAdmin")


class MemberOrgs(WireModel):
    """eNZi's ``responses.MemberOrgs`` (``nextPageStart`` empty on the last page)."""

    member_orgs: list[MemberOrg] = Field(serialization_alias="memberOrgs")
    next_page_start: str = Field("", serialization_alias="nextPageStart")


class MemberTeam(WireModel):
    """eNZi's ``responses.MemberTeam``: a team of the organization the member is in, and
    whether the member is the team's admin."""

    team: Team
    is_admin: bool = Field(default=False, serialization_alias="isAdmin")


class MemberTeams(WireModel):
    """eNZi's ``responses.MemberTeams`` (``nextPageStart`` empty on the last page)."""

    member_teams: list[MemberTeam] = Field(serialization_alias="memberTeams")
    next_page_start: str = Field("", serialization_alias="nextPageStart")
