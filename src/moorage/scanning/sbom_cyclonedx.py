"""An image's scan as a CycloneDX 1.5 JSON document, built and serialised by
cyclonedx-python-lib (its model, its licence factory, its JSON 1.5 writer).

The image is ``metadata.component`` (type ``container``, its ``pkg:oci`` purl); the operating
system and every stored component are ``components`` the image depends on; each component
carries its purl, its licences and, as properties, the layer that introduced it (digest and
index) and the file that records it. A licence string is a licence by SPDX ID, an SPDX
expression (``sbom_source.spdx_expression``: no alias guessed) or a licence by name. Written by
hand: how several strings become one licence choice, because CycloneDX 1.5 allows either a list
of licences or exactly one expression (the library refuses a mix): several strings that are all
SPDX become one ``(a) AND (b)`` expression, otherwise each is a licence by ID or by name.

The document is a function of the scan: its serial number and timestamp come from the image,
the tag and the scan's completion time, so exporting the same scan twice gives the same bytes
(and storing it as a referrer twice stores one artifact).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.output.json import JsonV1Dot5
from cyclonedx.spdx import fixup_id

from moorage import __version__
from moorage.scanning.purls import OS_TYPES, component_purl, image_purl
from moorage.scanning.sbom_source import SbomTarget, ScanResult, StoredComponent, spdx_expression

PROPERTY_PREFIX = "moorage"
MEDIA_TYPE = "application/vnd.cyclonedx+json"


def _licence(value: str) -> License:
    factory = LicenseFactory()
    ident = fixup_id(value)
    if ident is not None:
        return factory.make_with_id(ident)
    expression = spdx_expression(value)
    if expression is not None:
        return LicenseExpression(expression)
    return factory.make_with_name(value)


def licence_choice(values: Iterable[str]) -> list[License]:
    """CycloneDX licences for a package's licence strings (see the module docstring)."""
    strings = list(dict.fromkeys(v for v in values if v))
    made = [_licence(v) for v in strings]
    if len(made) > 1 and any(isinstance(m, LicenseExpression) for m in made):
        expressions = [spdx_expression(v) for v in strings]
        if all(expressions):
            return [LicenseExpression(" AND ".join(f"({e})" for e in expressions))]
        return [DisjunctiveLicense(name=v) for v in strings]
    return made


def _properties(c: StoredComponent) -> list[Property]:
    props = [
        Property(name=f"{PROPERTY_PREFIX}:layer:digest", value=c.layer_digest),
        Property(name=f"{PROPERTY_PREFIX}:layer:index", value=str(c.layer_index)),
        Property(name=f"{PROPERTY_PREFIX}:package:path", value=c.path),
    ]
    ident = c.identity
    if ident.source_name:
        source = ident.source_name
        if ident.source_version:
            source = f"{source} {ident.source_version}"
        props.append(Property(name=f"{PROPERTY_PREFIX}:package:source", value=source))
    return props


def _seed(kind: str, result: ScanResult, target: SbomTarget) -> uuid.UUID:
    return uuid.uuid5(
        uuid.NAMESPACE_URL,
        f"moorage:{kind}:{target.repository}:{target.tag or ''}:{result.digest}:"
        f"{result.completed_at.isoformat()}",
    )


def document(result: ScanResult, target: SbomTarget) -> bytes:
    """The CycloneDX 1.5 JSON document of ``result`` (the scan of ``target``)."""
    bom = Bom(serial_number=_seed("cyclonedx", result, target))
    bom.metadata.timestamp = result.completed_at
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="moorage", version=__version__)
    )
    subject_purl = image_purl(
        target.repository, result.digest, registry_host=target.registry_host, tag=target.tag
    )
    image_props = [Property(name=f"{PROPERTY_PREFIX}:image:digest", value=result.digest)]
    if target.tag:
        image_props.append(Property(name=f"{PROPERTY_PREFIX}:image:tag", value=target.tag))
    image = Component(
        type=ComponentType.CONTAINER,
        name=target.repository,
        version=result.digest,
        purl=subject_purl,
        bom_ref=subject_purl.to_string(),
        properties=image_props,
    )
    bom.metadata.component = image
    parts: list[Component] = []
    if result.os.id:
        parts.append(
            Component(
                type=ComponentType.OPERATING_SYSTEM,
                name=result.os.id,
                version=result.os.version_id,
                description=result.os.pretty_name,
                bom_ref=f"os:{result.os.distro}",
            )
        )
    seen: dict[str, int] = {}
    for c in result.components:
        purl = component_purl(c.identity, result.os)
        text = purl.to_string()
        seen[text] = seen.get(text, 0) + 1
        ref = text if seen[text] == 1 else f"{text}#{seen[text]}"
        group = c.identity.namespace if c.identity.type not in OS_TYPES else None
        parts.append(
            Component(
                type=ComponentType.LIBRARY,
                name=c.identity.name,
                version=c.identity.version,
                group=group,
                purl=purl,
                bom_ref=ref,
                licenses=licence_choice(c.licenses),
                properties=_properties(c),
            )
        )
    for part in parts:
        bom.components.add(part)
    bom.register_dependency(image, parts)
    return JsonV1Dot5(bom).output_as_string(indent=2).encode()
