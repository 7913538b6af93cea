"""One LDAP sync: read the directory, then bring accounts and synced teams in step with it.

Users the search configs find are created or updated (full name, email, DN), imported users no
longer found are deactivated (and re-activated when found again, unless an administrator
deactivated them), and teams with a member sync config get exactly the imported users of a group
(its member attribute) or of a search. Organizations with an admin sync config (eNZi's
``adminMemberSyncConfig``, ``moorage.auth.ldap.orgadmins``) get the imported users of theirs as
admins: added as admin members, and imported admins no longer found demoted (to a plain member
while they are in one of the organization's teams, else out of it); local accounts are never
touched. Each one's outcome is in the record's ``teams`` as ``<org> (org admins)``. A search that
fails aborts the sync before anything is deactivated. The outcome goes to the sync's record
(``moorage.auth.ldap.records``); ``note`` receives the steps (the job's log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import and_, select, update

from moorage.auth import access_tokens, accounts
from moorage.auth.ldap import orgadmins, records
from moorage.auth.ldap.directory import (
    Directory,
    DirectoryError,
    DirectoryUser,
    TeamSnapshot,
    normalize_dn,
)
from moorage.auth.ldap.records import SyncRecord, SyncResult, TeamOutcome
from moorage.auth.ldap.teams import MemberSyncConfig, member_sync_of
from moorage.db import tables as t
from moorage.db.engine import Database, utcnow

log = logging.getLogger("moorage.ldap")

Note = Callable[[str], Awaitable[None]]
ORG_ADMINS = " (org admins)"  # the label of an organization's admin sync in the record


async def _quiet(_: str) -> None:
    return None


async def run(
    db: Database, directory: Directory, sync_id: int, *, job_id: str = "", note: Note = _quiet
) -> SyncRecord:
    """Run the recorded sync ``sync_id``; returns its record."""
    result = SyncResult(job_id=job_id)
    status = "failed"
    log.info("LDAP sync started", extra={"sync_id": sync_id})
    await note(f"LDAP sync {sync_id} started")
    try:
        teams = await _synced_teams(db)
        orgs = [
            (org_id, f"{name}{ORG_ADMINS}", cfg)
            for org_id, name, cfg in await orgadmins.synced_orgs(db)
        ]
        snapshot = await asyncio.to_thread(directory.snapshot, teams + orgs)
        result.users_found = len(snapshot.users)
        await note(
            f"{result.users_found} users found, {len(teams)} synced teams, "
            f"{len(orgs)} organizations with synced admins"
        )
        await _apply_users(db, snapshot.users, result)
        await _apply_teams(db, snapshot.teams[: len(teams)], result)
        await _apply_org_admins(db, snapshot.teams[len(teams) :], result)
        status = "succeeded"
    except DirectoryError as exc:
        result.error(str(exc))
    except asyncio.CancelledError:
        result.error("interrupted: the replica shut down")
        await records.finish(db, sync_id, "failed", result)
        raise
    except Exception as exc:
        log.exception("LDAP sync failed", extra={"sync_id": sync_id})
        result.error(f"internal error: {type(exc).__name__}: {exc}")
    await records.finish(db, sync_id, status, result)
    log.info(
        "LDAP sync finished",
        extra={"sync_id": sync_id, "status": status, **result.counts()},
    )
    for message in result.errors:
        await note(message)
    await note(
        f"LDAP sync {sync_id} {status}: {result.users_created} created, "
        f"{result.users_updated} updated, {result.users_deactivated} deactivated, "
        f"{result.users_reactivated} re-activated; team members "
        f"+{result.team_members_added} -{result.team_members_removed}"
    )
    return await records.get_sync(db, sync_id)


async def _synced_teams(db: Database) -> list[tuple[int, str, MemberSyncConfig]]:
    org = t.accounts.alias("org")
    async with db.read() as conn:
        rows = await conn.execute(
            select(t.teams, org.c.name.label("org_name"))
            .select_from(t.teams.join(org, org.c.id == t.teams.c.org_id))
            .where(t.teams.c.ldap_sync_enabled.is_(True))
            .order_by(org.c.name, t.teams.c.name)
        )
        return [(r.id, f"{r.org_name}/{r.name}", member_sync_of(r)) for r in rows]


async def _apply_users(db: Database, users: list[DirectoryUser], result: SyncResult) -> None:
    async with db.read() as conn:
        existing = {r.name: r for r in await conn.execute(select(t.accounts))}
    found: set[str] = set()
    now = utcnow()
    deactivated: list[int] = []
    async with db.write() as conn:
        for user in users:
            name = user.account_name
            if len(name) > 255 or not accounts.ACCOUNT_NAME.fullmatch(name):
                result.error(f"{user.dn}: {user.username!r} is not a valid account name")
                continue
            found.add(name)
            row = existing.get(name)
            if row is None:
                inserted = await conn.execute(
                    db.insert(t.accounts)
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
        await access_tokens.revoke_all(db, account_id)


async def _imported_by_dn(db: Database) -> dict[str, int]:
    """Active imported users' ids by their normalized DN."""
    async with db.read() as conn:
        return {
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


def _wanted(snap: TeamSnapshot, by_dn: dict[str, int]) -> tuple[set[int], int]:
    """The account ids of the snapshot's member DNs, and how many DNs matched none."""
    wanted: set[int] = set()
    unmatched = 0
    for dn in snap.member_dns or []:
        account_id = by_dn.get(normalize_dn(dn))
        if account_id is None:
            unmatched += 1
        else:
            wanted.add(account_id)
    return wanted, unmatched


async def _apply_teams(db: Database, teams: list[TeamSnapshot], result: SyncResult) -> None:
    if not teams:
        return
    by_dn = await _imported_by_dn(db)
    for snap in teams:
        summary = TeamOutcome(snap.label)
        result.teams.append(summary)
        if snap.member_dns is None:
            summary.error = snap.error
            result.error(f"team {snap.label}: {snap.error}")
            continue
        wanted, summary.unmatched = _wanted(snap, by_dn)
        async with db.write() as conn:
            team = (await conn.execute(select(t.teams).where(t.teams.c.id == snap.team_id))).first()
            if team is None:
                continue  # deleted meanwhile
            current = {
                r.user_id
                for r in await conn.execute(
                    select(t.team_members.c.user_id).where(t.team_members.c.team_id == snap.team_id)
                )
            }
            for user_id in sorted(wanted - current):
                await conn.execute(
                    db.insert(t.org_members)
                    .values(org_id=team.org_id, user_id=user_id, is_owner=False)
                    .on_conflict_do_nothing(index_elements=["org_id", "user_id"])
                )
                await conn.execute(
                    db.insert(t.team_members)
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
        summary.added = len(wanted - current)
        summary.removed = len(gone)
        result.team_members_added += summary.added
        result.team_members_removed += summary.removed


async def _apply_org_admins(db: Database, orgs: list[TeamSnapshot], result: SyncResult) -> None:
    """Each organization's admins: exactly the imported users its snapshot found (``team_id``
    is the organization's id here)."""
    if not orgs:
        return
    by_dn = await _imported_by_dn(db)
    om, tm = t.org_members, t.team_members
    for snap in orgs:
        summary = TeamOutcome(snap.label)
        result.teams.append(summary)
        if snap.member_dns is None:
            summary.error = snap.error
            result.error(f"{snap.label.strip()}: {snap.error}")
            continue
        wanted, summary.unmatched = _wanted(snap, by_dn)
        org_id = snap.team_id
        async with db.write() as conn:
            if (
                await conn.execute(select(t.accounts.c.id).where(t.accounts.c.id == org_id))
            ).first() is None:
                continue  # deleted meanwhile
            admins = {
                r.user_id
                for r in await conn.execute(
                    select(om.c.user_id)
                    .select_from(om.join(t.accounts, t.accounts.c.id == om.c.user_id))
                    .where(
                        and_(
                            om.c.org_id == org_id,
                            om.c.is_owner.is_(True),
                            t.accounts.c.is_imported.is_(True),
                        )
                    )
                )
            }
            for user_id in sorted(wanted - admins):
                await conn.execute(
                    db.insert(om)
                    .values(org_id=org_id, user_id=user_id, is_owner=True)
                    .on_conflict_do_update(
                        index_elements=["org_id", "user_id"], set_={"is_owner": True}
                    )
                )
            gone = sorted(admins - wanted)
            if gone:
                in_teams = {
                    r.user_id
                    for r in await conn.execute(
                        select(tm.c.user_id)
                        .select_from(tm.join(t.teams, t.teams.c.id == tm.c.team_id))
                        .where(and_(t.teams.c.org_id == org_id, tm.c.user_id.in_(gone)))
                    )
                }
                keep = [u for u in gone if u in in_teams]
                drop = [u for u in gone if u not in in_teams]
                if keep:
                    await conn.execute(
                        update(om)
                        .where(and_(om.c.org_id == org_id, om.c.user_id.in_(keep)))
                        .values(is_owner=False)
                    )
                if drop:
                    await conn.execute(
                        om.delete().where(and_(om.c.org_id == org_id, om.c.user_id.in_(drop)))
                    )
        summary.added = len(wanted - admins)
        summary.removed = len(gone)
