"""Pushing and deleting a small image through the in-process app, for the GC tests."""

from __future__ import annotations

import hashlib
import json
import os
import re

import httpx

from tests.inprocess import InProcessApp

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push_blob(c: httpx.AsyncClient, repo: str, data: bytes) -> str:
    digest = sha256(data)
    r = await c.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


async def push_and_delete(c: httpx.AsyncClient, repo: str, layer_size: int) -> list[str]:
    """An image pushed under ``v1`` then deleted by digest; returns its blobs' digests."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()})
    layer = os.urandom(layer_size)
    blobs = [await push_blob(c, repo, config.encode()), await push_blob(c, repo, layer)]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": blobs[0],
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": blobs[1],
                    "size": layer_size,
                }
            ],
        }
    ).encode()
    r = await c.put(
        f"/v2/{repo}/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    digest = r.headers["Docker-Content-Digest"]
    r = await c.delete(f"/v2/{repo}/manifests/{digest}")
    assert r.status_code == 202, r.text
    return [*blobs, digest]


async def ui_client(app: InProcessApp, name: str, password: str) -> httpx.AsyncClient:
    """A web UI client (cookies) signed in as ``name``; close it after."""
    client = app.client(auth=None, follow_redirects=False)
    form = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text[:500]
    r = await client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": name, "password": password, "next": "/"},
    )
    assert r.status_code == 303, r.text[:500]
    return client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)
