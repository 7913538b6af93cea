"""Small helpers shared by the /v2 protocol tests: digests, pushes, raw sockets, error checks."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN

# Raw requests sign in as the administrator, like the httpx clients the fixtures hand out.
ADMIN_AUTH = "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
EMPTY_BLOB_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# Codes the OCI distribution spec defines (plus the legacy ones the old suite tolerates).
OCI_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
        "TAG_INVALID",
    }
)


def unique_repo(prefix: str = "t") -> str:
    """A repository name no other test uses (two path components, like most real names)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}/repo"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def dumps(doc: Any) -> bytes:
    """Indented JSON, like most clients write it (the registry must keep these exact bytes)."""
    return json.dumps(doc, indent=3).encode()


def descriptor(
    media_type: str, data: bytes, algorithm: str = "sha256", **extra: Any
) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": digest_of(data, algorithm),
        "size": len(data),
        **extra,
    }


def assert_error(response: httpx.Response, status: int | set[int], *codes: str) -> dict[str, Any]:
    """The response is an OCI error envelope with the given status and one of ``codes``."""
    statuses = {status} if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]
    first: dict[str, Any] = body["errors"][0]
    assert set(first) >= {"code", "message", "detail"}, first
    assert isinstance(first["message"], str) and first["message"]
    assert first["code"] in OCI_CODES, first
    if codes:
        assert first["code"] in codes, (first, codes)
    return first


def start_upload(client: httpx.Client, repo: str, **kw: Any) -> str:
    """POST an upload session; returns its Location (absolute path form)."""
    r = client.post(f"/v2/{repo}/blobs/uploads/", **kw)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    assert location.startswith(f"/v2/{repo}/blobs/uploads/"), location
    assert r.headers["Range"] == "0-0"
    return location


def with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def push_blob(client: httpx.Client, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """POST + PUT one blob; asserts the 201 and returns its digest."""
    digest = digest_of(data, algorithm)
    location = start_upload(client, repo)
    r = client.put(
        with_digest(location, digest),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    return digest


def put_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    body: bytes,
    media_type: str | None = OCI_MANIFEST,
    **kw: Any,
) -> httpx.Response:
    headers = {"Content-Type": media_type} if media_type else {}
    headers.update(kw.pop("headers", {}))
    return client.put(f"/v2/{repo}/manifests/{reference}", content=body, headers=headers, **kw)


def push_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    body: bytes,
    media_type: str | None = OCI_MANIFEST,
    algorithm: str = "sha256",
) -> str:
    """PUT a manifest; asserts 201 with Location and Docker-Content-Digest; returns the digest."""
    r = put_manifest(client, repo, reference, body, media_type)
    assert r.status_code == 201, r.text
    digest = digest_of(body, algorithm)
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Location"] == f"/v2/{repo}/manifests/{digest}"
    return digest


def image_manifest(
    client: httpx.Client,
    repo: str,
    *,
    layers: int = 1,
    media_type: str | None = OCI_MANIFEST,
    config_type: str = OCI_CONFIG,
    layer_type: str = OCI_LAYER,
    algorithm: str = "sha256",
    extra: dict[str, Any] | None = None,
    config: bytes | None = None,
) -> bytes:
    """Push a config and ``layers`` random layer blobs; return the manifest bytes (not pushed)."""
    config = (
        config
        if config is not None
        else dumps({"architecture": "amd64", "os": "linux", "author": uuid.uuid4().hex})
    )
    push_blob(client, repo, config, algorithm)
    layer_descs = []
    for _ in range(layers):
        data = random_bytes(64)
        push_blob(client, repo, data, algorithm)
        layer_descs.append(descriptor(layer_type, data, algorithm))
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        doc["mediaType"] = media_type
    doc["config"] = descriptor(config_type, config, algorithm)
    doc["layers"] = layer_descs
    doc.update(extra or {})
    return dumps(doc)


def index_manifest(
    children: list[tuple[str, bytes, dict[str, Any] | None]],
    media_type: str = OCI_INDEX,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """An index over (mediaType, bytes, platform) children."""
    entries = []
    for child_type, body, platform in children:
        entry = descriptor(child_type, body)
        if platform:
            entry["platform"] = platform
        entries.append(entry)
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    doc.update(extra or {})
    return dumps(doc)


def catalog_names(client: httpx.Client, prefix: str) -> list[str]:
    """Every repository in the catalog whose name starts with ``prefix`` (follows pagination)."""
    out: list[str] = []
    last = prefix
    while True:
        r = client.get("/v2/_catalog", params={"n": 1000, "last": last})
        assert r.status_code == 200
        names = r.json()["repositories"]
        out.extend(n for n in names if n.startswith(prefix))
        if "Link" not in r.headers or not names or not names[-1].startswith(prefix):
            return out
        last = names[-1]


def raw_exchange(
    host: str, request: bytes, *, close_after_send: bool, timeout: float = 10.0
) -> bytes:
    """Send raw bytes over a TCP socket. With ``close_after_send`` the connection is closed at
    once (a client that dies mid-request); otherwise the response is read until the server
    closes (send ``Connection: close``) or the timeout passes."""
    hostname, _, port = host.rpartition(":")
    with socket.create_connection((hostname, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        if close_after_send:
            return b""
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def raw_status(response: bytes) -> int:
    """Status code of the first HTTP response in ``response``."""
    line = response.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1.1 "), response[:200]
    return int(line.split()[1])


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) for the server to finish handling a request the client abandoned."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def raw_request(
    host: str,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request over a raw socket with the path sent exactly as given (no client-side
    normalisation of ``..`` or percent-escapes); returns status, headers (lower-case) and body."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in {"Authorization": ADMIN_AUTH, **(headers or {})}.items()]
    if body and not any(k.lower() == "content-length" for k in headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    response = raw_exchange(host, request, close_after_send=False, timeout=timeout)
    head, _, rest = response.partition(b"\r\n\r\n")
    status = raw_status(response)
    parsed: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.decode("latin-1").partition(":")
        parsed[key.strip().lower()] = value.strip()
    if "content-length" in parsed:
        rest = rest[: int(parsed["content-length"])]
    return status, parsed, rest


def send_truncated(
    host: str,
    log_path: Path,
    method: str,
    target: str,
    headers: dict[str, str],
    declared_length: int,
    sent: bytes,
    timeout: float = 10.0,
) -> None:
    """Announce ``declared_length`` body bytes, send only ``sent``, and hang up (a client that
    dies mid-upload). Returns once the server has finished with the request: a unique marker
    query parameter shows up in the server's access log when the handler is done."""
    assert len(sent) < declared_length
    marker = uuid.uuid4().hex
    target = f"{target}{'&' if '?' in target else '?'}trace={marker}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in {"Authorization": ADMIN_AUTH, **headers}.items()]
    lines.append(f"Content-Length: {declared_length}")
    raw_exchange(host, ("\r\n".join(lines) + "\r\n\r\n").encode() + sent, close_after_send=True)
    eventually(lambda: marker in log_path.read_text(errors="replace"), timeout)
