"""DTR's tag and manifest objects (``/repositories/{ns}/{repo}/tags``, ``.../manifests``).

Every tag carries DTR 2.7's ``vuln_summary`` (its Swagger's ``responses.Tag``: a
``responses.OldScanSummary`` without ``layer_details``) of the manifest it shows: on the list,
the manifest the tag names (an index: its platforms combined, ``moorage.scanning.report_tags``);
on a single tag, each platform's image. ``platform`` is known on the list only with
``includeManifests`` (an index's is empty: it stands for every platform)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, RootModel

from moorage.http.api.models.imagescan import NEVER
from moorage.http.api.models.scanning import SCAN_STATUS, OldScanSummary
from moorage.http.api.models.wire import Timestamp, WireModel, optional
from moorage.registry import browse
from moorage.scanning.report_tags import TagScan


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
    """A tag: DTR's ``responses.Tag``. ``manifest`` always (DTR requires it); ``vuln_summary``
    always (``status`` ``not_scanned`` and zero counts before any scan); ``mirroring`` and
    ``promotion`` ``null`` (Go's nil pointer: Moorage neither mirrors nor promotes yet)."""

    name: str
    digest: str
    author: str
    updated_at: Timestamp = Field(serialization_alias="updatedAt")
    created_at: Timestamp = Field(serialization_alias="createdAt")
    hash_mismatch: bool = Field(default=False, serialization_alias="hashMismatch")
    in_notary: bool = Field(default=False, serialization_alias="inNotary")
    manifest: Manifest
    mirroring: None = None
    promotion: None = None
    vuln_summary: OldScanSummary

    @staticmethod
    def fields(
        repository: str, row: browse.TagRow, image: browse.ImageDetails, scan: TagScan
    ) -> dict[str, Any]:
        return {
            "name": row.name,
            "digest": row.digest,
            "author": row.pushed_by or "",
            "updated_at": row.updated_at,
            "created_at": row.created_at,
            "manifest": Manifest.fields(image),
            "vuln_summary": vuln_summary(repository, row, image, scan),
        }


TagEntry = tuple[browse.TagRow, browse.ImageDetails]


def summarised_digest(row: browse.TagRow, image: browse.ImageDetails) -> str:
    """The manifest whose scan a tag entry shows: the image's (a platform's, or the tag's own)."""
    return image.digest


class TagList(RootModel[list[Tag]]):
    """A page of tags (a bare array, as DTR sends it)."""

    @classmethod
    def of(cls, repository: str, found: list[TagEntry], scans: Mapping[str, TagScan]) -> TagList:
        """``scans``: ``report_tags.tag_scans`` of every entry's ``summarised_digest``."""
        return cls.model_validate(
            [
                Tag.fields(repository, row, image, scans[summarised_digest(row, image)])
                for row, image in found
            ]
        )


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
