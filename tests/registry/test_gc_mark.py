"""GC's mark phase in SQL (``moorage.registry.gc_mark``): the database's live set follows deep
chains of indexes and referrers, stops on cycles, keeps or collects untagged manifests as the
option says, pages its candidates, and chooses the same candidates as the Python closure it
replaced (kept below as the oracle) on random repository graphs."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from moorage.db import tables as t
from moorage.db.engine import Connection, as_utc, utcnow
from moorage.registry import gc, gc_mark
from moorage.registry.context import RegistryContext
from moorage.registry.gc_report import GcReport
from moorage.storage.filesystem import FilesystemDriver
from tests.jobs.helpers import registry_context

OLD = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COLLECT = gc.GcOptions(grace=dt.timedelta(hours=1), collect_untagged=True)
KEEP = gc.GcOptions(grace=dt.timedelta(hours=1), collect_untagged=False)


@pytest.fixture()
async def ctx(
    db_kind: str, database_factory: Callable[[], str | None], tmp_path: Path
) -> AsyncIterator[RegistryContext]:
    storage = FilesystemDriver(tmp_path / "storage", fsync=False)
    async with registry_context(database_factory(), tmp_path, storage) as ctx:
        yield ctx


class Graph:
    """Manifest rows written straight into the tables, by name."""

    def __init__(self, ctx: RegistryContext) -> None:
        self.ctx = ctx
        self.ids: dict[str, int] = {}
        self.repos: dict[str, int] = {}

    async def repo(self, conn: Connection, name: str) -> int:
        if name not in self.repos:
            result = await conn.execute(
                t.repositories.insert()
                .values(name=name, namespace=name.split("/")[0], created_at=OLD)
                .returning(t.repositories.c.id)
            )
            self.repos[name] = int(result.scalar_one())
        return self.repos[name]

    async def add(
        self,
        name: str,
        *,
        repo: str = "ns/app",
        digest: str | None = None,
        subject: str | None = None,
        children: Iterable[str] = (),
        tag: str | None = None,
        created: dt.datetime = OLD,
    ) -> int:
        digest = digest or f"sha256:{name}"
        async with self.ctx.db.write() as conn:
            repository_id = await self.repo(conn, repo)
            result = await conn.execute(
                t.manifests.insert()
                .values(
                    repository_id=repository_id,
                    digest=digest,
                    media_type="application/vnd.oci.image.manifest.v1+json",
                    subject_digest=subject,
                    size=2,
                    payload=b"{}",
                    created_at=created,
                )
                .returning(t.manifests.c.id)
            )
            mid = int(result.scalar_one())
            for position, child in enumerate(children):
                await conn.execute(
                    t.manifest_references.insert().values(
                        parent_id=mid,
                        position=position,
                        child_digest=child,
                        child_kind="manifest",
                        media_type="application/vnd.oci.image.manifest.v1+json",
                        size=2,
                    )
                )
            # A layer reference: blob rows are never edges.
            await conn.execute(
                t.manifest_references.insert().values(
                    parent_id=mid,
                    position=1000,
                    child_digest=f"sha256:layer-{name}",
                    child_kind="blob",
                    media_type="application/vnd.oci.image.layer.v1.tar",
                    size=2,
                )
            )
            if tag is not None:
                await conn.execute(
                    t.tags.insert().values(
                        repository_id=repository_id, name=tag, manifest_id=mid, updated_at=OLD
                    )
                )
        self.ids[name] = mid
        return mid

    def names(self, ids: Iterable[int]) -> set[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[i] for i in ids}


async def all_candidates(
    ctx: RegistryContext, options: gc.GcOptions, *, limit: int = 1000
) -> list[int]:
    cutoff = utcnow() - options.grace
    found: list[int] = []
    after = 0
    while True:
        async with ctx.db.read() as conn:
            page = await gc_mark.candidates(
                conn,
                keep_untagged=not options.collect_untagged,
                cutoff=cutoff,
                after=after,
                limit=limit,
            )
        assert len(page) <= limit
        if not page:
            return found
        found.extend(int(r.id) for r in page)
        after = found[-1]


async def remaining(ctx: RegistryContext) -> set[int]:
    async with ctx.db.read() as conn:
        return {int(r.id) for r in await conn.execute(select(t.manifests.c.id))}


async def test_deep_chains_are_live(ctx: RegistryContext) -> None:
    g = Graph(ctx)
    await g.add("image")
    await g.add("inner", children=["sha256:image"])
    await g.add("outer", children=["sha256:inner"], tag="v1")
    await g.add("sig", subject="sha256:outer")
    await g.add("sig-of-sig", subject="sha256:sig")
    await g.add("sbom-of-child", subject="sha256:image")
    await g.add("att-of-sbom", subject="sha256:sbom-of-child")
    await g.add("loose")
    await g.add("loose-index", children=["sha256:loose"])
    await g.add("sig-of-loose", subject="sha256:loose")
    # Same digests in another repository are not edges: matching is within a repository.
    await g.add("other-image", repo="ns/other", digest="sha256:stray")
    await g.add("stray-sig", subject="sha256:image", repo="ns/other")

    got = g.names(await all_candidates(ctx, COLLECT))
    assert got == {"loose", "loose-index", "sig-of-loose", "other-image", "stray-sig"}
    report = await gc.collect(ctx, COLLECT)
    assert report.manifests_examined == 12
    assert report.manifests_in_use == 7
    assert report.manifests_untagged_kept == 0
    # "loose" is still listed by "loose-index" when its turn comes (the re-check): next run.
    assert report.manifests_deleted == 4
    assert (await gc.collect(ctx, COLLECT)).manifests_deleted == 1
    assert await remaining(ctx) == {
        g.ids[n]
        for n in ("image", "inner", "outer", "sig", "sig-of-sig", "sbom-of-child", "att-of-sbom")
    }


async def test_a_cycle_of_references_ends(ctx: RegistryContext) -> None:
    g = Graph(ctx)
    await g.add("a", children=["sha256:b"], tag="v1")
    await g.add("b", children=["sha256:c", "sha256:a"])
    await g.add("c", children=["sha256:a"], subject="sha256:b")
    await g.add("x", children=["sha256:y"])  # an untagged cycle, with referrers of each other
    await g.add("y", children=["sha256:x"], subject="sha256:x")
    await g.add("z", subject="sha256:z")  # its own subject
    got = await asyncio.wait_for(all_candidates(ctx, COLLECT), 30)
    assert g.names(got) == {"x", "y", "z"}
    report = await asyncio.wait_for(gc.collect(ctx, COLLECT), 60)
    assert report.manifests_in_use == 3
    # x and y list each other, so the deleting transaction's re-check keeps both (as it did
    # before the mark moved to SQL); z goes.
    assert report.manifests_deleted == 1
    assert g.names(await remaining(ctx)) == {"a", "b", "c", "x", "y"}
    g2 = Graph(ctx)
    await g2.add("x2", children=["sha256:y2"], repo="ns/two")
    await g2.add("y2", children=["sha256:x2"], subject="sha256:x2", repo="ns/two")
    await g2.add("z2", subject="sha256:z2", repo="ns/two")
    # Untagged kept: x, x2 (not referrers) are seeds and keep y, y2; z2 refers to itself only.
    assert g2.names(await asyncio.wait_for(all_candidates(ctx, KEEP), 30)) == {"z2"}


async def test_untagged_kept_or_collected(ctx: RegistryContext) -> None:
    g = Graph(ctx)
    await g.add("tagged", tag="v1")
    await g.add("untagged")
    await g.add("sig-of-untagged", subject="sha256:untagged")
    await g.add("orphan-sig", subject="sha256:gone")
    await g.add("sig-of-orphan", subject="sha256:orphan-sig")
    await g.add("young", created=utcnow())
    await g.add("young-orphan", subject="sha256:gone-too", created=utcnow())

    dry = await gc.collect(ctx, gc.GcOptions(grace=KEEP.grace, dry_run=True))
    assert (dry.manifests_in_use, dry.manifests_untagged_kept) == (1, 3)
    assert (dry.manifests_deleted, dry.manifests_young) == (2, 1)
    assert len(await remaining(ctx)) == 7

    kept = await gc.collect(ctx, KEEP)
    assert kept.manifests_deleted == 2
    assert g.names(await remaining(ctx)) == {
        "tagged",
        "untagged",
        "sig-of-untagged",
        "young",
        "young-orphan",
    }

    collected = await gc.collect(ctx, COLLECT)
    assert (collected.manifests_in_use, collected.manifests_untagged_kept) == (1, 0)
    assert (collected.manifests_deleted, collected.manifests_young) == (2, 2)
    assert g.names(await remaining(ctx)) == {"tagged", "young", "young-orphan"}


async def test_many_manifests_in_several_batches(ctx: RegistryContext) -> None:
    g = Graph(ctx)
    for i in range(23):
        await g.add(f"m{i}", tag="keep" if i == 7 else None)
    assert len(await all_candidates(ctx, COLLECT, limit=4)) == 22

    messages: list[str] = []

    async def progress(message: str, _report: GcReport) -> None:
        messages.append(message)

    small = gc.GcOptions(grace=COLLECT.grace, collect_untagged=True, batch=2, mark_batch=5)

    def stop_after_four_writes() -> bool:
        return sum(m.startswith("manifests:") for m in messages) >= 4

    stopped = await gc.collect(ctx, small, progress=progress, should_stop=stop_after_four_writes)
    assert stopped.stopped
    assert stopped.manifests_deleted == 7  # a page of 5 (three writes), then one write of 2
    assert len(await remaining(ctx)) == 16

    messages.clear()
    report = await gc.collect(ctx, small, progress=progress)
    assert not report.stopped
    assert report.manifests_deleted == 15
    assert sum(m.startswith("manifests:") for m in messages) == 9
    assert await remaining(ctx) == {g.ids["m7"]}


# ---- the oracle: the Python closure this mark replaced ---------------------------------------


def python_mark(
    rows: list[Any], tagged: set[int], children: list[Any], collect_untagged: bool, cutoff: Any
) -> tuple[set[int], int, int, int]:
    """(candidate ids, in use, untagged kept, young), as ``gc._manifests`` computed them."""
    by_key = {(r.repository_id, r.digest): r for r in rows}
    by_id = {r.id: r for r in rows}
    kids: dict[int, list[str]] = {}
    for c in children:
        kids.setdefault(c.parent_id, []).append(c.child_digest)
    referrers: dict[tuple[int, str], list[int]] = {}
    for r in rows:
        if r.subject_digest:
            referrers.setdefault((r.repository_id, r.subject_digest), []).append(r.id)

    def closure(seeds: list[int]) -> set[int]:
        live: set[int] = set()
        todo = list(seeds)
        while todo:
            mid = todo.pop()
            if mid in live or mid not in by_id:
                continue
            live.add(mid)
            row = by_id[mid]
            for digest in kids.get(mid, ()):
                child = by_key.get((row.repository_id, digest))
                if child is not None and child.id not in live:
                    todo.append(child.id)
            todo.extend(
                x for x in referrers.get((row.repository_id, row.digest), ()) if x not in live
            )
        return live

    in_use = closure([r.id for r in rows if r.id in tagged])
    live = in_use
    if not collect_untagged:
        live = in_use | closure([r.id for r in rows if not r.subject_digest])
    old = {r.id for r in rows if r.id not in live and r.created_at < cutoff}
    young = sum(1 for r in rows if r.id not in live) - len(old)
    return old, len(in_use), len(live) - len(in_use), young


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_same_candidates_as_the_python_closure(ctx: RegistryContext, seed: int) -> None:
    rnd = random.Random(seed)
    g = Graph(ctx)
    now = utcnow()
    pool = [f"d{i}" for i in range(50)]  # digests shared between repositories
    for i in range(120):
        repo = rnd.choice(["ns/a", "ns/b", "ns/c"])
        digest = f"sha256:{pool[i % len(pool)]}-{i // len(pool)}" if rnd.random() < 0.7 else None
        kids = [f"sha256:{rnd.choice(pool)}-{rnd.randint(0, 2)}" for _ in range(rnd.randint(0, 3))]
        subject = None
        if rnd.random() < 0.4:
            subject = f"sha256:{rnd.choice(pool)}-{rnd.randint(0, 2)}"
        await g.add(
            f"m{i}",
            repo=repo,
            digest=digest,
            subject=subject,
            children=kids if rnd.random() < 0.3 else (),
            tag=f"t{i}" if rnd.random() < 0.15 else None,
            created=now if rnd.random() < 0.1 else OLD,
        )
    m, tg, mr = t.manifests, t.tags, t.manifest_references
    async with ctx.db.read() as conn:
        read = list(
            await conn.execute(
                select(m.c.id, m.c.repository_id, m.c.digest, m.c.subject_digest, m.c.created_at)
            )
        )
        tagged = {int(r.manifest_id) for r in await conn.execute(select(tg.c.manifest_id))}
        children = list(
            await conn.execute(
                select(mr.c.parent_id, mr.c.child_digest).where(mr.c.child_kind == "manifest")
            )
        )
    rows: list[Any] = [
        SimpleNamespace(**{**r._asdict(), "created_at": as_utc(r.created_at)}) for r in read
    ]
    for options in (COLLECT, KEEP):
        cutoff = utcnow() - options.grace
        want, in_use, kept, young = python_mark(
            rows, tagged, children, options.collect_untagged, cutoff
        )
        assert set(await all_candidates(ctx, options, limit=7)) == want
        async with ctx.db.read() as conn:
            counts = await gc_mark.count(
                conn, keep_untagged=not options.collect_untagged, cutoff=cutoff
            )
        assert counts == gc_mark.MarkCounts(
            examined=len(rows),
            in_use=in_use,
            live=in_use + kept,
            candidates=len(want),
            young=young,
        )
