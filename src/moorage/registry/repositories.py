"""Repositories: they exist only as database rows; nothing here walks the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import request_memo
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, utcnow
from moorage.db.trust_tables import trust_keys, trust_metadata
from moorage.errors import InvalidInput, NameUnknown, NoSuchRepository, RepositoryExists
from moorage.events import store as events
from moorage.oci.names import validate_name
from moorage.registry import pruning, scan_on_push


@dataclass(frozen=True, slots=True)
class Repository:
    id: int
    name: str
    namespace: str
    visibility: str = "private"
    prunes_on_push: bool = False
    """A tag pushed here queues a pruning run (``pruning.prunes_on_push``)."""
    scans_on_push: bool = False
    """A push here queues a scan (``scan_on_push``: DTR's ``scanOnPush``)."""


def namespace_of(name: str) -> str:
    return name.split("/", 1)[0] if "/" in name else ""


# Built once: every /v2 request looks its repository up, with what a push to it sets going
# (pruning, a scan): the push reads them from the row its authorization read, so a repository
# with neither pays no statement for them.
_FIND = select(
    t.repositories.c.id,
    t.repositories.c.namespace,
    t.repositories.c.visibility,
    pruning.prunes_on_push(),
    scan_on_push.scans_on_push(),
).where(t.repositories.c.name == bindparam("name"))


async def find(conn: Connection, name: str) -> Repository | None:
    """The repository named ``name``, read now (inside a write transaction: as it commits)."""
    row = (await conn.execute(_FIND, {"name": name})).first()
    if row is None:
        return None
    return Repository(
        row.id, name, row.namespace, row.visibility, bool(row.prunes), bool(row.scans)
    )


def _memo_key(name: str) -> tuple[str, str]:
    return ("repository", name)


async def find_remembered(conn: Connection, name: str) -> Repository | None:
    """``find`` for a plain read: a repository the request being served has already read comes
    from its memo (``db.request_memo``; the authorizer reads it first, then the handler), until
    this module changes it. Inside a write transaction, use ``find``."""
    remembered = request_memo.recall(_memo_key(name))
    if isinstance(remembered, Repository):
        return remembered
    repo = await find(conn, name)
    if repo is not None:
        request_memo.remember(_memo_key(name), repo)
    return repo


async def require(conn: Connection, name: str) -> Repository:
    repo = await find(conn, name)
    if repo is None:
        raise NameUnknown(detail={"name": name})
    return repo


async def ensure(db: Database, name: str, actor: str | None = None) -> Repository:
    """The repository, created if it does not exist yet (a push creates it)."""
    validate_name(name)
    async with db.read() as conn:
        repo = await find_remembered(conn, name)
    if repo is not None:
        return repo
    async with db.write() as conn:
        await ensure_in(db, conn, name, actor=actor)
        return await require(conn, name)


async def ensure_in(db: Database, conn: Connection, name: str, actor: str | None = None) -> int:
    """Inside the caller's write transaction: the repository's id, created if needed."""
    request_memo.forget(_memo_key(name))
    inserted = await conn.execute(
        db.insert(t.repositories)
        .values(name=validate_name(name), namespace=namespace_of(name), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    repository_id = int(
        (
            await conn.execute(select(t.repositories.c.id).where(t.repositories.c.name == name))
        ).scalar_one()
    )
    if inserted.rowcount:
        await events.record(
            conn, events.CREATE_REPO, repository=name, repository_id=repository_id, actor=actor
        )
    return repository_id


# ---- management (DTR /api/v0/repositories) ----------------------------------------------------


class InvalidVisibility(InvalidInput):
    code, default_message = "INVALID_REPOSITORY_VISIBILITY", "invalid repository visibility"


VISIBILITIES = ("public", "private")
_DETAIL_COLUMNS = (
    t.repositories.c.id,
    t.repositories.c.name,
    t.repositories.c.namespace,
    t.repositories.c.visibility,
    t.repositories.c.short_description,
    t.repositories.c.long_description,
    t.repositories.c.immutable_tags,
    t.repositories.c.scan_on_push,
    t.repositories.c.enable_manifest_lists,
    t.repositories.c.tag_limit,
    t.repositories.c.created_at,
    t.repositories.c.pulls,
    t.repositories.c.pushes,
)


@dataclass(frozen=True, slots=True)
class RepositoryDetails:
    id: int
    name: str
    namespace: str
    visibility: str
    short_description: str
    long_description: str
    immutable_tags: bool
    scan_on_push: bool
    enable_manifest_lists: bool
    tag_limit: int
    pulls: int = 0
    pushes: int = 0

    @property
    def short_name(self) -> str:
        return self.name[len(self.namespace) + 1 :] if self.namespace else self.name


def _details(row: Any) -> RepositoryDetails:
    return RepositoryDetails(
        id=row.id,
        name=row.name,
        namespace=row.namespace,
        visibility=row.visibility,
        short_description=row.short_description,
        long_description=row.long_description,
        immutable_tags=bool(row.immutable_tags),
        scan_on_push=bool(row.scan_on_push),
        enable_manifest_lists=bool(row.enable_manifest_lists),
        tag_limit=int(row.tag_limit),
        pulls=int(row.pulls),
        pushes=int(row.pushes),
    )


_SETTABLE = {
    "visibility": "visibility",
    "shortDescription": "short_description",
    "longDescription": "long_description",
    "immutableTags": "immutable_tags",
    "scanOnPush": "scan_on_push",
    "enableManifestLists": "enable_manifest_lists",
    "tagLimit": "tag_limit",
}


def _columns(attrs: dict[str, Any]) -> dict[str, Any]:
    """Wire-named repository attributes → validated column values."""
    out: dict[str, Any] = {}
    for wire, column in _SETTABLE.items():
        if wire not in attrs or attrs[wire] is None:
            continue
        value = attrs[wire]
        if column == "visibility" and value not in VISIBILITIES:
            raise InvalidVisibility(
                "visibility must be public or private", detail={"visibility": value}
            )
        if column == "short_description" and len(str(value)) > 140:
            raise InvalidInput("shortDescription is at most 140 characters")
        if column == "tag_limit" and (not isinstance(value, int) or value < 0):
            raise InvalidInput("tagLimit must be a non-negative integer")
        if column in ("immutable_tags", "scan_on_push", "enable_manifest_lists"):
            value = bool(value)
        out[column] = value
    return out


async def details(db: Database, name: str) -> RepositoryDetails:
    async with db.read() as conn:
        row = (
            await conn.execute(select(*_DETAIL_COLUMNS).where(t.repositories.c.name == name))
        ).first()
    if row is None:
        raise NoSuchRepository(detail={"name": name})
    return _details(row)


async def create(
    db: Database, name: str, attrs: dict[str, Any], actor: str | None = None
) -> RepositoryDetails:
    validate_name(name)
    values = {"visibility": "public", **_columns(attrs)}
    request_memo.forget(_memo_key(name))
    async with db.write() as conn:
        if await find(conn, name) is not None:
            raise RepositoryExists(detail={"name": name})
        result = await conn.execute(
            t.repositories.insert().values(
                name=name, namespace=namespace_of(name), created_at=utcnow(), **values
            )
        )
        await events.record(
            conn,
            events.CREATE_REPO,
            repository=name,
            repository_id=int(result.inserted_primary_key[0]),  # type: ignore[index]
            actor=actor,
        )
    return await details(db, name)


async def modify(
    db: Database, name: str, attrs: dict[str, Any], actor: str | None = None
) -> RepositoryDetails:
    values = _columns(attrs)
    request_memo.forget(_memo_key(name))
    async with db.write() as conn:
        result = await conn.execute(
            update(t.repositories).where(t.repositories.c.name == name).values(**values)
            if values
            else select(t.repositories.c.id).where(t.repositories.c.name == name)
        )
        if values and result.rowcount == 0:
            raise NoSuchRepository(detail={"name": name})
        if values:
            changed = await find(conn, name)
            await events.record(
                conn,
                events.REPO_SETTINGS_CHANGE,
                repository=name,
                repository_id=changed.id if changed else None,
                actor=actor,
                details={w: attrs[w] for w, c in _SETTABLE.items() if c in values},
            )
    return await details(db, name)


async def set_scan_on_push_everywhere(
    db: Database, scan_on_push: bool, actor: str | None = None
) -> int:
    """DTR's ``ToggleAllRepositoriesScanOnPush``: ``scanOnPush`` of every repository set to
    ``scan_on_push`` (a settings event for each one changed); how many changed."""
    differs = t.repositories.c.scan_on_push != scan_on_push
    async with db.write() as conn:
        found = select(t.repositories.c.id, t.repositories.c.name).where(differs)
        rows = list(await conn.execute(found))
        if rows:
            await conn.execute(
                update(t.repositories)
                .where(t.repositories.c.id.in_([r.id for r in rows]))
                .values(scan_on_push=scan_on_push)
            )
        for row in rows:
            request_memo.forget(_memo_key(row.name))
            await events.record(
                conn,
                events.REPO_SETTINGS_CHANGE,
                repository=row.name,
                repository_id=row.id,
                actor=actor,
                details={"scanOnPush": scan_on_push},
            )
    return len(rows)


async def remove(db: Database, name: str, actor: str | None = None) -> None:
    """Delete the repository and everything it names; bytes go to garbage collection."""
    request_memo.forget(_memo_key(name))
    async with db.write() as conn:
        repo = await find(conn, name)
        if repo is None:
            raise NoSuchRepository(detail={"name": name})
        await conn.execute(delete(t.tags).where(t.tags.c.repository_id == repo.id))
        await conn.execute(delete(t.manifests).where(t.manifests.c.repository_id == repo.id))
        await conn.execute(delete(t.uploads).where(t.uploads.c.repository == name))
        await conn.execute(
            delete(t.repository_blobs).where(t.repository_blobs.c.repository_id == repo.id)
        )
        # Its webhooks go with it (those bound by id cascade; one made before the repository
        # existed is bound by name), so a repository made again under the name starts bare.
        await conn.execute(delete(t.webhooks).where(t.webhooks.c.key == name))
        # Its Docker Content Trust data (every GUN naming it) and the server's keys for it.
        await conn.execute(delete(trust_metadata).where(trust_metadata.c.repository == name))
        await conn.execute(delete(trust_keys).where(trust_keys.c.repository == name))
        await conn.execute(delete(t.repositories).where(t.repositories.c.id == repo.id))
        # The history stays (administrators see it) but no longer points at an id that a new
        # repository could reuse.
        await conn.execute(
            update(t.events).where(t.events.c.repository_id == repo.id).values(repository_id=None)
        )
        await events.record(
            conn, events.REPO_DELETE, repository=name, repository_id=None, actor=actor
        )


async def names_in(db: Database, namespace: str) -> list[str]:
    """Every repository of ``namespace``, by name."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(t.repositories.c.name)
            .where(t.repositories.c.namespace == namespace)
            .order_by(t.repositories.c.name)
        )
        return [r.name for r in rows]


async def page(
    db: Database,
    *,
    visible: ColumnElement[bool],
    namespace: str | None,
    start: str | None,
    limit: int,
) -> tuple[list[RepositoryDetails], str | None]:
    """Repositories the caller may see, ordered by name; and where the next page starts."""
    query = select(*_DETAIL_COLUMNS).where(visible)
    if namespace is not None:
        query = query.where(t.repositories.c.namespace == namespace)
    if start:
        query = query.where(t.repositories.c.name >= start)
    query = query.order_by(t.repositories.c.name).limit(limit + 1)
    async with db.read() as conn:
        rows = [_details(r) for r in await conn.execute(query)]
    nxt = rows[limit].name if len(rows) > limit else None
    return rows[:limit], nxt


async def page_before(
    db: Database, *, visible: ColumnElement[bool], before: str, limit: int
) -> list[RepositoryDetails]:
    """The ``limit`` visible repositories just before ``before`` by name (a "previous" page),
    in name order."""
    query = (
        select(*_DETAIL_COLUMNS)
        .where(and_(visible, t.repositories.c.name < before))
        .order_by(t.repositories.c.name.desc())
        .limit(limit)
    )
    async with db.read() as conn:
        rows = [_details(r) for r in await conn.execute(query)]
    return rows[::-1]


async def count(
    db: Database,
    *,
    visible: ColumnElement[bool],
    before: str | None = None,
    namespace: str | None = None,
) -> int:
    """How many repositories the caller may see (those named before ``before`` when given; in
    ``namespace`` when given)."""
    condition = visible if before is None else and_(visible, t.repositories.c.name < before)
    if namespace is not None:
        condition = and_(condition, t.repositories.c.namespace == namespace)
    query = select(func.count()).select_from(t.repositories).where(condition)
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def by_ids(db: Database, ids: list[int]) -> dict[int, RepositoryDetails]:
    if not ids:
        return {}
    async with db.read() as conn:
        rows = await conn.execute(select(*_DETAIL_COLUMNS).where(t.repositories.c.id.in_(ids)))
        return {r.id: _details(r) for r in rows}
