"""Changing accounts and managing organizations: the checks every edge applies alike."""

from __future__ import annotations

from typing import Any

from moorage.auth import accounts
from moorage.auth.credentials import Authenticator
from moorage.auth.levels import Principal
from moorage.db.engine import Database
from moorage.errors import Denied, InvalidInput


async def require_org_admin(db: Database, principal: Principal, org: str) -> None:
    """Managing an organization (members, teams, a team's LDAP sync): its owners and system
    administrators, eNZi's org admins. A team's grant on the namespace, even admin, is about the
    namespace's repositories: it does not make the team's members admins of the organization."""
    if principal.is_admin:
        return
    if principal.account_id is not None and any(
        owned.name == org for owned in await accounts.owned_orgs(db, principal.account_id)
    ):
        return
    raise Denied("only the organization's owners and system administrators may do this")


async def change_account(
    db: Database,
    principal: Principal,
    name: str,
    changes: dict[str, Any],
    *,
    authenticator: Authenticator | None = None,
    current_password: str | None = None,
    source: str | None = None,
) -> accounts.Account:
    """An account's changes (DTR field names: ``fullName``, ``isAdmin``, ``password`` ...).

    Only system administrators change other accounts or anyone's admin and active flags, and
    an administrator cannot demote or deactivate their own account (the registry would lose
    the one who can undo it). A new password for the caller's own account needs
    ``current_password``, checked (and throttled) by ``authenticator`` against the password
    alone; a system administrator sets another user's password without it. ``accounts.modify``
    ends, in its transaction, what a new password or a deactivation ends (sessions, refresh
    tokens, access tokens)."""
    is_self = principal.name == name
    if not principal.is_admin and (not is_self or {"isAdmin", "isActive"} & set(changes)):
        raise Denied("only system administrators may change other accounts or admin status")
    if is_self and (changes.get("isAdmin") is False or changes.get("isActive") is False):
        raise InvalidInput("administrators cannot demote or deactivate themselves")
    if changes.get("password") is not None and is_self:
        if authenticator is None:
            raise InvalidInput(
                "change your own password on your account page, with your current password"
            )
        await authenticator.confirm_password(principal, current_password or "", source=source)
    return await accounts.modify(db, name, changes)
