"""Push a small image to the in-process app (``tests/inprocess.py``) over /v2."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

from tests.http.v2.helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, digest_of


async def push_blob(client: httpx.AsyncClient, repo: str, data: bytes) -> str:
    """A monolithic ``POST ?digest=``; returns the digest."""
    digest = digest_of(data)
    r = await client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


async def manifest_for_new_blobs(
    client: httpx.AsyncClient, repo: str, **extra: Any
) -> dict[str, Any]:
    """Push a config and a random layer; return an OCI manifest (not pushed) naming them."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = os.urandom(64)
    await push_blob(client, repo, config)
    await push_blob(client, repo, layer)
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer)],
        **extra,
    }


async def put_manifest(
    client: httpx.AsyncClient, repo: str, reference: str, doc: dict[str, Any]
) -> httpx.Response:
    return await client.put(
        f"/v2/{repo}/manifests/{reference}",
        content=json.dumps(doc).encode(),
        headers={"Content-Type": OCI_MANIFEST},
    )


async def push_image(client: httpx.AsyncClient, repo: str, tag: str) -> str:
    """Push an image under ``tag``; returns its digest."""
    r = await put_manifest(client, repo, tag, await manifest_for_new_blobs(client, repo))
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"]
