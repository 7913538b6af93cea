"""A client of one OCI / Docker registry v2 (``/v2``): catalog, tags, manifests by digest,
blobs verified as they are read, monolithic uploads and cross-repository mounts."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from moorage.errors import MoorageError
from moorage.importer.transport import RemoteUnreachable, file_chunks

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)
PAGE = 100


class RegistryAnswer(MoorageError):
    """A registry answered, but not what a copy needs (the status and the remote's words)."""

    code, status, default_message = "REMOTE_REGISTRY_ERROR", 502, "the registry refused"


class DigestMismatch(RegistryAnswer):
    code, default_message = "DIGEST_MISMATCH", "content does not match its digest"


@dataclass(frozen=True, slots=True)
class Manifest:
    data: bytes
    media_type: str
    digest: str

    def document(self) -> dict[str, Any]:
        parsed = json.loads(self.data)
        if not isinstance(parsed, dict):
            raise RegistryAnswer("a manifest that is not a JSON object")
        return parsed


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _scope(repo: str, actions: str) -> dict[str, Any]:
    return {"scope": f"repository:{repo}:{actions}"}


def _fail(response: httpx.Response, what: str) -> RegistryAnswer:
    try:
        text = response.text[:300]
    except httpx.ResponseNotRead:
        text = ""
    return RegistryAnswer(
        f"{what}: the registry answered {response.status_code}",
        detail={"status": response.status_code, "answer": text},
    )


class RegistryClient:
    """One registry, over an (already guarded, authenticated) ``httpx.AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient, name: str) -> None:
        self.http = http
        self.name = name  # for messages: "source" / "target"

    async def _send(
        self, method: str, url: str, *, scope: dict[str, Any], **kw: Any
    ) -> httpx.Response:
        try:
            return await self.http.request(method, url, extensions=scope, **kw)
        except httpx.HTTPError as exc:
            raise RemoteUnreachable(
                f"the {self.name} registry did not answer {method} {url}: {_short(exc)}"
            ) from exc

    async def ping(self) -> httpx.Response:
        return await self._send("GET", "/v2/", scope={})

    async def catalog(self) -> list[str]:
        found: list[str] = []
        url: str | None = f"/v2/_catalog?n={PAGE}"
        while url:
            r = await self._send("GET", url, scope={"scope": "registry:catalog:*"})
            if r.status_code != 200:
                raise _fail(r, f"the {self.name} registry's catalog")
            found.extend(r.json().get("repositories") or [])
            url = _next_link(r)
        return found

    async def tags(self, repo: str) -> list[str]:
        found: list[str] = []
        url: str | None = f"/v2/{repo}/tags/list?n={PAGE}"
        while url:
            r = await self._send("GET", url, scope=_scope(repo, "pull"))
            if r.status_code != 200:
                raise _fail(r, f"the tags of {repo} on the {self.name} registry")
            found.extend(r.json().get("tags") or [])
            url = _next_link(r)
        return found

    async def manifest_digest(self, repo: str, reference: str) -> str | None:
        """The digest ``reference`` names now (HEAD), None when there is none."""
        r = await self._send(
            "HEAD",
            f"/v2/{repo}/manifests/{reference}",
            scope=_scope(repo, "pull"),
            headers={"Accept": ACCEPT},
        )
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise _fail(r, f"{repo}:{reference} on the {self.name} registry")
        digest = str(r.headers.get("Docker-Content-Digest", ""))
        if digest:
            return digest
        return (await self.manifest(repo, reference)).digest

    async def manifest(self, repo: str, reference: str) -> Manifest:
        r = await self._send(
            "GET",
            f"/v2/{repo}/manifests/{reference}",
            scope=_scope(repo, "pull"),
            headers={"Accept": ACCEPT},
        )
        if r.status_code != 200:
            raise _fail(r, f"the manifest {repo}@{reference} on the {self.name} registry")
        digest = sha256(r.content)
        claimed = r.headers.get("Docker-Content-Digest")
        if claimed and claimed != digest:
            raise DigestMismatch(f"{repo}@{reference}: the registry says {claimed}, it is {digest}")
        if reference.startswith("sha256:") and reference != digest:
            raise DigestMismatch(f"{repo}@{reference}: the bytes are {digest}")
        media_type = r.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(r.content, media_type, digest)

    async def referrers(self, repo: str, digest: str) -> list[dict[str, Any]]:
        """The descriptors of the manifests whose ``subject`` is ``digest`` (OCI 1.1); none
        from a registry without the referrers API."""
        r = await self._send(
            "GET",
            f"/v2/{repo}/referrers/{digest}",
            scope=_scope(repo, "pull"),
            headers={"Accept": MANIFEST_TYPES[0]},
        )
        if r.status_code != 200:
            return []
        try:
            found = r.json().get("manifests") or []
        except (ValueError, AttributeError):
            return []
        return [d for d in found if isinstance(d, dict) and isinstance(d.get("digest"), str)]

    async def put_manifest(self, repo: str, reference: str, manifest: Manifest) -> str:
        r = await self._send(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            scope=_scope(repo, "pull,push"),
            content=manifest.data,
            headers={"Content-Type": manifest.media_type},
        )
        if r.status_code not in (200, 201):
            raise _fail(r, f"storing {repo}:{reference} on the {self.name} registry")
        stored = str(r.headers.get("Docker-Content-Digest", manifest.digest))
        if stored != manifest.digest:
            raise DigestMismatch(f"{repo}:{reference} stored as {stored}, not {manifest.digest}")
        return stored

    async def has_blob(self, repo: str, digest: str) -> bool:
        r = await self._send("HEAD", f"/v2/{repo}/blobs/{digest}", scope=_scope(repo, "pull"))
        return r.status_code == 200

    @asynccontextmanager
    async def downloaded(self, repo: str, digest: str) -> AsyncIterator[tuple[str, int]]:
        """The blob in a temporary file (path, size), its digest checked; removed after."""
        if not digest.startswith("sha256:"):
            raise RegistryAnswer(f"{digest}: only sha256 digests are copied")
        fd, path = tempfile.mkstemp(prefix="moorage-import-")
        try:
            size = 0
            hasher = hashlib.sha256()
            try:
                async with self.http.stream(
                    "GET", f"/v2/{repo}/blobs/{digest}", extensions=_scope(repo, "pull")
                ) as r:
                    if r.status_code != 200:
                        await r.aread()
                        raise _fail(r, f"the blob {digest} of {repo}")
                    with os.fdopen(fd, "wb") as out:
                        fd = -1
                        async for chunk in r.aiter_bytes(1024 * 1024):
                            hasher.update(chunk)
                            size += len(chunk)
                            out.write(chunk)
            except httpx.HTTPError as exc:
                raise RemoteUnreachable(
                    f"reading {digest} of {repo}: {type(exc).__name__}"
                ) from exc
            if "sha256:" + hasher.hexdigest() != digest:
                raise DigestMismatch(f"the blob {digest} of {repo} arrived as something else")
            yield path, size
        finally:
            if fd >= 0:
                os.close(fd)
            os.unlink(path)

    async def mount(self, repo: str, digest: str, source: str) -> bool:
        """Link a blob this registry holds in ``source`` into ``repo``: True when it did."""
        both = {"scope": f"repository:{repo}:pull,push repository:{source}:pull"}
        r = await self._send(
            "POST",
            f"/v2/{repo}/blobs/uploads/",
            scope=both,
            params={"mount": digest, "from": source},
        )
        if r.status_code == 201:
            return True
        if r.status_code == 202:  # an upload was opened instead: close it
            location = r.headers.get("Location")
            if location:
                await self._send("DELETE", location, scope=_scope(repo, "pull,push"))
        return False

    async def upload(self, repo: str, digest: str, path: str, size: int) -> None:
        scope = _scope(repo, "pull,push")
        r = await self._send("POST", f"/v2/{repo}/blobs/uploads/", scope=scope)
        if r.status_code != 202 or "Location" not in r.headers:
            raise _fail(r, f"starting an upload to {repo}")
        location = httpx.URL(r.headers["Location"])
        url = location.copy_merge_params({"digest": digest})
        r = await self._send(
            "PUT",
            str(url),
            scope=scope,
            content=file_chunks(path),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        if r.status_code != 201:
            raise _fail(r, f"uploading {digest} to {repo}")


def _short(exc: BaseException) -> str:
    """The exception in a line (no request headers: httpx errors carry none)."""
    return f"{type(exc).__name__}: {exc}"[:300]


def _next_link(response: httpx.Response) -> str | None:
    """The ``Link: <...>; rel="next"`` of a paged answer (relative to the registry)."""
    link = response.headers.get("Link", "")
    if 'rel="next"' not in link:
        return None
    start, end = link.find("<"), link.find(">")
    if start < 0 or end < start:
        return None
    target = httpx.URL(link[start + 1 : end])
    return target.raw_path.decode("ascii")
