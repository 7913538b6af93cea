"""The SBOM and OpenVEX answers that are not the documents themselves: the OCI referrer an SBOM
was stored as, an imported OpenVEX document's outcome, and the statements Moorage holds.

An exported SBOM is the library's own JSON (CycloneDX 1.5 or SPDX 2.3); ``SBOM_SCHEMA`` names
its top-level fields for the OpenAPI document without modelling either specification again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import Field

from moorage.http.api.models.wire import Timestamp, WireModel
from moorage.scanning.sbom import StoredReferrer
from moorage.scanning.vex import Imported, Statement

SBOM_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "title": "CycloneDX 1.5",
            "type": "object",
            "properties": {
                "bomFormat": {"type": "string", "example": "CycloneDX"},
                "specVersion": {"type": "string", "example": "1.5"},
                "serialNumber": {"type": "string"},
                "metadata": {"type": "object"},
                "components": {"type": "array", "items": {"type": "object"}},
                "dependencies": {"type": "array", "items": {"type": "object"}},
            },
        },
        {
            "title": "SPDX 2.3",
            "type": "object",
            "properties": {
                "spdxVersion": {"type": "string", "example": "SPDX-2.3"},
                "SPDXID": {"type": "string"},
                "name": {"type": "string"},
                "documentNamespace": {"type": "string"},
                "creationInfo": {"type": "object"},
                "packages": {"type": "array", "items": {"type": "object"}},
                "relationships": {"type": "array", "items": {"type": "object"}},
            },
        },
    ]
}


class SbomReferrer(WireModel):
    """``POST .../sbom/{ns}/{repo}/{reference}/referrer``: the artifact stored beside the image."""

    repository: str
    digest: str
    media_type: str = Field(serialization_alias="mediaType")
    artifact_type: str = Field(serialization_alias="artifactType")
    size: int
    subject: str
    created: bool

    @classmethod
    def of(cls, repository: str, stored: StoredReferrer) -> SbomReferrer:
        return cls(
            repository=repository,
            digest=stored.digest,
            media_type=stored.media_type,
            artifact_type=stored.artifact_type,
            size=stored.size,
            subject=stored.subject,
            created=stored.created,
        )


class VexStatement(WireModel):
    id: int
    vulnerability: str
    product: str
    subcomponent: str | None
    status: str
    justification: str | None
    impact_statement: str | None = Field(serialization_alias="impactStatement")

    @classmethod
    def of(cls, s: Statement) -> VexStatement:
        return cls(
            id=s.pk,
            vulnerability=s.vuln_id,
            product=s.product,
            subcomponent=s.subcomponent,
            status=s.status,
            justification=s.justification,
            impact_statement=s.impact_statement,
        )


class VexDocument(WireModel):
    id: str
    imported_by: str = Field(serialization_alias="importedBy")
    imported_at: Timestamp = Field(serialization_alias="importedAt")
    statements: list[VexStatement]

    @classmethod
    def group(cls, rows: list[Statement]) -> list[VexDocument]:
        by_doc: dict[str, list[Statement]] = defaultdict(list)
        for row in rows:
            by_doc[row.document_id].append(row)
        return [
            cls(
                id=doc,
                imported_by=found[0].created_by,
                imported_at=found[0].created_at,
                statements=[VexStatement.of(s) for s in found],
            )
            for doc, found in sorted(by_doc.items())
        ]


class VexImport(WireModel):
    """``POST /api/v0/imagescan/vex``: what the document held and what it changed."""

    id: str
    author: str
    version: int
    statements: int
    replaced: int
    images_evaluated: int = Field(serialization_alias="imagesEvaluated")
    findings_suppressed: int = Field(serialization_alias="findingsSuppressed")

    @classmethod
    def of(cls, outcome: Imported) -> VexImport:
        return cls(
            id=outcome.document.id,
            author=outcome.document.author,
            version=outcome.document.version,
            statements=len(outcome.document.rows),
            replaced=outcome.replaced,
            images_evaluated=outcome.applied.images,
            findings_suppressed=outcome.applied.suppressed,
        )
