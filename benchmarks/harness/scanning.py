"""The scanning benchmark's material (``benchmarks/scan.py``): a ~100 MB image of real Debian
packages and Python distributions, a synthetic OSV archive of any size, stored inventories
multiplied in SQL, and the scanner's API calls.

The image is built with the tests' builder (``tests/scanning/realimages.py``: ``apt-get download``,
``dpkg-deb``, ``pip install --target``, layers written and compressed by
``tests/scanning/realimage_layout.py``): layer 1 a debootstrap ``minbase``-like set of Debian 12
packages with their dpkg database, layer 2 Python, Perl, curl, ICU and their libraries installed
on top, layer 3 a site-packages of pinned pure-Python distributions.

Synthetic records are OSV documents shaped like osv.dev's (an id, ``modified``, aliases, a
summary, ~1 KB of details, references, one affected package with an ``ECOSYSTEM`` range) spread
over Debian, PyPI, npm, Go and Maven; one in 50 names a package the image holds, with a fix below
the installed version (the matcher reads it, nothing matches), the rest synthetic names. The
stored inventories for the re-match are copies, made with ``INSERT … SELECT``, of the real
image's scan result under new digests (``image_scans``, components, findings and their IDs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import random
import sqlite3
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.errors import BenchError
from harness.options import ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.scanning.realimage_layout import BuiltImage, Layer, write_image
from tests.scanning.realimages import (
    SITE_PACKAGES,
    Downloads,
    Unreachable,
    dpkg_database,
)

# Debian 12's minbase (Priority: required) and apt, as debootstrap --variant=minbase installs it.
MINBASE_NAMES = (
    "base-files base-passwd bash bsdutils coreutils dash debconf debian-archive-keyring "
    "debianutils diffutils dpkg findutils gcc-12-base gpgv grep gzip hostname "
    "init-system-helpers libacl1 libapt-pkg6.0 libattr1 libaudit-common libaudit1 libblkid1 "
    "libbz2-1.0 libc-bin libc6 libcap-ng0 libcap2 libcrypt1 libdb5.3 libdebconfclient0 "
    "libgcc-s1 libgcrypt20 libgmp10 libgnutls30 libgpg-error0 libhogweed6 libidn2-0 liblz4-1 "
    "liblzma5 libmd0 libmount1 libnettle8 libp11-kit0 libpam-modules libpam-modules-bin "
    "libpam-runtime libpam0g libpcre2-8-0 libseccomp2 libselinux1 libsemanage-common "
    "libsemanage2 libsepol2 libsmartcols1 libstdc++6 libsystemd0 libtasn1-6 libtinfo6 "
    "libudev1 libunistring2 libuuid1 libxxhash0 libzstd1 login mawk mount ncurses-base "
    "ncurses-bin passwd perl-base sed sysvinit-utils tar tzdata usr-is-merged util-linux "
    "util-linux-extra zlib1g apt "
)
MINBASE = tuple(MINBASE_NAMES.split())
TOOLS_NAMES = (
    "python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libexpat1 libffi8 "
    "libsqlite3-0 libssl3 openssl ca-certificates libncursesw6 libreadline8 readline-common "
    "perl perl-modules-5.36 libperl5.36 libgdbm6 libgdbm-compat4 libcurl3-gnutls "
    "libpcre2-8-0 curl libcurl4 libnghttp2-14 libpsl5 librtmp1 libssh2-1 libbrotli1 "
    "libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2 libgssapi-krb5-2 "
    "libldap-2.5-0 libsasl2-2 libsasl2-modules-db libicu72 libxml2 "
)
TOOLS = tuple(TOOLS_NAMES.split())
PYTHON = (
    "Django==3.2.12",
    "botocore==1.29.0",
    "urllib3==1.26.4",
    "requests==2.25.1",
    "idna==2.10",
    "chardet==4.0.0",
    "certifi==2020.12.5",
    "Jinja2==2.11.3",
    "MarkupSafe==2.0.1",
    "PyYAML==5.3.1",
    "jmespath==1.0.1",
    "python-dateutil==2.8.1",
    "six==1.15.0",
    "sqlparse==0.4.1",
    "pytz==2021.1",
    "asgiref==3.3.4",
)
ECOSYSTEMS = (("Debian:12", 40), ("PyPI", 25), ("npm", 20), ("Go", 10), ("Maven", 5))
FILLER = (
    "A synthetic advisory for the scanning benchmark: an attacker who can reach the affected "
    "component may cause a denial of service or read memory they should not. "
) * 5


@dataclass(frozen=True)
class BenchImage:
    image: BuiltImage
    debs: dict[str, str]  # binary package → installed version
    sources: dict[str, str]  # source package → installed source version
    python: dict[str, str]

    @property
    def components(self) -> int:
        return len(self.debs) + len(self.python)


def build_image(cache: Path, layout: Path) -> BenchImage:
    """The ~100 MB image (three gzip layers) in an OCI layout at ``layout``."""
    downloads = Downloads(cache)
    try:
        base = downloads.debs(MINBASE)
        tools = downloads.debs([n for n in dict.fromkeys(TOOLS) if n not in MINBASE])
        site, dists = downloads.pip(*PYTHON)
    except Unreachable as exc:
        raise BenchError(f"cannot build the benchmark image: {exc}") from exc
    everything = [*base, *tools]
    layers = [
        Layer(
            "debootstrap --variant=minbase bookworm",
            trees=[(d.unpacked, "") for d in base],
            files=dpkg_database(base, base),
        ),
        Layer(
            "apt-get install python3.11 perl curl",
            trees=[(d.unpacked, "") for d in tools],
            files=dpkg_database(everything, tools),
        ),
        Layer(f"pip install {len(PYTHON)} distributions", trees=[(site, SITE_PACKAGES)]),
    ]
    image = write_image(layout, "v1", layers, cmd="/bin/bash")
    return BenchImage(
        image,
        debs={d.name: d.version for d in everything},
        sources={d.source[0]: d.source[1] for d in everything},
        python={d.name: d.version for d in dists},
    )


# ---- synthetic OSV records ------------------------------------------------------------------


def _record(i: int, ecosystem: str, name: str, fixed: str) -> dict[str, Any]:
    cve = f"CVE-{2015 + i % 10}-{100000 + i}"
    return {
        "schema_version": "1.6.0",
        "id": f"BENCH-{ecosystem.split(':')[0].upper()}-{i:07d}",
        "modified": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00Z",
        "published": "2023-01-01T00:00:00Z",
        "aliases": [cve],
        "summary": f"Synthetic vulnerability {i} in {name}",
        "details": FILLER,
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"}],
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
        "references": [
            {"type": "ADVISORY", "url": f"https://example.invalid/advisory/{i}"},
            {"type": "WEB", "url": f"https://example.invalid/{cve}"},
        ],
    }


def write_records(path: Path, count: int, image: BenchImage, seed: int = 11) -> int:
    """``count`` synthetic records in a zip at ``path`` (osv.dev's layout); its size."""
    rng = random.Random(seed)
    weights = [w for _, w in ECOSYSTEMS]
    real = {"Debian:12": sorted(image.sources), "PyPI": sorted(image.python)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for i in range(count):
            (ecosystem,) = rng.choices([e for e, _ in ECOSYSTEMS], weights)
            names = real.get(ecosystem)
            if names and i % 50 == 0:
                name, fixed = rng.choice(names), "0.0.1"  # below anything installed
            else:
                name = f"bench-{ecosystem.split(':')[0].lower()}-{rng.randrange(40_000)}"
                fixed = f"{rng.randrange(1, 9)}.{rng.randrange(20)}.{rng.randrange(20)}"
            record = _record(i, ecosystem, name, fixed)
            z.writestr(f"{ecosystem.split(':')[0]}/{record['id']}.json", json.dumps(record))
    return path.stat().st_size


def update_archive(image: BenchImage) -> bytes:
    """One new record that affects every copy of the image: zlib fixed a point above."""
    version = image.sources["zlib"]
    record = _record(9_999_999, "Debian:12", "zlib", f"{version}+bench1")
    record["id"] = "BENCH-UPDATE-ZLIB"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("Debian/BENCH-UPDATE-ZLIB.json", json.dumps(record))
    return buffer.getvalue()


# ---- stored inventories multiplied ----------------------------------------------------------


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def copy_results(db_path: Path, source: str, copies: int) -> float:
    """``copies`` more scan results equal to ``source``'s under new digests; seconds taken."""
    t0 = time.perf_counter()
    db = sqlite3.connect(db_path, timeout=60)
    try:
        scans = [c for c in _columns(db, "image_scans") if c != "manifest_digest"]
        comps = [c for c in _columns(db, "image_scan_components") if c not in ("pk",)]
        finds = [c for c in _columns(db, "image_scan_findings") if c not in ("pk",)]
        (first_c,) = db.execute(
            "SELECT min(pk) FROM image_scan_components WHERE manifest_digest = ?", (source,)
        ).fetchone()
        (first_f,) = db.execute(
            "SELECT min(pk) FROM image_scan_findings WHERE manifest_digest = ?", (source,)
        ).fetchone()
        if first_c is None:
            raise BenchError(f"no stored components for {source}")
        db.execute("BEGIN IMMEDIATE")
        for n in range(copies):
            digest = "sha256:" + hashlib.sha256(f"bench-copy-{n}".encode()).hexdigest()
            db.execute(
                f"INSERT INTO image_scans (manifest_digest, {', '.join(scans)}) "
                f"SELECT ?, {', '.join(scans)} FROM image_scans WHERE manifest_digest = ?",
                (digest, source),
            )
            _copy_rows(db, "image_scan_components", comps, digest, source, {}, first_c)
            if first_f is not None:
                offset = _copy_rows(
                    db, "image_scan_findings", finds, digest, source, {"component_pk": 0}, first_f
                )
                db.execute(
                    "INSERT INTO image_scan_finding_ids (finding_pk, vuln_id) "
                    "SELECT i.finding_pk + ?, i.vuln_id FROM image_scan_finding_ids i "
                    "JOIN image_scan_findings f ON f.pk = i.finding_pk "
                    "WHERE f.manifest_digest = ?",
                    (offset, source),
                )
        db.commit()
    finally:
        db.close()
    return time.perf_counter() - t0


def _copy_rows(
    db: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    digest: str,
    source: str,
    shifted: dict[str, int],
    first: int,
) -> int:
    """Rows of ``source`` in ``table`` copied for ``digest``; the pk offset of the copies.
    ``shifted`` columns (component_pk) follow the components copied just before."""
    (start,) = db.execute(f"SELECT coalesce(max(pk), 0) + 1 FROM {table}").fetchone()
    offset = int(start) - int(first)
    if shifted:
        (comp_first,) = db.execute(
            "SELECT min(pk) FROM image_scan_components WHERE manifest_digest = ?", (digest,)
        ).fetchone()
        (src_first,) = db.execute(
            "SELECT min(pk) FROM image_scan_components WHERE manifest_digest = ?", (source,)
        ).fetchone()
        shifted = {c: int(comp_first) - int(src_first) for c in shifted}
    values = [
        "?" if c == "manifest_digest" else (f"{c} + {shifted[c]}" if c in shifted else c)
        for c in columns
    ]
    db.execute(
        f"INSERT INTO {table} (pk, {', '.join(columns)}) "
        f"SELECT pk + {offset}, {', '.join(values)} FROM {table} WHERE manifest_digest = ? "
        "ORDER BY pk",
        (digest, source),
    )
    return offset


# ---- the scanner's API ----------------------------------------------------------------------


def wait_job(http: httpx.Client, job_id: str, timeout: float) -> dict[str, Any]:
    """The job once finished (``done`` or not), polled every 50 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/api/v0/jobs/{job_id}").raise_for_status().json()
        if job["status"] in ("done", "errored", "canceled", "worker_dead"):
            if job["status"] != "done":
                logs = http.get(f"/api/v0/jobs/{job_id}/logs").text[-2000:]
                raise BenchError(f"job {job['action']} {job_id} {job['status']}: {logs}")
            return job
        time.sleep(0.05)
    raise BenchError(f"job {job_id} not finished after {timeout:.0f} s")


def job_seconds(job: dict[str, Any]) -> float:
    """endedAt - startedAt of a finished job (milliseconds in the API)."""

    def at(key: str) -> float:
        return dt.datetime.fromisoformat(str(job[key]).replace("Z", "+00:00")).timestamp()

    return at("endedAt") - at("startedAt")


def latest_job(http: httpx.Client, action: str, after: set[str]) -> str | None:
    found = http.get("/api/v0/jobs", params={"action": action}).raise_for_status().json()
    ids = [j["id"] for j in found["jobs"] if j["id"] not in after]
    return ids[0] if ids else None


# ---- CPU of the serving process tree --------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) spent by ``pid`` and every process below it, live or gone:
    each live process's own time plus its waited-for children's (``cutime`` / ``cstime``), so a
    scan's child process that ended between two samples is still counted, once."""
    parents: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = fields
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        fields = stats.get(current)
        if fields is not None:
            total += sum(int(f) for f in fields[11:15])
        todo += parents.get(current, [])
    return total / os.sysconf("SC_CLK_TCK")


def polling_cpu_rate(http: httpx.Client, pid: int, job_id: str, seconds: float = 3.0) -> float:
    """CPU seconds per second the server's process tree spends while nothing runs but the
    benchmark's polling of a finished job (``wait_job``'s 50 ms GETs): what a job's CPU figure
    carries on top of the job's own work, in proportion to its duration."""
    cpu, t0 = tree_cpu_seconds(pid), time.monotonic()
    while time.monotonic() - t0 < seconds:
        http.get(f"/api/v0/jobs/{job_id}").raise_for_status()
        time.sleep(0.05)
    return (tree_cpu_seconds(pid) - cpu) / (time.monotonic() - t0)
