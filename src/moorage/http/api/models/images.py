"""DTR's tag and manifest objects (``/repositories/{ns}/{repo}/tags``, ``.../manifests``).

Every tag carries DTR 2.7's ``vuln_summary`` (its Swagger's ``responses.Tag``: a
``responses.OldScanSummary`` without ``layer_details``) of the manifest it shows: on the list,
the manifest the tag names (an index: its platforms combined, ``moorage.scanning.report_tags``);
on a single tag, each platform's image. A single tag also carries DTR's ``components`` and
``licenses`` (``schema.ScannerComponent`` / ``schema.ScannerLicense``, from
``moorage.scanning.report_queries``: empty before a scan); the list (DTR's ``responses.ListTag``)
does not. On the list the ``manifest`` is DTR's whole ``responses.Manifest`` only with
``includeManifests=true``; without it (DTR's default) only what the tag's row holds (``digest``,
``mediaType``, ``configDigest``, ``createdAt``: no manifest parsed, no config read), and
``vuln_summary.platform`` is then empty."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, RootModel

from moorage.http.api.models.imagescan import NEVER
from moorage.http.api.models.scanning import (
    SCAN_STATUS,
    OldScanSummary,
    ScannerComponent,
    ScannerLicense,
    ScannerVulnCount,
)
from moorage.http.api.models.signatures import Signature
from moorage.http.api.models.wire import Timestamp, WireModel, optional
from moorage.registry import browse
from moorage.scanning.report_queries import Inventory
from moorage.scanning.report_tags import TagScan
from moorage.trust.signatures.verdict import Verdict


class Layer(WireModel):
    """A layer (an artifact's file: ``title`` only when it has a name)."""

    digest: str
    media_type: str = Field(serialization_alias="mediaType")
    size: int
    title: str | None = optional()

    @staticmethod
    def fields(layer: browse.Layer) -> dict[str, Any]:
        return {
            "digest": layer.digest,
            "media_type": layer.media_type,
            "size": layer.size,
            "title": layer.title or None,
        }


class DockerfileLine(WireModel):
    """A line of the image's history: DTR's ``responses.DockerfileLine`` (``isEmpty``, the
    layer's ``mediaType`` and ``urls``) with Moorage's ``created``, ``emptyLayer`` (the same as
    ``isEmpty``, kept for older clients) and ``comment`` (only when it has one)."""

    line: str
    created: str
    is_empty: bool = Field(serialization_alias="isEmpty")
    empty_layer: bool = Field(serialization_alias="emptyLayer")
    layer_digest: str = Field(serialization_alias="layerDigest")
    size: int
    media_type: str = Field(serialization_alias="mediaType")
    urls: list[str]
    comment: str | None = optional()

    @staticmethod
    def fields(line: browse.DockerfileLine) -> dict[str, Any]:
        return {
            "line": line.line,
            "created": line.created,
            "is_empty": line.empty_layer,
            "empty_layer": line.empty_layer,
            "layer_digest": line.layer_digest,
            "size": line.size,
            "media_type": line.media_type,
            "urls": list(line.urls),
            "comment": line.comment or None,
        }


class Manifest(WireModel):
    """An image's details (``artifactType`` only for artifacts, ``subject`` only when set)."""

    digest: str
    media_type: str = Field(serialization_alias="mediaType")
    config_media_type: str = Field(serialization_alias="configMediaType")
    config_digest: str = Field(serialization_alias="configDigest")
    size: int
    created_at: Timestamp = Field(serialization_alias="createdAt")
    os: str
    os_version: str = Field(serialization_alias="osVersion")
    architecture: str
    variant: str
    author: str
    labels: dict[str, str]
    layers: list[Layer]
    dockerfile: list[DockerfileLine]
    artifact_type: str | None = optional("artifactType")
    subject: str | None = optional()

    @staticmethod
    def fields(image: browse.ImageDetails) -> dict[str, Any]:
        """The model's fields as plain values (a page validates them in one call)."""
        return {
            "digest": image.digest,
            "media_type": image.media_type,
            "config_media_type": image.config_media_type,
            "config_digest": image.config_digest,
            "size": image.size,
            "created_at": image.created_at,
            "os": image.os,
            "os_version": image.os_version,
            "architecture": image.architecture,
            "variant": image.variant,
            "author": image.author,
            "labels": image.labels,
            "layers": [Layer.fields(layer) for layer in image.layers],
            "dockerfile": [DockerfileLine.fields(line) for line in image.dockerfile],
            "artifact_type": image.kind if image.is_artifact else None,
            "subject": image.subject or None,
        }


class ManifestRef(WireModel):
    """A tag's manifest as its row knows it (``includeManifests=false``): DTR's
    ``responses.Manifest`` requires only ``digest``; nothing here needs the manifest parsed or
    its config read."""

    digest: str
    media_type: str = Field(serialization_alias="mediaType")
    config_digest: str = Field(serialization_alias="configDigest")
    created_at: Timestamp = Field(serialization_alias="createdAt")

    @staticmethod
    def fields(row: browse.TagRow) -> dict[str, Any]:
        return {
            "digest": row.digest,
            "media_type": row.media_type,
            "config_digest": row.config_digest or "",
            "created_at": row.created_at,
        }


def _components(inventory: Inventory) -> list[dict[str, Any]]:
    """DTR's ``schema.ScannerComponent`` of each component (``componentPK`` the same as the
    scan summary's)."""
    return [
        {
            "component_pk": str(c.pk),
            "vuln_count": ScannerVulnCount.of(c.counts),
            "name": c.name,
            "version": c.version,
            "filepaths": [c.path] if c.path else [],
            "cves": list(c.cves),
            "licenses": list(c.licenses),
            "source": c.type,
            "layer": c.layer_digest,
        }
        for c in inventory.components
    ]


def vuln_summary(
    repository: str,
    row: browse.TagRow,
    image: browse.ImageDetails | None,
    scan: TagScan,
) -> dict[str, Any]:
    """The flat summary's fields of the manifest a tag entry shows (``image``'s, else the
    tag's own)."""
    namespace, _, reponame = repository.partition("/")
    platform = ""
    if image is not None and not image.is_index:
        platform = "/".join(p for p in (image.os, image.architecture, image.variant) if p)
    return {
        "namespace": namespace,
        "reponame": reponame,
        "tag": "" if row.name == row.digest else row.name,
        "critical": scan.counts.critical,
        "major": scan.counts.major,
        "minor": scan.counts.minor,
        "last_scan_status": SCAN_STATUS.get(scan.status, SCAN_STATUS["not_scanned"]),
        "check_completed_at": scan.completed_at or NEVER,
        "should_rescan": scan.should_rescan,
        "has_foreign_layers": scan.has_foreign_layers,
        "status": scan.status,
        "reason": scan.reason,
        "manifest_digest": scan.manifest_digest,
        "platform": platform,
    }


class Tag(WireModel):
    """A tag: DTR's ``responses.Tag``. ``manifest`` always (DTR requires it: the whole one, or
    the row's ``ManifestRef`` on a list without ``includeManifests``); ``vuln_summary`` always
    (``status`` ``not_scanned`` and zero counts before any scan); ``components`` and
    ``licenses`` on a single tag only; Moorage's ``signatures`` on every signed tag, of a list
    too; ``mirroring`` and
    ``promotion`` ``null`` (Go's nil pointer: Moorage neither mirrors nor promotes yet)."""

    name: str
    digest: str
    author: str
    updated_at: Timestamp = Field(serialization_alias="updatedAt")
    created_at: Timestamp = Field(serialization_alias="createdAt")
    hash_mismatch: bool = Field(default=False, serialization_alias="hashMismatch")
    in_notary: bool = Field(default=False, serialization_alias="inNotary")
    manifest: Manifest | ManifestRef
    mirroring: None = None
    promotion: None = None
    vuln_summary: OldScanSummary
    components: list[ScannerComponent] | None = optional()
    licenses: list[ScannerLicense] | None = optional()
    signatures: list[Signature] | None = optional()  # Moorage's: on every signed tag

    @staticmethod
    def fields(
        repository: str,
        row: browse.TagRow,
        image: browse.ImageDetails | None,
        scan: TagScan,
        inventory: Inventory | None,
        signatures: list[Verdict] | None = None,
    ) -> dict[str, Any]:
        """``image`` None: the list without ``includeManifests``; ``inventory`` None: the list."""
        found: dict[str, Any] = {
            "name": row.name,
            "digest": row.digest,
            "author": row.pushed_by or "",
            "updated_at": row.updated_at,
            "created_at": row.created_at,
            "manifest": Manifest.fields(image) if image is not None else ManifestRef.fields(row),
            "vuln_summary": vuln_summary(repository, row, image, scan),
        }
        if inventory is not None:
            found["components"] = _components(inventory)
            found["licenses"] = [ScannerLicense.named(name) for name in inventory.licenses]
        if signatures:  # absent when none was found (the DTR shape, unchanged)
            found["signatures"] = [Signature.fields(v) for v in signatures]
        return found


TagEntry = tuple[browse.TagRow, browse.ImageDetails | None]


def summarised_digest(row: browse.TagRow, image: browse.ImageDetails | None) -> str:
    """The manifest whose scan a tag entry shows: the image's (a platform's, or the tag's own)."""
    return image.digest if image is not None else row.digest


class TagList(RootModel[list[Tag]]):
    """A page of tags (a bare array, as DTR sends it)."""

    @classmethod
    def of(
        cls,
        repository: str,
        found: list[TagEntry],
        scans: Mapping[str, TagScan],
        inventories: Mapping[str, Inventory] | None = None,
        signatures: Mapping[str, list[Verdict]] | None = None,
    ) -> TagList:
        """``scans``: ``report_tags.tag_scans`` of every entry's ``summarised_digest``;
        ``inventories`` (a single tag's answer): ``report_queries.inventories`` of the same;
        ``signatures``: the signature view of each tag's own digest."""
        entries = []
        for row, image in found:
            digest = summarised_digest(row, image)
            inventory = inventories[digest] if inventories is not None else None
            signed = signatures.get(row.digest) if signatures is not None else None
            entries.append(Tag.fields(repository, row, image, scans[digest], inventory, signed))
        return cls.model_validate(entries)


class ManifestEntry(WireModel):
    """One entry of a repository's manifest list: DTR's ``responses.Manifest`` (``size`` the
    manifest document's, as before) with Moorage's ``tags`` naming it, ``artifactType`` and
    ``subject`` (empty when none)."""

    digest: str
    media_type: str = Field(serialization_alias="mediaType")
    config_media_type: str = Field(serialization_alias="configMediaType")
    config_digest: str = Field(serialization_alias="configDigest")
    size: int
    created_at: Timestamp = Field(serialization_alias="createdAt")
    os: str
    os_version: str = Field(serialization_alias="osVersion")
    architecture: str
    author: str
    dockerfile: list[DockerfileLine]
    artifact_type: str = Field(serialization_alias="artifactType")
    subject: str
    tags: list[str]

    @staticmethod
    def fields(
        row: browse.ManifestRow, image: browse.ImageDetails, tags: list[str]
    ) -> dict[str, Any]:
        return {
            "digest": row.digest,
            "media_type": row.media_type,
            "config_media_type": image.config_media_type,
            "config_digest": row.config_digest or "",
            "size": row.size,
            "created_at": row.created_at,
            "os": image.os,
            "os_version": image.os_version,
            "architecture": image.architecture,
            "author": image.author,
            "dockerfile": [DockerfileLine.fields(line) for line in image.dockerfile],
            "artifact_type": row.artifact_type or "",
            "subject": row.subject or "",
            "tags": tags,
        }


ManifestFound = tuple[browse.ManifestRow, browse.ImageDetails]


class ManifestList(RootModel[list[ManifestEntry]]):
    """A page of a repository's manifests (a bare array)."""

    @classmethod
    def of(cls, found: list[ManifestFound], tags: dict[str, list[str]]) -> ManifestList:
        return cls.model_validate(
            [ManifestEntry.fields(r, image, tags.get(r.digest, [])) for r, image in found]
        )


class DockerRepository(WireModel):
    """One ``docker search`` result (DTR's ``responses.DockerRepository``): no stars, no
    official or trusted images in a private registry."""

    name: str
    description: str
    star_count: int = 0
    is_official: bool = False
    is_trusted: bool = False


class DockerSearch(WireModel):
    """``/api/v0/index/dockersearch``: DTR's ``responses.DockerSearch`` (the Docker CLI reads
    ``results``)."""

    num_results: int
    query: str
    results: list[DockerRepository]
