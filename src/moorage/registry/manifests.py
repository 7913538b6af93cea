"""Manifests: validated on push, stored by digest, served as the exact bytes pushed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, select

from moorage.db import tables as t
from moorage.db.engine import Connection, utcnow
from moorage.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
    TagInvalid,
)
from moorage.events import store as events
from moorage.oci.digest import Digest, is_digest
from moorage.oci.manifest import Descriptor, ParsedManifest, parse_manifest
from moorage.oci.names import validate_tag
from moorage.registry import immutable_tags, pruning, repositories, scan_on_push
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key


@dataclass(frozen=True, slots=True)
class StoredManifest:
    id: int
    digest: str
    media_type: str
    payload: bytes
    subject: str | None


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: Digest
    subject: str | None
    created: bool
    tags: tuple[str, ...] = ()  # the tags now naming the manifest (OCI-Tag)


# ``?tag=`` parameters on one push: the spec asks for at least 10, and allows 414 beyond a limit.
MAX_TAGS_PER_PUSH = 100


class TooManyTags(TagInvalid):
    status = 414
    default_message = "too many tags in one manifest push"


_COLUMNS = (
    t.manifests.c.id,
    t.manifests.c.digest,
    t.manifests.c.media_type,
    t.manifests.c.payload,
    t.manifests.c.subject_digest,
)


def _stored(row: object) -> StoredManifest:
    return StoredManifest(
        id=row.id,  # type: ignore[attr-defined]
        digest=row.digest,  # type: ignore[attr-defined]
        media_type=row.media_type,  # type: ignore[attr-defined]
        payload=bytes(row.payload),  # type: ignore[attr-defined]
        subject=row.subject_digest,  # type: ignore[attr-defined]
    )


async def lookup(conn: Connection, repository_id: int, reference: str) -> StoredManifest | None:
    if is_digest(reference):
        digest = str(Digest.parse(reference))
        query = select(*_COLUMNS).where(
            and_(t.manifests.c.repository_id == repository_id, t.manifests.c.digest == digest)
        )
    else:
        try:
            validate_tag(reference)
        except TagInvalid:
            return None  # a name that cannot be a tag names no manifest: 404, not 400
        query = (
            select(*_COLUMNS)
            .select_from(t.tags.join(t.manifests, t.manifests.c.id == t.tags.c.manifest_id))
            .where(and_(t.tags.c.repository_id == repository_id, t.tags.c.name == reference))
        )
    row = (await conn.execute(query)).first()
    return None if row is None else _stored(row)


# Built once (the pull path): repository name and reference to the manifest in one query.
_BY_NAME_AND_DIGEST = (
    select(*_COLUMNS)
    .select_from(
        t.manifests.join(t.repositories, t.repositories.c.id == t.manifests.c.repository_id)
    )
    .where(
        and_(t.repositories.c.name == bindparam("name"), t.manifests.c.digest == bindparam("ref"))
    )
)
_BY_NAME_AND_TAG = (
    select(*_COLUMNS)
    .select_from(
        t.tags.join(t.repositories, t.repositories.c.id == t.tags.c.repository_id).join(
            t.manifests, t.manifests.c.id == t.tags.c.manifest_id
        )
    )
    .where(and_(t.repositories.c.name == bindparam("name"), t.tags.c.name == bindparam("ref")))
)


async def _lookup_by_name(conn: Connection, name: str, reference: str) -> StoredManifest | None:
    if is_digest(reference):
        query, ref = _BY_NAME_AND_DIGEST, str(Digest.parse(reference))
    else:
        try:
            ref = validate_tag(reference)
        except TagInvalid:
            return None  # a name that cannot be a tag names no manifest: 404, not 400
        query = _BY_NAME_AND_TAG
    row = (await conn.execute(query, {"name": name, "ref": ref})).first()
    return None if row is None else _stored(row)


async def get(ctx: RegistryContext, name: str, reference: str) -> StoredManifest:
    async with ctx.db.read() as conn:
        found = await _lookup_by_name(conn, name, reference)
        if found is None and await repositories.find(conn, name) is None:
            raise NameUnknown(detail={"name": name})
    if found is None:
        raise ManifestUnknown(detail={"reference": reference})
    return found


async def get_child(ctx: RegistryContext, name: str, digest: str) -> StoredManifest | None:
    async with ctx.db.read() as conn:
        repo = await repositories.find(conn, name)
        return None if repo is None else await lookup(conn, repo.id, digest)


def select_platform_child(parent: StoredManifest) -> str | None:
    """The linux/amd64 child of an index, for clients that cannot read indexes."""
    doc = json.loads(parent.payload)
    for child in doc.get("manifests", []):
        platform = child.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return str(child.get("digest"))
    return None


async def _missing(
    conn: Connection, repository_id: int | None, parsed: ParsedManifest
) -> tuple[list[str], str | None]:
    """Referenced blobs/manifests absent from the repository (None: not created yet, so every
    reference is missing), and any size mismatch."""
    missing: list[str] = []
    wanted_blobs = {str(d.digest): d for d in parsed.blob_references()}
    if wanted_blobs:
        rows = await conn.execute(
            select(t.repository_blobs.c.digest, t.blobs.c.size)
            .select_from(
                t.repository_blobs.join(t.blobs, t.blobs.c.digest == t.repository_blobs.c.digest)
            )
            .where(
                and_(
                    t.repository_blobs.c.repository_id == repository_id,
                    t.repository_blobs.c.digest.in_(list(wanted_blobs)),
                )
            )
        )
        have = {r.digest: int(r.size) for r in rows}
        for digest, desc in wanted_blobs.items():
            if digest not in have:
                missing.append(digest)
            elif have[digest] != desc.size:
                return missing, digest
    wanted_children = {str(d.digest): d for d in parsed.manifests}
    if wanted_children:
        rows = await conn.execute(
            select(t.manifests.c.digest, t.manifests.c.size).where(
                and_(
                    t.manifests.c.repository_id == repository_id,
                    t.manifests.c.digest.in_(list(wanted_children)),
                )
            )
        )
        have = {r.digest: int(r.size) for r in rows}
        for digest, desc in wanted_children.items():
            if digest not in have:
                missing.append(digest)
            elif have[digest] != desc.size:
                return missing, digest
    return missing, None


def _references(parsed: ParsedManifest) -> list[tuple[str, Descriptor]]:
    refs: list[tuple[str, Descriptor]] = []
    if parsed.config is not None:
        refs.append(("blob", parsed.config))
    refs.extend(("blob", layer) for layer in parsed.layers)
    refs.extend(("manifest", child) for child in parsed.manifests)
    return refs


async def put(
    ctx: RegistryContext,
    name: str,
    reference: str,
    body: bytes,
    content_type: str | None,
    actor: str | None = None,
    extra_tags: Sequence[str] = (),
) -> PutResult:
    """Store a manifest by tag or digest; ``extra_tags`` (``?tag=`` on a push by digest, from
    the distribution spec's main branch) are set in the same transaction, all or none."""
    if len(body) > ctx.settings.max_manifest_bytes:
        raise ManifestInvalid("manifest too large")
    tags = _tag_list(extra_tags)
    if is_digest(reference):
        expected = Digest.parse(reference)
        actual = Digest.of(body, expected.algorithm)
        if actual != expected:
            raise DigestInvalid(
                "manifest digest does not match the reference",
                detail={"expected": str(expected), "actual": str(actual)},
            )
        digest = expected
    else:
        tags = _tag_list([reference, *tags])
        digest = Digest.of(body)
    parsed = parse_manifest(body, content_type)
    # Validate before creating anything: a rejected push must not leave a new repository behind.
    async with ctx.db.read() as conn:
        # The row the authorizer read (the request's memo): with whether a push prunes or scans.
        found = await repositories.find_remembered(conn, name)
        missing, wrong_size = await _missing(conn, found.id if found else None, parsed)
    if missing:
        raise ManifestBlobUnknown(detail={"digest": missing[0], "missing": missing[:20]})
    if wrong_size:
        raise ManifestInvalid(
            "a descriptor's size does not match the stored content", detail={"digest": wrong_size}
        )
    repo = found or await repositories.ensure(ctx.db, name, actor=actor)

    # Storage first, metadata last.
    key = blob_key(digest)
    if await ctx.storage.stat(key) != len(body):
        await ctx.storage.put_bytes(key, body)

    subject = str(parsed.subject.digest) if parsed.subject else None
    now = utcnow()
    created = False
    async with ctx.db.write() as conn:
        await conn.execute(
            ctx.db.insert(t.blobs)
            .values(digest=str(digest), size=len(body), created_at=now)
            .on_conflict_do_nothing(index_elements=["digest"])
        )
        await _hold_references(conn, repo.id, parsed)  # meets online GC (registry/gc.py)
        existing = await lookup(conn, repo.id, str(digest))
        if existing is None:
            created = True
            result = await conn.execute(
                t.manifests.insert().values(
                    repository_id=repo.id,
                    digest=str(digest),
                    media_type=parsed.media_type,
                    artifact_type=parsed.artifact_type,
                    subject_digest=subject,
                    config_digest=str(parsed.config.digest) if parsed.config else None,
                    size=len(body),
                    payload=body,
                    annotations=json.dumps(parsed.annotations) if parsed.annotations else None,
                    created_at=now,
                )
            )
            manifest_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            refs = _references(parsed)
            if refs:
                await conn.execute(
                    t.manifest_references.insert(),
                    [
                        {
                            "parent_id": manifest_id,
                            "position": i,
                            "child_digest": str(desc.digest),
                            "child_kind": kind,
                            "media_type": desc.media_type[:255],
                            "size": desc.size,
                            "platform_os": _platform(desc, "os"),
                            "platform_arch": _platform(desc, "architecture"),
                            "platform_variant": _platform(desc, "variant"),
                        }
                        for i, (kind, desc) in enumerate(refs)
                    ],
                )
            await events.record(
                conn,
                events.MANIFEST_PUSH,
                repository=name,
                repository_id=repo.id,
                object_type=events.MANIFEST,
                object_id=str(digest),
                actor=actor,
                details={"digest": str(digest), "mediaType": parsed.media_type},
                at=now,
            )
        else:
            manifest_id = existing.id
        for tag in tags:
            immutable = await immutable_tags.check_tag(conn, repo.id, name, tag, manifest_id)
            upsert = await conn.execute(
                ctx.db.insert(t.tags)
                .values(
                    repository_id=repo.id,
                    name=tag,
                    manifest_id=manifest_id,
                    updated_at=now,
                    pushed_by=actor,
                )
                .on_conflict_do_update(
                    index_elements=["repository_id", "name"],
                    set_={"manifest_id": manifest_id, "updated_at": now, "pushed_by": actor},
                    # Immutable: a concurrent push that created the tag first is not overwritten.
                    where=(t.tags.c.manifest_id == manifest_id) if immutable else None,
                )
            )
            if not upsert.rowcount:
                raise immutable_tags.refusal(name, tag)
            await events.record(
                conn,
                events.TAG_PUSH,
                repository=name,
                repository_id=repo.id,
                object_type=events.TAG,
                object_id=tag,
                actor=actor,
                details={"digest": str(digest), "mediaType": parsed.media_type},
                at=now,
            )
        if created or tags:  # a push event was recorded: count it (DTR's ``pushes``)
            await events.count_push(conn, repo.id)
        if tags and repo.prunes_on_push:  # a policy or a limit, read with the repository
            await pruning.schedule(conn, repo.id)
        if (created or tags) and repo.scans_on_push and scan_on_push.wants_scan(parsed):
            await scan_on_push.schedule(ctx.db, conn, str(digest), parsed, name, tags)
    return PutResult(digest, subject, created, tuple(tags))


def _tag_list(values: Sequence[str]) -> list[str]:
    """Valid tag names, each once, in the order given; at most ``MAX_TAGS_PER_PUSH``."""
    if len(values) > MAX_TAGS_PER_PUSH:
        raise TooManyTags(
            f"at most {MAX_TAGS_PER_PUSH} tags per manifest push",
            detail={"limit": MAX_TAGS_PER_PUSH, "tags": len(values)},
        )
    return list(dict.fromkeys(validate_tag(value) for value in values))


def _platform(desc: Descriptor, field: str) -> str | None:
    if not desc.platform:
        return None
    value = desc.platform.get(field)
    return str(value)[:64] if value is not None else None


async def delete_reference(
    ctx: RegistryContext, name: str, reference: str, actor: str | None = None
) -> None:
    """DELETE by digest removes the manifest (and its tags); by tag removes only the tag."""
    async with ctx.db.write() as conn:
        repo = await repositories.find(conn, name)
        if repo is None:
            raise NameUnknown(detail={"name": name})
        if is_digest(reference):
            digest = str(Digest.parse(reference))
            await immutable_tags.check_manifest(conn, repo.id, name, digest)
            result = await conn.execute(
                delete(t.manifests).where(
                    and_(t.manifests.c.repository_id == repo.id, t.manifests.c.digest == digest)
                )
            )
            kind, object_type, object_id = events.MANIFEST_DELETE, events.MANIFEST, digest
        else:
            validate_tag(reference)
            await immutable_tags.check_tag(conn, repo.id, name, reference, None)
            result = await conn.execute(
                delete(t.tags).where(
                    and_(t.tags.c.repository_id == repo.id, t.tags.c.name == reference)
                )
            )
            kind, object_type, object_id = events.TAG_DELETE, events.TAG, reference
        if result.rowcount:
            await events.record(
                conn,
                kind,
                repository=name,
                repository_id=repo.id,
                object_type=object_type,
                object_id=object_id,
                actor=actor,
            )
    if result.rowcount == 0:
        raise ManifestUnknown(detail={"reference": reference})


async def _hold_references(conn: Connection, repository_id: int, parsed: ParsedManifest) -> None:
    """In the manifest's write transaction: what it references is still there (online GC may
    have unlinked a blob or deleted an untagged child since the check before the bytes were
    written), and stays there: the rows are held (``FOR SHARE`` on PostgreSQL; SQLite's write
    transaction is exclusive) so GC's deleting transaction waits for this one and sees the
    references it adds."""
    wanted = sorted({str(d.digest) for d in parsed.blob_references()})
    missing: list[str] = []
    if wanted:
        rb = t.repository_blobs
        rows = await conn.execute(
            select(rb.c.digest)
            .where(and_(rb.c.repository_id == repository_id, rb.c.digest.in_(wanted)))
            .with_for_update(read=True)
        )
        have = {r.digest for r in rows}
        missing += [d for d in wanted if d not in have]
    children = sorted({str(d.digest) for d in parsed.manifests})
    if children:
        m = t.manifests
        rows = await conn.execute(
            select(m.c.digest)
            .where(and_(m.c.repository_id == repository_id, m.c.digest.in_(children)))
            .with_for_update(read=True)
        )
        have = {r.digest for r in rows}
        missing += [d for d in children if d not in have]
    if missing:
        raise ManifestBlobUnknown(detail={"digest": missing[0], "missing": missing[:20]})
