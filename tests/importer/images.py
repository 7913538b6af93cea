"""Images pushed over /v2 with a synchronous client (the source registry of an import)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, repo: str, data: bytes) -> dict[str, Any]:
    """A monolithic upload (POST with the body, or POST then PUT where the registry opens an
    upload instead: CNCF distribution); returns the blob's descriptor (no media type)."""
    digest = digest_of(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    if r.status_code == 202:
        location = httpx.URL(r.headers["Location"]).copy_merge_params({"digest": digest})
        r = client.put(str(location), content=data)
    assert r.status_code == 201, r.text
    return {"digest": digest_of(data), "size": len(data)}


def push_manifest(
    client: httpx.Client, repo: str, reference: str, doc: dict[str, Any], media_type: str
) -> str:
    data = json.dumps(doc).encode()
    r = client.put(
        f"/v2/{repo}/manifests/{reference}", content=data, headers={"Content-Type": media_type}
    )
    assert r.status_code == 201, r.text
    return digest_of(data)


def image_manifest(
    client: httpx.Client, repo: str, *, arch: str = "amd64", layers: list[bytes] | None = None
) -> dict[str, Any]:
    """Push a config and layers (a random one unless given); the manifest, not pushed."""
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers"}})
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **push_blob(client, repo, config.encode())},
        "layers": [
            {"mediaType": OCI_LAYER, **push_blob(client, repo, layer)}
            for layer in (layers or [os.urandom(2048)])
        ],
    }


def push_image(client: httpx.Client, repo: str, tag: str, **kw: Any) -> str:
    return push_manifest(client, repo, tag, image_manifest(client, repo, **kw), OCI_MANIFEST)


def push_index(client: httpx.Client, repo: str, tag: str) -> str:
    """A two-platform OCI index; its children pushed by digest first."""
    children = []
    for arch in ("amd64", "arm64"):
        doc = image_manifest(client, repo, arch=arch)
        data = json.dumps(doc).encode()
        push_manifest(client, repo, digest_of(data), doc, OCI_MANIFEST)
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest_of(data),
                "size": len(data),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    return push_manifest(client, repo, tag, index, OCI_INDEX)


def push_referrer(client: httpx.Client, repo: str, subject: str) -> str:
    """An artifact (a signature, say) whose ``subject`` is the manifest ``subject``, pushed by
    digest only (no tag): found through the referrers API."""
    r = client.get(f"/v2/{repo}/manifests/{subject}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text
    empty = push_blob(client, repo, b"{}")
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", **empty},
        "layers": [
            {"mediaType": "application/octet-stream", **push_blob(client, repo, os.urandom(99))}
        ],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(r.content)},
    }
    data = json.dumps(doc).encode()
    return push_manifest(client, repo, digest_of(data), doc, OCI_MANIFEST)
