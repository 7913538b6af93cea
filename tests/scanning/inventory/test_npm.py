"""npm: trivy's lock file cases (v1, v2, v3, workspaces, dev flags) and installed package.json
files, and the JSON that is not what it should be."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from moorage.scanning.inventory.layers import read_layer
from moorage.scanning.inventory.model import Package
from moorage.scanning.inventory.npm import MAX_V1_DEPTH, NpmAnalyzer
from tests.scanning.inventory.language_trees import (
    DATA,
    cases,
    expected,
    mutations,
    outcome,
    scan_tree,
    tree_layer,
)

LOCK_CASES = [c for c in cases("npm") if (c / "package-lock.json").exists()]
MODULES = DATA / "npm" / "trivy-node-modules"


def full_name(package: Package) -> str:
    return f"@{package.namespace}/{package.name}" if package.namespace else package.name


def lock_packages(case: Path) -> list[Package]:
    data = (case / "package-lock.json").read_bytes()
    return NpmAnalyzer().analyze("srv/app/package-lock.json", io.BytesIO(data), len(data))


def test_there_are_lock_cases_for_every_lock_version() -> None:
    versions = {
        json.loads((c / "package-lock.json").read_text())["lockfileVersion"] for c in LOCK_CASES
    }
    assert versions == {1, 2, 3}


@pytest.mark.parametrize("case", LOCK_CASES, ids=lambda c: c.name)
def test_lock_files_give_trivys_packages_with_dev_flags_and_licences(case: Path) -> None:
    want = expected(case)["packages"]
    found = lock_packages(case)
    assert sorted((full_name(p), p.version) for p in found) == sorted(
        (w["name"], w["version"]) for w in want
    )
    by_id = {(full_name(p), p.version): p for p in found}
    for w in want:
        package = by_id[(w["name"], w["version"])]
        assert (dict(package.metadata).get("dev") == "true") is w["dev"], w["id"]
        assert package.licenses == tuple(w.get("licenses") or ()), w["id"]
        assert package.type == "npm"
        assert package.path == "srv/app/package-lock.json"


def test_scoped_names_keep_the_scope_as_namespace() -> None:
    found = lock_packages(DATA / "npm" / "trivy-lock-v2")
    [babel] = [p for p in found if p.namespace]
    assert (babel.namespace, babel.name, babel.version) == (
        "babel",
        "helper-string-parser",
        "7.19.4",
    )


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_dependencies_resolve_to_the_nearest_node_modules(version: str) -> None:
    found = {
        (full_name(p), p.version): p for p in lock_packages(DATA / "npm" / f"trivy-lock-{version}")
    }
    body_parser = found[("body-parser", "1.18.3")]
    # body-parser has its own debug 2.6.9 nested under it; the top-level debug is 2.5.2 (dev).
    assert "debug@2.6.9" in body_parser.dependencies
    assert "bytes@3.0.0" in body_parser.dependencies
    assert "debug@2.5.2" not in body_parser.dependencies
    assert found[("debug", "2.5.2")].dependencies == ("ms@0.7.2",)


def test_workspace_links_are_named_after_the_link() -> None:
    found = {
        (full_name(p), p.version): p
        for p in lock_packages(DATA / "npm" / "trivy-lock-v3_with_workspace")
    }
    assert found[("function1", "")].licenses == ("ISC",)
    assert found[("nested_func", "1.0.0")].dependencies == ("debug@2.6.9",)
    # nothing is reported under the workspace folders' own paths
    assert not [key for key in found if key[0].startswith("functions/")]


def test_installed_package_json_files_in_their_historic_licence_forms() -> None:
    want = expected(MODULES)["packages"]
    found = scan_tree(NpmAnalyzer(), MODULES)
    assert set(found) == {w["file"] for w in want}
    for w in want:
        result = found[w["file"]]
        assert not isinstance(result, ValueError), result
        [package] = result
        assert (package.name, package.version, package.licenses) == (
            w["name"],
            w["version"],
            tuple(w["licenses"]),
        ), w["trivy_case"]
        assert package.dependencies == tuple(sorted(w["declared_dependencies"]))


def test_the_fixture_trees_read_as_layers() -> None:
    for case in [*LOCK_CASES, MODULES]:
        layer = read_layer(io.BytesIO(tree_layer(case)), [NpmAnalyzer()])
        assert not [f.errors for f in layer.files.values() if f.errors], case.name
        found = sorted(
            (full_name(p), p.version) for f in layer.files.values() for p in f.all_packages()
        )
        assert found == sorted((w["name"], w["version"]) for w in expected(case)["packages"]), (
            case.name
        )


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("usr/src/app/package-lock.json", True),
        ("package-lock.json", True),
        ("usr/src/app/node_modules/foo/package-lock.json", False),
        ("usr/src/app/node_modules/.package-lock.json", False),
        ("usr/src/app/node_modules/foo/package.json", True),
        ("usr/src/app/node_modules/@types/node/package.json", True),
        ("usr/src/app/node_modules/a/node_modules/b/package.json", True),
        ("usr/src/app/node_modules/foo/lib/package.json", False),
        ("usr/src/app/node_modules/@types/package.json", False),
        ("usr/src/app/node_modules/.bin/package.json", False),
        ("usr/src/app/package.json", False),
    ],
)
def test_wants_chooses_by_path(path: str, wanted: bool) -> None:
    assert NpmAnalyzer().wants(path, 0o644, 100) is wanted


def _analyze(path: str, data: bytes) -> list[Package]:
    return NpmAnalyzer().analyze(path, io.BytesIO(data), len(data))


@pytest.mark.parametrize(
    "data",
    [
        b'{"name": "x", "version": ',
        b"\xff\xfe\x00garbage",
        b'["not", "an", "object"]',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["truncated", "binary", "array", "deep"],
)
def test_malformed_json_is_refused_with_a_reason(data: bytes) -> None:
    for path in ("app/node_modules/x/package.json", "app/package-lock.json"):
        with pytest.raises(ValueError, match="package"):
            _analyze(path, data)


def test_an_installed_manifest_without_a_version_is_no_package() -> None:
    assert _analyze("app/node_modules/x/package.json", b'{"name": "x"}') == []
    assert _analyze("app/node_modules/x/package.json", b'{"name": 3, "version": []}') == []


def test_lock_files_with_wrong_shapes() -> None:
    with pytest.raises(ValueError, match="lockfileVersion"):
        _analyze("package-lock.json", b'{"lockfileVersion": "3"}')
    with pytest.raises(ValueError, match="without a packages map"):
        _analyze("package-lock.json", b'{"lockfileVersion": 3, "dependencies": {}}')
    # entries of the wrong type are skipped, not fatal
    odd = {
        "lockfileVersion": 3,
        "packages": {
            "": {},
            "node_modules/a": "x",
            "node_modules/b": {"version": "1.0.0", "dependencies": ["c"]},
        },
    }
    found = _analyze("package-lock.json", json.dumps(odd).encode())
    assert [(p.name, p.version) for p in found] == [("b", "1.0.0")]


def test_a_v1_lock_nested_past_the_bound_is_refused() -> None:
    level: dict[str, object] = {"version": "1.0.0"}
    for _ in range(MAX_V1_DEPTH + 5):
        level = {"version": "1.0.0", "dependencies": {"a": level}}
    data = json.dumps({"lockfileVersion": 1, "dependencies": {"a": level}}).encode()
    with pytest.raises(ValueError, match="nests deeper"):
        _analyze("package-lock.json", data)


def test_v1_aliases_are_reported_as_the_real_package() -> None:
    lock = {
        "lockfileVersion": 1,
        "dependencies": {
            "old-lodash": {"version": "npm:lodash@4.17.20"},
            "x": {"version": "1.0.0", "requires": {"old-lodash": "npm:lodash@4.17.20"}},
        },
    }
    found = {p.name: p for p in _analyze("package-lock.json", json.dumps(lock).encode())}
    assert found["lodash"].version == "4.17.20"
    assert found["x"].dependencies == ("lodash@4.17.20",)


def test_a_broken_link_reports_nothing() -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {},
            "node_modules/ghost": {"link": True},
            "node_modules/b": {"version": "2.0.0"},
        },
    }
    found = _analyze("package-lock.json", json.dumps(lock).encode())
    assert [(p.name, p.version) for p in found] == [("b", "2.0.0")]


def test_damaged_lock_files_and_manifests_never_crash() -> None:
    results = []
    for case in [*LOCK_CASES, MODULES]:
        for seed, path in enumerate(sorted(case.rglob("*.json"))):
            if path.name == "expected-packages.json":
                continue
            name = (
                "app/package-lock.json"
                if path.name == "package-lock.json"
                else ("app/node_modules/x/package.json")
            )
            for damaged in mutations(path.read_bytes(), 60, seed):
                results.append(outcome(NpmAnalyzer(), name, damaged))
    assert any(isinstance(r, ValueError) for r in results)
    assert any(isinstance(r, list) and r for r in results)


@pytest.fixture(scope="module")
def npm_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``npm install``: nested and duplicate versions, a scope, a dev dependency."""
    if shutil.which("npm") is None:
        pytest.skip("npm not installed")
    root = tmp_path_factory.mktemp("npmproject")
    manifest = {
        "name": "scan-fixture",
        "version": "1.0.0",
        "private": True,
        "dependencies": {"debug": "2.6.9", "ms": "2.1.3", "@sindresorhus/is": "4.6.0"},
        "devDependencies": {"is-number": "7.0.0"},
    }
    (root / "package.json").write_text(json.dumps(manifest))
    env = {
        **os.environ,
        "npm_config_cache": str(root / ".cache"),
        "npm_config_update_notifier": "false",
    }
    cmd = ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"npm install failed (no registry?): {done.stderr[-500:]}")
    return root


