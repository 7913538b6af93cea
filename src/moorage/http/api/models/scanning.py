"""DTR's scan summary objects (``/api/v0/imagescan/scansummary/...``, ``layeroverride``), with
DTR 2.7's names (its Swagger: ``responses.ScanSummary``, ``schema.ScannedImage``,
``responses.OldScanSummary`` …).

DTR 2.7 describes a summary twice: the current ``ScanSummary`` (``scanStatus``, ``scannedImage``,
``shouldRescan``) and the older flat one (``critical``, ``major``, ``minor``,
``last_scan_status``, ``check_completed_at``, ``layer_details``) that its tags still carry as
``vuln_summary``. A summary here carries both, and says in words what DTR's numbers mean:
``status`` (``scanned``, ``queued``, ``scanning``, ``failed``, ``not_scanned``) and, for a
failed scan, ``reason``, so a scan that failed never reads as "0 vulnerabilities".

DTR's numeric scan status (``scanStatus``, ``last_scan_status``) is not enumerated in its
Swagger; the values here follow its web UI's reading (0 failed, 1 not scanned, 2 scanning,
3 queued, 6 completed) and are written by hand for that reason.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from moorage.http.api.models.imagescan import NEVER, SCANNER_VERSION, ScannerFingerprint
from moorage.http.api.models.jobs import Job
from moorage.http.api.models.wire import Timestamp, WireModel, optional
from moorage.scanning import reports
from moorage.scanning.report_targets import ImageTarget

SCAN_STATUS = {"failed": 0, "not_scanned": 1, "scanning": 2, "queued": 3, "scanned": 6}
SCANNER_TYPE = 1


class ScannerVulnCount(WireModel):
    critical: int
    major: int
    minor: int

    @classmethod
    def of(cls, counts: reports.Counts) -> ScannerVulnCount:
        return cls(critical=counts.critical, major=counts.major, minor=counts.minor)


class ThinScanSummary(ScannerVulnCount):
    """``POST scansummary/tags``: one image's counts, and its scan's status in words."""

    status: str
    reason: str | None = optional()

    @classmethod
    def of_state(cls, state: reports.ScanState) -> ThinScanSummary:
        c = state.counts
        return cls(
            critical=c.critical,
            major=c.major,
            minor=c.minor,
            status=state.status,
            reason=state.reason,
        )


class ThinScanSummaries(WireModel):
    images: dict[str, ThinScanSummary]


class ScannerLicense(WireModel):
    name: str
    type: str
    url: str

    @classmethod
    def named(cls, name: str) -> ScannerLicense:
        return cls(name=name, type="declared", url="")


class ScannerLayer(WireModel):
    digest: str
    media_type: str = Field(serialization_alias="mediaType")
    author: str
    size: int
    components: list[str]  # componentPK of each component the layer introduced


class ScannerComponent(WireModel):
    component_pk: str = Field(serialization_alias="componentPK")
    vuln_count: ScannerVulnCount = Field(serialization_alias="vulnCount")
    name: str
    version: str
    filepaths: list[str]
    cves: list[str]
    licenses: list[str]
    source: str  # the package kind (purl type: deb, apk, rpm, pypi, npm …)
    layer: str  # the digest of the layer that introduced it
    match_problem: str | None = optional("matchProblem")


class ScannerCVE(WireModel):
    cve_pk: str = Field(serialization_alias="cvePK")
    summary: str
    cvss: float
    notes: str
    severity: str
    ids: list[str]


class LayerVulnOverride(WireModel):
    pk: str
    digest: str  # the layer's
    component: str
    component_version: str = Field(serialization_alias="componentVersion")
    cve: str
    notes: str
    created_by: str = Field(serialization_alias="createdBy")
    created_at: Timestamp = Field(serialization_alias="createdAt")

    @classmethod
    def of(cls, o: reports.Override) -> LayerVulnOverride:
        return cls(
            pk=o.id,
            digest=o.layer_digest,
            component=o.component,
            component_version=o.component_version or "",
            cve=o.vuln_id,
            notes=o.notes,
            created_by=o.created_by,
            created_at=o.created_at,
        )


class ScannedImage(WireModel):
    pk: str
    namespace: str
    repository: str
    tag: str
    manifest_digest: str = Field(serialization_alias="manifestDigest")
    total_vuln_count: ScannerVulnCount = Field(serialization_alias="totalVulnCount")
    licenses: list[ScannerLicense]
    layers: list[ScannerLayer]
    components: list[ScannerComponent]
    cves: list[ScannerCVE]
    max_cvss_value: float = Field(serialization_alias="maxCVSSValue")
    scanner_fingerprint: ScannerFingerprint = Field(serialization_alias="scannerFingerprint")
    vuln_overrides: list[LayerVulnOverride] = Field(serialization_alias="vulnOverrides")


class Note(WireModel):
    reason: str
    type: str  # fix | status | suppressed | unmatched


class Vulnerability(WireModel):
    cve: str
    cvss: float
    summary: str
    ids: list[str]  # every ID of the finding (aliases merged)
    severity: str
    cvss_vector: str | None = optional("cvssVector")
    fixed_version: str | None = optional("fixedVersion")
    fix_status: str | None = optional("fixStatus")
    suppressed: bool


class VulnerabilityDetails(WireModel):
    vuln: Vulnerability
    exact: bool
    notes: list[Note]


class License(WireModel):
    name: str
    type: str
    url: str


class Component(WireModel):
    component: str
    version: str
    type: str
    vulns: list[VulnerabilityDetails]
    fullpath: list[str]
    license: License | None = optional()
    licenses: list[str]


class DetailedSummary(WireModel):
    sha256sum: str  # the layer's digest
    media_type: str = Field(serialization_alias="mediaType")
    size: int
    components: list[Component]


class OldScanSummary(WireModel):
    """DTR's flat summary (the deprecated ``imagescan/repositories/...`` and a tag's
    ``vuln_summary``)."""

    namespace: str
    reponame: str
    tag: str
    critical: int
    major: int
    minor: int
    last_scan_status: int
    check_completed_at: Timestamp
    should_rescan: bool
    has_foreign_layers: bool
    layer_details: list[DetailedSummary] | None = optional()
    status: str
    reason: str | None = optional()
    manifest_digest: str = Field(serialization_alias="manifestDigest")
    platform: str


class ScanSummary(OldScanSummary):
    """DTR 2.7's ``responses.ScanSummary`` with the flat summary's fields beside it."""

    scan_status: int = Field(serialization_alias="scanStatus")
    scanned_image: ScannedImage = Field(serialization_alias="scannedImage")
    should_rescan_image: bool = Field(serialization_alias="shouldRescan")


class ExportRow(WireModel):
    """One row of ``.../export`` (JSON; the CSV has the same columns)."""

    repository: str
    tag: str
    platform: str
    manifest_digest: str
    scan_status: str
    layer: str
    layer_digest: str
    component: str
    version: str
    type: str
    source: str
    path: str
    licenses: str
    vulnerability: str
    aliases: str
    severity: str
    cvss: str
    fixed_version: str
    fix_status: str
    suppressed: str
    summary: str


class QueuedScans(WireModel):
    """``POST scan/...`` and ``POST scan``: the jobs the request queued."""

    jobs: list[Job]


# ---- building them -------------------------------------------------------------------------


def _notes(component: reports.Component, finding: reports.Finding) -> list[Note]:
    notes = []
    if finding.fixed_version:
        notes.append(Note(type="fix", reason=f"fixed in {finding.fixed_version}"))
    if finding.status:
        notes.append(Note(type="status", reason=finding.status))
    if finding.suppressed:
        notes.append(Note(type="suppressed", reason=finding.suppression_reason or ""))
    return notes


def _vulnerability(c: reports.Component, f: reports.Finding) -> VulnerabilityDetails:
    return VulnerabilityDetails(
        vuln=Vulnerability(
            cve=f.vuln_id,
            cvss=f.cvss or 0.0,
            summary=f.summary or "",
            ids=list(f.ids),
            severity=f.severity,
            cvss_vector=f.cvss_vector,
            fixed_version=f.fixed_version,
            fix_status=f.status,
            suppressed=f.suppressed,
        ),
        exact=True,
        notes=_notes(c, f),
    )


def _component(c: reports.Component) -> Component:
    return Component(
        component=c.name,
        version=c.version,
        type=c.type,
        vulns=[_vulnerability(c, f) for f in c.findings],
        fullpath=[c.path] if c.path else [],
        license=License(name=c.licenses[0], type="declared", url="") if c.licenses else None,
        licenses=list(c.licenses),
    )


def _layer_details(report: reports.ScanReport) -> list[DetailedSummary]:
    return [
        DetailedSummary(
            sha256sum=layer.digest,
            media_type=layer.media_type,
            size=layer.size,
            components=[_component(c) for c in layer.components],
        )
        for layer in report.layers
    ]


def _flat(
    target: ImageTarget, state: reports.ScanState, report: reports.ScanReport | None, detailed: bool
) -> dict[str, object]:
    completed: dt.datetime = state.completed_at or NEVER
    return {
        "namespace": target.namespace,
        "reponame": target.reponame,
        "tag": target.tag,
        "critical": state.counts.critical,
        "major": state.counts.major,
        "minor": state.counts.minor,
        "last_scan_status": SCAN_STATUS.get(state.status, 1),
        "check_completed_at": completed,
        "should_rescan": state.should_rescan,
        "has_foreign_layers": report.has_foreign_layers if report is not None else False,
        "layer_details": _layer_details(report) if report is not None and detailed else None,
        "status": state.status,
        "reason": state.reason,
        "manifest_digest": target.digest,
        "platform": target.platform,
    }


def old_summary(
    target: ImageTarget, report: reports.ScanReport, *, detailed: bool
) -> OldScanSummary:
    return OldScanSummary.model_validate(_flat(target, report.state, report, detailed))


def _scanned_image(target: ImageTarget, report: reports.ScanReport) -> ScannedImage:
    state = report.state
    cves: dict[str, ScannerCVE] = {}
    components = []
    for c in report.components:
        for f in c.findings:
            if f.vuln_id not in cves:
                cves[f.vuln_id] = ScannerCVE(
                    cve_pk=f.vuln_id,
                    summary=f.summary or "",
                    cvss=f.cvss or 0.0,
                    notes=(f.suppression_reason if f.suppressed else None) or f.status or "",
                    severity=f.severity,
                    ids=list(f.ids),
                )
        components.append(
            ScannerComponent(
                component_pk=str(c.pk),
                vuln_count=ScannerVulnCount.of(c.counts),
                name=c.name,
                version=c.version,
                filepaths=[c.path] if c.path else [],
                cves=[f.vuln_id for f in c.findings if not f.suppressed],
                licenses=list(c.licenses),
                source=c.type,
                layer=c.layer_digest,
                match_problem=c.match_problem,
            )
        )
    generation = state.generation or 0
    return ScannedImage(
        pk=target.digest,
        namespace=target.namespace,
        repository=target.reponame,
        tag=target.tag,
        manifest_digest=target.digest,
        total_vuln_count=ScannerVulnCount.of(state.counts),
        licenses=[ScannerLicense.named(name) for name in report.licenses],
        layers=[
            ScannerLayer(
                digest=layer.digest,
                media_type=layer.media_type,
                author="",
                size=layer.size,
                components=[str(c.pk) for c in layer.components],
            )
            for layer in report.layers
        ],
        components=components,
        cves=sorted(cves.values(), key=lambda v: v.cve_pk),
        max_cvss_value=report.max_cvss,
        scanner_fingerprint=ScannerFingerprint(
            scanner_type=SCANNER_TYPE, version=[str(SCANNER_VERSION), f"vulndb:{generation}"]
        ),
        vuln_overrides=[LayerVulnOverride.of(o) for o in report.overrides],
    )


def summary(target: ImageTarget, report: reports.ScanReport, *, detailed: bool) -> ScanSummary:
    """One image's summary: DTR 2.7's and the flat one's fields (``layer_details`` when
    ``detailed``: every layer with its components and their vulnerabilities)."""
    state = report.state
    return ScanSummary.model_validate(
        {
            **_flat(target, state, report, detailed),
            "scan_status": SCAN_STATUS.get(state.status, 1),
            "scanned_image": _scanned_image(target, report),
            "should_rescan_image": state.should_rescan,
        }
    )
