"""An OpenVEX 0.2.0 document (https://github.com/openvex/spec), checked and flattened into the
rows ``scan_vex_statements`` holds: one per vulnerability by product (by subcomponent).

Pure: bytes in, rows out, or ``VexInvalid`` naming what is wrong and where (``statements[2].
products[0]``), so a bad document writes nothing. Checked as the specification requires: the
``@context`` (``https://openvex.dev/ns`` or ``.../v0.2.0``), ``@id``, ``author``, ``timestamp``,
``version`` ≥ 1 and at least one statement; each statement's vulnerability ``name``, a status
among the four labels, a justification among the five, a ``not_affected`` statement with a
justification or an impact statement, an ``affected`` one with an action statement. Moorage
adds what it needs to apply a statement: at least one product, each named by a package URL
(``@id`` or ``identifiers.purl``): ``pkg:oci/<name>@sha256:...`` for an image, any other purl
for a package; subcomponents likewise by purl. CPEs and hashes alone name nothing Moorage can
find. The model is pydantic (the document is a file format, as OSV records are).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from moorage.errors import DigestInvalid, InvalidInput
from moorage.oci.digest import Digest
from moorage.scanning import purls

CONTEXTS = frozenset({"https://openvex.dev/ns", "https://openvex.dev/ns/v0.2.0"})
Status = Literal["not_affected", "affected", "fixed", "under_investigation"]
Justification = Literal[
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
]
SUPPRESSING = frozenset({"not_affected", "fixed"})
# Statement rows one document may hold (statements by products by subcomponents).
MAX_ROWS = 10_000
MAX_ID = 1024
MAX_VULN = 255
MAX_PROBLEMS = 20


class VexInvalid(InvalidInput):
    """A document that is not OpenVEX 0.2.0, or names products Moorage cannot match."""

    code, default_message = "VEX_INVALID", "invalid OpenVEX document"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Identifiers(_Model):
    purl: str | None = None


class Component(_Model):
    id: str | None = Field(default=None, alias="@id", max_length=MAX_ID)
    identifiers: Identifiers | None = None
    hashes: dict[str, str] | None = None

    @property
    def purl_text(self) -> str | None:
        if self.id and self.id.startswith("pkg:"):
            return self.id
        if self.identifiers and self.identifiers.purl:
            return self.identifiers.purl
        return None


class Product(Component):
    subcomponents: list[Component] = Field(default_factory=list)


class Vulnerability(_Model):
    id: str | None = Field(default=None, alias="@id")
    name: str = Field(min_length=1, max_length=MAX_VULN, pattern=r"\S")
    description: str | None = None
    aliases: list[str] = Field(default_factory=list)


class Statement(_Model):
    id: str | None = Field(default=None, alias="@id")
    version: int | None = Field(default=None, ge=0)
    vulnerability: Vulnerability
    timestamp: dt.datetime | None = None
    last_updated: dt.datetime | None = None
    products: list[Product] = Field(default_factory=list)
    status: Status
    supplier: str | None = None
    status_notes: str | None = None
    justification: Justification | None = None
    impact_statement: str | None = None
    action_statement: str | None = None

    @model_validator(mode="after")
    def _status_needs(self) -> Statement:
        if self.status == "not_affected" and not (self.justification or self.impact_statement):
            raise ValueError("a not_affected statement needs a justification or impact_statement")
        if self.status == "affected" and not self.action_statement:
            raise ValueError("an affected statement needs an action_statement")
        if not self.products:
            raise ValueError("a statement needs at least one product")
        return self


class Document(_Model):
    context: str = Field(alias="@context")
    id: str = Field(alias="@id", min_length=1, max_length=MAX_ID)
    author: str = Field(min_length=1)
    role: str | None = None
    timestamp: dt.datetime
    last_updated: dt.datetime | None = None
    version: int = Field(ge=1)
    tooling: str | None = None
    statements: list[Statement] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_context(self) -> Document:
        if self.context not in CONTEXTS:
            raise ValueError(
                f"@context {self.context[:100]!r} is not OpenVEX 0.2.0 "
                "(https://openvex.dev/ns/v0.2.0)"
            )
        return self


@dataclass(frozen=True, slots=True)
class StatementRow:
    vuln_id: str
    product: str  # canonical purl
    subcomponent: str | None
    status: str
    justification: str | None
    impact_statement: str | None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    id: str
    author: str
    version: int
    timestamp: dt.datetime
    rows: tuple[StatementRow, ...]


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


def _purl(component: Component, where: str, *, image_allowed: bool) -> str:
    text = component.purl_text
    if text is None:
        raise VexInvalid(
            f"{where}: name it by a package URL (@id or identifiers.purl): pkg:oci/<name>@"
            "sha256:<hex> for an image, pkg:<type>/... for a package",
            detail={"at": where},
        )
    try:
        purl = purls.parse(text)
    except ValueError as exc:
        raise VexInvalid(
            f"{where}: {text[:200]!r} is not a package URL: {exc}", detail={"at": where}
        ) from None
    if purl.type == "oci":
        if not image_allowed:
            raise VexInvalid(
                f"{where}: a subcomponent is a package inside the product, not an image",
                detail={"at": where},
            )
        try:
            Digest.parse(purls.image_digest(purl) or "")
        except DigestInvalid:
            raise VexInvalid(
                f"{where}: an image is named by its digest: pkg:oci/<name>@sha256:<hex>",
                detail={"at": where, "purl": text[:200]},
            ) from None
    canonical = str(purl.to_string())
    if len(canonical) > MAX_ID:
        raise VexInvalid(f"{where}: package URL longer than {MAX_ID} characters")
    return canonical


def _rows(doc: Document) -> list[StatementRow]:
    rows: list[StatementRow] = []
    for i, st in enumerate(doc.statements):
        for j, product in enumerate(st.products):
            where = f"statements[{i}].products[{j}]"
            product_purl = _purl(product, where, image_allowed=True)
            subs = [
                _purl(sub, f"{where}.subcomponents[{k}]", image_allowed=False)
                for k, sub in enumerate(product.subcomponents)
            ]
            options: list[str | None] = [*subs] if subs else [None]
            for sub in options:
                rows.append(
                    StatementRow(
                        vuln_id=st.vulnerability.name.strip(),
                        product=product_purl,
                        subcomponent=sub,
                        status=st.status,
                        justification=st.justification,
                        impact_statement=st.impact_statement,
                    )
                )
                if len(rows) > MAX_ROWS:
                    raise VexInvalid(
                        f"the document holds more than {MAX_ROWS} statements "
                        "(vulnerability by product by subcomponent): split it",
                        detail={"limit": MAX_ROWS},
                    )
    return list(dict.fromkeys(rows))


def parse(raw: bytes) -> ParsedDocument:
    """The document's rows; ``VexInvalid`` (400) for anything that is not OpenVEX 0.2.0."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VexInvalid(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise VexInvalid("an OpenVEX document is a JSON object")
    try:
        doc = Document.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"at": _where(tuple(e.get("loc", ()))), "problem": str(e.get("msg", ""))}
            for e in exc.errors()[:MAX_PROBLEMS]
        ]
        first = problems[0]
        raise VexInvalid(
            f"not an OpenVEX 0.2.0 document: {first['at']}: {first['problem']}",
            detail={"problems": problems},
        ) from None
    return ParsedDocument(
        id=doc.id,
        author=doc.author,
        version=doc.version,
        timestamp=doc.timestamp,
        rows=tuple(_rows(doc)),
    )
