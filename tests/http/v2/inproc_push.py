"""Async pushes against the in-process app (``tests/inprocess.py``): blobs, images, accounts."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

from tests.http.v2.helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, digest_of

PASSWORD = "correct-horse-battery"


async def push_blob(client: httpx.AsyncClient, repo: str, data: bytes) -> str:
    """A monolithic ``POST ?digest=``; returns the digest."""
    digest = digest_of(data)
    r = await client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


async def image(client: httpx.AsyncClient, repo: str, *, note: str | None = None) -> bytes:
    """Push a config and one random layer; return the (unpushed) OCI manifest bytes."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "note": note}).encode()
    layer = os.urandom(64)
    await push_blob(client, repo, config)
    await push_blob(client, repo, layer)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer)],
    }
    return json.dumps(doc).encode()


async def put_manifest(
    client: httpx.AsyncClient,
    repo: str,
    reference: str,
    body: bytes,
    media_type: str = OCI_MANIFEST,
    **kw: Any,
) -> httpx.Response:
    return await client.put(
        f"/v2/{repo}/manifests/{reference}",
        content=body,
        headers={"Content-Type": media_type},
        **kw,
    )


async def push_image(client: httpx.AsyncClient, repo: str, tag: str) -> tuple[str, bytes]:
    """Push an image under ``tag``; returns its digest and manifest bytes."""
    body = await image(client, repo, note=tag)
    r = await put_manifest(client, repo, tag, body)
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"], body


async def create_user(admin: httpx.AsyncClient, name: str) -> tuple[str, str]:
    r = await admin.post("/enzi/v0/accounts", json={"name": name, "password": PASSWORD})
    assert r.status_code < 300, r.text
    return name, PASSWORD


async def create_repository(
    client: httpx.AsyncClient, namespace: str, name: str, **fields: Any
) -> str:
    r = await client.post(
        f"/api/v0/repositories/{namespace}", json={"name": name, "visibility": "private", **fields}
    )
    assert r.status_code == 201, r.text
    return f"{namespace}/{name}"


def oci_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the OCI error envelope with ``status`` and ``code``; returns the error."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    first: dict[str, Any] = response.json()["errors"][0]
    assert first["code"] == code, first
    assert first["message"], first
    return first
