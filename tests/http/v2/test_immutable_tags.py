"""Immutable tags never move nor go away: not by a manifest delete by digest, a tag delete on /v2
or /api/v0, a push (by tag or with ``?tag=``), tag pruning or online GC."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from sqlalchemy import update

from moorage.db import tables as t
from moorage.db.engine import Database, utcnow
from moorage.registry import gc, pruning, repositories
from moorage.registry.context import RegistryContext
from moorage.storage.filesystem import FilesystemDriver
from tests.http.v2.helpers import OCI_INDEX, OCI_MANIFEST, descriptor
from tests.http.v2.inproc_push import create_repository, image, oci_error, push_image, put_manifest
from tests.inprocess import InProcessApp


async def _immutable_repo(inproc: InProcessApp, short: str) -> str:
    async with inproc.client() as c:
        return await create_repository(c, "admin", short, immutableTags=True)


async def test_delete_by_digest_of_an_immutable_tag_is_refused(inproc: InProcessApp) -> None:
    repo = await _immutable_repo(inproc, "imm-digest")
    async with inproc.client() as c:
        digest, body = await push_image(c, repo, "v1")
        r = await c.delete(f"/v2/{repo}/manifests/{digest}")
        error = oci_error(r, 403, "DENIED")
        assert "immutable" in error["message"] and "v1" in error["message"], error
        # Still there, and the tag cannot be pushed again with other content.
        assert (await c.get(f"/v2/{repo}/manifests/v1")).content == body
        other = await image(c, repo, note="other")
        oci_error(await put_manifest(c, repo, "v1", other), 403, "DENIED")
        assert (await c.get(f"/v2/{repo}/manifests/v1")).content == body
        # A tag delete (on /v2 and on /api/v0) is refused too.
        oci_error(await c.delete(f"/v2/{repo}/manifests/v1"), 403, "DENIED")
        api = await c.delete(f"/api/v0/repositories/{repo}/tags/v1")
        assert api.status_code == 403, api.text
        assert api.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
        assert "immutable" in api.json()["errors"][0]["message"]
        assert (await c.get(f"/v2/{repo}/tags/list")).json()["tags"] == ["v1"]


async def test_delete_of_a_child_of_an_immutable_tagged_index_is_refused(
    inproc: InProcessApp,
) -> None:
    repo = await _immutable_repo(inproc, "imm-index")
    async with inproc.client() as c:
        child = await image(c, repo, note="child")
        r = await put_manifest(c, repo, descriptor(OCI_MANIFEST, child)["digest"], child)
        assert r.status_code == 201, r.text
        child_digest = r.headers["Docker-Content-Digest"]
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [descriptor(OCI_MANIFEST, child)],
            }
        ).encode()
        assert (await put_manifest(c, repo, "multi", index, OCI_INDEX)).status_code == 201
        error = oci_error(await c.delete(f"/v2/{repo}/manifests/{child_digest}"), 403, "DENIED")
        assert "index" in error["message"], error
        assert (await c.get(f"/v2/{repo}/manifests/{child_digest}")).status_code == 200


async def test_untagged_manifests_of_an_immutable_repository_may_be_deleted(
    inproc: InProcessApp,
) -> None:
    repo = await _immutable_repo(inproc, "imm-untagged")
    async with inproc.client() as c:
        body = await image(c, repo, note="untagged")
        digest = descriptor(OCI_MANIFEST, body)["digest"]
        assert (await put_manifest(c, repo, digest, body)).status_code == 201
        assert (await c.delete(f"/v2/{repo}/manifests/{digest}")).status_code == 202


async def test_pruning_and_gc_keep_immutable_tags(inproc: InProcessApp) -> None:
    repo = await _immutable_repo(inproc, "imm-gc")
    async with inproc.client() as c:
        kept = [(await push_image(c, repo, f"v{i}"))[0] for i in range(3)]
        # A tag limit and a policy that would prune every tag.
        r = await c.patch(f"/api/v0/repositories/{repo}", json={"tagLimit": 1})
        assert r.status_code == 200, r.text
        r = await c.post("/api/v0/meta/settings", json={"gcCollectUntaggedManifests": True})
        assert r.status_code == 202, r.text
    db = Database(inproc.settings.database_url)
    try:
        ctx = RegistryContext(db, FilesystemDriver(inproc.settings.storage_root), inproc.settings)
        async with db.read() as conn:
            found = await repositories.find(conn, repo)
        assert found is not None
        rules = pruning.parse_rules([{"field": "tag", "operator": "sw", "values": ["v"]}])
        await pruning.create(db, found.id, True, rules)
        assert await pruning.plan(db, found.id) == []
        assert await pruning.prune(db, found.id) == []
        old = utcnow() - dt.timedelta(days=2)
        async with db.write() as conn:  # everything older than any grace period
            await conn.execute(update(t.manifests).values(created_at=old))
            await conn.execute(update(t.repository_blobs).values(created_at=old))
        report = await gc.collect(ctx, gc.GcOptions(grace=dt.timedelta(0), collect_untagged=True))
        assert report.manifests_deleted == 0, report
    finally:
        await db.close()
    async with inproc.client() as c:
        assert (await c.get(f"/v2/{repo}/tags/list")).json()["tags"] == ["v0", "v1", "v2"]
        for i, digest in enumerate(kept):
            r = await c.get(f"/v2/{repo}/manifests/v{i}")
            assert r.headers["Docker-Content-Digest"] == digest
            layer = json.loads(r.content)["layers"][0]["digest"]
            assert (await c.get(f"/v2/{repo}/blobs/{layer}")).status_code == 200


async def test_concurrent_pushes_of_a_new_immutable_tag(inproc: InProcessApp) -> None:
    """Two pushes racing to create the same tag: one wins, the other is refused, the tag keeps
    the winner's manifest (the tag upsert only updates a row naming the same manifest)."""
    repo = await _immutable_repo(inproc, "imm-race")
    async with inproc.client() as a, inproc.client() as b:
        first, second = await image(a, repo, note="first"), await image(b, repo, note="second")
        for round_ in range(8):
            tag = f"race{round_}"
            answers = await asyncio.gather(
                put_manifest(a, repo, tag, first), put_manifest(b, repo, tag, second)
            )
            statuses = sorted(r.status_code for r in answers)
            assert statuses == [201, 403], [r.text for r in answers]
            winner = first if answers[0].status_code == 201 else second
            assert (await a.get(f"/v2/{repo}/manifests/{tag}")).content == winner
