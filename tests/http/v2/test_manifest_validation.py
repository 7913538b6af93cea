"""Malformed manifests get 400 MANIFEST_INVALID on /v2 (never a 500) and store nothing."""

from __future__ import annotations

import json

import pytest

from tests.http.v2.helpers import OCI_INDEX, OCI_MANIFEST
from tests.http.v2.inproc_push import image, oci_error, put_manifest
from tests.inprocess import InProcessApp


def _nested(depth: int) -> bytes:
    return b'{"schemaVersion": 2, "a": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [1000, 200_000])
async def test_deeply_nested_manifest(inproc: InProcessApp, depth: int) -> None:
    async with inproc.client() as c:
        r = await put_manifest(c, "admin/deep", "latest", _nested(depth))
        error = oci_error(r, 400, "MANIFEST_INVALID")
        assert "deeper" in error["message"], error


async def test_ambiguous_manifests_are_refused(inproc: InProcessApp) -> None:
    repo = "admin/ambiguous"
    async with inproc.client() as c:
        doc = json.loads(await image(c, repo))
        child = {"mediaType": OCI_MANIFEST, "digest": doc["config"]["digest"], "size": 2}
        cases = [
            (json.dumps({**doc, "manifests": [child]}).encode(), OCI_MANIFEST, "manifests"),
            (
                json.dumps(
                    {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "layers": []}
                ).encode(),
                OCI_INDEX,
                "layers",
            ),
            (json.dumps(doc)[:-1].encode() + b', "schemaVersion": 2}', OCI_MANIFEST, "repeats"),
        ]
        for body, media_type, said in cases:
            error = oci_error(
                await put_manifest(c, repo, "t", body, media_type), 400, "MANIFEST_INVALID"
            )
            assert said in error["message"], error
        assert (await c.get(f"/v2/{repo}/tags/list")).json()["tags"] == []
        # The same image without the stray field is accepted.
        assert (await put_manifest(c, repo, "t", json.dumps(doc).encode())).status_code == 201
