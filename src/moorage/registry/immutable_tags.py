"""Immutable tags (a repository setting): once a tag exists it never moves nor goes away.

Every path that moves or removes a tag checks here inside its own write transaction: a push by
tag or with ``?tag=`` (``manifests.put``), a tag delete on /v2 and /api/v0 and a manifest delete
by digest (``manifests.delete_reference``). Tag pruning skips such repositories
(``pruning.prune``), and online GC only collects manifests that no tag and no manifest names.
"""

from __future__ import annotations

from sqlalchemy import and_, select

from moorage.db import tables as t
from moorage.db.engine import Connection
from moorage.errors import Denied


def refusal(name: str, tag: str) -> Denied:
    return Denied(
        f"tag {tag!r} of {name} is immutable: the repository has immutable tags "
        f"and the tag already exists",
        detail={"repository": name, "tag": tag},
    )


async def check_tag(
    conn: Connection, repository_id: int, name: str, tag: str, manifest_id: int | None
) -> bool:
    """In a repository with immutable tags an existing tag never moves nor goes away (pushing it
    again with the same content is allowed). ``manifest_id`` None: the tag is being deleted.
    Returns whether the repository's tags are immutable: a push then upserts the tag only where
    it names the same manifest, so a concurrent push that created it first wins."""
    row = (
        await conn.execute(
            select(t.repositories.c.immutable_tags, t.tags.c.manifest_id)
            .select_from(t.repositories)
            .outerjoin(
                t.tags, and_(t.tags.c.repository_id == t.repositories.c.id, t.tags.c.name == tag)
            )
            .where(t.repositories.c.id == repository_id)
        )
    ).first()
    if row is None or not row.immutable_tags:
        return False
    if row.manifest_id is not None and (manifest_id is None or int(row.manifest_id) != manifest_id):
        raise refusal(name, tag)
    return True


async def check_manifest(conn: Connection, repository_id: int, name: str, digest: str) -> None:
    """In a repository with immutable tags a manifest that a tag names, or that another manifest
    holds as a child (an image of a tagged index), cannot be deleted: deleting it would remove
    the tag (or break what it names) and let the tag be pushed again with other content."""
    immutable = (
        await conn.execute(
            select(t.repositories.c.immutable_tags).where(t.repositories.c.id == repository_id)
        )
    ).scalar_one_or_none()
    if not immutable:
        return
    m, mr = t.manifests, t.manifest_references
    # Lock the manifest first (PostgreSQL; SQLite's write transactions are one at a time): a
    # push tagging it, or an index naming it, holds a key share on it, so either that push
    # commits before the checks below read, or it waits for this delete and then fails.
    await conn.execute(
        select(m.c.id)
        .where(and_(m.c.repository_id == repository_id, m.c.digest == digest))
        .with_for_update()
    )
    tagged = (
        await conn.execute(
            select(t.tags.c.name)
            .select_from(t.tags.join(m, m.c.id == t.tags.c.manifest_id))
            .where(and_(m.c.repository_id == repository_id, m.c.digest == digest))
            .order_by(t.tags.c.name)
            .limit(5)
        )
    ).all()
    if tagged:
        names = [r.name for r in tagged]
        raise Denied(
            f"manifest {digest} of {name} is named by the tag(s) {', '.join(names)} and the "
            "repository has immutable tags: its tags cannot be removed, so neither can it",
            detail={"repository": name, "digest": digest, "tags": names},
        )
    parent = (
        await conn.execute(
            select(m.c.digest)
            .select_from(mr.join(m, m.c.id == mr.c.parent_id))
            .where(
                and_(
                    m.c.repository_id == repository_id,
                    mr.c.child_kind == "manifest",
                    mr.c.child_digest == digest,
                )
            )
            .limit(1)
        )
    ).first()
    if parent is not None:
        raise Denied(
            f"manifest {digest} of {name} is part of the index {parent.digest} and the "
            "repository has immutable tags: delete the index first (if no tag names it)",
            detail={"repository": name, "digest": digest, "parent": parent.digest},
        )
