"""The directory: one LDAP server as the settings describe it, through blocking ldap3 calls (run
them in a worker thread), each connection with ``CONNECT_TIMEOUT`` and ``RECEIVE_TIMEOUT``.

Not emulated: binding as ``user@domain`` or ``DOMAIN\\user`` and AD's ``userAccountControl``
disabled bit (disable users with the search filter, e.g.
``(!(userAccountControl:1.2.840.113556.1.4.803:=2))``).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from moorage.auth.ldap.config import LdapConfig, StoredConfig, UserSearchConfig
from moorage.auth.ldap.teams import MemberSyncConfig
from moorage.auth.secretbox import SecretBox

log = logging.getLogger("moorage.ldap")

CONNECT_TIMEOUT = 5  # seconds to open a connection
RECEIVE_TIMEOUT = 15  # seconds to wait for any one answer
PAGE_SIZE = 500  # entries per page of a user search (paged results control)


class DirectoryError(Exception):
    """The directory could not be reached or refused an operation (message safe to show)."""


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
            if conn.socket is not None:  # ldap3 keeps it when open()'s TLS handshake fails
                with contextlib.suppress(OSError):
                    conn.socket.close()

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


def open_directory(stored: StoredConfig, box: SecretBox) -> Directory:
    """The directory of the stored settings, with the reader's password unsealed."""
    password = box.open(stored.sealed_password) if stored.sealed_password else ""
    return Directory(stored.config, password)
