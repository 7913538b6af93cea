"""Parsing and validating manifests (OCI image manifest/index, Docker schema 2 and list).

The registry's own logic: what a manifest references, which media type it is,
and what its ``subject`` and ``artifactType`` are. Everything here is pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from moorage.errors import ManifestInvalid, ManifestUnsupported
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest

# Deeper JSON than this is no manifest (real ones nest four or five levels); refusing it early
# keeps a hostile body from reaching recursion limits anywhere later.
MAX_DEPTH = 32

DOCKER_FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    platform: dict[str, Any] | None = None
    urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = self.annotations
        if self.platform:
            out["platform"] = self.platform
        return out


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    def blob_references(self) -> list[Descriptor]:
        """Blobs that must exist in the repository for this manifest to be accepted."""
        refs = [self.config] if self.config is not None else []
        refs.extend(layer for layer in self.layers if not _is_foreign(layer))
        return refs


def _is_foreign(layer: Descriptor) -> bool:
    """Foreign / non-distributable layers live elsewhere; their blobs are never pushed."""
    return layer.media_type in DOCKER_FOREIGN_LAYERS or bool(layer.urls)


def _media_type_from_header(content_type: str | None) -> str | None:
    if not content_type:
        return None
    value = content_type.split(";", 1)[0].strip().lower()
    return value or None


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ManifestInvalid(f"{where}: descriptor must be an object")
    media_type = raw.get("mediaType")
    digest = raw.get("digest")
    size = raw.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}: descriptor mediaType missing")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}: descriptor digest missing")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}: descriptor size must be a non-negative integer")
    try:
        parsed_digest = Digest.parse(digest)
    except Exception as exc:
        raise ManifestInvalid(f"{where}: invalid digest {digest[:200]!r}") from exc
    annotations = raw.get("annotations")
    if annotations is not None and not (
        isinstance(annotations, dict) and all(isinstance(v, str) for v in annotations.values())
    ):
        raise ManifestInvalid(f"{where}: annotations must map strings to strings")
    platform = raw.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestInvalid(f"{where}: platform must be an object")
    artifact_type = raw.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid(f"{where}: artifactType must be a string")
    urls = raw.get("urls") or ()
    if not isinstance(urls, list | tuple) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}: urls must be a list of strings")
    return Descriptor(
        media_type=media_type,
        digest=parsed_digest,
        size=size,
        artifact_type=artifact_type,
        annotations=annotations,
        platform=platform,
        urls=tuple(urls),
    )


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects whose keys repeat mean different things to different readers: refused."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _too_deep(doc: Any, limit: int) -> bool:
    """Whether ``doc`` nests containers deeper than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def _load(body: bytes) -> Any:
    try:
        doc = json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise ManifestInvalid(
            f"manifest repeats the key {str(exc)[:100]!r} in one object",
            detail={"duplicateKey": str(exc)[:100]},
        ) from exc
    except RecursionError as exc:
        raise ManifestInvalid(
            f"manifest nests deeper than {MAX_DEPTH} levels", detail={"maxDepth": MAX_DEPTH}
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(
            "manifest is not valid JSON", detail={"error": str(exc)[:200]}
        ) from exc
    if _too_deep(doc, MAX_DEPTH):
        raise ManifestInvalid(
            f"manifest nests deeper than {MAX_DEPTH} levels", detail={"maxDepth": MAX_DEPTH}
        )
    return doc


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Parse a manifest as pushed; raise MANIFEST_INVALID (or UNSUPPORTED for schema 1)."""
    header_type = _media_type_from_header(content_type)
    if header_type in mt.SCHEMA1:
        raise ManifestUnsupported(
            "Docker schema 1 manifests are not supported; push schema 2 or OCI"
        )
    doc = _load(body)
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    schema_version = doc.get("schemaVersion")
    if schema_version == 1:
        raise ManifestUnsupported(
            "Docker schema 1 manifests are not supported; push schema 2 or OCI"
        )
    if schema_version != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise ManifestInvalid("mediaType must be a string")
    if body_type and header_type and header_type in mt.MANIFESTS and body_type != header_type:
        raise ManifestInvalid(
            "manifest mediaType does not match Content-Type",
            detail={"mediaType": body_type, "contentType": header_type},
        )
    media_type = body_type or (header_type if header_type in mt.MANIFESTS else None)
    if media_type is None:
        if "manifests" in doc and ("config" in doc or "layers" in doc):
            raise ManifestInvalid(
                "cannot tell the manifest's media type: it has both manifests (an index) "
                "and config/layers (an image manifest)"
            )
        if "manifests" in doc:
            media_type = mt.OCI_INDEX
        elif "config" in doc:
            media_type = mt.OCI_MANIFEST
        else:
            raise ManifestInvalid("cannot tell the manifest's media type")
    if media_type not in mt.MANIFESTS:
        raise ManifestInvalid(f"unsupported manifest media type {media_type[:100]!r}")

    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    annotations = doc.get("annotations")
    if annotations is None:
        annotations = {}
    if not (
        isinstance(annotations, dict) and all(isinstance(v, str) for v in annotations.values())
    ):
        raise ManifestInvalid("annotations must map strings to strings")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType must be a string")

    if media_type in mt.INDEXES:
        stray = [key for key in ("config", "layers") if key in doc]
        if stray:
            raise ManifestInvalid(
                f"an index ({media_type}) has no {' or '.join(stray)}: "
                "those belong to an image manifest",
                detail={"mediaType": media_type, "fields": stray},
            )
        raw_children = doc.get("manifests")
        if not isinstance(raw_children, list):
            raise ManifestInvalid("index must list its manifests")
        children = tuple(_descriptor(c, f"manifests[{i}]") for i, c in enumerate(raw_children))
        return ParsedManifest(
            media_type=media_type,
            config=None,
            manifests=children,
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )

    if "manifests" in doc:
        raise ManifestInvalid(
            f"an image manifest ({media_type}) has no manifests list: that belongs to an index",
            detail={"mediaType": media_type, "fields": ["manifests"]},
        )
    if "config" not in doc:
        raise ManifestInvalid("image manifest must have a config descriptor")
    config = _descriptor(doc["config"], "config")
    raw_layers = doc.get("layers", [] if media_type == mt.OCI_MANIFEST else None)
    if not isinstance(raw_layers, list):
        raise ManifestInvalid("image manifest must list its layers")
    layers = tuple(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(raw_layers))
    if not artifact_type:
        # The referrers API reports config.mediaType when artifactType is absent or empty.
        artifact_type = config.media_type
    return ParsedManifest(
        media_type=media_type,
        config=config,
        layers=layers,
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )
