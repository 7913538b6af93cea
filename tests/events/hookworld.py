"""Helpers for the in-process webhook tests: an async image push, hooks, waiting on deliveries."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LOOPBACK_ALLOWED = {"createRepositoryOnPush": True, "webhookAllowedNetworks": ["127.0.0.1/32"]}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push_image(client: httpx.AsyncClient, repo: str, tag: str) -> str:
    """Push a one-layer image with ``client``'s credentials; returns the manifest digest."""
    layer = uuid.uuid4().bytes * 64
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    for blob in (layer, config):
        r = await client.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": _digest(blob)}, content=blob
        )
        assert r.status_code == 201, r.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = await client.put(
        f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    return _digest(manifest)


async def make_hook(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v0/webhooks", json=body)
    assert r.status_code == 201, r.text
    found: dict[str, Any] = r.json()
    return found


async def deliveries(client: httpx.AsyncClient, hook_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v0/webhooks/{hook_id}/deliveries")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


async def wait_delivery(
    client: httpx.AsyncClient, hook_id: str, statuses: set[str], seconds: float = 60.0
) -> dict[str, Any]:
    """The newest delivery of the hook, once its status is one of ``statuses``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await deliveries(client, hook_id)
        if found and found[0]["status"] in statuses:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no delivery became {statuses}: {await deliveries(client, hook_id)}")


async def wait_attempts(
    client: httpx.AsyncClient, hook_id: str, count: int, seconds: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await deliveries(client, hook_id)
        if found and len(found[0]["history"]) >= count:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} attempts: {await deliveries(client, hook_id)}")
