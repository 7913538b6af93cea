"""Checking a name and a secret (password or access token), with failed sign-ins throttled.

Argon2 is slow on purpose, and clients send Basic credentials on every /v2 request; a
verified (password hash, secret) pair is remembered in this process for a short time, keyed
by a keyed hash, so a changed password (a new hash) or a deactivated account (checked on
every request) takes effect at once. A repeated request costs one database read: the
account, the access token the secret may be and the throttling counters come in one
statement (``throttle.with_state``).

Failed sign-ins are counted per (source, account) and per source (``moorage.auth.throttle``);
over budget an attempt is refused at once, before the secret is checked. The slow checks
(Argon2, LDAP binds) run in a few slots per process, each re-reading the counters first, so
parallel connections cannot run more guesses than the budget plus the slots in flight.

With LDAP on (``moorage.auth.ldap.login``), an imported account signs in with its directory password
(a bind as its DN), and a name the registry does not know yet may be provisioned from the
directory at its first login. Local accounts keep their Argon2 hashes; access tokens work for
both.

Which credential may do what (docs/security.md): a password (or directory password) and a
web UI session made with one may do everything the account may, its own credentials
included; an access token acts for its user on the registry and the API but cannot manage
the user's own credentials (``require_own_credentials``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, select, update

from moorage.auth import access_tokens, accounts, throttle
from moorage.auth.ldap.login import LdapService
from moorage.auth.levels import Principal
from moorage.auth.passwords import verify_password
from moorage.auth.verified_cache import VerifiedCache
from moorage.db import tables as t
from moorage.db.engine import Database, as_utc, utcnow
from moorage.errors import Denied, InvalidInput, Unauthorized

_CACHE_TTL = 300.0
_CACHE_MAX = 10_000
SLOW_CHECKS = 4  # Argon2 verifications or LDAP binds at once, per process
PRUNE_EVERY = 60.0  # seconds between two prunings of ended throttling windows, per process
TOUCH_EVERY = dt.timedelta(minutes=1)  # an access token's last use, recorded at most this often

# How a principal was authenticated (``Principal.via``). These may manage the account's own
# credentials (password, access tokens); anything else (an access token, a registry bearer
# token, a refresh token, a UI session made with an access token) may not.
OWN_CREDENTIALS_VIA = frozenset({"password", "ldap", "session"})
SESSION = "session"
SESSION_FROM_ACCESS_TOKEN = "session-access-token"


@dataclass(frozen=True, slots=True)
class TokenPrincipal(Principal):
    """A principal authenticated with an access token: which one, so that what is derived
    from it (a registry bearer token, a UI session) ends when the token is revoked."""

    access_token_id: int = 0


def access_token_of(principal: Principal) -> int | None:
    return principal.access_token_id if isinstance(principal, TokenPrincipal) else None


def require_own_credentials(principal: Principal) -> None:
    """Managing one's own password or access tokens needs the password (or a session made
    with it): a leaked access token must not outlive its revocation or take the account."""
    if principal.via not in OWN_CREDENTIALS_VIA:
        raise Denied(
            "sign in with your password to manage your own password and access tokens "
            "(an access token cannot)"
        )


_TOKEN = t.access_tokens.alias("token")
# The one statement of a Basic sign-in: the account, the access token the secret may be,
# and the throttling counters of (source, account) and of the source.
_SIGN_IN = (
    throttle.with_state([*t.accounts.c], t.accounts.c.name == bindparam("name"))
    .add_columns(_TOKEN.c.id.label("token_id"), _TOKEN.c.last_used_at.label("token_used_at"))
    .outerjoin(
        _TOKEN,
        and_(
            _TOKEN.c.token_hash == bindparam("digest"),
            _TOKEN.c.account_id == t.accounts.c.id,
            _TOKEN.c.kind == access_tokens.API,
            _TOKEN.c.is_active.is_(True),
        ),
    )
)


def _bearer_query(with_token: bool) -> Any:
    query = select(*t.accounts.c).where(t.accounts.c.id == bindparam("id"))
    if with_token:
        alive = exists().where(
            and_(
                t.access_tokens.c.id == bindparam("token"),
                t.access_tokens.c.account_id == t.accounts.c.id,
                t.access_tokens.c.is_active.is_(True),
            )
        )
        query = query.add_columns(alive.label("token_alive"))
    return query


_BEARER = _bearer_query(False)
_BEARER_FROM_TOKEN = _bearer_query(True)


class Authenticator:
    def __init__(self, db: Database, directory: LdapService | None = None) -> None:
        self.db = db
        self.directory = directory
        # (password hash, secret) pairs Argon2 accepted: a new hash invalidates them.
        self._verified: VerifiedCache[bool] = VerifiedCache(ttl=_CACHE_TTL, max_entries=_CACHE_MAX)
        self._slots = asyncio.Semaphore(SLOW_CHECKS)
        self._pruned = 0.0

    def _cached(self, password_hash: str | None, secret: str) -> bool:
        return password_hash is not None and bool(self._verified.get(password_hash, secret))

    def _remember(self, password_hash: str, secret: str) -> None:
        self._verified.put(password_hash, secret, value=True)

    async def check(self, name: str, secret: str, *, source: str | None) -> Principal:
        """The principal for ``name``/``secret`` from the client address ``source``;
        Unauthorized never says which was wrong, SignInThrottled (429) when over budget."""
        src = throttle.source_key(source)
        params = {"name": name, "source": src, "digest": access_tokens.digest(secret)}
        async with self.db.read() as conn:
            row = (await conn.execute(_SIGN_IN, params)).first()
        assert row is not None  # the anchor row is always there
        state = throttle.state_of(row)
        state.check()
        account = accounts.row_account(row) if row.id is not None else None
        if account is not None and (account.is_org or not account.is_active):
            account = None
        principal: Principal | None
        if account is not None and row.token_id is not None:
            await self._touch(int(row.token_id), row.token_used_at)
            principal = TokenPrincipal(
                account.id, account.name, account.is_admin, "access-token", int(row.token_id)
            )
        elif (
            account is not None
            and not account.is_imported
            and self._cached(account.password_hash, secret)
        ):
            principal = Principal(account.id, account.name, account.is_admin, "password")
        else:
            principal = await self._slow_check(name, account, secret, src, provision=True)
        if principal is None:
            raise Unauthorized("invalid username or password")
        if state.pair.live(utcnow()) and principal.account_id is not None:
            # Only after failures of this account from this source: a clean sign-in writes
            # nothing.
            await throttle.forget_pair(self.db, src, principal.account_id)
        return principal

    async def confirm_password(
        self, principal: Principal, secret: str, *, source: str | None
    ) -> None:
        """Before a change to ``principal``'s own credentials: ``secret`` must be its current
        password (never an access token), checked and throttled as a sign-in is."""
        require_own_credentials(principal)
        if not secret:
            raise InvalidInput("give your current password (oldPassword) to change it")
        assert principal.account_id is not None
        src = throttle.source_key(source)
        async with self.db.read() as conn:
            account = await accounts.by_id(conn, principal.account_id)
        if account is None or not account.is_active:
            raise Unauthorized("the account is no longer active")
        checked = await self._slow_check(account.name, account, secret, src, provision=False)
        if checked is None:
            raise Denied("the current password is wrong")

    async def _slow_check(
        self,
        name: str,
        account: accounts.Account | None,
        secret: str,
        source: str,
        *,
        provision: bool,
    ) -> Principal | None:
        """Argon2 or an LDAP bind, in one of this process's slots, after a fresh look at the
        counters (other connections may have spent the budget meanwhile); a failure is
        counted before the slot is given back."""
        async with self._slots:
            async with self.db.read() as conn:
                state = await throttle.load(conn, source, account.id if account else None)
            state.check()
            principal = await self._verify_secret(name, account, secret, provision=provision)
            if principal is None:
                await throttle.record_failure(self.db, source, account.id if account else None)
        if principal is None and time.monotonic() - self._pruned > PRUNE_EVERY:
            self._pruned = time.monotonic()
            await throttle.prune(self.db)
        return principal

    async def _verify_secret(
        self, name: str, account: accounts.Account | None, secret: str, *, provision: bool
    ) -> Principal | None:
        if account is not None and account.is_imported and self.directory is not None:
            bound = await self.directory.check_imported(account.id, secret)
            if bound is not None:  # None: LDAP is off, the local password (if any) decides
                return (
                    Principal(account.id, account.name, account.is_admin, "ldap") if bound else None
                )
        stored = account.password_hash if account is not None else None
        if account is not None and self._cached(stored, secret):
            return Principal(account.id, account.name, account.is_admin, "password")
        ok = await verify_password(stored, secret)
        if ok and account is not None and stored is not None:
            self._remember(stored, secret)
            return Principal(account.id, account.name, account.is_admin, "password")
        if account is None and provision and self.directory is not None:
            created = await self.directory.provision(name, secret)
            if created is not None:
                return Principal(created.id, created.name, created.is_admin, "ldap")
        return None

    async def _touch(self, token_id: int, last_used_at: dt.datetime | None) -> None:
        """Record an access token's use at most once a minute, to keep pulls off the write lock."""
        now = utcnow()
        if last_used_at is not None and now - as_utc(last_used_at) < TOUCH_EVERY:
            return
        async with self.db.write() as conn:
            await conn.execute(
                update(t.access_tokens)
                .where(t.access_tokens.c.id == token_id)
                .values(last_used_at=now)
            )

    async def principal_for(self, account_id: int, via: str) -> Principal | None:
        """An active user account as a principal (for refresh tokens and sessions)."""
        async with self.db.read() as conn:
            account = await accounts.by_id(conn, account_id)
        if account is None or account.is_org or not account.is_active:
            return None
        return Principal(account.id, account.name, account.is_admin, via)

    async def principal_for_bearer(
        self, account_id: int, access_token_id: int | None
    ) -> Principal | None:
        """The principal of a registry bearer token, in one statement: its account must still
        be active and, for a token minted from an access token, that token too."""
        query = _BEARER if access_token_id is None else _BEARER_FROM_TOKEN
        async with self.db.read() as conn:
            row = (await conn.execute(query, {"id": account_id, "token": access_token_id})).first()
        if row is None:
            return None
        account = accounts.row_account(row)
        if account.is_org or not account.is_active:
            return None
        if access_token_id is not None:
            if not row.token_alive:
                return None
            return TokenPrincipal(
                account.id, account.name, account.is_admin, "bearer", access_token_id
            )
        return Principal(account.id, account.name, account.is_admin, "bearer")
