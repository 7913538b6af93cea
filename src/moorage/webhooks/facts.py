"""What a payload needs beyond its event's row: read from SQL when the event becomes deliveries
(``Facts``: a deleted tag's digest, a ``REPO_EVENT``'s repository object) and from the image's
config before the first attempt (``platform``: its ``os`` and ``architecture``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, select

from moorage.db import tables as t
from moorage.db.engine import Connection
from moorage.events import store as events
from moorage.registry import browse
from moorage.registry.context import RegistryContext
from moorage.webhooks.payloads import Facts


async def facts(conn: Connection, event: events.Event) -> Facts:
    if event.type in (events.CREATE_REPO, events.REPO_SETTINGS_CHANGE):
        return Facts(repository=await repository_object(conn, event.repository))
    if event.type == events.TAG_DELETE and not event.details.get("digest"):
        return Facts(digest=await _last_pushed(conn, event))
    return Facts()


async def repository_object(conn: Connection, name: str) -> dict[str, Any] | None:
    """The repository as DTR's ``responses.Repository`` (None: it is gone)."""
    r = t.repositories
    row = (await conn.execute(select(r).where(r.c.name == name))).first()
    if row is None:
        return None
    owner = (
        await conn.execute(select(t.accounts.c.is_org).where(t.accounts.c.name == row.namespace))
    ).first()
    return {
        "id": str(row.id),
        "namespace": row.namespace,
        "namespaceType": "organization" if owner is not None and owner.is_org else "user",
        "name": row.name[len(row.namespace) + 1 :] if row.namespace else row.name,
        "shortDescription": row.short_description,
        "longDescription": row.long_description,
        "visibility": row.visibility,
        "scanOnPush": bool(row.scan_on_push),
        "immutableTags": bool(row.immutable_tags),
        "enableManifestLists": bool(row.enable_manifest_lists),
        "pulls": int(row.pulls),
        "pushes": int(row.pushes),
        "tagLimit": int(row.tag_limit),
    }


async def _last_pushed(conn: Connection, event: events.Event) -> str:
    """The digest a deleted tag pointed at: its last push before the delete ("" when the
    history no longer has it)."""
    e = t.events
    found = (
        await conn.execute(
            select(e.c.details)
            .where(
                and_(
                    e.c.repository == event.repository,
                    e.c.type == events.TAG_PUSH,
                    e.c.object_id == event.object_id,
                    e.c.id < event.id,
                )
            )
            .order_by(e.c.id.desc())
            .limit(1)
        )
    ).scalar()
    try:
        details = json.loads(found or "{}")
    except ValueError:
        return ""
    return str(details.get("digest", "")) if isinstance(details, dict) else ""


async def platform(registry: RegistryContext, digest: str) -> tuple[str, str]:
    """(os, architecture) of the image manifest ``digest`` ("" for an index, an artifact, or
    a manifest no repository holds any more)."""
    if not digest:
        return "", ""
    m = t.manifests
    async with registry.db.read() as conn:
        row = (
            await conn.execute(
                select(m.c.media_type, m.c.payload, m.c.created_at)
                .where(m.c.digest == digest)
                .limit(1)
            )
        ).first()
    if row is None:
        return "", ""
    found = await browse.image_details(
        browse.ConfigCache(registry), digest, row.media_type, bytes(row.payload), row.created_at
    )
    return found.os, found.architecture
