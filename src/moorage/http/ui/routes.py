"""Pages of the web UI. Every page needs a signed-in session; every POST carries the session's
CSRF token; every repository page checks the same levels as ``/api/v0`` (a repository the user
may not pull is a 404)."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from moorage.auth import access_tokens, accounts, grants
from moorage.auth.levels import Level, Principal
from moorage.db import site_settings
from moorage.db.engine import Database, as_utc
from moorage.errors import Denied, InvalidInput, MoorageError, NoSuchAccount, Unauthorized
from moorage.events import store as events
from moorage.http.api.accounts import change_account
from moorage.http.api.common import namespace_level, repository_level
from moorage.http.authn import RbacAuthorizer
from moorage.http.ui import sessions
from moorage.jobs import store as jobs
from moorage.jobs.actions import KNOWN as KNOWN_ACTIONS
from moorage.registry import browse, listing, repositories
from moorage.registry.context import RegistryContext
from moorage.registry.repositories import RepositoryDetails

COOKIE = "moorage_session"
LOGIN_COOKIE = "moorage_login_csrf"
PAGE_SIZE = 50

_PACKAGE = resources.files("moorage.http.ui")
_CSS = (_PACKAGE / "static" / "ui.css").read_bytes()


def _size(value: object) -> str:
    n = float(value) if isinstance(value, int | float) else 0.0
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _when(value: object) -> str:
    if isinstance(value, dt.datetime):
        return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value or "")


def _short(digest: object) -> str:
    text = str(digest or "")
    algorithm, _, hexpart = text.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else text


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("moorage.http.ui", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.ChainableUndefined,  # manifests are user data: a missing key shows nothing
)
_env.filters["size"] = _size
_env.filters["when"] = _when
_env.filters["short"] = _short


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user of one request."""

    principal: Principal
    csrf: str
    session_hash: str

    @property
    def name(self) -> str:
        return self.principal.name or ""


def _authorizer(request: Request) -> RbacAuthorizer:
    found: RbacAuthorizer = request.app.state.authorizer
    return found


def _db(request: Request) -> Database:
    return _authorizer(request).ctx_db


def _ctx(request: Request) -> RegistryContext:
    ctx: RegistryContext = request.app.state.registry
    return ctx


def _secure(request: Request) -> bool:
    public = _authorizer(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


async def session_viewer(request: Request) -> Viewer | None:
    """The session cookie's user. Also hands the principal to ``RbacAuthorizer.principal`` for
    this request, so the UI (and only the UI: /v2 never sees this cookie) signs in by session."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    found = await sessions.lookup(_db(request), raw)
    if found is None:
        return None
    principal = await _authorizer(request).authenticator.principal_for(found.account_id, "session")
    if principal is None:
        return None
    request.scope["moorage.principal"] = (principal, None)
    return Viewer(principal, found.csrf_token, found.id_hash)


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    body = _env.get_template(template).render(
        viewer=viewer,
        csrf=viewer.csrf if viewer else "",
        path=request.url.path,
        **context,
    )
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
            "Referrer-Policy": "same-origin",
        },
    )


def _error(request: Request, viewer: Viewer | None, status: int, message: str) -> HTMLResponse:
    titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict"}
    return render(
        request,
        viewer,
        "error.html",
        status=status,
        title=titles.get(status, "Error"),
        message=message,
    )


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Signed-in pages: to the login page without a session; CSRF check on every POST; domain
    errors become error pages with their status."""

    async def endpoint(request: Request) -> Response:
        viewer = await session_viewer(request)
        if viewer is None:
            if request.method != "GET":
                return _error(request, None, 403, "Your session has ended: sign in again.")
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return _see_other(f"/login?next={quote(target, safe='')}")
        if request.method == "POST":
            form = await request.form()
            token = form.get("csrf")
            if not isinstance(token, str) or not hmac.compare_digest(token, viewer.csrf):
                return _error(request, viewer, 403, "The form's CSRF token is missing or wrong.")
        try:
            return await handler(request, viewer)
        except MoorageError as exc:
            status = exc.status if 400 <= exc.status < 500 else 500
            return _error(request, viewer, status, exc.message)

    return endpoint


def _field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def _checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/repositories"


# ---- sign in and out ------------------------------------------------------------------------


async def login(request: Request) -> Response:
    next_url = _safe_next(request.query_params.get("next"))
    if request.method == "GET":
        if await session_viewer(request) is not None:
            return _see_other(next_url)
        token = secrets.token_urlsafe(32)
        response = render(request, None, "login.html", login_csrf=token, next=next_url, error="")
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            path="/login",
            secure=_secure(request),
            httponly=True,
            samesite="lax",
        )
        return response
    form = await request.form()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = _field(form, "csrf")
    if not expected or not hmac.compare_digest(sent, expected):
        return _error(request, None, 403, "The form's CSRF token is missing or wrong.")
    name, password = _field(form, "username"), form.get("password")
    next_url = _safe_next(_field(form, "next"))
    try:
        principal = await _authorizer(request).authenticator.check(
            name, password if isinstance(password, str) else ""
        )
    except Unauthorized:
        return render(
            request,
            None,
            "login.html",
            status=401,
            login_csrf=expected,
            next=next_url,
            error="Invalid username or password.",
            username=name,
        )
    assert principal.account_id is not None
    previous = await sessions.lookup(_db(request), request.cookies.get(COOKIE, ""))
    if previous is not None:  # a sign-in always starts a new session
        await sessions.end(_db(request), previous.id_hash)
    session_id, _ = await sessions.create(_db(request), principal.account_id)
    redirect = _see_other(next_url)
    redirect.set_cookie(
        COOKIE,
        session_id,
        max_age=int(sessions.LIFETIME.total_seconds()),
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )
    redirect.delete_cookie(LOGIN_COOKIE, path="/login")
    return redirect