def npm_query(root: Path) -> set[tuple[str, str, bool]]:
    """npm's own view of the installed tree: (name, version, dev) of every package but the root."""
    done = subprocess.run(
        ["npm", "query", "*"], cwd=root, capture_output=True, text=True, timeout=120, check=True
    )
    nodes = json.loads(done.stdout)
    return {(n["name"], n["version"], bool(n.get("dev"))) for n in nodes if n.get("location")}


def test_a_real_npm_install_matches_npm_query(npm_project: Path) -> None:
    theirs = npm_query(npm_project)
    assert len(theirs) == 5
    found = scan_tree(NpmAnalyzer(), npm_project)
    lock = found.pop("package-lock.json")
    assert not isinstance(lock, ValueError), lock
    assert {
        (full_name(p), p.version, dict(p.metadata).get("dev") == "true") for p in lock
    } == theirs
    installed = [
        p for result in found.values() if not isinstance(result, ValueError) for p in result
    ]
    assert not [r for r in found.values() if isinstance(r, ValueError)]
    assert sorted((full_name(p), p.version) for p in installed) == sorted(
        (n, v) for n, v, _ in theirs
    )
    assert {p.licenses for p in [*lock, *installed]} == {("MIT",)}
    [scoped] = [p for p in lock if p.namespace]
    assert (scoped.namespace, scoped.name) == ("sindresorhus", "is")
