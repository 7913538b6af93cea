"""SBOM export of a scanned image: CycloneDX 1.5 JSON (``sbom_cyclonedx``) or SPDX 2.3 JSON
(``sbom_spdx``) from the stored scan (``sbom_source``), and the same document stored beside the
image as an OCI referrer.

The referrer is an OCI image manifest in the shape the image spec (1.1) gives artifacts: the
empty config (``application/vnd.oci.empty.v1+json``, ``{}``), one layer holding the document,
``artifactType`` the document's media type and ``subject`` the image manifest. Its blobs and the
manifest are written through the registry's own upload and manifest functions (storage first,
metadata last; the manifest by digest, untagged), so ``GET /v2/<name>/referrers/<digest>``
lists it and garbage collection keeps it while the image lives. Who may do this is the
caller's concern (push access to the repository).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from moorage.db.engine import Database
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.registry import manifests, uploads
from moorage.registry.context import RegistryContext
from moorage.scanning import sbom_cyclonedx, sbom_spdx
from moorage.scanning.sbom_source import SbomTarget, ScanResult, load

EMPTY_CONFIG = b"{}"
TITLE_ANNOTATION = "org.opencontainers.image.title"
CREATED_ANNOTATION = "org.opencontainers.image.created"


class Format(enum.Enum):
    CYCLONEDX = "cyclonedx"
    SPDX = "spdx"

    @property
    def media_type(self) -> str:
        return sbom_cyclonedx.MEDIA_TYPE if self is Format.CYCLONEDX else sbom_spdx.MEDIA_TYPE

    @property
    def spec(self) -> str:
        return "CycloneDX 1.5" if self is Format.CYCLONEDX else "SPDX 2.3"

    @property
    def suffix(self) -> str:
        return ".cdx.json" if self is Format.CYCLONEDX else ".spdx.json"


@dataclass(frozen=True, slots=True)
class Sbom:
    format: Format
    target: SbomTarget
    content: bytes
    scanned_at: dt.datetime

    @property
    def filename(self) -> str:
        """``<repo>_<tag or digest hex prefix>.cdx.json``: safe in a Content-Disposition."""
        label = self.target.tag or self.target.digest.partition(":")[2][:12]
        base = f"{self.target.repository.replace('/', '_')}_{label}"
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in base)
        return safe + self.format.suffix


def render(fmt: Format, result: ScanResult, target: SbomTarget) -> Sbom:
    build = sbom_cyclonedx.document if fmt is Format.CYCLONEDX else sbom_spdx.document
    return Sbom(fmt, target, build(result, target), result.completed_at)


async def export(db: Database, fmt: Format, target: SbomTarget) -> Sbom:
    """The SBOM of ``target``'s image manifest; ``NotScanned`` when it has no finished scan."""
    return render(fmt, await load(db, target.digest), target)


@dataclass(frozen=True, slots=True)
class StoredReferrer:
    digest: str
    media_type: str
    artifact_type: str
    size: int
    subject: str
    created: bool  # False: the same document was stored before


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _blob(ctx: RegistryContext, repository: str, data: bytes) -> dict[str, object]:
    digest = Digest.of(data)
    await uploads.monolithic(ctx, repository, digest, _one(data), content_length=len(data))
    return {"digest": str(digest), "size": len(data)}


async def store_referrer(
    ctx: RegistryContext,
    sbom: Sbom,
    subject: manifests.StoredManifest,
    *,
    actor: str | None,
) -> StoredReferrer:
    """Store ``sbom`` in its repository as an artifact whose subject is ``subject``."""
    repository = sbom.target.repository
    config = {"mediaType": mt.OCI_EMPTY, **await _blob(ctx, repository, EMPTY_CONFIG)}
    layer = {
        "mediaType": sbom.format.media_type,
        **await _blob(ctx, repository, sbom.content),
        "annotations": {TITLE_ANNOTATION: sbom.filename},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": sbom.format.media_type,
        "config": config,
        "layers": [layer],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": len(subject.payload),
        },
        "annotations": {CREATED_ANNOTATION: _rfc3339(sbom.scanned_at)},
    }
    body = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    digest = Digest.of(body)
    put = await manifests.put(ctx, repository, str(digest), body, mt.OCI_MANIFEST, actor=actor)
    return StoredReferrer(
        digest=str(put.digest),
        media_type=mt.OCI_MANIFEST,
        artifact_type=sbom.format.media_type,
        size=len(body),
        subject=subject.digest,
        created=put.created,
    )
