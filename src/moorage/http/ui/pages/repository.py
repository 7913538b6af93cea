"""One repository's browsing tabs: tags, one image (or index, or artifact), activity.

The tags page says of each tag whether it is signed and the image page shows its signature
view (``trust.signatures.view``: one batch for a page of tags); the templates escape every
signer and reason, which come from uploaded signatures."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from moorage.auth.levels import Level
from moorage.db.engine import utcnow
from moorage.errors import Denied
from moorage.events import store as events
from moorage.http.services import services
from moorage.http.ui.formatting import RUN_KEYS, artifact_label, config_value, cosign_subject
from moorage.http.ui.pages import scanning
from moorage.http.ui.render import (
    PAGE_SIZE,
    Viewer,
    ctx_of,
    db_of,
    principal_of,
    render,
)
from moorage.oci import mediatypes as mt
from moorage.registry import browse, indexes, listing
from moorage.registry.context import RegistryContext
from moorage.registry.repositories import RepositoryDetails
from moorage.services.access import repository_level
from moorage.trust.signatures import view
from moorage.trust.signatures.verdict import COSIGN, NOTARY, NOTATION, Verdict

TITLES = {
    "tags": "Tags",
    "activity": "Activity",
    "settings": "Settings",
    "permissions": "Permissions",
    "delete_tag": "Delete tag",
}
PLATFORM_PAGE = 100
SIGNATURE_KINDS = {  # a kind not named here shows as its name
    NOTARY: "Notary (Docker Content Trust)",
    COSIGN: "cosign",
    NOTATION: "Notation",
    "notary-referrer": "Notary, moved to a referrer",  # trust.signatures.dct_referrers.KIND
}


def signature_state(verdicts: list[Verdict]) -> str:
    """``signed`` (a signature verified), ``unverified`` (signatures, none verifies) or
    ``unsigned`` (signature_badge.html says it in words)."""
    if any(v.verified for v in verdicts):
        return "signed"
    return "unverified" if verdicts else "unsigned"


def signature_rows(verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """The image page's signature view: verified ones first, each kind in words; ``link`` when
    the signature is a manifest of the repository (cosign, Notation), not a Notary role."""
    return [
        {
            "kind": SIGNATURE_KINDS.get(v.kind, v.kind),
            "signers": list(v.signers),
            "verified": v.verified,
            "reason": v.reason,
            "source": v.source,
            "link": v.source if v.source.startswith(("sha256:", "sha512:")) else "",
        }
        for v in sorted(verdicts, key=lambda v: not v.verified)
    ]


async def repository_of(request: Request, viewer: Viewer | None) -> tuple[Level, RepositoryDetails]:
    """The repository of the path and the viewer's level on it (anonymous without a session);
    a repository the viewer may not pull is a 404, exactly as one that does not exist."""
    name = f"{request.path_params['namespace']}/{request.path_params['repo']}"
    level, details = await repository_level(db_of(request), principal_of(viewer), name)
    return level, details


def pull_host(request: Request) -> str:
    public = services(request).settings.public_url
    if public:
        return public.split("://", 1)[-1].rstrip("/")
    return request.url.netloc


async def repository_page(
    request: Request,
    viewer: Viewer | None,
    level: Level,
    repo: RepositoryDetails,
    tab: str,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("page_title", TITLES.get(tab, tab.title()))
    return render(
        request,
        viewer,
        f"repository_{tab}.html",
        repo=repo,
        level=level.label,
        is_admin=level >= Level.ADMIN,
        can_delete_tags=viewer is not None and level >= Level.READ_WRITE,
        tab=tab,
        pull_host=pull_host(request),
        **context,
    )


async def _tag_entry(
    ctx: RegistryContext, repo: RepositoryDetails, row: browse.TagRow, configs: browse.ConfigCache
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": row.name,
        "digest": row.digest,
        "pushed_at": row.updated_at,
        "pushed_by": row.pushed_by or "",
        "is_list": row.media_type in mt.INDEXES,
        "kind": "",
        "subject": cosign_subject(row.name),
    }
    if entry["is_list"]:
        summary = await indexes.index_summary(ctx, repo.id, row.manifest_id)
        entry.update(
            size=summary.size,
            platforms=summary.platforms,
            more_platforms=summary.more_platforms,
            count=summary.count,
        )
        return entry
    details = await browse.image_details(
        configs, row.digest, row.media_type, row.payload, row.created_at
    )
    platform = "/".join(p for p in (details.os, details.architecture, details.variant) if p)
    entry.update(size=details.size, platforms=[platform] if platform else [], more_platforms=0)
    if details.is_artifact:
        entry["kind"] = details.kind
        entry["subject"] = details.subject or entry["subject"]
    return entry


async def tags(request: Request, viewer: Viewer | None) -> Response:
    level, repo = await repository_of(request, viewer)
    ctx = ctx_of(request)
    start = request.query_params.get("start") or None
    before = request.query_params.get("before") or None
    nxt: str | None
    if before:
        rows = await browse.tag_page_before(ctx, repo.id, before=before, limit=PAGE_SIZE)
        nxt = before
    else:
        rows, nxt = await browse.tag_page(ctx, repo.id, start=start, limit=PAGE_SIZE)
    configs = browse.ConfigCache(ctx)
    entries = [await _tag_entry(ctx, repo, row, configs) for row in rows]
    signed = await view.signatures_of(ctx, repo.name, repo.id, [r.digest for r in rows], utcnow())
    first = await browse.tag_count(ctx, repo.id, before=rows[0].name) if rows else 0
    return await repository_page(
        request,
        viewer,
        level,
        repo,
        "tags",
        tags=entries,
        scans=await scanning.tag_badges(ctx, rows),
        signatures={r.name: signature_state(signed.get(r.digest, [])) for r in rows},
        total=await browse.tag_count(ctx, repo.id),
        first=first + 1 if rows else 0,
        last=first + len(rows),
        previous_url=f"?before={quote(rows[0].name)}" if first > 0 else "",
        next_url=f"?start={quote(nxt)}" if nxt else "",
        deleted=request.query_params.get("deleted", "")[:128],
    )


def _run(config: dict[str, Any] | None) -> dict[str, str]:
    inner = config.get("config") if isinstance(config, dict) else None
    if not isinstance(inner, dict):
        return {}
    return {key: config_value(inner[key], key) for key in RUN_KEYS if inner.get(key)}


async def image(request: Request, viewer: Viewer | None) -> Response:
    """One tag or digest: an image (config, Dockerfile lines, layers), an index (a page of its
    platforms) or an artifact (its type, files and the manifest it is about)."""
    level, repo = await repository_of(request, viewer)
    ctx = ctx_of(request)
    reference = request.path_params["reference"]
    row = await browse.tag(ctx, repo.id, reference)
    configs = browse.ConfigCache(ctx)
    top = await browse.image_details(
        configs, row.digest, row.media_type, row.payload, row.created_at
    )
    context: dict[str, Any] = {}
    if top.is_index:
        raw_start = request.query_params.get("start", "")
        start = int(raw_start) if raw_start.isdigit() else 0
        children, nxt = await indexes.index_children(
            ctx, row.manifest_id, start=start, limit=PLATFORM_PAGE
        )
        summary = await indexes.index_summary(ctx, repo.id, row.manifest_id)
        context.update(
            children=children,
            children_start=start,
            children_next=nxt,
            children_previous=max(0, start - PLATFORM_PAGE) if start > 0 else None,
            summary=summary,
            platform_scans=await scanning.platform_badges(request, [c.digest for c in children]),
        )
    elif not top.is_artifact:
        context["run"] = _run(await configs.get(top.config_digest))
        context["scan"] = await scanning.image_report(request, row.digest)
    subject = top.subject or cosign_subject(row.name)
    referrers = await listing.referrers(ctx, repo.name, row.digest, None)
    tag_names = (await browse.tags_of(ctx, repo.id, [row.digest])).get(row.digest, [])
    verdicts = await view.signatures(ctx, repo.name, repo.id, row.digest, utcnow())
    return await repository_page(
        request,
        viewer,
        level,
        repo,
        "image",
        page_title=row.name if not row.name.startswith("sha256:") else _short_digest(row.name),
        reference=reference,
        row=row,
        image=top,
        subject=subject,
        subject_tags=(await browse.tags_of(ctx, repo.id, [subject])).get(subject, [])
        if subject
        else [],
        referrers=[
            dict(r, label=artifact_label(str(r.get("artifactType") or ""))) for r in referrers
        ],
        tag_names=tag_names,
        signature_state=signature_state(verdicts),
        signatures=signature_rows(verdicts),
        **context,
    )


def _short_digest(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}"


_EVENT_FILTERS = {
    "all": frozenset[str](),
    "pushes": frozenset({events.TAG_PUSH, events.MANIFEST_PUSH}),
    "pulls": events.PULL_TYPES,
    "deletes": frozenset({events.TAG_DELETE, events.MANIFEST_DELETE, events.REPO_DELETE}),
    "settings": frozenset(
        {events.REPO_SETTINGS_CHANGE, events.TEAM_ACCESS_CHANGE, events.CREATE_REPO}
    ),
}


async def activity(request: Request, viewer: Viewer) -> Response:
    level, repo = await repository_of(request, viewer)
    kind = request.query_params.get("type", "all")
    if kind not in _EVENT_FILTERS:
        kind = "all"
    raw_start = request.query_params.get("start", "")
    rows, nxt = await events.page(
        db_of(request),
        visible=None,
        repository_id=repo.id,
        filters=events.EventFilter(event_types=_EVENT_FILTERS[kind]),
        start=int(raw_start) if raw_start.isdigit() else None,
        limit=PAGE_SIZE,
    )
    return await repository_page(
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


def require_admin(level: Level) -> None:
    if level < Level.ADMIN:
        raise Denied("only administrators of this repository may do this")
