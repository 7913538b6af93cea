"""Python distributions: trivy's METADATA / PKG-INFO cases, the venv's own site-packages
against ``importlib.metadata``, and metadata files that are broken or huge."""

from __future__ import annotations

import importlib.metadata
import io
import time
from pathlib import Path

import pytest

from moorage.scanning.inventory.layers import read_layer
from moorage.scanning.inventory.model import Package
from moorage.scanning.inventory.python import (
    MAX_HEADER_BYTES,
    PythonAnalyzer,
    choose_licenses,
    normalized_name,
)
from tests.scanning.inventory.language_trees import (
    DATA,
    expected,
    mutations,
    outcome,
    scan_tree,
    tree_layer,
)

CASE = DATA / "python" / "trivy-site-packages"


def test_every_trivy_case_gives_the_asserted_name_version_and_licences() -> None:
    want = expected(CASE)
    found = scan_tree(PythonAnalyzer(), CASE)
    assert set(found) == {p["file"] for p in want["packages"]}
    for case in want["packages"]:
        result = found[case["file"]]
        assert not isinstance(result, ValueError), result
        [package] = result
        assert (package.type, package.name, package.version) == (
            "pypi",
            case["name"],
            case["version"],
        ), case["trivy_case"]
        assert package.licenses == tuple(case["licenses"] or ()), case["trivy_case"]
        assert package.path == case["file"]


def test_the_original_name_is_kept_and_the_pep503_name_is_beside_it() -> None:
    found = scan_tree(PythonAnalyzer(), CASE)
    path = "usr/local/lib/python3.11/site-packages/Unidecode-0.4.1-py3.11.egg-info/PKG-INFO"
    [package] = found[path]  # type: ignore[misc]
    assert package.name == "Unidecode"
    assert dict(package.metadata)["normalized_name"] == "unidecode"
    assert normalized_name("Zope.Interface__x") == "zope-interface-x"


def test_the_fixture_tree_read_as_a_layer_finds_the_same_packages() -> None:
    layer = read_layer(io.BytesIO(tree_layer(CASE)), [PythonAnalyzer()])
    found = {(p.path, p.name, p.version) for f in layer.files.values() for p in f.all_packages()}
    want = {(p["file"], p["name"], p["version"]) for p in expected(CASE)["packages"]}
    assert found == want
    assert not [f.errors for f in layer.files.values() if f.errors]


def test_the_venvs_own_site_packages_match_importlib_metadata() -> None:
    """A site-packages that pip installed, read by us and by the standard library."""
    site = Path(importlib.metadata.distribution("packaging").locate_file("")).resolve()
    analyzer = PythonAnalyzer()
    ours = {
        (p.name, p.version)
        for result in scan_tree(analyzer, site).values()
        if not isinstance(result, ValueError)
        for p in result
    }
    theirs = set()
    for dist in importlib.metadata.distributions(path=[str(site)]):
        theirs.add((dist.metadata["Name"], dist.version))
    assert len(theirs) > 50
    assert ours == theirs


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", True),
        ("opt/app/x.egg-info/PKG-INFO", True),
        ("usr/lib/python3/dist-packages/distlib-0.3.1.egg-info", True),
        ("usr/lib/python3.6/site-packages/foo-1.0-py3.6.egg/EGG-INFO/PKG-INFO", True),
        ("usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD", False),
        ("srv/METADATA", False),
        ("srv/PKG-INFO", False),
        ("srv/.egg-info", False),
    ],
)
def test_wants_chooses_by_path(path: str, wanted: bool) -> None:
    assert PythonAnalyzer().wants(path, 0o644, 100) is wanted


def _analyze(data: bytes) -> list[Package]:
    path = "x/site-packages/a-1.dist-info/METADATA"
    return PythonAnalyzer().analyze(path, io.BytesIO(data), len(data))


def test_metadata_without_a_version_is_refused() -> None:
    with pytest.raises(ValueError, match="Name or Version"):
        _analyze(b"Metadata-Version: 2.1\nName: lonely\n\nbody\n")


def test_binary_garbage_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError):
        _analyze(bytes(range(256)) * 64)


def test_a_huge_description_is_never_read() -> None:
    """A 200 MB METADATA costs the header block only: the body after the empty line is skipped."""

    class Body(io.RawIOBase):
        def __init__(self) -> None:
            self.head = io.BytesIO(b"Metadata-Version: 2.1\nName: big\nVersion: 1.0\n\n")
            self.body_read = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            n = self.head.readinto(buffer)
            if n:
                return n
            self.body_read += len(buffer)
            if self.body_read > 200_000_000:
                return 0
            buffer[:] = b"x" * len(buffer)
            return len(buffer)

    raw = Body()
    started = time.monotonic()
    packages = PythonAnalyzer().analyze("a-1.0.dist-info/METADATA", io.BufferedReader(raw), 0)
    assert [(p.name, p.version) for p in packages] == [("big", "1.0")]
    assert raw.body_read < 1024 * 1024
    assert time.monotonic() - started < 5


def test_a_header_block_over_the_bound_is_refused() -> None:
    line = b"Classifier: " + b"x" * 1000 + b"\n"
    data = b"Name: a\nVersion: 1\n" + line * (MAX_HEADER_BYTES // len(line) + 2)
    with pytest.raises(ValueError, match="larger than"):
        _analyze(data)


def test_non_utf8_bytes_in_the_description_do_not_hide_the_name() -> None:
    data = b"Name: caf\xe9\nVersion: 1.0\nDescription: \xff\xfe bytes\nLicense: MIT\n"
    [package] = _analyze(data)
    assert package.version == "1.0"
    assert package.licenses == ("MIT",)


def test_licence_text_in_the_license_field_is_not_a_licence_name() -> None:
    text = "MIT License\n        Copyright (c) 2020 someone"
    assert choose_licenses(None, [], text, ["LICENSE"]) == ("file://LICENSE",)
    assert choose_licenses(None, [], "x" * 500, []) == ()
    assert choose_licenses(" Apache-2.0 ", ["License :: OSI Approved :: MIT License"], "", []) == (
        "Apache-2.0",
    )
    assert choose_licenses(None, ["License :: OSI Approved"], "BSD", []) == ("BSD",)


def test_damaged_metadata_never_crashes() -> None:
    files = sorted(p for p in CASE.rglob("*") if p.is_file() and p.suffix != ".json")
    results = [
        outcome(PythonAnalyzer(), "a-1.dist-info/METADATA", damaged)
        for seed, path in enumerate(files)
        for damaged in mutations(path.read_bytes()[:2048], 100, seed)
    ]
    assert any(isinstance(r, ValueError) for r in results)
    assert any(isinstance(r, list) and r for r in results)
