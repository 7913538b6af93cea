"""An image's scan as an SPDX 2.3 JSON document, built, validated and written by spdx-tools.

The document DESCRIBES the image (a package with purpose ``CONTAINER`` and its ``pkg:oci``
purl), which CONTAINS its operating system and every stored component (packages with
``filesAnalyzed: false``, their purl as a ``PACKAGE-MANAGER`` external reference, their
licences as ``licenseDeclared``); the layer that introduced a component and the file that
records it are annotations on its package, as Trivy writes them.

Written by hand: licence strings that are not SPDX expressions (Debian's ``GPL-2+``, a
``BSD-style``) become ``LicenseRef-`` identifiers declared once in
``hasExtractedLicensingInfos`` with the original text, so every ``licenseDeclared`` is a valid
expression; several strings are joined with ``AND``. The namespace, the package IDs and the
dates are derived from the scan, so the same scan gives the same document.
"""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

from license_expression import ExpressionError  # type: ignore[import-untyped]
from spdx_tools.common.spdx_licensing import spdx_licensing  # type: ignore[import-untyped]
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.annotation import Annotation, AnnotationType
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.extracted_licensing_info import ExtractedLicensingInfo
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
)
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from moorage import __version__
from moorage.scanning.purls import component_purl, image_purl
from moorage.scanning.sbom_source import SbomTarget, ScanResult, StoredComponent, spdx_expression

MEDIA_TYPE = "application/spdx+json"
IMAGE_ID = "SPDXRef-Image"
OS_ID = "SPDXRef-OperatingSystem"
_NOT_IDSTRING = re.compile(r"[^A-Za-z0-9.\-]+")


class _Licences:
    """Turns licence strings into SPDX expressions, collecting the ``LicenseRef-`` it needs."""

    def __init__(self) -> None:
        self.refs: dict[str, str] = {}  # original text -> LicenseRef id
        self._ids: set[str] = set()

    def _ref(self, text: str) -> str:
        if text not in self.refs:
            base = "LicenseRef-" + (_NOT_IDSTRING.sub("-", text).strip("-")[:60] or "unnamed")
            ident, n = base, 1
            while ident in self._ids:
                n += 1
                ident = f"{base}-{n}"
            self._ids.add(ident)
            self.refs[text] = ident
        return self.refs[text]

    def _one(self, text: str) -> str:
        return spdx_expression(text) or self._ref(text)

    def expression(self, values: tuple[str, ...]) -> Any:
        strings = list(dict.fromkeys(v for v in values if v))
        if not strings:
            return SpdxNoAssertion()
        parts = [self._one(v) for v in strings]
        text = parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)
        # ``simple``: the symbols as written (the library's aliases would turn a
        # ``LicenseRef-GPL`` back into ``GPL-1.0-or-later``).
        try:
            return spdx_licensing.parse(text, simple=True)
        except ExpressionError:  # a normalized expression that still does not parse
            return spdx_licensing.parse(" AND ".join(self._ref(v) for v in strings), simple=True)

    def extracted(self) -> list[ExtractedLicensingInfo]:
        return [
            ExtractedLicensingInfo(license_id=ident, extracted_text=text, license_name=text)
            for text, ident in self.refs.items()
        ]


def _annotations(spdx_id: str, c: StoredComponent, tool: Actor, result: ScanResult) -> list[Any]:
    notes = [
        f"moorage:layer:digest={c.layer_digest}",
        f"moorage:layer:index={c.layer_index}",
        f"moorage:package:path={c.path}",
    ]
    return [
        Annotation(spdx_id, AnnotationType.OTHER, tool, result.completed_at, note) for note in notes
    ]


def _purl_ref(locator: str) -> ExternalPackageRef:
    return ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", locator)


def _namespace(result: ScanResult, target: SbomTarget) -> str:
    host = target.registry_host or "moorage.invalid"
    seed = uuid.uuid5(
        uuid.NAMESPACE_URL,
        f"moorage:spdx:{target.repository}:{target.tag or ''}:{result.digest}:"
        f"{result.completed_at.isoformat()}",
    )
    return f"https://{host}/spdx/{target.repository}/{result.digest.replace(':', '-')}-{seed}"


def document(result: ScanResult, target: SbomTarget) -> bytes:
    """The SPDX 2.3 JSON document of ``result``; spdx-tools validates it before writing."""
    tool = Actor(ActorType.TOOL, f"moorage-{__version__}")
    name = f"{target.repository}@{result.digest}"
    creation = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=name,
        document_namespace=_namespace(result, target),
        creators=[tool],
        created=result.completed_at,
    )
    subject = image_purl(
        target.repository, result.digest, registry_host=target.registry_host, tag=target.tag
    )
    packages = [
        Package(
            IMAGE_ID,
            target.repository,
            SpdxNoAssertion(),
            version=result.digest,
            files_analyzed=False,
            primary_package_purpose=PackagePurpose.CONTAINER,
            external_references=[_purl_ref(subject.to_string())],
        )
    ]
    relationships = [
        Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, IMAGE_ID),
    ]
    annotations: list[Any] = []
    if result.os.id:
        packages.append(
            Package(
                OS_ID,
                result.os.id,
                SpdxNoAssertion(),
                version=result.os.version_id,
                files_analyzed=False,
                description=result.os.pretty_name,
                primary_package_purpose=PackagePurpose.OPERATING_SYSTEM,
            )
        )
        relationships.append(Relationship(IMAGE_ID, RelationshipType.CONTAINS, OS_ID))
    licences = _Licences()
    for c in result.components:
        spdx_id = f"SPDXRef-Package-{_NOT_IDSTRING.sub('-', c.identity.type)}-{c.pk}"
        packages.append(
            Package(
                spdx_id,
                c.identity.name,
                SpdxNoAssertion(),
                version=c.identity.version,
                files_analyzed=False,
                license_declared=licences.expression(c.licenses),
                license_concluded=SpdxNoAssertion(),
                copyright_text=SpdxNoAssertion(),
                source_info=f"acquired package info from {c.path}",
                primary_package_purpose=PackagePurpose.LIBRARY,
                external_references=[_purl_ref(component_purl(c.identity, result.os).to_string())],
            )
        )
        relationships.append(Relationship(IMAGE_ID, RelationshipType.CONTAINS, spdx_id))
        annotations.extend(_annotations(spdx_id, c, tool, result))
    doc = Document(
        creation,
        packages=packages,
        relationships=relationships,
        annotations=annotations,
        extracted_licensing_info=licences.extracted(),
    )
    out = io.StringIO()
    write_document_to_stream(doc, out, validate=True)  # raises ValueError when invalid
    return out.getvalue().encode()
