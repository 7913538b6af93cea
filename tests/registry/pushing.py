"""Small OCI push helpers over httpx for the registry tests (no client tool needed)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, name: str, data: bytes) -> str:
    """Monolithic push (POST ?digest=); returns the digest."""
    digest = sha256(data)
    r = client.post(
        f"/v2/{name}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    return digest


def start_upload(client: httpx.Client, name: str) -> str:
    r = client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202, r.text
    return str(r.headers["Location"])


def patch_chunk(client: httpx.Client, location: str, chunk: bytes, start: int) -> httpx.Response:
    return client.patch(
        location,
        content=chunk,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(chunk) - 1}",
        },
    )


def manifest_for(config: bytes, layers: list[bytes], **extra: Any) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}
            for layer in layers
        ],
        **extra,
    }
    return json.dumps(doc, indent=1).encode()


def put_manifest(client: httpx.Client, name: str, reference: str, body: bytes) -> str:
    r = client.put(
        f"/v2/{name}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == sha256(body)
    return sha256(body)


def push_image(
    client: httpx.Client, name: str, tag: str, config: bytes, layers: list[bytes]
) -> tuple[str, bytes]:
    """Push blobs then the manifest under ``tag``; returns (manifest digest, manifest bytes)."""
    for blob in (config, *layers):
        push_blob(client, name, blob)
    body = manifest_for(config, layers)
    return put_manifest(client, name, tag, body), body
