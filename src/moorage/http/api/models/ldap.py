"""eNZi's LDAP objects: the settings (``/enzi/v0/config/auth/ldap``), the record of a sync, and a
team's ``memberSyncConfig``.

The names are eNZi's (``LDAPSettings``, ``UserSearchOpts``, ``MemberSyncOpts``) where the two
share a setting. Moorage adds ``enabled``, ``emailAttr``, ``jitUserProvisioning`` and the
interval of the periodic sync (``syncIntervalSeconds``, also as ``syncIntervalHours``) where eNZi
has a cron ``syncSchedule``; and it answers ``readerPasswordSet`` where eNZi sends the reader's
password back: the password is write-only. A sync's record is Moorage's (eNZi reports syncs as
jobs).
"""

from __future__ import annotations

from pydantic import Field

from moorage.auth.ldap.config import StoredConfig, UserSearchConfig
from moorage.auth.ldap.records import SyncRecord, TeamOutcome
from moorage.auth.ldap.teams import MemberSyncConfig
from moorage.http.api.models.wire import Timestamp, WireModel, optional


class UserSearch(WireModel):
    """One of the searches that find users (eNZi's ``UserSearchOpts``, plus ``emailAttr``)."""

    base_dn: str = Field(serialization_alias="baseDN")
    scope_subtree: bool = Field(serialization_alias="scopeSubtree")
    username_attr: str = Field(serialization_alias="usernameAttr")
    full_name_attr: str = Field(serialization_alias="fullNameAttr")
    email_attr: str = Field(serialization_alias="emailAttr")
    filter: str

    @classmethod
    def of(cls, search: UserSearchConfig) -> UserSearch:
        return cls(
            base_dn=search.base_dn,
            scope_subtree=search.scope_subtree,
            username_attr=search.username_attr,
            full_name_attr=search.full_name_attr,
            email_attr=search.email_attr,
            filter=search.filter,
        )


class LdapSettings(WireModel):
    """The LDAP settings, without the reader's password (``readerPasswordSet`` says whether
    one is stored)."""

    enabled: bool
    server_url: str = Field(serialization_alias="serverURL")
    start_tls: bool = Field(serialization_alias="startTLS")
    tls_skip_verify: bool = Field(serialization_alias="tlsSkipVerify")
    root_certs: str = Field(serialization_alias="rootCerts")
    reader_dn: str = Field(serialization_alias="readerDN")
    user_search_configs: list[UserSearch] = Field(serialization_alias="userSearchConfigs")
    jit_user_provisioning: bool = Field(serialization_alias="jitUserProvisioning")
    sync_interval_seconds: int = Field(serialization_alias="syncIntervalSeconds")
    sync_interval_hours: float = Field(serialization_alias="syncIntervalHours")
    reader_password_set: bool = Field(serialization_alias="readerPasswordSet")

    @classmethod
    def of(cls, stored: StoredConfig) -> LdapSettings:
        config = stored.config
        return cls(
            enabled=config.enabled,
            server_url=config.server_url,
            start_tls=config.start_tls,
            tls_skip_verify=config.tls_skip_verify,
            root_certs=config.root_certs,
            reader_dn=config.reader_dn,
            user_search_configs=[UserSearch.of(s) for s in config.user_search_configs],
            jit_user_provisioning=config.jit_user_provisioning,
            sync_interval_seconds=config.sync_interval_seconds,
            sync_interval_hours=config.sync_interval_seconds / 3600,
            reader_password_set=stored.sealed_password is not None,
        )


class MemberSyncOpts(WireModel):
    """A team's member sync (eNZi's ``MemberSyncOpts``): a group's members or a search."""

    enable_sync: bool = Field(serialization_alias="enableSync")
    select_group_members: bool = Field(serialization_alias="selectGroupMembers")
    group_dn: str = Field(serialization_alias="groupDN")
    group_member_attr: str = Field(serialization_alias="groupMemberAttr")
    search_base_dn: str = Field(serialization_alias="searchBaseDN")
    search_filter: str = Field(serialization_alias="searchFilter")
    search_scope_subtree: bool = Field(serialization_alias="searchScopeSubtree")

    @classmethod
    def of(cls, config: MemberSyncConfig) -> MemberSyncOpts:
        return cls(
            enable_sync=config.enable_sync,
            select_group_members=config.select_group_members,
            group_dn=config.group_dn,
            group_member_attr=config.group_member_attr,
            search_base_dn=config.search_base_dn,
            search_filter=config.search_filter,
            search_scope_subtree=config.search_scope_subtree,
        )


class LdapSyncTeam(WireModel):
    """What a sync did to one synced team: ``unmatched`` members found in the directory but
    not among the imported users, or the ``error`` that kept the team as it was."""

    team: str
    added: int
    removed: int
    unmatched: int | None = optional()
    error: str | None = optional()

    @classmethod
    def of(cls, outcome: TeamOutcome) -> LdapSyncTeam:
        return cls(
            team=outcome.label,
            added=outcome.added,
            removed=outcome.removed,
            unmatched=outcome.unmatched,
            error=outcome.error,
        )


class LdapSync(WireModel):
    """The record of one sync (``finishedAt`` null while it is waiting or running)."""

    id: int
    status: str
    trigger: str
    runner: str
    started_at: Timestamp = Field(serialization_alias="startedAt")
    finished_at: Timestamp | None = Field(serialization_alias="finishedAt")
    users_found: int = Field(serialization_alias="usersFound")
    users_created: int = Field(serialization_alias="usersCreated")
    users_updated: int = Field(serialization_alias="usersUpdated")
    users_deactivated: int = Field(serialization_alias="usersDeactivated")
    users_reactivated: int = Field(serialization_alias="usersReactivated")
    team_members_added: int = Field(serialization_alias="teamMembersAdded")
    team_members_removed: int = Field(serialization_alias="teamMembersRemoved")
    errors: list[str]
    teams: list[LdapSyncTeam]
    job_id: str = Field(serialization_alias="jobID")

    @classmethod
    def of(cls, record: SyncRecord) -> LdapSync:
        result = record.result
        return cls(
            id=record.id,
            status=record.status,
            trigger=record.trigger,
            runner=record.runner,
            started_at=record.started_at,
            finished_at=record.finished_at,
            users_found=result.users_found,
            users_created=result.users_created,
            users_updated=result.users_updated,
            users_deactivated=result.users_deactivated,
            users_reactivated=result.users_reactivated,
            team_members_added=result.team_members_added,
            team_members_removed=result.team_members_removed,
            errors=list(result.errors),
            teams=[LdapSyncTeam.of(team) for team in result.teams],
            job_id=result.job_id,
        )


class LdapSyncPage(WireModel):
    """Recorded syncs, newest first; ``nextPageStart`` (also in ``X-Next-Page-Start``) is the
    id the next page starts at, empty on the last."""

    syncs: list[LdapSync]
    next_page_start: str = Field(serialization_alias="nextPageStart")
