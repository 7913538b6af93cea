"""The rows of a scan export (``GET .../export``, CSV or JSON): one per component and finding of
an image's report, and one per component without a finding, so the export is the whole inventory
with what affects it."""

from __future__ import annotations

from moorage.scanning.reports import ScanReport

EXPORT_COLUMNS = (
    "repository",
    "tag",
    "platform",
    "manifest_digest",
    "scan_status",
    "layer",
    "layer_digest",
    "component",
    "version",
    "type",
    "source",
    "path",
    "licenses",
    "vulnerability",
    "aliases",
    "severity",
    "cvss",
    "fixed_version",
    "fix_status",
    "suppressed",
    "summary",
)


def export_rows(
    report: ScanReport, *, repository: str, tag: str, platform: str
) -> list[dict[str, str]]:
    """One row per (component, finding), and one per component without a finding: the whole
    inventory with what affects it. A scan that is not complete is one row saying so."""
    base = {
        "repository": repository,
        "tag": tag,
        "platform": platform,
        "manifest_digest": report.state.manifest_digest,
        "scan_status": report.state.status
        + (f": {report.state.reason}" if report.state.reason else ""),
    }
    empty = dict.fromkeys(EXPORT_COLUMNS, "")
    if not report.state.scanned:
        return [{**empty, **base}]
    rows: list[dict[str, str]] = []
    for layer in report.layers:
        for c in layer.components:
            part = {
                **empty,
                **base,
                "layer": str(layer.index + 1),
                "layer_digest": layer.digest,
                "component": c.name,
                "version": c.version,
                "type": c.type,
                "source": f"{c.source_name} {c.source_version or ''}".strip()
                if c.source_name
                else "",
                "path": c.path,
                "licenses": " ".join(c.licenses),
            }
            if c.match_problem:
                part["fix_status"] = f"not matched: {c.match_problem}"
            if not c.findings:
                rows.append(part)
            for f in c.findings:
                rows.append(
                    {
                        **part,
                        "vulnerability": f.vuln_id,
                        "aliases": " ".join(i for i in f.ids if i != f.vuln_id),
                        "severity": f.severity,
                        "cvss": "" if f.cvss is None else f"{f.cvss:.1f}",
                        "fixed_version": f.fixed_version or "",
                        "fix_status": f.status or "",
                        "suppressed": (f.suppression_reason or f.suppressed_by or "")
                        if f.suppressed
                        else "",
                        "summary": f.summary or "",
                    }
                )
    return rows