async def _logout(request: Request, viewer: Viewer) -> Response:
    await sessions.end(_db(request), viewer.session_hash)
    response = _see_other("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


async def _home(request: Request, viewer: Viewer) -> Response:
    return _see_other("/repositories")


async def stylesheet(request: Request) -> Response:
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


# ---- repositories ---------------------------------------------------------------------------


async def _repositories(request: Request, viewer: Viewer) -> Response:
    query = request.query_params.get("q", "").strip()
    start = request.query_params.get("start") or None
    visible = grants.visible_repositories(viewer.principal)
    db = _db(request)
    nxt: str | None = None
    if query:
        ids = await browse.search_repositories(
            _ctx(request), query, visible=visible, namespace=None, limit=PAGE_SIZE
        )
        found = await repositories.by_ids(db, ids)
        rows = [found[i] for i in ids if i in found]
    else:
        rows, nxt = await repositories.page(
            db, visible=visible, namespace=None, start=start, limit=PAGE_SIZE
        )
    return render(request, viewer, "repositories.html", repos=rows, q=query, next_start=nxt)


async def _new_repository(request: Request, viewer: Viewer) -> Response:
    db = _db(request)
    values = {"namespace": viewer.name, "name": "", "visibility": "private", "description": ""}
    if request.method == "POST":
        form = await request.form()
        values = {k: _field(form, k) for k in values}
        namespace, name = values["namespace"], values["name"]
        try:
            async with db.read() as conn:
                owner = await accounts.find(conn, namespace)
            if owner is None:
                raise NoSuchAccount(f"no account named {namespace!r} to hold the repository")
            if await namespace_level(db, viewer.principal, namespace) < Level.READ_WRITE:
                raise Denied("you may not create repositories in this namespace")
            if not name or "/" in name:
                raise InvalidInput("the repository name is one path component")
            await repositories.create(
                db,
                f"{namespace}/{name}",
                {
                    "visibility": values["visibility"] or "private",
                    "shortDescription": values["description"],
                },
                viewer.name,
            )
        except MoorageError as exc:
            return render(
                request,
                viewer,
                "repository_new.html",
                status=exc.status if 400 <= exc.status < 500 else 500,
                values=values,
                error=exc.message,
            )
        return _see_other(f"/repositories/{namespace}/{name}")
    return render(request, viewer, "repository_new.html", values=values, error="")


async def _repository(request: Request, viewer: Viewer) -> tuple[Level, RepositoryDetails]:
    name = f"{request.path_params['namespace']}/{request.path_params['repo']}"
    level, details = await repository_level(_db(request), viewer.principal, name)
    return level, details


def _pull_host(request: Request) -> str:
    public = _authorizer(request).settings.public_url
    if public:
        return public.split("://", 1)[-1].rstrip("/")
    return request.url.netloc


async def _repository_page(
    request: Request,
    viewer: Viewer,
    level: Level,
    repo: RepositoryDetails,
    tab: str,
    **context: Any,
) -> HTMLResponse:
    return render(
        request,
        viewer,
        f"repository_{tab}.html",
        repo=repo,
        level=level.wire,
        is_admin=level >= Level.ADMIN,
        tab=tab,
        pull_host=_pull_host(request),
        **context,
    )


async def _tags(request: Request, viewer: Viewer) -> Response:
    level, repo = await _repository(request, viewer)
    ctx = _ctx(request)
    start = request.query_params.get("start") or None
    rows, nxt = await browse.tag_page(ctx, repo.id, start=start, limit=PAGE_SIZE, with_payload=True)
    configs = browse.ConfigCache(ctx)
    tags = []
    for row in rows:
        images = await browse.platform_images(ctx, repo.id, row, configs)
        platforms = sorted(
            {
                "/".join(p for p in (i.os, i.architecture, i.variant) if p) or "unknown"
                for i in images
            }
        )
        tags.append(
            {
                "name": row.name,
                "digest": row.digest,
                "size": sum(i.size for i in images),
                "platforms": platforms,
                "pushed_at": row.updated_at,
                "pushed_by": row.pushed_by or "",
                "is_list": len(images) > 1 or bool(images and images[0].children),
            }
        )
    return await _repository_page(request, viewer, level, repo, "tags", tags=tags, next_start=nxt)


async def _image(request: Request, viewer: Viewer) -> Response:
    level, repo = await _repository(request, viewer)
    ctx = _ctx(request)
    reference = request.path_params["reference"]
    row = await browse.tag(ctx, repo.id, reference)
    assert row.payload is not None
    configs = browse.ConfigCache(ctx)
    top = await browse.image_details(
        configs, row.digest, row.media_type, row.payload, row.created_at
    )
    config = await configs.get(top.config_digest) if not top.children else None
    inner = config.get("config") if isinstance(config, dict) else None
    run: dict[str, Any] = {}
    if isinstance(inner, dict):
        for key in ("Entrypoint", "Cmd", "Env", "WorkingDir", "User", "ExposedPorts"):
            if inner.get(key):
                run[key] = inner[key]
    referrers = await listing.referrers(ctx, repo.name, row.digest, None)
    tag_names = (await browse.tags_of(ctx, repo.id, [row.digest])).get(row.digest, [])
    return await _repository_page(
        request,
        viewer,
        level,
        repo,
        "image",
        reference=reference,
        row=row,
        image=top,
        run=run,
        referrers=referrers,
        tag_names=tag_names,
    )


_EVENT_FILTERS = {
    "all": frozenset[str](),
    "pushes": frozenset({events.TAG_PUSH, events.MANIFEST_PUSH}),
    "pulls": events.PULL_TYPES,
    "deletes": frozenset({events.TAG_DELETE, events.MANIFEST_DELETE, events.REPO_DELETE}),
    "settings": frozenset(
        {events.REPO_SETTINGS_CHANGE, events.TEAM_ACCESS_CHANGE, events.CREATE_REPO}
    ),
}


async def _activity(request: Request, viewer: Viewer) -> Response:
    level, repo = await _repository(request, viewer)
    kind = request.query_params.get("type", "all")
    if kind not in _EVENT_FILTERS:
        kind = "all"
    raw_start = request.query_params.get("start", "")
    rows, nxt = await events.page(
        _db(request),
        visible=None,
        repository_id=repo.id,
        filters=events.EventFilter(event_types=_EVENT_FILTERS[kind]),
        start=int(raw_start) if raw_start.isdigit() else None,
        limit=PAGE_SIZE,
    )
    return await _repository_page(
        request,
        viewer,
        level,
        repo,
        "activity",
        events=rows,
        kind=kind,
        kinds=list(_EVENT_FILTERS),
        next_start=nxt,
    )


def _require_admin(level: Level) -> None:
    if level < Level.ADMIN:
        raise Denied("only administrators of this repository may do this")


async def _settings(request: Request, viewer: Viewer) -> Response:
    level, repo = await _repository(request, viewer)
    _require_admin(level)
    if request.method == "POST":
        form = await request.form()
        repo = await repositories.modify(
            _db(request),
            repo.name,
            {
                "visibility": _field(form, "visibility"),
                "shortDescription": _field(form, "description"),
                "immutableTags": _checked(form, "immutable_tags"),
                "scanOnPush": _checked(form, "scan_on_push"),
            },
            viewer.name,
        )
        return _see_other(f"/repositories/{repo.name}/settings?saved=1")
    saved = request.query_params.get("saved") == "1"
    return await _repository_page(request, viewer, level, repo, "settings", saved=saved)


async def _permissions(request: Request, viewer: Viewer) -> Response:
    level, repo = await _repository(request, viewer)
    _require_admin(level)
    db = _db(request)
    if request.method == "POST":
        form = await request.form()
        team = _field(form, "team")
        if _field(form, "action") == "revoke":
            await grants.remove_repository_access(db, repo.id, repo.namespace, team, viewer.name)
        else:
            try:
                wanted = Level.parse(_field(form, "level"))
            except ValueError as exc:
                raise InvalidInput(str(exc)) from exc
            await grants.set_repository_access(
                db, repo.id, repo.namespace, team, wanted, viewer.name
            )
        return _see_other(f"/repositories/{repo.name}/permissions")
    entries = await grants.repository_access_list(db, repo.id)
    async with db.read() as conn:
        owner = await accounts.find(conn, repo.namespace)
    teams = await accounts.list_teams(db, repo.namespace) if owner and owner.is_org else []
    return await _repository_page(
        request,
        viewer,
        level,
        repo,
        "permissions",
        entries=entries,
        teams=teams,
        is_org=bool(owner and owner.is_org),
    )


async def _delete(request: Request, viewer: Viewer) -> Response:
    level, repo = await _repository(request, viewer)
    _require_admin(level)
    form = await request.form()
    if _field(form, "confirm") != repo.name:
        raise InvalidInput("type the repository's full name to delete it")
    await repositories.remove(_db(request), repo.name, viewer.name)
    return _see_other("/repositories")


# ---- administration -------------------------------------------------------------------------


def _system_admin(viewer: Viewer) -> None:
    if not viewer.principal.is_admin:
        raise Denied("only system administrators may see this page")


async def _accounts_page(request: Request, viewer: Viewer, kind: str) -> Response:
    _system_admin(viewer)
    db = _db(request)
    error = ""
    if request.method == "POST":
        form = await request.form()
        password = _field(form, "password")
        try:
            await accounts.create(
                db,
                name=_field(form, "name"),
                is_org=kind == "orgs",
                password=None if kind == "orgs" else password,
                full_name=_field(form, "full_name"),
                email=_field(form, "email"),
                is_admin=kind == "users" and _checked(form, "is_admin"),
            )
        except MoorageError as exc:
            error = exc.message
        else:
            return _see_other(f"/admin/{kind}")
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


async def _users(request: Request, viewer: Viewer) -> Response:
    return await _accounts_page(request, viewer, "users")


async def _orgs(request: Request, viewer: Viewer) -> Response:
    if viewer.principal.is_admin or request.method != "GET":
        return await _accounts_page(request, viewer, "orgs")
    # Anyone else: the organizations they own, to manage them (creating one is for admins).
    assert viewer.principal.account_id is not None
    rows = await accounts.owned_orgs(_db(request), viewer.principal.account_id)
    return render(request, viewer, "admin_orgs.html", rows=rows, next_start=None, error="")


async def _user(request: Request, viewer: Viewer) -> Response:
    """One user, for system administrators: details, admin flag, activation, a new password,
    deletion (the API's checks: ``PATCH`` and ``DELETE /enzi/v0/accounts/{name}``)."""
    _system_admin(viewer)
    db = _db(request)
    name = request.path_params["name"]
    async with db.read() as conn:
        account = await accounts.require_user(conn, name)
    error = ""
    if request.method == "POST":
        form = await request.form()
        action = _field(form, "action")
        is_self = name == viewer.name
        try:
            if action == "delete":
                if is_self:
                    raise InvalidInput("administrators cannot delete their own account")
                if _field(form, "confirm") != name:
                    raise InvalidInput("type the user's name to delete the account")
                await accounts.remove(db, name)
                return _see_other("/admin/users")
            if action != "save":
                raise InvalidInput("unknown action")
            changes: dict[str, Any] = {
                "fullName": _field(form, "full_name"),
                "email": _field(form, "email"),
                "isAdmin": _checked(form, "is_admin"),
                "isActive": _checked(form, "is_active"),
            }
            if is_self and not (changes["isAdmin"] and changes["isActive"]):
                raise InvalidInput("administrators cannot demote or deactivate themselves")
            password = form.get("password")
            if isinstance(password, str) and password:
                changes["password"] = password
            await change_account(db, viewer.principal, name, changes)
        except MoorageError as exc:
            error = exc.message
        else:
            return _see_other(f"/admin/users/{name}?saved=1")
    return render(
        request,
        viewer,
        "admin_user.html",
        status=400 if error else 200,
        account=account,
        error=error,
        saved=request.query_params.get("saved") == "1",
    )


async def _org_admin(request: Request, viewer: Viewer, org: str) -> None:
    """The API's rule for managing an organization: its owners and system administrators."""
    if await namespace_level(_db(request), viewer.principal, org) < Level.ADMIN:
        raise Denied("only the organization's owners and system administrators may do this")


async def _org_action(request: Request, viewer: Viewer, org: str, form: FormData) -> Response:
    db = _db(request)
    action = _field(form, "action")
    user, team = _field(form, "user"), _field(form, "team")
    if action == "delete_org":  # DELETE /enzi/v0/accounts/{org}: system administrators
        _system_admin(viewer)
        if _field(form, "confirm") != org:
            raise InvalidInput("type the organization's name to delete it")
        await accounts.remove(db, org)
        return _see_other("/admin/orgs")
    if action == "add_member":
        await accounts.set_org_member(db, org, user, is_owner=_checked(form, "owner"))
    elif action == "remove_member":
        await accounts.remove_org_member(db, org, user)
    elif action == "create_team":
        await accounts.create_team(db, org, team, _field(form, "description"))
    elif action == "delete_team":
        await accounts.delete_team(db, org, team)
    elif action == "add_team_member":
        await accounts.add_team_member(db, org, team, user)
    elif action == "remove_team_member":
        await accounts.remove_team_member(db, org, team, user)
    elif action == "grant_namespace":
        try:
            wanted = Level.parse(_field(form, "level"))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        await grants.set_namespace_access(db, org, team, wanted, viewer.name)
    elif action == "revoke_namespace":
        await grants.remove_namespace_access(db, org, team, viewer.name)
    else:
        raise InvalidInput("unknown action")
    return _see_other(f"/admin/orgs/{org}")


async def _org(request: Request, viewer: Viewer) -> Response:
    """An organization: members, teams and their members, team access to the whole namespace.
    Its owners manage it as system administrators do (the API's checks)."""
    db = _db(request)
    org = request.path_params["org"]
    async with db.read() as conn:
        found = await accounts.require_org(conn, org)
    await _org_admin(request, viewer, org)
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


async def _site_settings(request: Request, viewer: Viewer) -> Response:
    _system_admin(viewer)
    db = _db(request)
    if request.method == "POST":
        form = await request.form()
        await site_settings.update(
            db,
            {
                "createRepositoryOnPush": _checked(form, "create_repository_on_push"),
                "readOnlyRegistry": _checked(form, "read_only_registry"),
            },
        )
        return _see_other("/admin/settings?saved=1")
    current = await site_settings.load(db)
    return render(
        request,
        viewer,
        "admin_settings.html",
        current=current,
        saved=request.query_params.get("saved") == "1",
    )


async def _tokens(request: Request, viewer: Viewer) -> Response:
    db = _db(request)
    assert viewer.principal.account_id is not None
    created = ""
    if request.method == "POST":
        form = await request.form()
        if _field(form, "action") == "revoke":
            hashed = _field(form, "token")
            info = await access_tokens.get(db, hashed)
            if info.account_id != viewer.principal.account_id:
                raise Denied("not your token")
            await access_tokens.revoke(db, hashed)
            return _see_other("/tokens")
        created, _ = await access_tokens.issue(
            db, viewer.principal.account_id, kind=access_tokens.API, label=_field(form, "label")
        )
    tokens = await access_tokens.list_for(db, viewer.principal.account_id)
    return render(request, viewer, "tokens.html", tokens=tokens, created=created)


# ---- jobs ----------------------------------------------------------------------------------

_JOB_STATUS_FILTERS = {"any": None, "running": True, "finished": False}
JOB_REFRESH_SECONDS = 3


def _job_duration(job: jobs.Job) -> str:
    if job.started_at is None:
        return ""
    seconds = int(((job.ended_at or dt.datetime.now(dt.UTC)) - job.started_at).total_seconds())
    minutes, seconds = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {seconds}s" if hours else f"{minutes}m {seconds}s"


def _poke_runner(request: Request) -> None:
    runner = getattr(request.app.state, "job_runner", None)
    if runner is not None:
        runner.poke()


async def _jobs(request: Request, viewer: Viewer) -> Response:
    """The job runner for system administrators: jobs newest first, run ``onlinegc`` now, crons
    (``/api/v0/jobs`` and ``/api/v0/crons``)."""
    _system_admin(viewer)
    db = _db(request)
    if request.method == "POST":
        form = await request.form()
        parameters = {"dryRun": True} if _checked(form, "dry_run") else {}
        job = await jobs.submit(db, "onlinegc", parameters)
        _poke_runner(request)
        return _see_other(f"/jobs/{quote(job.id, safe='')}")
    action = request.query_params.get("action", "").strip()
    status = request.query_params.get("status", "any")
    if status not in _JOB_STATUS_FILTERS:
        status = "any"
    rows, nxt = await jobs.page(
        db,
        action=action or None,
        running=_JOB_STATUS_FILTERS[status],
        start=request.query_params.get("start") or None,
        limit=PAGE_SIZE,
    )
    return render(
        request,
        viewer,
        "jobs.html",
        jobs=[(job, _job_duration(job)) for job in rows],
        next_start=nxt,
        action=action,
        status_filter=status,
        statuses=list(_JOB_STATUS_FILTERS),
        actions=sorted(KNOWN_ACTIONS),
        crons=await jobs.list_crons(db),
    )


async def _job(request: Request, viewer: Viewer) -> Response:
    _system_admin(viewer)
    db = _db(request)
    job_id = request.path_params["job_id"]
    if request.method == "POST":
        form = await request.form()
        if _field(form, "action") != "cancel":
            raise InvalidInput("unknown action")
        await jobs.cancel(db, job_id)
        return _see_other(f"/jobs/{quote(job_id, safe='')}")
    job = await jobs.get(db, job_id)
    lines = await jobs.logs(db, job_id, limit=10000)
    return render(
        request,
        viewer,
        "job.html",
        job=job,
        duration=_job_duration(job),
        lines=lines,
        refresh=JOB_REFRESH_SECONDS if job.status in ("waiting", "running") else 0,
    )


def _coming(title: str) -> Handler:
    async def handler(request: Request, viewer: Viewer) -> Response:
        return render(request, viewer, "coming.html", title=title)

    return handler


def routes() -> list[BaseRoute]:
    repo = "/repositories/{namespace}/{repo}"
    both = ["GET", "POST"]
    return [
        Route("/", page(_home), methods=["GET"]),
        Route("/login", login, methods=both),
        Route("/logout", page(_logout), methods=["POST"]),
        Route("/static/ui.css", stylesheet, methods=["GET"]),
        Route("/repositories", page(_repositories), methods=["GET"]),
        Route("/repositories/new", page(_new_repository), methods=both),
        Route(repo, page(_tags), methods=["GET"]),
        Route(repo + "/tags/{reference}", page(_image), methods=["GET"]),
        Route(repo + "/activity", page(_activity), methods=["GET"]),
        Route(repo + "/settings", page(_settings), methods=both),
        Route(repo + "/permissions", page(_permissions), methods=both),
        Route(repo + "/delete", page(_delete), methods=["POST"]),
        Route("/admin/users", page(_users), methods=both),
        Route("/admin/users/{name}", page(_user), methods=both),
        Route("/admin/orgs", page(_orgs), methods=both),
        Route("/admin/orgs/{org}", page(_org), methods=both),
        Route("/admin/settings", page(_site_settings), methods=both),
        Route("/tokens", page(_tokens), methods=both),
        Route("/scanning", page(_coming("Scanning")), methods=["GET"]),
        Route("/signing", page(_coming("Signing")), methods=["GET"]),
        Route("/jobs", page(_jobs), methods=both),
        Route("/jobs/{job_id}", page(_job), methods=both),
    ]
