"""LDAP and Active Directory: configuration, logins with directory passwords, and sync.

Configuration is one JSON document in ``site_settings`` under the key ``ldap``, so every replica
reads the same one. The reader's password is write-only: it is sealed with the data folder's
``secret.key`` (see ``moorage.auth.secretbox``), never returned by the API and never logged.

Logins: an imported account (``is_imported``, ``ldap_dn``) signs in by binding to the directory as
its DN with the given password; a name not yet known is looked up with the user search configs as
the reader, bound as, and created on the spot when ``jitUserProvisioning`` is on. A successful bind
is remembered in this process for ``LOGIN_CACHE_TTL`` seconds (clients send Basic credentials on
every request); deactivation takes effect at once.

Sync: users the search configs find are created or updated (full name, email, DN), imported users
no longer found are deactivated (and re-activated when found again, unless an administrator
deactivated them), and teams with a member sync config get exactly the imported users of a group
(its member attribute) or of a search. A search that fails aborts the sync before anything is
deactivated. Each run is recorded in ``ldap_syncs``.

Periodic sync: ``PeriodicSync`` runs in every replica, wakes up at least once a minute and starts a
sync when ``syncIntervalSeconds`` (0 = off, else at least ``MIN_SYNC_INTERVAL``) has passed since
the last one started. The claim is one write transaction that locks the configuration row
(``FOR UPDATE`` on PostgreSQL; SQLite's write transactions are exclusive) and checks that no sync
started within the interval, so of several replicas exactly one runs each due sync.

Directory calls are blocking ldap3 calls made in a worker thread, each connection with
``CONNECT_TIMEOUT`` and ``RECEIVE_TIMEOUT``. Not emulated: binding as ``user@domain`` or
``DOMAIN\\user`` and AD's ``userAccountControl`` disabled bit (disable users with the search filter,
e.g. ``(!(userAccountControl:1.2.840.113556.1.4.803:=2))``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import and_, desc, func, select, update

from moorage.auth import access_tokens, accounts
from moorage.auth.secretbox import SecretBox
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import AccountExists, InvalidInput, NotFound

log = logging.getLogger("moorage.ldap")

CONFIG_KEY = "ldap"
CONNECT_TIMEOUT = 5  # seconds to open a connection
RECEIVE_TIMEOUT = 15  # seconds to wait for any one answer
PAGE_SIZE = 500  # entries per page of a user search (paged results control)
MIN_SYNC_INTERVAL = 5  # seconds; 0 turns the periodic sync off
CHECK_PERIOD = 60.0  # the periodic task wakes up at least this often
STALE_RUN = 3600  # a sync still "running" after this long is taken as dead
LOGIN_CACHE_TTL = 60.0
MAX_ERRORS = 100

_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+")


class NoSuchSync(NotFound):
    code, default_message = "NO_SUCH_SYNC", "no such LDAP sync"


class DirectoryError(Exception):
    """The directory could not be reached or refused an operation (message safe to show)."""


# ---- configuration -------------------------------------------------------------------------


def _filter(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    if not value.startswith("("):
        value = f"({value})"
    depth = 0
    for ch in value.replace("\\(", "").replace("\\)", ""):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        raise ValueError("unbalanced parentheses in LDAP filter")
    return value


def _attribute(value: str) -> str:
    if not _ATTRIBUTE.fullmatch(value):
        raise ValueError(f"not an LDAP attribute name: {value!r}")
    return value


class UserSearchConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    base_dn: str = Field(alias="baseDN", min_length=1, max_length=1024)
    scope_subtree: bool = Field(True, alias="scopeSubtree")
    username_attr: str = Field("uid", alias="usernameAttr")
    full_name_attr: str = Field("cn", alias="fullNameAttr")
    email_attr: str = Field("mail", alias="emailAttr")
    filter: str = Field("", max_length=1024)

    @field_validator("username_attr", "full_name_attr", "email_attr")
    @classmethod
    def _attrs(cls, value: str) -> str:
        return _attribute(value)

    @field_validator("filter")
    @classmethod
    def _flt(cls, value: str) -> str:
        return _filter(value)


class LdapConfig(BaseModel):
    """The wire shape of ``/enzi/v0/config/auth/ldap`` (enzi's names), without the password."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    enabled: bool = False
    server_url: str = Field("", alias="serverURL", max_length=1024)
    start_tls: bool = Field(False, alias="startTLS")
    tls_skip_verify: bool = Field(False, alias="tlsSkipVerify")
    root_certs: str = Field("", alias="rootCerts", max_length=1_000_000)
    reader_dn: str = Field("", alias="readerDN", max_length=1024)
    user_search_configs: list[UserSearchConfig] = Field(
        default_factory=list, alias="userSearchConfigs", max_length=20
    )
    jit_user_provisioning: bool = Field(True, alias="jitUserProvisioning")
    sync_interval_seconds: int = Field(0, alias="syncIntervalSeconds", ge=0)

    @model_validator(mode="before")
    @classmethod
    def _hours(cls, data: Any) -> Any:
        """``syncIntervalHours`` (may be fractional) is another way to say the interval."""
        if isinstance(data, dict) and "syncIntervalHours" in data:
            data = dict(data)
            hours = data.pop("syncIntervalHours")
            if not isinstance(hours, int | float) or isinstance(hours, bool) or hours < 0:
                raise ValueError("syncIntervalHours must be a number >= 0")
            seconds = round(hours * 3600)
            given = data.get("syncIntervalSeconds", data.get("sync_interval_seconds"))
            if given is not None and given != seconds:
                raise ValueError("syncIntervalHours and syncIntervalSeconds disagree")
            data["syncIntervalSeconds"] = seconds
        return data

    @field_validator("server_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"ldaps?://[^/\s?#]+/?", value, re.IGNORECASE):
            raise ValueError("serverURL must look like ldap://host[:port] or ldaps://host[:port]")
        return value.rstrip("/")

    @field_validator("root_certs")
    @classmethod
    def _certs(cls, value: str) -> str:
        if value.strip():
            from cryptography import x509

            try:
                x509.load_pem_x509_certificates(value.encode())
            except ValueError as exc:
                raise ValueError("rootCerts must hold PEM certificates") from exc
        return value

    @field_validator("sync_interval_seconds")
    @classmethod
    def _interval(cls, value: int) -> int:
        if 0 < value < MIN_SYNC_INTERVAL:
            raise ValueError(f"syncIntervalSeconds is 0 (off) or at least {MIN_SYNC_INTERVAL}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> LdapConfig:
        if self.server_url.lower().startswith("ldaps://") and self.start_tls:
            raise ValueError("startTLS is for ldap:// URLs; ldaps:// is TLS from the start")
        if self.enabled and not self.server_url:
            raise ValueError("serverURL is needed to enable LDAP")
        if self.enabled and not self.user_search_configs:
            raise ValueError("at least one userSearchConfig is needed to enable LDAP")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.start_tls or self.server_url.lower().startswith("ldaps://")

    def wire(self, *, password_set: bool) -> dict[str, Any]:
        out = self.model_dump(by_alias=True)
        out["syncIntervalHours"] = self.sync_interval_seconds / 3600
        out["readerPasswordSet"] = password_set
        return out


@dataclass(frozen=True, slots=True)
class StoredConfig:
    config: LdapConfig
    sealed_password: str | None  # the reader's password, sealed by a SecretBox


def _parse_stored(raw: str | None) -> StoredConfig:
    if not raw:
        return StoredConfig(LdapConfig.model_validate({}), None)
    doc = json.loads(raw)
    try:
        config = LdapConfig.model_validate(doc.get("config") or {})
    except ValidationError:
        log.error("stored LDAP configuration is invalid; LDAP is off until it is set again")
        config = LdapConfig.model_validate({})
    return StoredConfig(config, doc.get("readerPasswordSealed") or None)


async def load_config(db: Database) -> StoredConfig:
    async with db.read() as conn:
        raw = (
            await conn.execute(
                select(t.site_settings.c.value).where(t.site_settings.c.key == CONFIG_KEY)
            )
        ).scalar()
    return _parse_stored(raw)


async def save_config(db: Database, box: SecretBox, changes: dict[str, Any]) -> StoredConfig:
    """Merge wire-named changes into the stored configuration.

    ``readerPassword``: absent or null keeps the stored one, ``""`` clears it (anonymous reads)."""
    changes = dict(changes)
    changes.pop("readerPasswordSet", None)  # GET's answer may be sent back as it is
    has_password = "readerPassword" in changes
    password = changes.pop("readerPassword", None)
    if password is not None and not isinstance(password, str):
        raise InvalidInput("readerPassword must be a string")
    async with db.write() as conn:
        raw = (
            await conn.execute(
                select(t.site_settings.c.value)
                .where(t.site_settings.c.key == CONFIG_KEY)
                .with_for_update()
            )
        ).scalar()
        current = _parse_stored(raw)
        base = current.config.model_dump(by_alias=True)
        if "syncIntervalHours" in changes:
            base.pop("syncIntervalSeconds")
        try:
            merged = LdapConfig.model_validate({**base, **changes})
        except ValidationError as exc:
            problems = [
                {"setting": ".".join(str(p) for p in e["loc"]) or "ldap", "msg": e["msg"]}
                for e in exc.errors()
            ]
            raise InvalidInput("invalid LDAP configuration", detail=problems) from exc
        sealed = current.sealed_password
        if has_password and password is not None:
            sealed = box.seal(password) if password else None
        value = json.dumps(
            {"config": merged.model_dump(by_alias=True), "readerPasswordSealed": sealed}
        )
        await conn.execute(
            db.insert(t.site_settings)
            .values(key=CONFIG_KEY, value=value)
            .on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )
    return StoredConfig(merged, sealed)


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
        return _attribute(value)

    @field_validator("search_filter")
    @classmethod
    def _flt(cls, value: str) -> str:
        return _filter(value)

    @model_validator(mode="after")
    def _complete(self) -> MemberSyncConfig:
        if self.enable_sync and self.select_group_members and not self.group_dn:
            raise ValueError("groupDN is needed to sync a team from a group")
        if self.enable_sync and not self.select_group_members and not self.search_base_dn:
            raise ValueError("searchBaseDN is needed to sync a team from a search")
        return self

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


def _member_sync(row: Any) -> MemberSyncConfig:
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
    return _member_sync(row)


async def set_member_sync(
    db: Database, org: str, team: str, changes: dict[str, Any]
) -> MemberSyncConfig:
    async with db.write() as conn:
        found = await accounts.require_team(conn, org, team)
        row = (await conn.execute(select(t.teams).where(t.teams.c.id == found.id))).one()
        try:
            merged = MemberSyncConfig.model_validate(
                {**_member_sync(row).model_dump(by_alias=True), **changes}
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


# ---- the directory (blocking ldap3 calls; run them in a thread) ------------------------------


def normalize_dn(dn: str) -> str:
    """A DN in one spelling: lowercase, no spaces around separators."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except Exception:  # ldap3 raises several kinds for a malformed DN
        return dn.strip().lower()
    return ",".join(f"{attr.lower()}={value.lower()}" for attr, value, _sep in parts)


def _first(attributes: Any, name: str) -> str:
    for key, value in dict(attributes or {}).items():
        if key.lower() != name.lower():
            continue
        if isinstance(value, list | tuple):
            value = value[0] if value else ""
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return str(value)
    return ""


def _values(attributes: Any, name: str) -> list[str]:
    out: list[str] = []
    for key, value in dict(attributes or {}).items():
        # AD answers large groups as "member;range=0-1499"; ldap3's auto_range joins them.
        if key.lower() != name.lower() and not key.lower().startswith(name.lower() + ";"):
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            out.append(item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item))
    return out


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    dn: str
    username: str  # as the directory spells it
    full_name: str
    email: str

    @property
    def account_name(self) -> str:
        return self.username.strip().lower()


@dataclass
class TeamSnapshot:
    team_id: int
    label: str  # org/team
    member_dns: list[str] | None = None
    error: str | None = None


@dataclass
class Snapshot:
    users: list[DirectoryUser]
    teams: list[TeamSnapshot]


def _describe(exc: Exception) -> str:
    if isinstance(exc, ldap_errors.LDAPOperationResult):
        return f"{exc.description or 'error'}: {exc.message or ''}".strip(": ")
    return f"{type(exc).__name__}: {exc}"


class Directory:
    """One LDAP server as the configuration describes it. Every method blocks."""

    def __init__(self, config: LdapConfig, reader_password: str) -> None:
        self.config = config
        self._reader_password = reader_password

    def _server(self) -> ldap3.Server:
        tls = None
        if self.config.uses_tls:
            tls = ldap3.Tls(
                validate=ssl.CERT_NONE if self.config.tls_skip_verify else ssl.CERT_REQUIRED,
                ca_certs_data=self.config.root_certs or None,
            )
        return ldap3.Server(
            self.config.server_url,
            use_ssl=self.config.server_url.lower().startswith("ldaps://"),
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=CONNECT_TIMEOUT,
        )

    @contextlib.contextmanager
    def _bound(self, dn: str | None, password: str | None) -> Iterator[ldap3.Connection]:
        """A connection bound as ``dn`` (anonymous when None). Raises LDAPInvalidCredentialsResult
        for a refused bind, DirectoryError for everything else."""
        conn = ldap3.Connection(
            self._server(),
            user=dn or None,
            password=password or None,
            authentication=ldap3.SIMPLE if dn else ldap3.ANONYMOUS,
            auto_bind=ldap3.AUTO_BIND_NONE,
            receive_timeout=RECEIVE_TIMEOUT,
            read_only=True,
            raise_exceptions=True,
            auto_referrals=False,
        )
        try:
            try:
                conn.open()
                if self.config.start_tls:
                    conn.start_tls()
                conn.bind()
            except ldap_errors.LDAPInvalidCredentialsResult:
                raise
            except ldap_errors.LDAPException as exc:
                raise DirectoryError(
                    f"cannot reach {self.config.server_url}: {_describe(exc)}"
                ) from None
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.unbind()

    def _reader(self) -> contextlib.AbstractContextManager[ldap3.Connection]:
        return self._bound(self.config.reader_dn or None, self._reader_password)

    def check_password(self, dn: str, password: str) -> bool:
        """True when ``dn`` binds with ``password``."""
        if not password:
            return False  # an empty password would be an unauthenticated bind: it proves nothing
        try:
            with self._bound(dn, password):
                return True
        except ldap_errors.LDAPInvalidCredentialsResult:
            return False

    def _reader_session(self) -> contextlib.AbstractContextManager[ldap3.Connection]:
        @contextlib.contextmanager
        def session() -> Iterator[ldap3.Connection]:
            try:
                with self._reader() as conn:
                    yield conn
            except ldap_errors.LDAPInvalidCredentialsResult:
                raise DirectoryError("the directory refused the reader's DN and password") from None

        return session()

    def _search(
        self, conn: ldap3.Connection, base: str, flt: str, subtree: bool, attributes: list[str]
    ) -> Iterator[dict[str, Any]]:
        try:
            for entry in conn.extend.standard.paged_search(
                base,
                flt,
                search_scope=ldap3.SUBTREE if subtree else ldap3.LEVEL,
                attributes=attributes or ldap3.NO_ATTRIBUTES,
                paged_size=PAGE_SIZE,
                generator=True,
            ):
                if entry.get("type") == "searchResEntry":
                    yield entry
        except ldap_errors.LDAPException as exc:
            raise DirectoryError(f"search of {base!r} for {flt} failed: {_describe(exc)}") from None

    def _user(self, search: UserSearchConfig, entry: dict[str, Any]) -> DirectoryUser | None:
        attrs = entry.get("attributes")
        username = _first(attrs, search.username_attr)
        if not username:
            return None
        return DirectoryUser(
            dn=str(entry["dn"]),
            username=username,
            full_name=_first(attrs, search.full_name_attr),
            email=_first(attrs, search.email_attr),
        )

    def _user_attributes(self, search: UserSearchConfig) -> list[str]:
        return [search.username_attr, search.full_name_attr, search.email_attr]

    def find_user(self, username: str) -> DirectoryUser | None:
        """The first search config's single match for ``username`` (None: none, or ambiguous)."""
        value = escape_filter_chars(username)
        with self._reader_session() as conn:
            for search in self.config.user_search_configs:
                flt = f"(&({search.username_attr}={value}){search.filter})"
                found = [
                    user
                    for entry in self._search(
                        conn,
                        search.base_dn,
                        flt,
                        search.scope_subtree,
                        self._user_attributes(search),
                    )
                    if (user := self._user(search, entry)) is not None
                ]
                if len(found) == 1:
                    return found[0]
                if len(found) > 1:
                    log.warning(
                        "LDAP login: several directory entries match one username",
                        extra={"base_dn": search.base_dn, "matches": len(found)},
                    )
                    return None
        return None

    def find_and_check(self, username: str, password: str) -> DirectoryUser | None:
        if not password:
            return None
        user = self.find_user(username)
        if user is None or not self.check_password(user.dn, password):
            return None
        return user

    def snapshot(self, teams: list[tuple[int, str, MemberSyncConfig]]) -> Snapshot:
        """Everything a sync needs from the directory, read with one reader connection."""
        users: list[DirectoryUser] = []
        seen: set[str] = set()
        team_results: list[TeamSnapshot] = []
        with self._reader_session() as conn:
            for search in self.config.user_search_configs:
                flt = f"(&({search.username_attr}=*){search.filter})"
                for entry in self._search(
                    conn,
                    search.base_dn,
                    flt,
                    search.scope_subtree,
                    self._user_attributes(search),
                ):
                    user = self._user(search, entry)
                    if user is not None and user.account_name not in seen:
                        seen.add(user.account_name)
                        users.append(user)
            for team_id, label, cfg in teams:
                snap = TeamSnapshot(team_id, label)
                try:
                    snap.member_dns = self._team_members(conn, cfg)
                except DirectoryError as exc:
                    snap.error = str(exc)
                team_results.append(snap)
        return Snapshot(users, team_results)

    def _team_members(self, conn: ldap3.Connection, cfg: MemberSyncConfig) -> list[str]:
        if cfg.select_group_members:
            try:
                conn.search(
                    cfg.group_dn,
                    "(objectClass=*)",
                    search_scope=ldap3.BASE,
                    attributes=[cfg.group_member_attr],
                )
            except ldap_errors.LDAPException as exc:
                raise DirectoryError(
                    f"reading group {cfg.group_dn!r} failed: {_describe(exc)}"
                ) from None
            entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
            if not entries:
                raise DirectoryError(f"group {cfg.group_dn!r} not found")
            return _values(entries[0].get("attributes"), cfg.group_member_attr)
        flt = cfg.search_filter or "(objectClass=*)"
        return [
            str(e["dn"])
            for e in self._search(conn, cfg.search_base_dn, flt, cfg.search_scope_subtree, [])
        ]


# ---- sync records ----------------------------------------------------------------------------


@dataclass
class SyncResult:
    users_created: int = 0
    users_updated: int = 0
    users_deactivated: int = 0
    users_reactivated: int = 0
    team_members_added: int = 0
    team_members_removed: int = 0
    users_found: int = 0
    errors: list[str] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
        elif len(self.errors) == MAX_ERRORS:
            self.errors.append("(more errors left out)")

    def wire(self) -> dict[str, Any]:
        return {
            "usersFound": self.users_found,
            "usersCreated": self.users_created,
            "usersUpdated": self.users_updated,
            "usersDeactivated": self.users_deactivated,
            "usersReactivated": self.users_reactivated,
            "teamMembersAdded": self.team_members_added,
            "teamMembersRemoved": self.team_members_removed,
            "errors": self.errors,
            "teams": self.teams,
        }


def _sync_wire(row: Any) -> dict[str, Any]:
    try:
        result = json.loads(row.result or "{}")
    except ValueError:
        result = {}
    return {
        "id": row.id,
        "status": row.status,
        "trigger": row.trigger,
        "runner": row.runner,
        "startedAt": as_utc(row.started_at).isoformat(),
        "finishedAt": as_utc(row.finished_at).isoformat() if row.finished_at else None,
        **SyncResult().wire(),
        **result,
    }


async def list_syncs(
    db: Database, *, start: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Recorded syncs, newest first, and the id the next page starts at."""
    query = select(t.ldap_syncs).order_by(desc(t.ldap_syncs.c.id)).limit(limit + 1)
    if start is not None:
        query = query.where(t.ldap_syncs.c.id <= start)
    async with db.read() as conn:
        rows = list(await conn.execute(query))
    nxt = int(rows[limit].id) if len(rows) > limit else None
    return [_sync_wire(r) for r in rows[:limit]], nxt


async def get_sync(db: Database, sync_id: int) -> dict[str, Any]:
    async with db.read() as conn:
        row = (await conn.execute(select(t.ldap_syncs).where(t.ldap_syncs.c.id == sync_id))).first()
    if row is None:
        raise NoSuchSync(detail={"id": sync_id})
    return _sync_wire(row)


# ---- the service -----------------------------------------------------------------------------


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LdapService:
    """Directory logins, JIT provisioning and sync for one serving process."""

    def __init__(self, db: Database, box: SecretBox, runner: str | None = None) -> None:
        self.db = db
        self.box = box
        self.runner = runner or runner_name()
        self._cache_key = secrets.token_bytes(32)
        self._verified: dict[bytes, float] = {}

    # -- configuration

    async def config(self) -> StoredConfig:
        return await load_config(self.db)

    async def configure(self, changes: dict[str, Any]) -> StoredConfig:
        stored = await save_config(self.db, self.box, changes)
        self._verified.clear()
        return stored

    def directory(self, stored: StoredConfig) -> Directory:
        password = self.box.open(stored.sealed_password) if stored.sealed_password else ""
        return Directory(stored.config, password)

    # -- logins

    def _key(self, dn: str, password: str) -> bytes:
        return hmac.new(self._cache_key, f"{dn}\0{password}".encode(), hashlib.sha256).digest()

    async def check_imported(self, account_id: int, password: str) -> bool | None:
        """Whether ``password`` is the directory password of an imported account; None when LDAP
        is off or the account has no DN (the caller then checks the local password)."""
        stored = await self.config()
        if not stored.config.enabled:
            return None
        async with self.db.read() as conn:
            dn = (
                await conn.execute(
                    select(t.accounts.c.ldap_dn).where(t.accounts.c.id == account_id)
                )
            ).scalar()
        if not dn:
            return None
        if not password:
            return False
        key = self._key(dn, password)
        expiry = self._verified.get(key)
        if expiry is not None and expiry > time.monotonic():
            return True
        try:
            ok = await asyncio.to_thread(self.directory(stored).check_password, dn, password)
        except DirectoryError as exc:
            log.warning("LDAP login failed: directory unavailable", extra={"error": str(exc)})
            return False
        if ok:
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[key] = time.monotonic() + LOGIN_CACHE_TTL
        return ok

    async def provision(self, name: str, password: str) -> accounts.Account | None:
        """Sign in a user the registry does not know yet: find them with the search configs, bind
        as them and, when jitUserProvisioning is on, create their account."""
        if not password or not accounts.ACCOUNT_NAME.fullmatch(name) or len(name) > 255:
            return None
        stored = await self.config()
        if not stored.config.enabled or not stored.config.jit_user_provisioning:
            return None
        try:
            user = await asyncio.to_thread(self.directory(stored).find_and_check, name, password)
        except DirectoryError as exc:
            log.warning("LDAP login failed: directory unavailable", extra={"error": str(exc)})
            return None
        if user is None or user.account_name != name:
            return None
        try:
            created = await accounts.create(
                self.db,
                name=name,
                full_name=user.full_name,
                email=user.email,
                is_imported=True,
                ldap_dn=user.dn,
            )
        except AccountExists:
            async with self.db.read() as conn:
                existing = await accounts.find(conn, name)
                dn = (
                    await conn.execute(
                        select(t.accounts.c.ldap_dn).where(t.accounts.c.name == name)
                    )
                ).scalar()
            if existing is None or not existing.is_imported or not existing.is_active:
                return None
            if normalize_dn(dn or "") != normalize_dn(user.dn):
                return None
            return existing
        log.info("LDAP user provisioned at first login", extra={"account": name})
        return created

    # -- sync

    async def sync_now(self) -> dict[str, Any]:
        stored = await self.config()
        if not stored.config.enabled:
            raise InvalidInput("LDAP is not enabled")
        async with self.db.write() as conn:
            sync_id = await self._insert_run(conn, "manual")
        return await self._run(sync_id, stored)

    async def sync_if_due(self) -> tuple[dict[str, Any] | None, dt.datetime | None]:
        """Run the periodic sync when it is due and no other replica claimed it.

        Returns the result (None when nothing ran) and when the next one is due (None: off)."""
        # Look first without the write lock: most wake-ups find nothing to do.
        stored = await self.config()
        interval = stored.config.sync_interval_seconds
        if not stored.config.enabled or interval <= 0:
            return None, None
        async with self.db.read() as conn:
            last = (await conn.execute(select(func.max(t.ldap_syncs.c.started_at)))).scalar()
        if last is not None and as_utc(last) + dt.timedelta(seconds=interval) > utcnow():
            return None, as_utc(last) + dt.timedelta(seconds=interval)
        claimed = await self._claim()
        if isinstance(claimed, dt.datetime) or claimed is None:
            return None, claimed
        sync_id, stored, claimed_at = claimed
        result = await self._run(sync_id, stored)
        return result, claimed_at + dt.timedelta(seconds=stored.config.sync_interval_seconds)

    async def _insert_run(self, conn: Connection, trigger: str) -> int:
        row = (
            await conn.execute(
                t.ldap_syncs.insert()
                .values(
                    started_at=utcnow(),
                    status="running",
                    result="{}",
                    trigger=trigger,
                    runner=self.runner[:255],
                )
                .returning(t.ldap_syncs.c.id)
            )
        ).one()
        return int(row.id)

    async def _claim(self) -> tuple[int, StoredConfig, dt.datetime] | dt.datetime | None:
        now = utcnow()
        async with self.db.write() as conn:
            # Lock the configuration row: claimers on PostgreSQL queue here; on SQLite the
            # write transaction (BEGIN IMMEDIATE) is already exclusive across processes.
            raw = (
                await conn.execute(
                    select(t.site_settings.c.value)
                    .where(t.site_settings.c.key == CONFIG_KEY)
                    .with_for_update()
                )
            ).scalar()
            stored = _parse_stored(raw)
            interval = stored.config.sync_interval_seconds
            if not stored.config.enabled or interval <= 0:
                return None
            last = (await conn.execute(select(func.max(t.ldap_syncs.c.started_at)))).scalar()
            if last is not None:
                due = as_utc(last) + dt.timedelta(seconds=interval)
                if due > now:
                    return due
            running = (
                await conn.execute(
                    select(func.count())
                    .select_from(t.ldap_syncs)
                    .where(
                        and_(
                            t.ldap_syncs.c.status == "running",
                            t.ldap_syncs.c.started_at > now - dt.timedelta(seconds=STALE_RUN),
                        )
                    )
                )
            ).scalar_one()
            if running:
                return now + dt.timedelta(seconds=min(interval, CHECK_PERIOD))
            sync_id = await self._insert_run(conn, "scheduled")
        return sync_id, stored, now

    async def _run(self, sync_id: int, stored: StoredConfig) -> dict[str, Any]:
        result = SyncResult()
        status = "failed"
        log.info("LDAP sync started", extra={"sync_id": sync_id})
        try:
            teams = await self._synced_teams()
            directory = self.directory(stored)
            snapshot = await asyncio.to_thread(directory.snapshot, teams)
            result.users_found = len(snapshot.users)
            await self._apply_users(snapshot.users, result)
            await self._apply_teams(snapshot.teams, result)
            status = "succeeded"
        except DirectoryError as exc:
            result.error(str(exc))
        except asyncio.CancelledError:
            result.error("interrupted: the replica shut down")
            await self._finish(sync_id, "failed", result)
            raise
        except Exception as exc:
            log.exception("LDAP sync failed", extra={"sync_id": sync_id})
            result.error(f"internal error: {type(exc).__name__}: {exc}")
        await self._finish(sync_id, status, result)
        log.info(
            "LDAP sync finished",
            extra={"sync_id": sync_id, "status": status, **result.wire(), "teams": None},
        )
        return await get_sync(self.db, sync_id)

    async def _finish(self, sync_id: int, status: str, result: SyncResult) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(t.ldap_syncs)
                .where(t.ldap_syncs.c.id == sync_id)
                .values(status=status, finished_at=utcnow(), result=json.dumps(result.wire()))
            )

    async def _synced_teams(self) -> list[tuple[int, str, MemberSyncConfig]]:
        org = t.accounts.alias("org")
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(t.teams, org.c.name.label("org_name"))
                .select_from(t.teams.join(org, org.c.id == t.teams.c.org_id))
                .where(t.teams.c.ldap_sync_enabled.is_(True))
                .order_by(org.c.name, t.teams.c.name)
            )
            return [(r.id, f"{r.org_name}/{r.name}", _member_sync(r)) for r in rows]

    async def _apply_users(self, users: list[DirectoryUser], result: SyncResult) -> None:
        async with self.db.read() as conn:
            existing = {r.name: r for r in await conn.execute(select(t.accounts))}
        found: set[str] = set()
        now = utcnow()
        deactivated: list[int] = []
        async with self.db.write() as conn:
            for user in users:
                name = user.account_name
                if len(name) > 255 or not accounts.ACCOUNT_NAME.fullmatch(name):
                    result.error(f"{user.dn}: {user.username!r} is not a valid account name")
                    continue
                found.add(name)
                row = existing.get(name)
                if row is None:
                    inserted = await conn.execute(
                        self.db.insert(t.accounts)
                        .values(
                            name=name,
                            full_name=user.full_name[:255],
                            email=user.email[:255],
                            is_imported=True,
                            ldap_dn=user.dn[:1024],
                            created_at=now,
                            updated_at=now,
                        )
                        .on_conflict_do_nothing(index_elements=["name"])
                    )
                    if inserted.rowcount:
                        result.users_created += 1
                    continue
                if row.is_org or not row.is_imported:
                    result.error(
                        f"{user.dn}: a local {'organization' if row.is_org else 'account'} "
                        f"named {name!r} exists; it is not linked to the directory"
                    )
                    continue
                values: dict[str, Any] = {}
                if row.full_name != user.full_name[:255]:
                    values["full_name"] = user.full_name[:255]
                if row.email != user.email[:255]:
                    values["email"] = user.email[:255]
                if normalize_dn(row.ldap_dn or "") != normalize_dn(user.dn):
                    values["ldap_dn"] = user.dn[:1024]
                if values:
                    result.users_updated += 1
                if not row.is_active and row.ldap_deactivated:
                    values.update(is_active=True, ldap_deactivated=False)
                    result.users_reactivated += 1
                if values:
                    values["updated_at"] = now
                    await conn.execute(
                        update(t.accounts).where(t.accounts.c.id == row.id).values(**values)
                    )
            for name, row in existing.items():
                if row.is_imported and not row.is_org and row.is_active and name not in found:
                    await conn.execute(
                        update(t.accounts)
                        .where(t.accounts.c.id == row.id)
                        .values(is_active=False, ldap_deactivated=True, updated_at=now)
                    )
                    await accounts.end_ui_sessions(conn, row.id)
                    deactivated.append(row.id)
                    result.users_deactivated += 1
        for account_id in deactivated:
            await access_tokens.revoke_all(self.db, account_id)

    async def _apply_teams(self, teams: list[TeamSnapshot], result: SyncResult) -> None:
        if not teams:
            return
        async with self.db.read() as conn:
            by_dn = {
                normalize_dn(r.ldap_dn): r.id
                for r in await conn.execute(
                    select(t.accounts.c.id, t.accounts.c.ldap_dn).where(
                        and_(
                            t.accounts.c.is_imported.is_(True),
                            t.accounts.c.is_active.is_(True),
                            t.accounts.c.is_org.is_(False),
                            t.accounts.c.ldap_dn.is_not(None),
                        )
                    )
                )
            }
        for snap in teams:
            summary: dict[str, Any] = {"team": snap.label, "added": 0, "removed": 0}
            result.teams.append(summary)
            if snap.member_dns is None:
                summary["error"] = snap.error
                result.error(f"team {snap.label}: {snap.error}")
                continue
            wanted: set[int] = set()
            unmatched = 0
            for dn in snap.member_dns:
                account_id = by_dn.get(normalize_dn(dn))
                if account_id is None:
                    unmatched += 1
                else:
                    wanted.add(account_id)
            summary["unmatched"] = unmatched
            async with self.db.write() as conn:
                team = (
                    await conn.execute(select(t.teams).where(t.teams.c.id == snap.team_id))
                ).first()
                if team is None:
                    continue  # deleted meanwhile
                current = {
                    r.user_id
                    for r in await conn.execute(
                        select(t.team_members.c.user_id).where(
                            t.team_members.c.team_id == snap.team_id
                        )
                    )
                }
                for user_id in sorted(wanted - current):
                    await conn.execute(
                        self.db.insert(t.org_members)
                        .values(org_id=team.org_id, user_id=user_id, is_owner=False)
                        .on_conflict_do_nothing(index_elements=["org_id", "user_id"])
                    )
                    await conn.execute(
                        self.db.insert(t.team_members)
                        .values(team_id=snap.team_id, user_id=user_id)
                        .on_conflict_do_nothing(index_elements=["team_id", "user_id"])
                    )
                gone = sorted(current - wanted)
                if gone:
                    await conn.execute(
                        t.team_members.delete().where(
                            and_(
                                t.team_members.c.team_id == snap.team_id,
                                t.team_members.c.user_id.in_(gone),
                            )
                        )
                    )
            summary["added"] = len(wanted - current)
            summary["removed"] = len(gone)
            result.team_members_added += summary["added"]
            result.team_members_removed += summary["removed"]


# ---- the periodic sync -----------------------------------------------------------------------


class PeriodicSync:
    """A background task in every replica; ``LdapService.sync_if_due`` decides who runs."""

    def __init__(self, service: LdapService, check_period: float = CHECK_PERIOD) -> None:
        self.service = service
        self.check_period = check_period
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="moorage-ldap-periodic-sync")

    def poke(self) -> None:
        """Look again now (the configuration changed)."""
        self._wake.set()

    async def stop(self, grace: float = 10.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, grace)
        log.debug("periodic LDAP sync stopped")

    async def _loop(self) -> None:
        while True:
            delay = self.check_period
            try:
                _, next_due = await self.service.sync_if_due()
                if next_due is not None:
                    wait = (next_due - utcnow()).total_seconds()
                    delay = min(self.check_period, max(0.2, wait))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic LDAP sync check failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
