"""Real images for the scan engine's tests, pushed to the in-process app over /v2, and the
vulnerability archive they are matched against.

Layers are real tar.gz files built here (``inventory/layer_tars.py``): a Debian 12 base (its
``os-release`` and a dpkg ``status`` whose zlib is a binNMU of its source), an application layer
(Python ``dist-info`` metadata and an npm ``package-lock.json``), a layer whose whiteout removes a
vulnerable distribution; an Alpine 3.18 base with an apk database. The archive holds the shared
fixtures' real OSV records (``data/vulndb/archive``, converted by ``vulndb/archives.py``) and the
Debian records adapted in ``data/vulndb/engine`` (see the SOURCES.md of each).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from moorage.db.engine import Database
from moorage.scanning.vulndb.importer import ImportReport, import_archives
from moorage.storage.base import AppendWriter, StorageDriver
from tests.http.v2.helpers import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, descriptor
from tests.http.v2.inproc_push import push_blob
from tests.scanning.inventory.layer_tars import File, Whiteout, layer
from tests.scanning.vulndb.archives import fixture_records, osv_layout, write_zip

ENGINE_RECORDS = Path(__file__).resolve().parent / "data" / "vulndb" / "engine"
SITE = "usr/lib/python3/dist-packages"

DEBIAN_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""
ALPINE_RELEASE = b"""NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.18.4
PRETTY_NAME="Alpine Linux v3.18"
"""


def stanza(
    name: str,
    version: str,
    *,
    source: str | None = None,
    status: str = "install ok installed",
    arch: str = "amd64",
) -> str:
    lines = [f"Package: {name}", f"Status: {status}", "Priority: optional", f"Architecture: {arch}"]
    if source:
        lines.append(f"Source: {source}")
    lines += [f"Version: {version}", "Maintainer: Debian <debian@example.invalid>", ""]
    return "\n".join(lines)


def dpkg_status(*stanzas: str) -> File:
    return File("var/lib/dpkg/status", "\n".join(stanzas).encode())


def dist_info(name: str, version: str, site: str = SITE) -> File:
    body = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: MIT\n\n"
    return File(f"{site}/{name}-{version}.dist-info/METADATA", body.encode())


def package_lock(path: str, packages: dict[str, str]) -> File:
    """A lockfile v3 (npm 7 and later): ``packages`` keyed by install path."""
    entries: dict[str, Any] = {"": {"name": "app", "version": "1.0.0"}}
    for name, version in packages.items():
        entries[f"node_modules/{name}"] = {"version": version, "license": "MIT"}
    lock = {"name": "app", "version": "1.0.0", "lockfileVersion": 3, "packages": entries}
    return File(path, json.dumps(lock).encode())


def apk_record(name: str, version: str, origin: str) -> str:
    return f"P:{name}\nV:{version}\nA:x86_64\no:{origin}\nL:GPL-2.0-only\n\n"


def debian_base() -> bytes:
    return layer(
        File("etc/os-release", DEBIAN_RELEASE),
        dpkg_status(
            stanza("base-files", "12.4+deb12u5"),
            stanza("zlib1g", "1:1.2.13.dfsg-1+b1", source="zlib (1:1.2.13.dfsg-1)"),
        ),
    )


def application() -> bytes:
    return layer(
        dist_info("zipp", "3.15.0"),
        dist_info("setuptools", "65.0.0"),
        package_lock(
            "srv/app/package-lock.json",
            {"debug": "2.6.8", "ms": "2.0.0", "minimist": "1.2.0", "qs": "6.10.1"},
        ),
    )


def without_setuptools() -> bytes:
    return layer(Whiteout(f"{SITE}/setuptools-65.0.0.dist-info"))


def alpine_base(*, repositories: str | None = None) -> bytes:
    db = "".join(
        [
            apk_record("busybox", "1.36.1-r5", "busybox"),
            apk_record("ssl_client", "1.36.1-r5", "busybox"),
            apk_record("libcrypto3", "3.1.4-r2", "openssl"),
            apk_record("libssl3", "3.1.4-r2", "openssl"),
        ]
    )
    entries = [File("etc/os-release", ALPINE_RELEASE), File("lib/apk/db/installed", db.encode())]
    if repositories:
        entries.append(File("etc/apk/repositories", repositories.encode()))
    return layer(*entries)


@dataclass(frozen=True)
class Pushed:
    digest: str
    layers: list[str]
    size: int
    manifest: bytes = field(repr=False)


async def image_manifest(
    client: httpx.AsyncClient,
    repo: str,
    layers: Sequence[bytes],
    *,
    os: str = "linux",
    architecture: str = "amd64",
    layer_type: str = OCI_LAYER,
) -> tuple[bytes, list[str]]:
    """Push the layers and a config naming them; the manifest (not pushed) and layer digests."""
    digests = [await push_blob(client, repo, data) for data in layers]
    config = json.dumps(
        {
            "architecture": architecture,
            "os": os,
            "rootfs": {"type": "layers", "diff_ids": digests},
        }
    ).encode()
    await push_blob(client, repo, config)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(layer_type, data) for data in layers],
    }
    return json.dumps(doc).encode(), digests


async def put_manifest(
    client: httpx.AsyncClient, repo: str, reference: str, body: bytes
) -> httpx.Response:
    return await client.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )


async def push_image(
    client: httpx.AsyncClient,
    repo: str,
    reference: str,
    layers: Sequence[bytes],
    *,
    os: str = "linux",
    architecture: str = "amd64",
) -> Pushed:
    """Push the layers, a config naming them and the manifest (by tag or digest)."""
    body, digests = await image_manifest(client, repo, layers, os=os, architecture=architecture)
    r = await put_manifest(client, repo, reference, body)
    assert r.status_code == 201, r.text
    return Pushed(r.headers["Docker-Content-Digest"], digests, len(body), body)


async def push_index(
    client: httpx.AsyncClient, repo: str, tag: str, children: Sequence[tuple[Pushed, str, str]]
) -> str:
    """An index of pushed images, each with its (os, architecture)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": child.digest,
                "size": child.size,
                "platform": {"os": os, "architecture": arch},
            }
            for child, os, arch in children
        ],
    }
    r = await client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=json.dumps(doc).encode(),
        headers={"Content-Type": OCI_INDEX},
    )
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"]


