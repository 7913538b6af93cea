"""Real images end to end: an image built from Debian packages, pip and npm
(``tests/scanning/realimages.py``) pushed with skopeo to a real ``moorage serve`` into a repository
with ``scanOnPush``, scanned by the ``scan`` job, read back through DTR's scan summary API.

The vulnerability archive is written for the test (``tests/scanning/data/realimages``, see its
SOURCES.md): real OSV records for the npm, PyPI and Go packages, and ``Debian:12`` records whose
fixed versions are set from the downloaded packages' own versions (a point above the installed
one, checked with ``dpkg --compare-versions``), imported offline through the API. For each
package the archive holds a record that affects it and, where one exists, a real one that does
not (fixed at or below the installed version), and records for the packages the top layer
removes. Then an online update from a feed on 127.0.0.1 adds a real record, and the re-match
finds it while the image's layer blobs are moved out of the store (no layer is read again).
Runs on SQLite and PostgreSQL (``--db sqlite,postgres``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.version import Version

from tests.clients.conftest import ClientEnv, client_environment, requires
from tests.conftest import RunningRegistry
from tests.scanning.realimages import Downloads, SampleImage, Unreachable, sample_image
from tests.scanning.vulndb.archives import FeedServer, feed_server, zip_bytes

pytestmark = [
    pytest.mark.clients,
    pytest.mark.slow,
    requires("skopeo", "apt-get", "dpkg-deb", "dpkg", "go", "npm"),
]

DATA = Path(__file__).parent / "data"
RECORDS = DATA / "realimages"
MINIMIST_OLD = DATA / "vulndb" / "osv" / "npm" / "GHSA-vh95-rmgr-6w4m.json"
REPO = "admin/realimage"
SCAN = "/api/v0/imagescan"
WAIT = 180.0
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
MEDIUM = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"  # 5.5


# ---- the archive written for the test -------------------------------------------------------


def dpkg_lt(a: str, b: str) -> bool:
    """``dpkg --compare-versions a lt b``: the reference for Debian versions."""
    proc = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False, timeout=10)
    return proc.returncode == 0


def security_update(version: str) -> str:
    """The next Debian 12 security update of ``version`` (``…+deb12u1`` → ``…+deb12u2``)."""
    head, sep, n = version.rpartition("+deb12u")
    fixed = f"{head}+deb12u{int(n) + 1}" if sep and n.isdigit() else f"{version}+deb12u1"
    assert dpkg_lt(version, fixed), (version, fixed)
    return fixed


def debian_record(
    record_id: str,
    source: str,
    *,
    fixed: str | None = None,
    versions: tuple[str, ...] = (),
    vector: str | None = None,
    upstream: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A record as osv.dev publishes Debian's (``DEBIAN-CVE-…``: the source package, ranges in
    its versions, the CVE as ``upstream``)."""
    affected: dict[str, Any] = {
        "package": {"ecosystem": "Debian:12", "name": source, "purl": f"pkg:deb/debian/{source}"}
    }
    if fixed is not None:
        events = [{"introduced": "0"}, {"fixed": fixed}]
        affected["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    if versions:
        affected["versions"] = list(versions)
    record: dict[str, Any] = {
        "schema_version": "1.7.0",
        "id": record_id,
        "modified": "2024-06-01T10:00:00Z",
        "published": "2023-10-14T02:15:00Z",
        "upstream": list(upstream),
        "details": f"Written for Moorage's real-image test ({source}).",
        "affected": [affected],
    }
    if vector:
        record["severity"] = [{"type": "CVSS_V3", "score": vector}]
    return record


@dataclass(frozen=True)
class Want:
    """A finding the scan must report: on which package, its primary ID, every ID, severity."""

    package: str
    vuln_id: str
    ids: frozenset[str]
    severity: str


def _yaml_record(path: Path) -> bytes:
    document = yaml.safe_load(path.read_text())

    def iso(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.isoformat().replace("+00:00", "Z")
        raise TypeError(repr(value))

    return json.dumps(document, indent=2, default=iso).encode()


def offline_archive(sample: SampleImage) -> tuple[bytes, list[Want]]:
    """The archive imported before the push, and the findings it must give on the image."""
    zlib, gosu, urllib3 = sample.one("zlib1g"), sample.one("gosu"), sample.one("urllib3")
    (expat,) = [p for p in sample.removed if p.type == "deb"]
    assert zlib.source_version and gosu.source_version and expat.source_version
    assert gosu.source_version != gosu.version  # a binNMU: advisories name the source version
    old_fix = "1:1.2.11.dfsg-4.1"  # Debian's real fix of CVE-2022-37434, below bookworm's zlib
    assert dpkg_lt(old_fix, zlib.source_version)
    debian = [
        debian_record(
            "DEBIAN-CVE-2023-45853",
            "zlib",
            fixed=security_update(zlib.source_version),
            vector=CRITICAL,
            upstream=("CVE-2023-45853",),
        ),
        debian_record("DEBIAN-CVE-2022-37434", "zlib", fixed=old_fix, upstream=("CVE-2022-37434",)),
        debian_record(
            "DEBIAN-CVE-2024-45490",
            "expat",
            fixed=security_update(expat.source_version),
            vector=CRITICAL,
            upstream=("CVE-2024-45490",),
        ),
        # Only the source version is listed: matching the binary's (…+b10) would miss it.
        debian_record(
            "TEST-DEBIAN-GOSU-0001", "gosu", versions=(gosu.source_version,), vector=MEDIUM
        ),
    ]
    members = {f"debian/{r['id']}.json": json.dumps(r, indent=2).encode() for r in debian}
    for path in sorted((RECORDS / "copied").glob("*.json")) + sorted(
        (RECORDS / "written").glob("*.json")
    ):
        members[f"{path.parent.name}/{path.name}"] = path.read_bytes()
    members[f"npm/{MINIMIST_OLD.name}"] = MINIMIST_OLD.read_bytes()

    wants = [
        Want(
            "zlib1g",
            "CVE-2023-45853",
            frozenset({"CVE-2023-45853", "DEBIAN-CVE-2023-45853"}),
            "critical",
        ),
        Want("gosu", "TEST-DEBIAN-GOSU-0001", frozenset({"TEST-DEBIAN-GOSU-0001"}), "major"),
        Want(
            "urllib3",
            "CVE-2021-33503",
            frozenset({"CVE-2021-33503", "GHSA-q2q7-5pp4-w6pg"}),
            "critical",
        ),
        Want(
            "minimist",
            "CVE-2021-44906",
            frozenset({"CVE-2021-44906", "GHSA-xvch-5gv4-984h"}),
            "critical",
        ),
    ]
    # GO-2023-1751 (no CVSS in Go's records: severity unknown) affects Go before 1.19.9.
    if Version(sample.go_version.removeprefix("go")) < Version("1.19.9"):
        wants.append(
            Want(
                "stdlib", "CVE-2023-24539", frozenset({"CVE-2023-24539", "GO-2023-1751"}), "unknown"
            )
        )
    assert Version(urllib3.version) == Version("1.26.4")  # GHSA-5phf-pp7p-vc2r is fixed in it
    return zip_bytes(members), wants


ONLINE = RECORDS / "copied" / "PYSEC-2023-212.yaml"
ONLINE_WANT = Want(
    "urllib3",
    "CVE-2023-45803",
    frozenset({"CVE-2023-45803", "GHSA-g4mx-q9vg-27p4", "PYSEC-2023-212"}),
    "major",  # CVSS 4.2
)


# ---- the registry, its feed and the pushed image --------------------------------------------


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleImage:
    downloads = Downloads(tmp_path_factory.mktemp("realimage-downloads"))
    try:
        return sample_image(downloads, tmp_path_factory.mktemp("realimage") / "layout")
    except Unreachable as exc:
        pytest.skip(f"the real image cannot be built here: {exc}")


@pytest.fixture(scope="module")
def feed() -> Iterator[FeedServer]:
    with feed_server({}) as server:
        yield server


@pytest.fixture(scope="module")
def registry(registry_factory: Callable[..., RunningRegistry], feed: FeedServer) -> RunningRegistry:
    env = {
        "MOORAGE_VULNERABILITY_FEED_URL": feed.url,
        "MOORAGE_VULNERABILITY_FEED_ALLOWED_NETWORKS": "127.0.0.1/32",
        "MOORAGE_VULNERABILITY_FEED_ECOSYSTEMS": "PyPI",
        "MOORAGE_VULNERABILITY_FEED_SCHEDULED": "false",
    }
    return registry_factory(env=env)


@pytest.fixture(scope="module")
def cenv(tmp_path_factory: pytest.TempPathFactory, registry: RunningRegistry) -> ClientEnv:
    return client_environment(tmp_path_factory.mktemp("realimage-clients"), registry)


def wait_for(
    what: str,
    probe: Callable[[], Any],
    timeout: float = WAIT,
    context: Callable[[], str] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    seen = context() if context is not None else ""
    raise AssertionError(f"timed out waiting for {what}\n{seen}"[:6000])


def jobs_report(http: httpx.Client) -> str:
    """Every job with its status and the end of its log, for a failure's message."""
    lines = []
    for job in http.get("/api/v0/jobs").json()["jobs"]:
        lines.append(f"{job['action']} {job['status']}: {_job_log(http, job['id'])[-800:]}")
    return "\n".join(lines)


def summary(http: httpx.Client, reference: str = "v1") -> dict[str, Any]:
    r = http.get(f"{SCAN}/scansummary/repositories/{REPO}/{reference}")
    assert r.status_code == 200, r.text
    (found,) = r.json()
    assert isinstance(found, dict)
    return found


def finished(http: httpx.Client, status: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        found = summary(http)
        return found if found["status"] in (status, "failed") else None

    return probe


@dataclass
class Pushed:
    summary: dict[str, Any]
    wants: list[Want]
    imported: dict[str, Any]


@pytest.fixture(scope="module")
def pushed(cenv: ClientEnv, registry: RunningRegistry, sample: SampleImage) -> Pushed:
    """The archive imported offline, the repository made with scanOnPush, the image pushed with
    skopeo, and its summary once the scan on push finished."""
    archive, wants = offline_archive(sample)
    with registry.client() as http:
        r = http.put(
            f"{SCAN}/scan/update",
            params={"online": "false"},
            files={"file": ("realimages.zip", archive, "application/zip")},
        )
        assert r.status_code == 200, r.text
        imported = r.json()
        r = http.post(
            "/api/v0/repositories/admin",
            json={"name": "realimage", "visibility": "private", "scanOnPush": True},
        )
        assert r.status_code == 201, r.text
        cenv.skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--preserve-digests",
            sample.image.oci_ref,
            cenv.ref(f"{REPO}:v1"),
        )
        found = wait_for(
            "the scan on push",
            finished(http, "scanned"),
            context=lambda: f"{summary(http)}\n{jobs_report(http)}",
        )
    return Pushed(found, wants, imported)


def findings_by_layer(found: dict[str, Any]) -> dict[str, dict[tuple[str, str, str], set[Want]]]:
    """Layer digest → (type, name, version) of each component → its findings."""
    out: dict[str, dict[tuple[str, str, str], set[Want]]] = {}
    for layer in found["layer_details"]:
        components = out.setdefault(layer["sha256sum"], {})
        for c in layer["components"]:
            key = (c["type"], c["component"], c["version"])
            assert key not in components, f"{key} twice in {layer['sha256sum']}"
            components[key] = {
                Want(
                    c["component"],
                    v["vuln"]["cve"],
                    frozenset(v["vuln"]["ids"]),
                    v["vuln"]["severity"],
                )
                for v in c["vulns"]
            }
    return out


def expected_by_layer(
    sample: SampleImage, wants: list[Want]
) -> dict[str, dict[tuple[str, str, str], set[Want]]]:
    digests = [layer.digest for layer in sample.image.layers]
    out: dict[str, dict[tuple[str, str, str], set[Want]]] = {d: {} for d in digests}
    for p in sample.present:
        out[digests[p.layer]][(p.type, p.name, p.version)] = {
            w for w in wants if w.package == p.name
        }
    return out


# ---- the tests ------------------------------------------------------------------------------


def test_offline_import_took_every_record(pushed: Pushed) -> None:
    # 4 Debian records, 2 copied JSON records, 2 written ones, GHSA-vh95-rmgr-6w4m
    assert pushed.imported["records"] == 9, pushed.imported
    assert pushed.imported["counts"]["added"] == 9, pushed.imported


def test_scan_on_push_reports_exactly_the_expected_findings_per_layer(
    pushed: Pushed, sample: SampleImage, registry: RunningRegistry
) -> None:
    with registry.client() as http:  # nothing but the push asked for it
        scans = http.get("/api/v0/jobs", params={"action": "scan"}).json()["jobs"]
    assert [j["status"] for j in scans] == ["done"], scans
    found = pushed.summary
    assert found["status"] == "scanned", found.get("reason")
    assert found["manifestDigest"] == sample.image.digest
    assert found["check_completed_at"]
    assert [layer["sha256sum"] for layer in found["layer_details"]] == [
        layer.digest for layer in sample.image.layers
    ]
    assert findings_by_layer(found) == expected_by_layer(sample, pushed.wants)
    severities = [w.severity for w in pushed.wants]
    assert (found["critical"], found["major"], found["minor"]) == (
        severities.count("critical"),
        severities.count("major"),
        severities.count("minor"),
    )


def test_fixed_versions_and_sources_come_from_the_records(
    pushed: Pushed, sample: SampleImage
) -> None:
    vulns = {
        v["vuln"]["cve"]: v["vuln"]
        for layer in pushed.summary["layer_details"]
        for c in layer["components"]
        for v in c["vulns"]
    }
    zlib = sample.one("zlib1g")
    assert zlib.source_version is not None
    assert vulns["CVE-2023-45853"]["fixedVersion"] == security_update(zlib.source_version)
    assert vulns["CVE-2021-33503"]["fixedVersion"] == "1.26.5"
    assert vulns["CVE-2021-44906"]["fixedVersion"] == "1.2.6"
    assert vulns["CVE-2023-45853"]["cvss"] == pytest.approx(9.8)


def test_packages_removed_by_an_upper_layer_are_absent(pushed: Pushed, sample: SampleImage) -> None:
    names = {
        c["component"] for layer in pushed.summary["layer_details"] for c in layer["components"]
    }
    for gone in sample.removed:
        assert gone.name not in names, f"{gone.name} was removed by the top layer"
    ids = {i for w in pushed.wants for i in w.ids}
    assert "DEBIAN-CVE-2024-45490" not in ids  # expat's record: its package is gone


def test_other_users_see_nothing_of_the_private_scan(
    pushed: Pushed, registry: RunningRegistry
) -> None:
    with registry.client(auth=None) as anonymous:
        r = anonymous.get(f"{SCAN}/scansummary/repositories/{REPO}/v1")
        assert r.status_code in (401, 404), r.text
        assert "CVE-" not in r.text
        r = anonymous.put(f"{SCAN}/scan/update", params={"online": "true"})
        assert r.status_code == 401


@contextlib.contextmanager
def layers_moved_away(
    registry: RunningRegistry, sample: SampleImage, aside: Path
) -> Iterator[None]:
    """The image's layer blobs out of the store, so any read of them fails; put back after."""
    moved = []
    for layer in sample.image.layers:
        hexdigest = layer.digest.removeprefix("sha256:")
        blob = registry.data / "storage" / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data"
        assert blob.is_file(), blob
        shutil.move(blob, aside / hexdigest)
        moved.append((aside / hexdigest, blob))
    try:
        yield
    finally:
        for source, target in moved:
            shutil.move(source, target)


def test_online_update_is_rematched_without_reading_a_layer(
    pushed: Pushed,
    sample: SampleImage,
    registry: RunningRegistry,
    feed: FeedServer,
    tmp_path: Path,
) -> None:
    online = {f"{ONLINE.stem}.json": _yaml_record(ONLINE)}
    feed.archives["PyPI"] = zip_bytes(online)
    feed.requested.clear()  # one feed serves the module's registries (one per --db kind)
    with registry.client() as http, layers_moved_away(registry, sample, tmp_path):
        r = http.get(f"/v2/{REPO}/blobs/{sample.image.layers[0].digest}")
        assert r.status_code >= 400  # the store really lacks them now
        r = http.put(f"{SCAN}/scan/update", params={"online": "true"})
        assert r.status_code == 200, r.text
        update = r.json()["id"]
        wait_for("the online update", lambda: _job(http, update)["status"] in ("done", "errored"))
        assert _job(http, update)["status"] == "done", _job_log(http, update)

        def rematched() -> dict[str, Any] | None:
            found = summary(http)
            names = {
                w.vuln_id
                for ws in findings_by_layer(found).values()
                for s in ws.values()
                for w in s
            }
            return found if ONLINE_WANT.vuln_id in names or found["status"] == "failed" else None

        found = wait_for(
            "the re-match", rematched, context=lambda: f"{summary(http)}\n{jobs_report(http)}"
        )
    assert feed.requested == ["/PyPI/all.zip"]
    assert found["status"] == "scanned", found.get("reason")
    assert findings_by_layer(found) == expected_by_layer(sample, [*pushed.wants, ONLINE_WANT])
    assert found["major"] == pushed.summary["major"] + 1


def _job(http: httpx.Client, job_id: str) -> dict[str, Any]:
    r = http.get(f"/api/v0/jobs/{job_id}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def _job_log(http: httpx.Client, job_id: str) -> str:
    r = http.get(f"/api/v0/jobs/{job_id}/logs")
    return r.text[-3000:]
