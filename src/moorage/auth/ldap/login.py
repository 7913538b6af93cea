"""Logins with directory passwords, and accounts provisioned at their first login.

An imported account (``is_imported``, ``ldap_dn``) signs in by binding to the directory as its DN
with the given password; a name not yet known is looked up with the user search configs as the
reader, bound as, and created on the spot when ``jitUserProvisioning`` is on. A successful bind
is remembered in this process for ``LOGIN_CACHE_TTL`` seconds (clients send Basic credentials on
every request; a change of the settings forgets them all); deactivation takes effect at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select

from moorage.auth import accounts
from moorage.auth.ldap.config import StoredConfig, load_config, save_config
from moorage.auth.ldap.directory import Directory, DirectoryError, normalize_dn, open_directory
from moorage.auth.secretbox import SecretBox
from moorage.auth.verified_cache import VerifiedCache
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import AccountExists, InvalidInput, MoorageError, NoSuchAccount

log = logging.getLogger("moorage.ldap")

LOGIN_CACHE_TTL = 60.0


class DirectoryUnavailable(MoorageError):
    """The directory could not be searched (eNZi answers a server error too)."""

    code, status, default_message = "LDAP_UNAVAILABLE", 502, "the LDAP directory is unavailable"


class LdapService:
    """Directory logins and JIT provisioning for one serving process."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box
        # (DN, password) pairs the directory accepted.
        self._verified: VerifiedCache[bool] = VerifiedCache(ttl=LOGIN_CACHE_TTL)

    # -- configuration

    async def config(self) -> StoredConfig:
        return await load_config(self.db)

    async def configure(self, changes: dict[str, Any]) -> StoredConfig:
        stored = await save_config(self.db, self.box, changes)
        self._verified.clear()
        return stored

    def directory(self, stored: StoredConfig) -> Directory:
        return open_directory(stored, self.box)

    # -- logins

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
        if self._verified.get(dn, password):
            return True
        try:
            ok = await asyncio.to_thread(self.directory(stored).check_password, dn, password)
        except DirectoryError as exc:
            log.warning("LDAP login failed: directory unavailable", extra={"error": str(exc)})
            return False
        if ok:
            self._verified.put(dn, password, value=True)
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

    async def import_user(
        self, name: str, *, full_name: str = "", is_admin: bool = False, is_active: bool = True
    ) -> accounts.Account:
        """eNZi's ``searchLDAP`` account creation: the user the search configs find for
        ``name`` (exactly one entry), created as an imported account with the directory's full
        name (unless ``full_name`` is given), e-mail address and DN; it signs in with its
        directory password. 400 when LDAP is off, 404 ``NO_SUCH_ACCOUNT`` when the directory has
        no such user, 409 when the account exists."""
        stored = await self.config()
        if not stored.config.enabled:
            raise InvalidInput("LDAP is not enabled: searchLDAP needs the directory")
        try:
            user = await asyncio.to_thread(self.directory(stored).find_user, name)
        except DirectoryError as exc:
            raise DirectoryUnavailable(str(exc)) from None
        if user is None or user.account_name != name:
            raise NoSuchAccount(
                f"the LDAP user searches find no single user named {name!r}",
                detail={"name": name},
            )
        created = await accounts.create(
            self.db,
            name=name,
            full_name=full_name or user.full_name,
            email=user.email,
            is_admin=is_admin,
            is_active=is_active,
            is_imported=True,
            ldap_dn=user.dn,
        )
        log.info("LDAP user imported by an administrator", extra={"account": name})
        return created