def engine_records(*skip: str) -> dict[str, bytes]:
    """The shared fixtures' records and the adapted Debian ones, by id (``skip`` left out)."""
    records = fixture_records()
    for path in sorted(ENGINE_RECORDS.glob("*.json")):
        raw = path.read_bytes()
        records[json.loads(raw)["id"]] = raw
    return {k: v for k, v in records.items() if k not in skip}


async def import_records(
    db: Database, folder: Path, records: dict[str, bytes], name: str = "records.zip"
) -> ImportReport:
    folder.mkdir(parents=True, exist_ok=True)
    path = write_zip(folder / name, osv_layout(records))
    return await import_archives(db, [path], source=name, kind="offline", holder="test", prune=True)


class CountingStorage(StorageDriver):
    """A driver that counts the streamed reads (``read``) of each key, over another."""

    name = "counting"

    def __init__(self, inner: StorageDriver) -> None:
        self.inner = inner
        self.reads: dict[str, int] = {}

    def layer_reads(self, digest: str) -> int:
        return self.reads.get(f"blobs/sha256/{digest[7:9]}/{digest[7:]}/data", 0)

    async def stat(self, key: str) -> int | None:
        return await self.inner.stat(key)

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        self.reads[key] = self.reads.get(key, 0) + 1
        async for chunk in self.inner.read(key, offset, length):
            yield chunk

    async def read_bytes(self, key: str) -> bytes:
        return await self.inner.read_bytes(key)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await self.inner.put_bytes(key, data)

    async def open_append(self, key: str, offset: int) -> AppendWriter:
        return await self.inner.open_append(key, offset)

    async def move(self, src: str, dst: str) -> None:
        await self.inner.move(src, dst)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def list(self, prefix: str) -> list[str]:
        return await self.inner.list(prefix)

    async def check_health(self) -> None:
        await self.inner.check_health()
