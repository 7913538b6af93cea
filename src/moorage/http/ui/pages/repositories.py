"""The repository list (with search) and the new-repository form."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from moorage.auth import accounts, grants
from moorage.auth.levels import Level
from moorage.errors import Denied, InvalidInput, MoorageError, NoSuchAccount
from moorage.http.ui.render import (
    PAGE_SIZE,
    Viewer,
    ctx_of,
    db_of,
    field,
    principal_of,
    render,
    see_other,
)
from moorage.registry import repositories, search
from moorage.services.access import namespace_level


def _page_number(raw: str) -> int:
    return min(int(raw), 1_000_000) if raw.isdigit() and int(raw) > 0 else 1


async def list_repositories(request: Request, viewer: Viewer | None) -> Response:
    """The repositories the viewer may pull (the public ones for anonymous visitors), a page at
    a time both ways, with counts; ``q`` searches names instead."""
    params = request.query_params
    query = params.get("q", "").strip()[:255]
    visible = grants.visible_repositories(principal_of(viewer))
    db = db_of(request)
    context: dict[str, Any] = {"q": query}
    if query:
        number = _page_number(params.get("page", ""))
        found = await search.search_repositories(
            ctx_of(request),
            query,
            visible=visible,
            namespace=None,
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )
        by_id = await repositories.by_ids(db, found.ids)
        rows = [by_id[i] for i in found.ids if i in by_id]
        first = (number - 1) * PAGE_SIZE
        context.update(
            total=found.total,
            previous_url=f"?q={quote(query)}&page={number - 1}" if number > 1 else "",
            next_url=f"?q={quote(query)}&page={number + 1}"
            if first + len(rows) < found.total
            else "",
        )
    else:
        before = params.get("before") or None
        start = params.get("start") or None
        nxt: str | None
        if before:
            rows = await repositories.page_before(
                db, visible=visible, before=before, limit=PAGE_SIZE
            )
            nxt = before
        else:
            rows, nxt = await repositories.page(
                db, visible=visible, namespace=None, start=start, limit=PAGE_SIZE
            )
        first = await repositories.count(db, visible=visible, before=rows[0].name) if rows else 0
        context.update(
            total=await repositories.count(db, visible=visible),
            previous_url=f"?before={quote(rows[0].name, safe='/')}" if first > 0 else "",
            next_url=f"?start={quote(nxt, safe='/')}" if nxt else "",
        )
    context.update(first=first + 1 if rows else 0, last=first + len(rows))
    return render(request, viewer, "repositories.html", repos=rows, **context)


async def new_repository(request: Request, viewer: Viewer) -> Response:
    db = db_of(request)
    values = {"namespace": viewer.name, "name": "", "visibility": "private", "description": ""}
    if request.method == "POST":
        form = await request.form()
        values = {k: field(form, k) for k in values}
        namespace, name = values["namespace"], values["name"]
        try:
            async with db.read() as conn:
                owner = await accounts.find(conn, namespace)
            if owner is None:
                raise NoSuchAccount(f"no account named {namespace!r} to hold the repository")
            if await namespace_level(db, viewer.principal, namespace) < Level.READ_WRITE:
                raise Denied("you may not create repositories in this namespace")
            if not name or "/" in name:
                raise InvalidInput(
                    "the name is one part, without '/': lowercase letters and digits, "
                    "optionally joined by '.', '_', '__' or dashes"
                )
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
        return see_other(f"/repositories/{namespace}/{name}")
    return render(request, viewer, "repository_new.html", values=values, error="")
