"""Async helpers for in-process tests of the UI and the browsing API: accounts, repositories,
images, indexes and artifacts pushed through the real /v2 API, and a signed-in UI session."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.auth.world import PASSWORD, digest_of
from tests.inprocess import InProcessApp

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')

Auth = tuple[str, str] | None


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


async def ok(r: httpx.Response) -> httpx.Response:
    assert r.status_code < 300, (r.request.method, str(r.request.url), r.status_code, r.text)
    return r


async def user(admin: httpx.AsyncClient, name: str, **extra: Any) -> tuple[str, str]:
    await ok(
        await admin.post("/enzi/v0/accounts", json={"name": name, "password": PASSWORD, **extra})
    )
    return (name, PASSWORD)


async def repository(
    client: httpx.AsyncClient, namespace: str, name: str, visibility: str, auth: Auth = None
) -> None:
    kwargs: dict[str, Any] = {"auth": auth} if auth else {}
    await ok(
        await client.post(
            f"/api/v0/repositories/{namespace}",
            json={"name": name, "visibility": visibility},
            **kwargs,
        )
    )


async def blob(client: httpx.AsyncClient, repo: str, data: bytes) -> str:
    digest = digest_of(data)
    await ok(
        await client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    )
    return digest


async def put_manifest(
    client: httpx.AsyncClient, repo: str, reference: str, doc: dict[str, Any]
) -> str:
    raw = json.dumps(doc).encode()
    await ok(
        await client.put(
            f"/v2/{repo}/manifests/{reference}",
            content=raw,
            headers={"Content-Type": doc["mediaType"]},
        )
    )
    return digest_of(raw)


async def image(
    client: httpx.AsyncClient,
    repo: str,
    reference: str,
    *,
    arch: str = "amd64",
    config: dict[str, Any] | None = None,
) -> str:
    """A one-layer image; ``config`` goes into the image config's ``config`` object."""
    layer = uuid.uuid4().bytes * 8
    layer_digest = await blob(client, repo, layer)
    raw_config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": config or {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created_by": "ADD file:abc in /"}],
        }
    ).encode()
    config_digest = await blob(client, repo, raw_config)
    return await put_manifest(
        client,
        repo,
        reference,
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(raw_config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        },
    )


async def index(
    client: httpx.AsyncClient, repo: str, tag: str, children: list[tuple[str, str]]
) -> str:
    """An OCI index of ``children`` (digest, architecture), each already in ``repo``."""
    manifests = []
    for digest, arch in children:
        r = await ok(await client.get(f"/v2/{repo}/manifests/{digest}"))
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(r.content),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    return await put_manifest(
        client, repo, tag, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    )


async def artifact(
    client: httpx.AsyncClient,
    repo: str,
    reference: str,
    subject: str,
    artifact_type: str = "application/vnd.example.sbom.v1+json",
) -> str:
    """An OCI artifact (empty config, one file) whose subject is the manifest ``subject``."""
    r = await ok(await client.get(f"/v2/{repo}/manifests/{subject}"))
    empty = await blob(client, repo, b"{}")
    data = b'{"sbom": true}'
    data_digest = await blob(client, repo, data)
    return await put_manifest(
        client,
        repo,
        reference,
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": OCI_EMPTY, "digest": empty, "size": 2},
            "layers": [
                {
                    "mediaType": "application/json",
                    "digest": data_digest,
                    "size": len(data),
                    "annotations": {"org.opencontainers.image.title": "sbom.json"},
                }
            ],
            "subject": {
                "mediaType": r.headers["content-type"].split(";")[0],
                "digest": subject,
                "size": len(r.content),
            },
        },
    )


@contextlib.asynccontextmanager
async def signed_in(
    app: InProcessApp, name: str, password: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A UI client (cookies, no credentials) signed in as ``name``."""
    async with app.client(auth=None, follow_redirects=False) as client:
        form = await client.get("/login")
        r = await client.post(
            "/login",
            data={"csrf": csrf_of(form), "username": name, "password": password, "next": "/"},
        )
        assert r.status_code == 303, r.text[:2000]
        yield client


async def variants(client: httpx.AsyncClient, repo: str, count: int) -> list[tuple[str, int]]:
    """``count`` distinct image manifests (by digest) sharing one config and layer: the
    children of a big index, cheaply."""
    layer = uuid.uuid4().bytes * 8
    layer_digest = await blob(client, repo, layer)
    raw_config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}
    ).encode()
    config_digest = await blob(client, repo, raw_config)
    out = []
    for n in range(count):
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(raw_config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
            "annotations": {"n": str(n)},
        }
        digest = await put_manifest(client, repo, digest_of(json.dumps(doc).encode()), doc)
        out.append((digest, len(json.dumps(doc).encode())))
    return out


async def big_index(
    client: httpx.AsyncClient, repo: str, tag: str, children: list[tuple[str, int]]
) -> str:
    """An index naming every manifest of ``children`` (linux/amd64 each, variant v<n>)."""
    manifests = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": size,
            "platform": {"os": "linux", "architecture": "amd64", "variant": f"v{n}"},
        }
        for n, (digest, size) in enumerate(children)
    ]
    return await put_manifest(
        client, repo, tag, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    )
