"""``PUT /v2/<name>/manifests/<digest>?tag=a&tag=b`` (distribution spec, main branch): the tags
are set with the manifest, all or none, and each accepted one comes back in ``OCI-Tag``."""

from __future__ import annotations

import httpx

from tests.http.v2.helpers import OCI_MANIFEST, descriptor
from tests.http.v2.inproc_push import create_repository, image, oci_error, push_image, put_manifest
from tests.inprocess import InProcessApp


def _oci_tags(response: httpx.Response) -> list[str]:
    """Every tag named in the OCI-Tag header lines (RFC 9110: lines or commas, the same)."""
    values = response.headers.get_list("oci-tag")
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


async def test_push_by_digest_with_tags(inproc: InProcessApp) -> None:
    repo = "admin/tag-params"
    async with inproc.client() as c:
        body = await image(c, repo)
        digest = descriptor(OCI_MANIFEST, body)["digest"]
        tags = ["1.2.3", "1.2", "1", "latest"]
        r = await put_manifest(c, repo, digest, body, params=[("tag", tag) for tag in tags])
        assert r.status_code == 201, r.text
        assert r.headers["Docker-Content-Digest"] == digest
        assert r.headers["Location"] == f"/v2/{repo}/manifests/{digest}"
        assert _oci_tags(r) == tags
        listed = (await c.get(f"/v2/{repo}/tags/list")).json()["tags"]
        assert sorted(listed) == sorted(tags)
        for tag in tags:
            got = await c.get(f"/v2/{repo}/manifests/{tag}")
            assert got.status_code == 200 and got.content == body
        # Again with the same tags and one more: accepted, the tags reported again.
        r = await put_manifest(c, repo, digest, body, params=[("tag", "1"), ("tag", "stable")])
        assert r.status_code == 201, r.text
        assert _oci_tags(r) == ["1", "stable"]
        # Without tag parameters: no OCI-Tag header.
        r = await put_manifest(c, repo, digest, body)
        assert r.status_code == 201 and "oci-tag" not in r.headers


async def test_an_invalid_tag_parameter_sets_no_tag(inproc: InProcessApp) -> None:
    repo = "admin/tag-params-invalid"
    async with inproc.client() as c:
        body = await image(c, repo)
        digest = descriptor(OCI_MANIFEST, body)["digest"]
        r = await put_manifest(c, repo, digest, body, params=[("tag", "good"), ("tag", "-bad")])
        oci_error(r, 400, "TAG_INVALID")
        assert (await c.get(f"/v2/{repo}/manifests/{digest}")).status_code == 404
        listed = await c.get(f"/v2/{repo}/tags/list")
        assert listed.status_code == 404 or listed.json()["tags"] == []


async def test_too_many_tag_parameters(inproc: InProcessApp) -> None:
    repo = "admin/tag-params-many"
    async with inproc.client() as c:
        body = await image(c, repo)
        digest = descriptor(OCI_MANIFEST, body)["digest"]
        r = await put_manifest(c, repo, digest, body, params=[("tag", f"t{i}") for i in range(101)])
        oci_error(r, 414, "TAG_INVALID")
        r = await put_manifest(c, repo, digest, body, params=[("tag", f"t{i}") for i in range(100)])
        assert r.status_code == 201 and len(_oci_tags(r)) == 100


async def test_tag_parameters_respect_immutable_tags_all_or_none(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        repo = await create_repository(c, "admin", "tag-params-imm", immutableTags=True)
        _, first_body = await push_image(c, repo, "v1")
        body = await image(c, repo, note="second")
        digest = descriptor(OCI_MANIFEST, body)["digest"]
        r = await put_manifest(c, repo, digest, body, params=[("tag", "v2"), ("tag", "v1")])
        oci_error(r, 403, "DENIED")
        assert (await c.get(f"/v2/{repo}/manifests/v1")).content == first_body
        assert (await c.get(f"/v2/{repo}/manifests/v2")).status_code == 404
        assert (await c.get(f"/v2/{repo}/tags/list")).json()["tags"] == ["v1"]
