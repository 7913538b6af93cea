"""DTR's tag and manifest objects (``/repositories/{ns}/{repo}/tags``, ``.../manifests``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from moorage.http.api.models.wire import Timestamp, WireModel, optional
from moorage.registry import browse


class Layer(WireModel):
    digest: str
    media_type: str = Field(alias="mediaType")
    size: int
    title: str | None = optional()


class DockerfileLine(WireModel):
    line: str
    created: str
    empty_layer: bool = Field(alias="emptyLayer")
    layer_digest: str = Field(alias="layerDigest")
    size: int
    comment: str | None = optional()


class Manifest(WireModel):
    """An image's details (``artifactType`` only for artifacts, ``subject`` only when set)."""

    digest: str
    media_type: str = Field(serialization_alias="mediaType")
    config_media_type: str = Field(serialization_alias="configMediaType")
    config_digest: str = Field(serialization_alias="configDigest")
    size: int
    created_at: Timestamp = Field(serialization_alias="createdAt")
    os: str
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
            "architecture": image.architecture,
            "variant": image.variant,
            "author": image.author,
            "labels": image.labels,
            "layers": image.layers,
            "dockerfile": image.dockerfile,
            "artifact_type": image.kind if image.is_artifact else None,
            "subject": image.subject or None,
        }


class Tag(WireModel):
    """A tag; ``manifest`` only when asked for (``includeManifests``) or on a single tag."""

    name: str
    digest: str
    author: str
    updated_at: Timestamp = Field(serialization_alias="updatedAt")
    created_at: Timestamp = Field(serialization_alias="createdAt")
    hash_mismatch: bool = Field(default=False, serialization_alias="hashMismatch")
    in_notary: bool = Field(default=False, serialization_alias="inNotary")
    manifest: Manifest | None = optional()

    @staticmethod
    def fields(row: browse.TagRow, image: browse.ImageDetails | None) -> dict[str, Any]:
        return {
            "name": row.name,
            "digest": row.digest,
            "author": row.pushed_by or "",
            "updated_at": row.updated_at,
            "created_at": row.created_at,
            "manifest": None if image is None else Manifest.fields(image),
        }


class TagList(RootModel[list[Tag]]):
    """A page of tags (a bare array, as DTR sends it)."""

    @classmethod
    def of(cls, found: list[tuple[browse.TagRow, browse.ImageDetails | None]]) -> TagList:
        return cls.model_validate([Tag.fields(row, image) for row, image in found])


class ManifestEntry(WireModel):
    """One entry of a repository's manifest list, with the tags naming it."""

    digest: str
    media_type: str = Field(serialization_alias="mediaType")
    artifact_type: str = Field(serialization_alias="artifactType")
    config_digest: str = Field(serialization_alias="configDigest")
    subject: str
    size: int
    created_at: Timestamp = Field(serialization_alias="createdAt")
    tags: list[str]

    @staticmethod
    def fields(row: browse.ManifestRow, tags: list[str]) -> dict[str, Any]:
        return {
            "digest": row.digest,
            "media_type": row.media_type,
            "artifact_type": row.artifact_type or "",
            "config_digest": row.config_digest or "",
            "subject": row.subject or "",
            "size": row.size,
            "created_at": row.created_at,
            "tags": tags,
        }


class ManifestList(RootModel[list[ManifestEntry]]):
    """A page of a repository's manifests (a bare array)."""

    @classmethod
    def of(cls, found: list[browse.ManifestRow], tags: dict[str, list[str]]) -> ManifestList:
        return cls.model_validate([ManifestEntry.fields(r, tags.get(r.digest, [])) for r in found])
