"""Images with real-looking configs (history, labels, platforms) pushed through /v2."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.auth.world import digest_of

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

Auth = httpx.Auth | tuple[str, str] | None

HISTORY = [
    {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
    {"created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
    {"created_by": "RUN apk add --no-cache curl # buildkit", "comment": "buildkit.dockerfile.v0"},
    {"created_by": 'LABEL org.example.team="blue"', "empty_layer": True},
]


@dataclass
class Pushed:
    digest: str
    config: dict[str, Any]
    layers: list[tuple[str, int]]
    manifest: bytes


def _blob(client: httpx.Client, repo: str, data: bytes, auth: Auth) -> str:
    digest = digest_of(data)
    r = client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data, auth=auth
    )
    assert r.status_code == 201, (r.status_code, r.text)
    return digest


def push_image(
    client: httpx.Client, repo: str, tag: str, auth: Auth, *, arch: str = "amd64"
) -> Pushed:
    """A two-layer image whose config has four history lines (two of them empty layers)."""
    layers = [uuid.uuid4().bytes * 32, uuid.uuid4().bytes * 48]
    layer_digests = [(_blob(client, repo, layer, auth), len(layer)) for layer in layers]
    config = {
        "architecture": arch,
        "os": "linux",
        "author": "someone@example.com",
        "config": {"Labels": {"org.example.team": "blue"}},
        "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layer_digests]},
        "history": HISTORY,
    }
    raw_config = json.dumps(config).encode()
    config_digest = _blob(client, repo, raw_config, auth)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(raw_config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": n} for d, n in layer_digests],
        }
    ).encode()
    r = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
        auth=auth,
    )
    assert r.status_code == 201, (r.status_code, r.text)
    return Pushed(digest_of(manifest), config, layer_digests, manifest)


def push_index(client: httpx.Client, repo: str, tag: str, auth: Auth) -> tuple[str, list[Pushed]]:
    """A manifest list of linux/amd64 and linux/arm64 images (pushed by digest first)."""
    children = [
        push_image(client, repo, f"tmp-{arch}", auth, arch=arch) for arch in ("amd64", "arm64")
    ]
    for arch in ("amd64", "arm64"):
        r = client.delete(f"/v2/{repo}/manifests/tmp-{arch}", auth=auth)
        assert r.status_code == 202, r.text
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child.digest,
                    "size": len(child.manifest),
                    "platform": {"os": "linux", "architecture": child.config["architecture"]},
                }
                for child in children
            ],
        }
    ).encode()
    r = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=index,
        headers={"Content-Type": OCI_INDEX},
        auth=auth,
    )
    assert r.status_code == 201, (r.status_code, r.text)
    return digest_of(index), children


def pages(
    client: httpx.Client, path: str, auth: Auth, key: str | None = None, **params: Any
) -> list[Any]:
    """Every entry of a DTR-paged list, following X-Next-Page-Start (bounded)."""
    out: list[Any] = []
    start: str | None = None
    for _ in range(200):
        query = dict(params)
        if start:
            query["pageStart"] = start
        r = client.get(path, params=query, auth=auth)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        out.extend(body[key] if key else body)
        start = r.headers.get("X-Next-Page-Start")
        if not start:
            return out
    raise AssertionError("paging did not end")
