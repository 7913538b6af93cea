"""Checking a name and a secret (password or access token), with failed logins slowed down.

Argon2 is slow on purpose, and clients send Basic credentials on every /v2
request; a verified (password hash, secret) pair is remembered in this process
for a short time, keyed by a keyed hash, so a changed password (a new hash) or a
deactivated account (checked on every request) takes effect at once.

With LDAP on (``moorage.auth.ldap``), an imported account signs in with its directory password
(a bind as its DN), and a name the registry does not know yet may be provisioned from the
directory at its first login. Local accounts keep their Argon2 hashes; access tokens work for both.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time

from sqlalchemy import delete, select

from moorage.auth import access_tokens, accounts
from moorage.auth.ldap import LdapService
from moorage.auth.levels import Principal
from moorage.auth.passwords import verify_password
from moorage.db import tables as t
from moorage.db.engine import Database, as_utc, utcnow
from moorage.errors import Unauthorized

FREE_FAILURES = 5  # failures before each further attempt is delayed
MAX_DELAY = 8.0  # seconds
FAILURE_WINDOW = 15 * 60  # seconds after which failures are forgotten
_CACHE_TTL = 300.0
_CACHE_MAX = 10_000


class Authenticator:
    def __init__(self, db: Database, directory: LdapService | None = None) -> None:
        self.db = db
        self.directory = directory
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, float] = {}

    def _cache_key(self, password_hash: str, secret: str) -> bytes:
        return hmac.new(self._key, f"{password_hash}\0{secret}".encode(), hashlib.sha256).digest()

    async def check(self, name: str, secret: str) -> Principal:
        """The principal for ``name``/``secret``; Unauthorized never says which was wrong."""
        await self._slow_down(name)
        async with self.db.read() as conn:
            account = await accounts.find(conn, name)
        principal = await self._verify(account, secret)
        if principal is None and account is None and self.directory is not None:
            created = await self.directory.provision(name, secret)
            if created is not None:
                principal = Principal(created.id, created.name, created.is_admin, "ldap")
        if principal is None:
            await self._record_failure(name)
            raise Unauthorized("invalid username or password")
        await self._clear_failures(name)
        return principal

    async def _verify(self, account: accounts.Account | None, secret: str) -> Principal | None:
        if account is not None and (account.is_org or not account.is_active):
            account = None
        if account is not None:
            token_owner = await access_tokens.resolve(self.db, secret, kind=access_tokens.API)
            if token_owner == account.id:
                return Principal(account.id, account.name, account.is_admin, "access-token")
        if account is not None and account.is_imported and self.directory is not None:
            bound = await self.directory.check_imported(account.id, secret)
            if bound is not None:  # None: LDAP is off, the local password (if any) decides
                return (
                    Principal(account.id, account.name, account.is_admin, "ldap") if bound else None
                )
        stored = account.password_hash if account is not None else None
        if stored is not None:
            key = self._cache_key(stored, secret)
            expiry = self._verified.get(key)
            if expiry is not None and expiry > time.monotonic():
                assert account is not None
                return Principal(account.id, account.name, account.is_admin, "password")
        ok = await verify_password(stored, secret)
        if not ok or account is None or stored is None:
            return None
        if len(self._verified) >= _CACHE_MAX:
            self._verified.clear()
        self._verified[self._cache_key(stored, secret)] = time.monotonic() + _CACHE_TTL
        return Principal(account.id, account.name, account.is_admin, "password")

    async def principal_for(self, account_id: int, via: str) -> Principal | None:
        """An active user account as a principal (for refresh tokens and sessions)."""
        async with self.db.read() as conn:
            account = await accounts.by_id(conn, account_id)
        if account is None or account.is_org or not account.is_active:
            return None
        return Principal(account.id, account.name, account.is_admin, via)

    async def _slow_down(self, name: str) -> None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(t.login_failures).where(t.login_failures.c.name == name[:255])
                )
            ).first()
        if row is None or row.failures < FREE_FAILURES:
            return
        if (utcnow() - as_utc(row.last_failure_at)).total_seconds() > FAILURE_WINDOW:
            return
        await asyncio.sleep(min(MAX_DELAY, 0.5 * 2 ** (row.failures - FREE_FAILURES)))

    async def _record_failure(self, name: str) -> None:
        now = utcnow()
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(t.login_failures).where(t.login_failures.c.name == name[:255])
                )
            ).first()
            stale = (
                row is None or (now - as_utc(row.last_failure_at)).total_seconds() > FAILURE_WINDOW
            )
            failures = 1 if stale or row is None else int(row.failures) + 1
            await conn.execute(
                self.db.insert(t.login_failures)
                .values(name=name[:255], failures=failures, last_failure_at=now)
                .on_conflict_do_update(
                    index_elements=["name"],
                    set_={"failures": failures, "last_failure_at": now},
                )
            )

    async def _clear_failures(self, name: str) -> None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(t.login_failures.c.failures).where(t.login_failures.c.name == name[:255])
                )
            ).first()
        if row is not None:
            async with self.db.write() as conn:
                await conn.execute(
                    delete(t.login_failures).where(t.login_failures.c.name == name[:255])
                )
