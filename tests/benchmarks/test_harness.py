"""The benchmark harness without servers: every module imports, and its pure parts (argument
parsing, wrk's output, percentiles, medians and ratios, the table, the docs block) work."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest
from harness.auth import parse_challenge
from harness.figures import FIGURES, TOKEN_FIGURES, summarize
from harness.loadgen import parse_wrk, percentile
from harness.options import Options
from harness.profiles import FULL, QUICK
from harness.rawhttp import Response, add_param, location_target
from harness.registry_ops import make_image, next_link
from harness.report import DOC_END, DOC_START, table_lines, update_doc
from harness.servers import distribution_config

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
MODULES = sorted(
    ".".join(p.relative_to(BENCHMARKS).with_suffix("").parts).removesuffix(".__init__")
    for p in BENCHMARKS.rglob("*.py")
)

WRK_OUT = """Running 2s test @ http://127.0.0.1:5000/v2/bench/wrk/manifests/latest
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  500.00us  12.00ms   90.00%
    Req/Sec    15.20k     1.00k   16.00k    80.00%
  Latency Distribution
     50%    1.95ms
     75%    2.20ms
     90%    2.60ms
     99%  850.00us
  30400 requests in 2.00s, 40.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec:  15200.50
Transfer/sec:     20.00MB
"""


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_arguments() -> None:
    run = importlib.import_module("run")
    opts = run.parse_args(["--quick", "--rounds", "2", "--moorage-server", "granian"])
    assert isinstance(opts, Options)
    assert (opts.quick, opts.rounds, opts.moorage_server) == (True, 2, "granian")
    assert opts.out == BENCHMARKS / "results" / "latest.json"
    assert opts.distribution == "/usr/bin/docker-registry"
    assert opts.wrk_threads == 1 and not opts.access_logs and not opts.keep
    assert opts.moorage_ref_commit is None and opts.moorage_pythonpath is None
    with pytest.raises(SystemExit):
        run.parse_args(["--moorage-server", "hypercorn"])


def test_profiles() -> None:
    assert (FULL.rounds, FULL.blob_size, QUICK.rounds, QUICK.blob_size) == (
        3,
        256 << 20,
        1,
        32 << 20,
    )
    assert QUICK.wrk_connections == FULL.wrk_connections


def test_wrk_output() -> None:
    stats = parse_wrk(WRK_OUT)
    assert stats["rps"] == 15200.50
    assert stats["requests"] == 30400
    assert stats["p50_ms"] == pytest.approx(1.95)
    assert stats["p99_ms"] == pytest.approx(0.85)
    assert (stats["non2xx"], stats["socket_errors"], stats["timeouts"]) == (5, 3, 3)


def test_percentile() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0], 99) == pytest.approx(1.99)
    assert math.isnan(percentile([], 50))


def test_medians_ratios_and_targets() -> None:
    results = {
        "push_mono_mbps": {
            "moorage": [900.0, 1000.0, 1100.0],
            "distribution": [300.0, 200.0, 250.0],
        },
        "pull_1_mbps": {"moorage": [100.0], "distribution": [200.0]},
        "total_cpu_s": {"moorage": [3.0], "distribution": [0.0]},
    }
    rows = {row["key"]: row for row in summarize(results, {"sha256_mbps": 1200.0})}
    mono = rows["push_mono_mbps"]
    assert (mono["moorage"], mono["distribution"], mono["ratio"]) == (1000.0, 250.0, 4.0)
    assert mono["met"] is True  # >= 3x and >= 0.7 x sha256 (840)
    assert rows["pull_1_mbps"]["met"] is False and rows["pull_1_mbps"]["ratio"] == 0.5
    assert rows["total_cpu_s"]["met"] is None and rows["total_cpu_s"]["ratio"] == math.inf
    for key in TOKEN_FIGURES:  # not measured: a row saying so
        assert rows[key]["moorage"] is None and "not measured" in rows[key].get("note", "")
    assert set(rows) == {"push_mono_mbps", "pull_1_mbps", "total_cpu_s", *TOKEN_FIGURES}
    assert [f.key for f in FIGURES if f.key in rows] == list(rows)  # the table's order


def test_table() -> None:
    results = {"push_mono_mbps": {"moorage": [1000.0], "distribution": [250.0]}}
    rows = summarize(results, {"sha256_mbps": 1200.0})
    text = table_lines(rows, QUICK, 1234.0, markdown=False)
    assert text[0].split() == ["figure", "moorage", "distribution", "ratio", "m/d", "target"]
    assert "push 32 MiB monolithic (MB/s)" in text[2]  # the quick profile's size
    assert text[2].split()[5:8] == ["1000", "250", "4.00x"]
    assert text[2].rstrip().endswith(">=3x and >=0.7 x sha256  met")
    assert "n/a" in text[3] and "not measured" in text[3]
    assert text[-1].startswith("reference: hashlib sha256, one core (MB/s)")
    md = table_lines(rows, FULL, 1234.0, markdown=True)
    assert md[0] == "| figure | moorage | distribution | ratio m/d | target | status |"
    assert md[2] == (
        "| push 256 MiB monolithic (MB/s) | 1000 | 250 | 4.00x | >=3x and >=0.7 x sha256 | met |"
    )


def test_doc_block(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\n\n{DOC_START}\nold table\n{DOC_END}\n\n## After\n")
    report = {
        "machine": {
            "nproc": 2,
            "cpu_model": "cpu",
            "memory_gib": 4.0,
            "kernel": "6.1",
            "os": "Debian",
            "loadavg_start": (1.0, 1.0, 1.0),
            "loadavg_end": (2.0, 2.0, 2.0),
        },
        "versions": {
            "python": "3.11.2",
            "moorage": "moorage 0.1.0",
            "distribution": "docker-registry github.com/docker/distribution 2.8.2+ds1",
            "wrk": "wrk 4.1.0 [epoll]",
            "uvicorn": "0.30",
        },
        "git": {"commit": "abc", "dirty": True},
        "settings": {"moorage_server": "default"},
        "started_at": "2026-12-02T00:00:00+00:00",
        "profile": {"name": "quick", "rounds": 1},
        "duration_s": 42.0,
        "processes_moorage": 1,
        "notes": ["a note"],
        "warnings": [],
    }
    update_doc(doc, report, ["| the | table |"])
    text = doc.read_text()
    assert text.startswith("# Performance\n\n" + DOC_START) and text.endswith(
        f"{DOC_END}\n\n## After\n"
    )
    assert "old table" not in text and "| the | table |" in text and "- a note" in text
    assert "distribution 2.8.2+ds1 (Debian `docker-registry`), wrk 4.1.0" in text
    assert "(with uncommitted changes in src)" in text and "served by uvicorn 0.30" in text


def test_protocol_helpers() -> None:
    challenge = 'Bearer realm="http://127.0.0.1:1/auth/token",service="moorage",scope="x"'
    assert parse_challenge(challenge) == {
        "scheme": "bearer",
        "realm": "http://127.0.0.1:1/auth/token",
        "service": "moorage",
        "scope": "x",
    }
    link = '</v2/bench/tags/tags/list?n=100&last=t00099>; rel="next"'
    assert next_link(link) == "/v2/bench/tags/tags/list?n=100&last=t00099"
    assert next_link("") is None
    assert add_param("/v2/r/blobs/uploads/u?_state=x", "digest", "sha256:ab") == (
        "/v2/r/blobs/uploads/u?_state=x&digest=sha256:ab"
    )
    resp = Response(202, {"location": "http://127.0.0.1:1/v2/r/blobs/uploads/u?s=1"}, b"", 0, None)
    assert location_target(resp, "POST") == "/v2/r/blobs/uploads/u?s=1"
    img = make_image("seed", 64)
    assert len(img.layer) == 64 and img.manifest_digest.startswith("sha256:")
    assert b'"size":64' in img.manifest


def test_distribution_config(tmp_path: Path) -> None:
    text = distribution_config(Options(access_logs=True), 5001, tmp_path, None)
    assert 'addr: "127.0.0.1:5001"' in text and "accesslog: {disabled: false}" in text
    assert "auth:" not in text and f"rootdirectory: {tmp_path.resolve()}" in text
