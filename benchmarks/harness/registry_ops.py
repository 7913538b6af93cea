"""Registry operations of the OCI distribution API: blob pushes (monolithic, chunked), blob
pulls, images (layer, config, manifest) and their pushes, tag-list paging."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from urllib.parse import urlsplit

from harness.errors import BenchError
from harness.rawhttp import Conn, add_param, expect, expect_digest, location_target, sha256_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def start_upload(conn: Conn, repo: str) -> str:
    resp = expect(conn.request("POST", f"/v2/{repo}/blobs/uploads/"), 202, "upload POST")
    return location_target(resp, "upload POST")


def push_monolithic(conn: Conn, repo: str, data: bytes | memoryview, digest: str) -> None:
    """POST, then PUT with the whole body and the digest (what docker and containerd do)."""
    target = start_upload(conn, repo)
    resp = conn.request(
        "PUT",
        add_param(target, "digest", digest),
        {"Content-Type": "application/octet-stream"},
        data,
    )
    expect(resp, 201, f"blob PUT {repo}")
    expect_digest(resp, digest, f"blob PUT {repo}")


def push_chunked(conn: Conn, repo: str, data: memoryview, digest: str, chunk: int) -> None:
    """POST, PATCH each chunk with Content-Range, then PUT with the digest and no body."""
    target = start_upload(conn, repo)
    for start in range(0, len(data), chunk):
        part = data[start : start + chunk]
        resp = conn.request(
            "PATCH",
            target,
            {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(part) - 1}",
            },
            part,
        )
        expect(resp, 202, f"PATCH {repo} at {start}")
        rng = resp.header("range")
        if rng and rng != f"0-{start + len(part) - 1}":
            raise BenchError(f"PATCH {repo}: Range is {rng!r} after {start + len(part)} bytes")
        target = location_target(resp, "PATCH")
    resp = conn.request("PUT", add_param(target, "digest", digest))
    expect(resp, 201, f"final PUT {repo}")
    expect_digest(resp, digest, f"final PUT {repo}")


def pull_blob(conn: Conn, repo: str, digest: str, size: int, *, verify: bool) -> None:
    resp = conn.request("GET", f"/v2/{repo}/blobs/{digest}", keep=False, hash_body=verify)
    expect(resp, 200, f"blob GET {repo}")
    if resp.received != size:
        raise BenchError(f"blob GET {repo}: {resp.received} bytes, expected {size}")
    if resp.header("docker-content-digest") not in ("", digest):
        raise BenchError(f"blob GET {repo}: wrong Docker-Content-Digest {resp.headers}")
    if verify and f"sha256:{resp.sha256}" != digest:
        raise BenchError(f"blob GET {repo}: body hashes to sha256:{resp.sha256}, not {digest}")


@dataclasses.dataclass(frozen=True)
class Image:
    layer: bytes
    layer_digest: str
    config: bytes
    config_digest: str
    manifest: bytes
    manifest_digest: str


def make_image(seed: str, layer_size: int) -> Image:
    layer = os.urandom(layer_size)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [f"BENCH={seed}"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]},
        },
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}
            ],
        },
        separators=(",", ":"),
    ).encode()
    return Image(
        layer,
        sha256_digest(layer),
        config,
        sha256_digest(config),
        manifest,
        sha256_digest(manifest),
    )


def put_manifest(conn: Conn, repo: str, ref: str, img: Image) -> None:
    resp = conn.request(
        "PUT", f"/v2/{repo}/manifests/{ref}", {"Content-Type": OCI_MANIFEST}, img.manifest
    )
    expect(resp, 201, f"manifest PUT {repo}:{ref}")
    expect_digest(resp, img.manifest_digest, f"manifest PUT {repo}:{ref}")


def push_image(conn: Conn, repo: str, tag: str, img: Image) -> float:
    """Push layer, config and manifest; return the manifest PUT's latency in seconds."""
    push_monolithic(conn, repo, img.layer, img.layer_digest)
    push_monolithic(conn, repo, img.config, img.config_digest)
    t0 = time.perf_counter()
    put_manifest(conn, repo, tag, img)
    return time.perf_counter() - t0


def next_link(header: str) -> str | None:
    m = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', header)
    if not m:
        return None
    parts = urlsplit(m.group(1))
    return parts.path + (f"?{parts.query}" if parts.query else "")
