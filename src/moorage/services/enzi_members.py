"""eNZi's organizations and teams as ``/enzi/v0/accounts/…`` has them: ``{…NameOrID}`` path
parameters, who the caller is in an organization or team (eNZi's org and team admins), and
the pages of members and teams (start at an ID or a name, totals)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update

from moorage.auth import accounts
from moorage.auth.levels import Principal
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import Denied, InvalidParameters, NoSuchAccount, NoSuchMember, NoSuchTeam
from moorage.services.accounts import resolve_account

__all__ = ["resolve_account"]


# ---- eNZi's ``{…NameOrID}``, rules and pages (``/enzi/v0/accounts/…``) ----------------------


async def resolve_org(db: Database, name_or_id: str) -> accounts.Account:
    found = await resolve_account(db, name_or_id)
    if not found.is_org:
        raise NoSuchAccount(f"{name_or_id!r} is not an organization", detail={"name": name_or_id})
    return found


async def resolve_user(db: Database, name_or_id: str) -> accounts.Account:
    found = await resolve_account(db, name_or_id)
    if found.is_org:
        raise NoSuchAccount(f"{name_or_id!r} is not a user", detail={"name": name_or_id})
    return found


async def resolve_team(db: Database, org: accounts.Account, name_or_id: str) -> accounts.Team:
    """eNZi's ``{teamNameOrID}`` in ``org``: a name first, then, for digits, an id."""
    async with db.read() as conn:
        found = await accounts.find_team(conn, org, name_or_id)
        if found is None and name_or_id.isdigit() and len(name_or_id) < 12:
            row = (
                await conn.execute(
                    select(t.teams).where(
                        and_(t.teams.c.id == int(name_or_id), t.teams.c.org_id == org.id)
                    )
                )
            ).first()
            if row is not None:
                found = accounts.Team(row.id, row.org_id, org.name, row.name, row.description)
    if found is None:
        raise NoSuchTeam(detail={"org": org.name, "team": name_or_id})
    return found


@dataclass(frozen=True)
class Standing:
    """What the caller is in an organization (and, for team routes, in a team)."""

    member: bool
    org_admin: bool
    team_admin: bool = False


async def standing(
    db: Database, principal: Principal, org: accounts.Account, team: accounts.Team | None = None
) -> Standing:
    if principal.is_admin:
        return Standing(True, True, True)
    if principal.account_id is None:
        return Standing(False, False)
    om, tm = t.org_members, t.team_members
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(om.c.is_owner).where(
                    and_(om.c.org_id == org.id, om.c.user_id == principal.account_id)
                )
            )
        ).first()
        team_admin = False
        if team is not None and row is not None:
            team_admin = bool(
                (
                    await conn.execute(
                        select(tm.c.is_admin).where(
                            and_(tm.c.team_id == team.id, tm.c.user_id == principal.account_id)
                        )
                    )
                ).scalar()
            )
    if row is None:
        return Standing(False, False)
    return Standing(True, bool(row.is_owner), team_admin or bool(row.is_owner))


async def require_member(db: Database, principal: Principal, org: accounts.Account) -> None:
    """eNZi's "an admin user or a member of the organization"."""
    if not (await standing(db, principal, org)).member:
        raise Denied("only the organization's members and system administrators may do this")


async def require_team_admin(
    db: Database, principal: Principal, org: accounts.Account, team: accounts.Team
) -> None:
    """eNZi's "an admin user, an admin member of the organization, or an admin member of the
    team"."""
    if not (await standing(db, principal, org, team)).team_admin:
        raise Denied("only the team's and the organization's admins may do this")


@dataclass(frozen=True)
class Membership:
    account: accounts.Account
    is_admin: bool


def _page_start(start: str) -> int:
    if not start:
        return 0
    if not start.isdigit() or len(start) > 12:
        raise InvalidParameters("start is an ID", detail={"start": start[:64]})
    return int(start)


_MEMBER_FILTERS = ("all", "admins", "non-admins")


