"""The web UI's route list, and the Jobs pages. Every page needs a signed-in session (the public
repository pages excepted); every POST carries the session's CSRF token; every repository page
checks the same levels as ``/api/v0`` (a repository the user may not pull is a 404). The pages
live in ``moorage.http.ui.pages``; what they share in ``moorage.http.ui.render``."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moorage.errors import InvalidInput
from moorage.http.services import services
from moorage.http.ui.pages import (
    account,
    admin,
    repositories,
    repository,
    repository_admin,
    scanning,
    signin,
    tokens,
)
from moorage.http.ui.render import (
    COOKIE,
    LOGIN_COOKIE,
    PAGE_SIZE,
    Handler,
    Viewer,
    not_found,
    page,
    public_page,
    render,
    session_viewer,
)
from moorage.http.ui.render import checked as _checked
from moorage.http.ui.render import db_of as _db
from moorage.http.ui.render import field as _field
from moorage.http.ui.render import see_other as _see_other
from moorage.http.ui.render import system_admin as _system_admin
from moorage.jobs.actions import KNOWN as KNOWN_ACTIONS
from moorage.jobs.gc import DEFAULT_GRACE as GC_GRACE_SECONDS
from moorage.queue import crons, job_logs, jobs
from moorage.registry.gc_report import duration as gc_duration
from moorage.webhooks import delivery as webhook_delivery

__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "PAGE_SIZE",
    "Viewer",
    "page",
    "render",
    "routes",
    "session_viewer",
]


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


async def _jobs(request: Request, viewer: Viewer) -> Response:
    """The job runner for system administrators: jobs newest first, run ``onlinegc`` now, crons
    (``/api/v0/jobs`` and ``/api/v0/crons``)."""
    _system_admin(viewer)
    db = _db(request)
    if request.method == "POST":
        form = await request.form()
        parameters = {"dryRun": True} if _checked(form, "dry_run") else {}
        job = await jobs.submit(db, "onlinegc", parameters)
        services(request).poke_jobs()
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
        crons=await crons.listing(db),
        gc_grace=gc_duration(GC_GRACE_SECONDS),
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
    lines = await job_logs.read(db, job_id, limit=10000)
    # A webhook job is one delivery: its attempts are shown with it.
    delivery = None
    if job.action == "webhook":
        delivery = await webhook_delivery.find(db, str(job.parameters.get("delivery", "")))
    return render(
        request,
        viewer,
        "job.html",
        job=job,
        duration=_job_duration(job),
        lines=lines,
        delivery=delivery,
        refresh=JOB_REFRESH_SECONDS if job.status in ("waiting", "running") else 0,
    )


def _coming(title: str) -> Handler:
    async def handler(request: Request, viewer: Viewer) -> Response:
        return render(request, viewer, "coming.html", title=title)

    return handler


def routes() -> list[BaseRoute]:
    repo = "/repositories/{namespace}/{repo}"
    both = ["GET", "POST"]
    pages: list[BaseRoute] = [
        Route("/", public_page(signin.home), methods=["GET"]),
        Route("/login", signin.login, methods=both),
        Route("/logout", page(signin.logout), methods=["POST"]),
        Route("/static/ui.css", signin.stylesheet, methods=["GET"]),
        Route("/repositories", public_page(repositories.list_repositories), methods=["GET"]),
        Route("/repositories/new", page(repositories.new_repository), methods=both),
        Route(repo, public_page(repository.tags), methods=["GET"]),
        Route(repo + "/tags/{reference}", public_page(repository.image), methods=["GET"]),
        Route(repo + "/tags/{reference}/delete", page(repository_admin.delete_tag), methods=both),
        Route(repo + "/activity", page(repository.activity), methods=["GET"]),
        Route(repo + "/settings", page(repository_admin.settings), methods=both),
        Route(repo + "/permissions", page(repository_admin.permissions), methods=both),
        Route(repo + "/delete", page(repository_admin.delete), methods=["POST"]),
        Route("/admin/users", page(admin.users), methods=both),
        Route("/admin/users/{name}", page(admin.user), methods=both),
        Route("/admin/orgs", page(admin.orgs), methods=both),
        Route("/admin/orgs/{org}", page(admin.org), methods=both),
        Route("/admin/settings", page(admin.site_settings_page), methods=both),
        Route("/tokens", page(tokens.tokens), methods=both),
        Route("/account", page(account.account), methods=both),
        Route("/scanning", page(scanning.search), methods=["GET"]),
        Route("/scanning/database", page(scanning.database), methods=both),
        Route("/scanning/database/upload", scanning.upload, methods=["POST"]),
        Route("/signing", page(_coming("Signing")), methods=["GET"]),
        Route("/jobs", page(_jobs), methods=both),
        Route("/jobs/{job_id}", page(_job), methods=both),
    ]
    # Last, after every page above: any other GET is the UI's "not found" page (a 404).
    return [*pages, Route("/{path:path}", not_found, methods=["GET"])]
