"""One repository's administration: settings, team permissions, deleting a tag or the
repository."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from moorage.auth import accounts, grants
from moorage.auth.levels import Level
from moorage.errors import Denied, InvalidInput
from moorage.http.ui.pages.repository import repository_of, repository_page, require_admin
from moorage.http.ui.render import (
    Viewer,
    checked,
    ctx_of,
    db_of,
    field,
    see_other,
)
from moorage.oci.digest import is_digest
from moorage.oci.names import validate_tag
from moorage.registry import browse, manifests, repositories


async def settings(request: Request, viewer: Viewer) -> Response:
    level, repo = await repository_of(request, viewer)
    require_admin(level)
    if request.method == "POST":
        form = await request.form()
        repo = await repositories.modify(
            db_of(request),
            repo.name,
            {
                "visibility": field(form, "visibility"),
                "shortDescription": field(form, "description"),
                "immutableTags": checked(form, "immutable_tags"),
                "scanOnPush": checked(form, "scan_on_push"),
            },
            viewer.name,
        )
        return see_other(f"/repositories/{repo.name}/settings?saved=1")
    saved = request.query_params.get("saved") == "1"
    return await repository_page(request, viewer, level, repo, "settings", saved=saved)


async def permissions(request: Request, viewer: Viewer) -> Response:
    level, repo = await repository_of(request, viewer)
    require_admin(level)
    db = db_of(request)
    if request.method == "POST":
        form = await request.form()
        team = field(form, "team")
        if field(form, "action") == "revoke":
            await grants.remove_repository_access(db, repo.id, repo.namespace, team, viewer.name)
        else:
            try:
                wanted = Level.parse(field(form, "level"))
            except ValueError as exc:
                raise InvalidInput(str(exc)) from exc
            await grants.set_repository_access(
                db, repo.id, repo.namespace, team, wanted, viewer.name
            )
        return see_other(f"/repositories/{repo.name}/permissions")
    entries = await grants.repository_access_list(db, repo.id)
    async with db.read() as conn:
        owner = await accounts.find(conn, repo.namespace)
    teams = await accounts.list_teams(db, repo.namespace) if owner and owner.is_org else []
    return await repository_page(
        request,
        viewer,
        level,
        repo,
        "permissions",
        entries=entries,
        teams=teams,
        is_org=bool(owner and owner.is_org),
    )


async def delete(request: Request, viewer: Viewer) -> Response:
    level, repo = await repository_of(request, viewer)
    require_admin(level)
    form = await request.form()
    if field(form, "confirm") != repo.name:
        raise InvalidInput("type the repository's full name to delete it")
    await repositories.remove(db_of(request), repo.name, viewer.name)
    return see_other("/repositories")


async def delete_tag(request: Request, viewer: Viewer) -> Response:
    """GET: ask to confirm; POST (with the session's CSRF token): remove the tag. The API's
    rule: read-write access; a repository with immutable tags refuses."""
    level, repo = await repository_of(request, viewer)
    tag = request.path_params["reference"]
    if is_digest(tag):
        raise InvalidInput("name a tag, not a digest")
    validate_tag(tag)
    if level < Level.READ_WRITE:
        raise Denied("deleting a tag needs read-write access to the repository")
    if repo.immutable_tags:
        raise Denied(
            f"the tags of {repo.name} are immutable: they can be neither moved nor deleted"
        )
    ctx = ctx_of(request)
    row = await browse.tag(ctx, repo.id, tag)
    if request.method == "POST":
        await manifests.delete_reference(ctx, repo.name, tag, viewer.name)
        return see_other(f"/repositories/{repo.name}?deleted={quote(tag, safe='')}")
    return await repository_page(request, viewer, level, repo, "delete_tag", row=row)