async def member_page(
    db: Database,
    *,
    org: accounts.Account,
    team: accounts.Team | None,
    start: str,
    limit: int,
    kind: str,
) -> tuple[list[Membership], str, int]:
    """A page of an organization's (or a team's) members in ascending user ID from ``start``,
    the next page's start ("" on the last) and the total of members (whatever the filter)."""
    if kind not in _MEMBER_FILTERS:
        raise InvalidParameters(
            "filter is one of all, admins, non-admins", detail={"filter": kind[:64]}
        )
    if team is None:
        link, flag, where = (
            t.org_members,
            t.org_members.c.is_owner,
            t.org_members.c.org_id == org.id,
        )
    else:
        link, flag, where = (
            t.team_members,
            t.team_members.c.is_admin,
            t.team_members.c.team_id == team.id,
        )
    query = (
        select(t.accounts, flag.label("member_is_admin"))
        .select_from(link.join(t.accounts, t.accounts.c.id == link.c.user_id))
        .where(and_(where, t.accounts.c.id >= _page_start(start)))
        .order_by(t.accounts.c.id)
        .limit(limit + 1)
    )
    if kind != "all":
        query = query.where(flag.is_(kind == "admins"))
    async with db.read() as conn:
        rows = list(await conn.execute(query))
        total = int(
            (await conn.execute(select(func.count()).select_from(link).where(where))).scalar_one()
        )
    found = [Membership(accounts.row_account(r), bool(r.member_is_admin)) for r in rows]
    nxt = str(found[limit].account.id) if len(found) > limit else ""
    return found[:limit], nxt, total


async def membership(
    db: Database, org: accounts.Account, user: accounts.Account, team: accounts.Team | None = None
) -> Membership:
    """The user's membership of the organization (or team); 404 ``NO_SUCH_MEMBER``."""
    if team is None:
        link, flag, where = (
            t.org_members,
            t.org_members.c.is_owner,
            t.org_members.c.org_id == org.id,
        )
    else:
        link, flag, where = (
            t.team_members,
            t.team_members.c.is_admin,
            t.team_members.c.team_id == team.id,
        )
    async with db.read() as conn:
        row = (
            await conn.execute(select(flag).where(and_(where, link.c.user_id == user.id)))
        ).first()
    if row is None:
        where_name = org.name if team is None else f"{org.name}/{team.name}"
        raise NoSuchMember(
            f"{user.name!r} is not a member of {where_name!r}",
            detail={"org": org.name, "user": user.name},
        )
    return Membership(user, bool(row[0]))


async def set_team_admin(
    db: Database, team: accounts.Team, user: accounts.Account, value: bool
) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(t.team_members)
            .where(and_(t.team_members.c.team_id == team.id, t.team_members.c.user_id == user.id))
            .values(is_admin=value)
        )


async def team_page(
    db: Database, org: accounts.Account, *, start: str, limit: int
) -> tuple[list[tuple[accounts.Team, int]], str, int]:
    """A page of the organization's teams by name from ``start``, each with its number of
    members; the next page's start ("" on the last) and the number of teams."""
    members = (
        select(func.count())
        .where(t.team_members.c.team_id == t.teams.c.id)
        .scalar_subquery()
        .label("members")
    )
    query = (
        select(t.teams, members)
        .where(and_(t.teams.c.org_id == org.id, t.teams.c.name >= start))
        .order_by(t.teams.c.name)
        .limit(limit + 1)
    )
    async with db.read() as conn:
        rows = list(await conn.execute(query))
        total = int(
            (
                await conn.execute(select(func.count()).where(t.teams.c.org_id == org.id))
            ).scalar_one()
        )
    found = [
        (accounts.Team(r.id, r.org_id, org.name, r.name, r.description), int(r.members))
        for r in rows
    ]
    nxt = found[limit][0].name if len(found) > limit else ""
    return found[:limit], nxt, total


async def team_members_count(db: Database, team: accounts.Team) -> int:
    async with db.read() as conn:
        return int(
            (
                await conn.execute(select(func.count()).where(t.team_members.c.team_id == team.id))
            ).scalar_one()
        )


async def member_team_page(
    db: Database, org: accounts.Account, user: accounts.Account, *, start: str, limit: int
) -> tuple[list[tuple[accounts.Team, bool, int]], str]:
    """The user's teams in the organization in ascending team ID from ``start``: each team,
    whether the user is its admin and its number of members; the next page's start."""
    tm = t.team_members
    mine = tm.alias("mine")
    members = select(func.count()).where(tm.c.team_id == t.teams.c.id).scalar_subquery()
    query = (
        select(t.teams, mine.c.is_admin.label("member_is_admin"), members.label("members"))
        .select_from(t.teams.join(mine, mine.c.team_id == t.teams.c.id))
        .where(
            and_(
                t.teams.c.org_id == org.id,
                mine.c.user_id == user.id,
                t.teams.c.id >= _page_start(start),
            )
        )
        .order_by(t.teams.c.id)
        .limit(limit + 1)
    )
    async with db.read() as conn:
        rows = list(await conn.execute(query))
    found = [
        (
            accounts.Team(r.id, r.org_id, org.name, r.name, r.description),
            bool(r.member_is_admin),
            int(r.members),
        )
        for r in rows
    ]
    nxt = str(found[limit][0].id) if len(found) > limit else ""
    return found[:limit], nxt


