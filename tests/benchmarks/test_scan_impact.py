"""The scan-impact benchmark's pure parts without servers: an image variant holds the same files
under new layer digests, a measurement's scan coverage, the figures (medians, ranges, ratios,
the target) and the docs block, rewritten in place between its markers."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import scan_impact as script
from harness.rawhttp import sha256_digest
from harness.scan_impact import METRICS, LargeImage, Window, coverage, figures

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _layer(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _image() -> LargeImage:
    layers = [_layer({"etc/os-release": b"ID=debian\n"}), _layer({"usr/bin/tool": b"\x7fELF"})]
    return LargeImage(layers, [GZIP_LAYER, GZIP_LAYER], b'{"os":"linux"}')


def test_a_variant_holds_the_same_files_under_new_digests() -> None:
    image = _image()
    seen: set[str] = {sha256_digest(layer) for layer in image.layers}
    for i in range(3):
        layers, manifest = image.variant(i)
        doc = json.loads(manifest)
        assert [d["digest"] for d in doc["layers"]] == [sha256_digest(b) for b in layers]
        assert [d["size"] for d in doc["layers"]] == [len(b) for b in layers]
        assert doc["config"]["digest"] == sha256_digest(image.config)
        for original, variant in zip(image.layers, layers, strict=True):
            # The scanner reads layers with gzip.GzipFile, which reads every member.
            assert gzip.decompress(variant) == gzip.decompress(original)
            with (
                tarfile.open(fileobj=io.BytesIO(variant), mode="r:gz") as tar,
                tarfile.open(fileobj=io.BytesIO(original), mode="r:gz") as base,
            ):
                assert tar.getnames() == base.getnames()
        digests = {sha256_digest(b) for b in layers}
        assert not digests & seen  # nothing a previous variant (or the image) cached
        seen |= digests


def test_only_gzip_layers_make_variants(tmp_path: Path) -> None:
    from harness.errors import BenchError
    from harness.scanning import BenchImage

    from tests.scanning.realimage_layout import BuiltImage, BuiltLayer

    blobs = tmp_path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    data = b"plain tar bytes"
    (blobs / sha256_digest(data).removeprefix("sha256:")).write_bytes(data)
    layer = BuiltLayer(
        sha256_digest(data), "", len(data), "application/vnd.oci.image.layer.v1.tar", ""
    )
    built = BuiltImage(tmp_path, "v1", b"{}", b"{}", (layer,))
    with pytest.raises(BenchError, match="gzip"):
        LargeImage.of(BenchImage(built, {}, {}, {}))


def _window(round_no: int, condition: str, metric: str, value: float, start: float) -> Window:
    return Window(round_no, condition, metric, value, start, start + 10.0)


def test_coverage_is_the_part_of_a_window_a_scan_ran() -> None:
    w = _window(0, "scanning", "push_mbps", 1.0, 100.0)
    assert coverage(w, []) == 0.0
    assert coverage(w, [(90.0, 120.0)]) == 1.0
    assert coverage(w, [(95.0, 102.0), (104.0, 106.0), (108.0, 130.0)]) == pytest.approx(0.6)
    assert coverage(w, [(50.0, 99.0), (111.0, 120.0)]) == 0.0


def test_figures_medians_ranges_ratios_and_the_target() -> None:
    values = {
        "push_mbps": ([200.0, 180.0, 220.0], [190.0, 170.0, 100.0]),
        "small_images_per_s": ([30.0, 30.0, 30.0], [15.0, 15.0, 15.0]),
        "pull_mbps": ([1000.0, 1000.0, 1000.0], [950.0, 900.0, 1000.0]),
    }
    windows = []
    for metric, (alone, scanning) in values.items():
        for r in range(3):
            windows.append(_window(r, "alone", metric, alone[r], 1000.0 * r))
            windows.append(_window(r, "scanning", metric, scanning[r], 1000.0 * r + 500))
    scans = [(1000.0 * r + 495, 1000.0 * r + 505) for r in range(3)]  # half of each window
    found = figures(windows, scans)
    push = found["push_mbps"]
    assert push["alone"] == {"median": 200.0, "min": 180.0, "max": 220.0}
    assert push["scanning"]["median"] == 170.0
    assert push["ratio"] == pytest.approx(170.0 / 200.0) and push["met"] is False
    assert push["paired_ratio"]["median"] == pytest.approx(170.0 / 180.0)
    assert push["coverage"]["median"] == pytest.approx(0.5)
    assert found["small_images_per_s"]["ratio"] == 0.5
    assert found["pull_mbps"]["ratio"] == pytest.approx(0.95) and found["pull_mbps"]["met"]
    assert found["scan_s"] == {"median": 10.0, "min": 10.0, "max": 10.0}


def _report() -> dict[str, Any]:
    windows = [
        _window(0, condition, metric, 10.0, 0.0)
        for metric in METRICS
        for condition in ("alone", "scanning")
    ]
    return {
        "started_at": "2026-12-02T00:00:00+00:00",
        "duration_s": 60.0,
        "machine": {
            "nproc": 2,
            "cpu_model": "CPU",
            "memory_gib": 1.0,
            "kernel": "k",
            "os": "os",
            "loadavg_start": [1.0, 1.0, 1.0],
        },
        "loadavg_end": [2.0, 2.0, 2.0],
        "commit": "abc",
        "dirty": False,
        "image_bytes": 106_000_000,
        "image_layers": 3,
        "settings": {"rounds": 1, "variants": 4, "records": 10, "small_images": 40,
                     "small_concurrency": 4},
        "modes": [
            {"mode": "inline", "scans": [{"seconds": 3.0}],
             "figures": figures(windows, [(0.0, 10.0)])}
        ],
    }  # fmt: skip


def test_the_docs_block_is_rewritten_between_its_markers(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(
        f"# Performance\n\n{script.HEADING}\n\nHow it works.\n\n{script.DOC_START}\nold\n"
        f"{script.DOC_END}\n\nWhat it says.\n\n## Targets\n"
    )
    report = _report()
    lines = script.table(report)
    assert len(lines) == 2 + len(METRICS) and "| inline | push 64 MiB blob, MB/s |" in lines[2]
    script.update_doc(doc, report, lines)
    script.update_doc(doc, report, lines)  # twice: one block
    text = doc.read_text()
    assert text.count(script.DOC_START) == 1 and "old" not in text
    assert text.index("How it works.") < text.index(script.DOC_START)
    assert text.index(script.DOC_END) < text.index("What it says.") < text.index("## Targets")
    assert "- inline (jobs in the serving processes" in text and "1 scans, each 10.0 s" in text


def test_a_doc_without_the_section_gets_it_at_the_end(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n")
    report = _report()
    script.update_doc(doc, report, script.table(report))
    text = doc.read_text()
    assert text.index(script.HEADING) < text.index(script.DOC_START) < text.index(script.DOC_END)


def test_unknown_modes_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        script.parse_args(["--modes", "inline,sideways"])
    assert "sideways" in capsys.readouterr().err
    assert script.parse_args(["--modes", "worker-nice"]).mode_list == ["worker-nice"]
