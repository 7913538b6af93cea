"""Administration pages: users (system administrators), organizations (their owners too),
site settings."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from moorage.auth import accounts, grants
from moorage.auth.levels import Level
from moorage.db import site_settings
from moorage.errors import Denied, InvalidInput, MoorageError
from moorage.http.ui.render import (
    PAGE_SIZE,
    Viewer,
    checked,
    db_of,
    field,
    render,
    see_other,
    system_admin,
)
from moorage.services.accounts import change_account, require_org_admin


async def _accounts_page(request: Request, viewer: Viewer, kind: str) -> Response:
    system_admin(viewer)
    db = db_of(request)
    error = ""
    if request.method == "POST":
        form = await request.form()
        password = field(form, "password")
        try:
            await accounts.create(
                db,
                name=field(form, "name"),
                is_org=kind == "orgs",
                password=None if kind == "orgs" else password,
                full_name=field(form, "full_name"),
                email=field(form, "email"),
                is_admin=kind == "users" and checked(form, "is_admin"),
            )
        except MoorageError as exc:
            error = exc.message
        else:
            return see_other(f"/admin/{kind}")
    start = request.query_params.get("start") or None
    rows, nxt = await accounts.list_accounts(db, start=start, limit=PAGE_SIZE, kind=kind)
    return render(
        request,
        viewer,
        f"admin_{kind}.html",
        status=400 if error else 200,
        rows=rows,
        next_start=nxt,
        error=error,
    )


async def users(request: Request, viewer: Viewer) -> Response:
    return await _accounts_page(request, viewer, "users")


async def orgs(request: Request, viewer: Viewer) -> Response:
    if viewer.principal.is_admin or request.method != "GET":
        return await _accounts_page(request, viewer, "orgs")
    # Anyone else: the organizations they own, to manage them (creating one is for admins).
    assert viewer.principal.account_id is not None
    rows = await accounts.owned_orgs(db_of(request), viewer.principal.account_id)
    return render(request, viewer, "admin_orgs.html", rows=rows, next_start=None, error="")


async def user(request: Request, viewer: Viewer) -> Response:
    """One user, for system administrators: details, admin flag, activation, a new password,
    deletion (the API's checks: ``PATCH`` and ``DELETE /enzi/v0/accounts/{name}``)."""
    system_admin(viewer)
    db = db_of(request)
    name = request.path_params["name"]
    async with db.read() as conn:
        account = await accounts.require_user(conn, name)
    error = ""
    if request.method == "POST":
        form = await request.form()
        action = field(form, "action")
        is_self = name == viewer.name
        try:
            if action == "delete":
                if is_self:
                    raise InvalidInput("administrators cannot delete their own account")
                if field(form, "confirm") != name:
                    raise InvalidInput("type the user's name to delete the account")
                await accounts.remove(db, name)
                return see_other("/admin/users")
            if action != "save":
                raise InvalidInput("unknown action")
            changes: dict[str, Any] = {
                "fullName": field(form, "full_name"),
                "email": field(form, "email"),
                "isAdmin": checked(form, "is_admin"),
                "isActive": checked(form, "is_active"),
            }
            password = form.get("password")
            if isinstance(password, str) and password:
                changes["password"] = password
            await change_account(db, viewer.principal, name, changes)
        except MoorageError as exc:
            error = exc.message
        else:
            return see_other(f"/admin/users/{name}?saved=1")
    return render(
        request,
        viewer,
        "admin_user.html",
        status=400 if error else 200,
        account=account,
        error=error,
        saved=request.query_params.get("saved") == "1",
    )


async def _org_action(request: Request, viewer: Viewer, org: str, form: FormData) -> Response:
    db = db_of(request)
    action = field(form, "action")
    user, team = field(form, "user"), field(form, "team")
    if action == "delete_org":  # DELETE /enzi/v0/accounts/{org}: system administrators
        system_admin(viewer)
        if field(form, "confirm") != org:
            raise InvalidInput("type the organization's name to delete it")
        await accounts.remove(db, org)
        return see_other("/admin/orgs")
    if action == "add_member":
        await accounts.set_org_member(db, org, user, is_owner=checked(form, "owner"))
    elif action == "remove_member":
        await accounts.remove_org_member(db, org, user)
    elif action == "create_team":
        await accounts.create_team(db, org, team, field(form, "description"))
    elif action == "delete_team":
        await accounts.delete_team(db, org, team)
    elif action == "add_team_member":
        await accounts.add_team_member(db, org, team, user)
    elif action == "remove_team_member":
        await accounts.remove_team_member(db, org, team, user)
    elif action == "grant_namespace":
        try:
            wanted = Level.parse(field(form, "level"))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        await grants.set_namespace_access(db, org, team, wanted, viewer.name)
    elif action == "revoke_namespace":
        await grants.remove_namespace_access(db, org, team, viewer.name)
    else:
        raise InvalidInput("unknown action")
    return see_other(f"/admin/orgs/{org}")


async def org(request: Request, viewer: Viewer) -> Response:
    """An organization: members, teams and their members, team access to the whole namespace.
    Its owners manage it as system administrators do (the API's checks)."""
    db = db_of(request)
    org = request.path_params["org"]
    async with db.read() as conn:
        found = await accounts.require_org(conn, org)
    await require_org_admin(db_of(request), viewer.principal, org)
    error = ""
    status = 200
    if request.method == "POST":
        form = await request.form()
        try:
            return await _org_action(request, viewer, org, form)
        except Denied:
            raise
        except MoorageError as exc:
            error = exc.message
            status = exc.status if 400 <= exc.status < 500 else 500
    members = await accounts.org_members(db, org)
    teams = [
        (team, await accounts.team_members(db, org, team.name))
        for team in await accounts.list_teams(db, org)
    ]
    return render(
        request,
        viewer,
        "admin_org.html",
        status=status,
        org=found,
        members=members,
        teams=teams,
        namespace_access=await grants.namespace_access_list(db, org),
        error=error,
    )


async def site_settings_page(request: Request, viewer: Viewer) -> Response:
    system_admin(viewer)
    db = db_of(request)
    if request.method == "POST":
        form = await request.form()
        await site_settings.update(
            db,
            {
                "createRepositoryOnPush": checked(form, "create_repository_on_push"),
                "readOnlyRegistry": checked(form, "read_only_registry"),
            },
        )
        return see_other("/admin/settings?saved=1")
    current = await site_settings.load(db)
    return render(
        request,
        viewer,
        "admin_settings.html",
        current=current,
        saved=request.query_params.get("saved") == "1",
    )