_USER_FLAGS = {
    "admins": (t.accounts.c.is_admin, True),
    "non-admins": (t.accounts.c.is_admin, False),
    "active-users": (t.accounts.c.is_active, True),
    "inactive-users": (t.accounts.c.is_active, False),
}
_ORDERS = {"name": t.accounts.c.name, "fullName": t.accounts.c.full_name}


async def account_page(
    db: Database, *, start: str, limit: int, kind: str, order: str, contains: str
) -> tuple[list[accounts.Account], str]:
    """eNZi's list of accounts: ``kind`` one of all, users, orgs, admins, non-admins,
    active-users, inactive-users (the last four: users only); ``order`` ``name`` (default) or
    ``fullName``, ``+`` (default) or ``-`` before it; ``contains``: in the name or full name,
    whatever the case. ``start`` is the order marker of the page's first account (its name,
    which also breaks ties of full names); returns the next page's marker ("" on the last)."""
    descending = order.startswith("-")
    key = order.lstrip("+-") or "name"
    if key not in _ORDERS:
        raise InvalidParameters("order is name or fullName", detail={"order": order[:64]})
    column = _ORDERS[key]
    name = t.accounts.c.name
    query = select(t.accounts)
    if kind == "users":
        query = query.where(t.accounts.c.is_org.is_(False))
    elif kind == "orgs":
        query = query.where(t.accounts.c.is_org.is_(True))
    elif kind in _USER_FLAGS:
        flag, value = _USER_FLAGS[kind]
        query = query.where(and_(t.accounts.c.is_org.is_(False), flag.is_(value)))
    elif kind != "all":
        raise InvalidParameters(
            "filter is one of all, users, orgs, admins, non-admins, active-users, inactive-users",
            detail={"filter": kind[:64]},
        )
    if contains:
        escaped = contains.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                func.lower(name).like(pattern, escape="\\"),
                func.lower(t.accounts.c.full_name).like(pattern, escape="\\"),
            )
        )
    async with db.read() as conn:
        if start:
            marker = await accounts.find(conn, start)
            if marker is not None:
                mark = marker.name if key == "name" else marker.full_name
                if key == "name":
                    query = query.where(name <= start if descending else name >= start)
                elif descending:
                    query = query.where(
                        or_(column < mark, and_(column == mark, name <= marker.name))
                    )
                else:
                    query = query.where(
                        or_(column > mark, and_(column == mark, name >= marker.name))
                    )
            else:
                query = query.where(name <= start if descending else name >= start)
        if descending:
            query = query.order_by(column.desc(), name.desc())
        else:
            query = query.order_by(column, name)
        rows = [accounts.row_account(r) for r in await conn.execute(query.limit(limit + 1))]
    nxt = rows[limit].name if len(rows) > limit else ""
    return rows[:limit], nxt


@dataclass(frozen=True)
class GroupLink:
    """A team's SAML group link (eNZi's ``groupLinkConfig``): stored only, no SAML here."""

    enable_link: bool
    group_name: str


async def get_group_link(db: Database, team: accounts.Team) -> GroupLink:
    g = t.team_group_links
    async with db.read() as conn:
        row = (await conn.execute(select(g).where(g.c.team_id == team.id))).first()
    return GroupLink(False, "") if row is None else GroupLink(bool(row.enable_link), row.group_name)


async def set_group_link(db: Database, team: accounts.Team, link: GroupLink) -> GroupLink:
    if len(link.group_name) > 1024:
        raise InvalidParameters("groupName is at most 1024 characters")
    g = t.team_group_links
    values = {"enable_link": link.enable_link, "group_name": link.group_name}
    async with db.write() as conn:
        await conn.execute(
            db.insert(g)
            .values(team_id=team.id, **values)
            .on_conflict_do_update(index_elements=["team_id"], set_=values)
        )
    return link
