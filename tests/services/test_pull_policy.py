"""The pull policy's rule on crafted facts: what is exempt (referrers, signatures, never a
runnable image), a finding's level, the severity rule on stored scan reports (fail closed), which
images an index is judged by; and the stored policies (the repository's own wins, one statement
per request, remembered)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from moorage.auth import accounts
from moorage.db import request_memo
from moorage.oci.manifest import parse_manifest
from moorage.registry import repositories
from moorage.registry.context import RegistryContext
from moorage.scanning import reports
from moorage.services import pull_policy
from moorage.trust.signatures.trust_stores import NAMESPACE, REPOSITORY, Scope
from tests.db.statement_log import StatementLog
from tests.trust.signature_craft import (
    COSIGN_ARTIFACT,
    EMPTY,
    NOTARY_SIGNATURE,
    OCI_CONFIG,
    OCI_MANIFEST,
    SIMPLE_SIGNING,
)

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
TAR = "application/vnd.oci.image.layer.v1.tar+gzip"
D = "sha256:" + "a" * 64
E = "sha256:" + "b" * 64
NOW = dt.datetime.now(dt.UTC)


def desc(media_type: str, digest: str = D, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": 10, **extra}


def manifest(config: str = OCI_CONFIG, layers: tuple[str, ...] = (TAR,), **extra: Any) -> Any:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(config),
        "layers": [desc(m) for m in layers],
        **extra,
    }
    return parse_manifest(json.dumps(doc).encode(), OCI_MANIFEST)


def index(*children: dict[str, Any]) -> Any:
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(children)}
    return parse_manifest(json.dumps(doc).encode(), OCI_INDEX)


def test_referrers_and_signatures_are_exempt() -> None:
    cosign_tag = f"sha256-{'c' * 64}.sig"
    assert pull_policy.exempt(manifest(EMPTY, (SIMPLE_SIGNING,), subject=desc(OCI_MANIFEST)), D)
    assert pull_policy.exempt(manifest(OCI_CONFIG, (SIMPLE_SIGNING,)), cosign_tag)
    assert pull_policy.exempt(manifest(OCI_CONFIG, (SIMPLE_SIGNING,)), D)  # by digest
    assert pull_policy.exempt(manifest(NOTARY_SIGNATURE, ("application/jose+json",)), D)
    sbom = manifest(EMPTY, ("application/spdx+json",), subject=desc(OCI_MANIFEST))
    assert pull_policy.exempt(sbom, D)
    assert pull_policy.exempt(manifest(EMPTY, ("x/y",), artifactType=COSIGN_ARTIFACT), D)
    # An artifact that is neither a referrer nor a signature is policed (a Helm chart).
    chart = manifest("application/vnd.cncf.helm.config.v1+json", ("application/x-tar",))
    assert not pull_policy.exempt(chart, "1.0")


def test_a_runnable_image_is_never_exempt() -> None:
    """Dressing an image as a signature (a subject, a cosign tag, an artifact type) does not
    take it out of the policy."""
    for parsed, reference in (
        (manifest(subject=desc(OCI_MANIFEST)), D),
        (manifest(), f"sha256-{'d' * 64}.sig"),
        (manifest(artifactType=COSIGN_ARTIFACT), D),
        (manifest("application/vnd.docker.container.image.v1+json"), "v1"),
    ):
        assert pull_policy._runnable(parsed)
        assert not pull_policy.exempt(parsed, reference)
    assert not pull_policy.exempt(index(desc(OCI_MANIFEST, platform={"os": "linux"})), "v1")


def _finding(severity: str, cvss: float | None, suppressed: str | None = None) -> Any:
    return reports.Finding(
        f"CVE-{severity}-{cvss}", (), severity, cvss, None, None, None, None, suppressed, None
    )


def test_a_findings_level() -> None:
    level = pull_policy.finding_level
    assert [level(_finding("critical", s)) for s in (9.8, 9.0, 8.9, 7.0)] == [
        "critical",
        "critical",
        "high",
        "high",
    ]
    assert [level(_finding("major", s)) for s in (6.9, 4.0, 3.9, 0.1, 0.0)] == [
        "medium",
        "medium",
        "low",
        "low",
        "none",
    ]
    # Without a score: DTR's level read at its worst.
    assert [level(_finding(s, None)) for s in ("critical", "major", "minor", "unknown")] == [
        "critical",
        "medium",
        "low",
        "unknown",
    ]


def _report(status: str, *findings: Any) -> reports.ScanReport:
    counts = reports.count_findings(findings)
    state = reports.ScanState(D, status, None, "debian", counts, 1, NOW, NOW, NOW, 1)
    component = reports.Component(
        1, 0, E, "deb", "openssl", "3", None, None, None, None, "/", (), None, None, findings
    )
    layer = reports.ReportLayer(0, E, TAR, 10, False, (component,))
    return reports.ScanReport(state, (layer,), ())


def test_the_severity_rule_on_scan_reports() -> None:
    problem = pull_policy.severity_problem
    high = _finding("critical", 7.5)
    assert problem({D: _report("scanned", high)}, "high") is None
    assert problem({D: _report("scanned", high)}, "critical") is None
    why = problem({D: _report("scanned", high, _finding("minor", 2.0))}, "medium")
    assert (
        why == f"a high vulnerability ({high.vuln_id} in openssl), above the allowed maximum medium"
    )
    assert problem({D: _report("scanned")}, "none") is None  # clean
    assert "unknown vulnerability" in str(
        problem({D: _report("scanned", _finding("?", None))}, "none")
    )
    # A suppressed finding (override, VEX) does not count.
    assert problem({D: _report("scanned", _finding("critical", 9.9, "vex:1"))}, "none") is None
    # Fail closed: no completed scan, whatever the rule.
    for status in ("not_scanned", "queued", "scanning", "failed"):
        why = problem({D: _report("scanned"), E: _report(status)}, "critical")
        assert why is not None and E in why and status.replace("_", " ") in why


def test_which_images_the_severity_rule_reads() -> None:
    amd = desc(OCI_MANIFEST, D, platform={"os": "linux", "architecture": "amd64"})
    attestation = desc(
        OCI_MANIFEST,
        E,
        platform={"os": "unknown", "architecture": "unknown"},
        annotations={"vnd.docker.reference.type": "attestation-manifest"},
    )
    assert pull_policy.scan_targets(index(amd, attestation), "sha256:" + "f" * 64) == [D]
    # An entry of a real platform is judged, whatever its annotations say (a client that takes
    # no index is served the first linux/amd64 entry).
    dressed = desc(
        OCI_MANIFEST,
        E,
        platform={"os": "linux", "architecture": "amd64"},
        annotations={"vnd.docker.reference.type": "attestation-manifest"},
    )
    assert pull_policy.scan_targets(index(dressed, amd), "sha256:" + "f" * 64) == [E, D]
    assert pull_policy.scan_targets(manifest(), D) == [D]
    chart = manifest("application/vnd.cncf.helm.config.v1+json", ("application/x-tar",))
    assert pull_policy.scan_targets(chart, D) == []


async def test_the_repository_policy_wins_and_is_read_once(
    ctx: RegistryContext, statements: StatementLog
) -> None:
    db = ctx.db
    org = await accounts.create(db, name="team", is_org=True)
    repo = await repositories.ensure(db, "team/app")
    await repositories.ensure(db, "team/other")
    ns, own = Scope(NAMESPACE, "team", org.id), Scope(REPOSITORY, "team/app", repo.id)
    await pull_policy.put(
        db, ns, require_signature=True, max_severity=None, mode="enforce", by="x", now=NOW
    )
    await pull_policy.put(
        db, own, require_signature=False, max_severity="high", mode="audit", by="y", now=NOW
    )
    async with db.read() as conn:
        mine = await pull_policy.in_force(conn, "team/app")
        other = await pull_policy.in_force(conn, "team/other")
        nobody = await pull_policy.in_force(conn, "elsewhere/app")
    assert mine is not None and (mine.scope, mine.max_severity, mine.mode) == (
        REPOSITORY,
        "high",
        "audit",
    )
    assert other is not None and other.scope == NAMESPACE and other.require_signature
    assert nobody is None
    # Set again: replaced, not doubled.
    await pull_policy.put(
        db, own, require_signature=True, max_severity=None, mode="enforce", by="z", now=NOW
    )
    assert await pull_policy.get(db, own) == pull_policy.Policy(
        REPOSITORY, True, None, "enforce", NOW, "z"
    )
    await pull_policy.remove(db, own)
    with pytest.raises(pull_policy.NoSuchPullPolicy):
        await pull_policy.remove(db, own)
    # Within one request: one statement, then the memo (a missing policy is remembered too).
    with request_memo.remembering():
        start = len(statements.started)
        async with db.read() as conn:
            for _ in range(3):
                assert await pull_policy.in_force(conn, "elsewhere/app") is None
        ran = [s for _, s in statements.started[start:] if "pull_policies" in s]
    assert len(ran) == 1
