"""Go binaries, each cross-checked against ``go version -m`` (Go's own build-info reader).

* built here by the fixture's recipe (Go 1.19, the inline format), and cross-compiled for
  arm64 with a module replacement and a local-directory replacement;
* shipped by Debian 12 (``gosu``, fetched with ``apt-get download``; ``umoci`` if installed),
  built in GOPATH mode;
* esbuild's Linux binaries from the npm registry, built with Go 1.17 (the pointer format):
  amd64, 386 (4-byte pointers) and s390x (big-endian);
* files that are not Go, not ELF, cut short or lying about their build info.

The toolchain must be Debian's ``golang-go`` with ``golang-github-google-uuid-dev`` and
``golang-github-pkg-errors-dev`` (the recipe vendors their sources); ``npm`` and ``apt-get``
fetch the binaries we do not build.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from moorage.scanning.inventory import golang
from moorage.scanning.inventory.golang import (
    MAGIC,
    MAX_SIZE,
    MIN_SIZE,
    GoBinaryAnalyzer,
    describe,
    packages_of,
    parse_modinfo,
    read_build_info,
    stdlib_version,
)
from moorage.scanning.inventory.layers import read_layer
from moorage.scanning.inventory.model import Package
from tests.scanning.inventory.language_trees import DATA, mutations, outcome

GOCODE = Path("/usr/share/gocode/src/github.com")
ESBUILD = ["esbuild-linux-64@0.13.15", "esbuild-linux-32@0.13.15", "esbuild-linux-s390x@0.14.8"]
pytestmark = pytest.mark.slow


def go_version_m(binary: Path) -> dict[str, Any]:
    """``go version -m`` as the fields ``describe`` gives (the oracle)."""
    out = subprocess.run(
        ["go", "version", "-m", str(binary)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    lines = out.splitlines()
    result: dict[str, Any] = {
        "go_version": lines[0].rpartition(": ")[2].strip(),
        "path": "",
        "main": None,
        "deps": [],
        "replacements": {},
        "settings": [],
    }
    last = None
    for line in lines[1:]:
        fields = line.strip("\t").split("\t")
        if fields[0] == "path":
            result["path"] = fields[1]
        elif fields[0] in ("mod", "dep"):
            last = fields[1]
            version = fields[2] if len(fields) > 2 else ""
            if fields[0] == "mod":
                result["main"] = (fields[1], version)
            else:
                result["deps"].append((fields[1], version, fields[3] if len(fields) > 3 else ""))
        elif fields[0] == "=>":
            result["replacements"][last] = (fields[1], fields[2] if len(fields) > 2 else "")
        elif fields[0] == "build":
            key, _, value = fields[1].partition("=")
            result["settings"].append((key, value))
    return result


def ours(binary: Path) -> dict[str, Any]:
    with binary.open("rb") as file:
        info = read_build_info(file, binary.stat().st_size)
    assert info is not None, binary
    return describe(info)


def analyze(binary: Path, path: str = "usr/local/bin/app") -> list[Package]:
    with binary.open("rb") as file:
        return GoBinaryAnalyzer().analyze(path, file, binary.stat().st_size)


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def go_env(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("go") is None:
        pytest.skip("Go toolchain not installed (Debian package golang-go)")
    if not (GOCODE / "google/uuid").is_dir() or not (GOCODE / "pkg/errors").is_dir():
        pytest.skip("golang-github-google-uuid-dev / golang-github-pkg-errors-dev not installed")
    home = tmp_path_factory.mktemp("gohome")
    # Go's build cache (compiled standard library) outlives the run in pytest's cache folder
    # when there is one: a second run builds in seconds instead of a minute.
    cache = getattr(pytestconfig, "cache", None)
    gocache = cache.mkdir("moorage-go-build") if cache is not None else home / "cache"
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GOCACHE": str(gocache),
        "GOPATH": str(home / "gopath"),
        "GOFLAGS": "-mod=vendor",
        "GOPROXY": "off",
        "CGO_ENABLED": "0",
    }


def _fixture_source(root: Path, replace: bool) -> None:
    """The recipe of ``golang/SOURCES.md``: a module vendoring uuid and errors."""
    (root / "vendor/github.com/google").mkdir(parents=True)
    (root / "vendor/github.com/pkg").mkdir(parents=True)
    shutil.copytree(GOCODE / "google/uuid", root / "vendor/github.com/google/uuid")
    shutil.copytree(GOCODE / "pkg/errors", root / "vendor/github.com/pkg/errors")
    go_mod = (
        "module example.com/scanner-fixture\n\ngo 1.19\n\nrequire (\n"
        "\tgithub.com/google/uuid v1.3.0\n\tgithub.com/pkg/errors v0.9.1\n)\n"
    )
    modules = [
        "# github.com/google/uuid v1.3.0",
        "## explicit",
        "github.com/google/uuid",
        "# github.com/pkg/errors v0.9.1",
        "## explicit",
        "github.com/pkg/errors",
    ]
    if replace:
        go_mod += (
            "\nreplace github.com/pkg/errors => example.com/forked/errors v0.9.2\n"
            "\nreplace github.com/google/uuid => ./localuuid\n"
        )
        shutil.copytree(GOCODE / "google/uuid", root / "localuuid")
        modules[0] += " => ./localuuid"
        modules[3] += " => example.com/forked/errors v0.9.2"
        modules += [
            "# github.com/google/uuid => ./localuuid",
            "# github.com/pkg/errors => example.com/forked/errors v0.9.2",
        ]
    (root / "go.mod").write_text(go_mod)
    (root / "vendor/modules.txt").write_text("\n".join(modules) + "\n")
    (root / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"github.com/google/uuid"\n'
        '\t"github.com/pkg/errors"\n)\n\nfunc main() {\n'
        '\tfmt.Println(uuid.NewString(), errors.New("fixture"))\n}\n'
    )


@pytest.fixture(scope="module")
def fixture_binary(go_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gofixture")
    _fixture_source(root / "src", replace=False)
    binary = root / "fixture-gobin"
    cmd = ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."]
    _run(cmd, root / "src", go_env)
    return binary


@pytest.fixture(scope="module")
def replaced_arm64_binary(go_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("goreplaced")
    _fixture_source(root / "src", replace=True)
    binary = root / "replaced-arm64"
    _run(["go", "build", "-o", str(binary), "."], root / "src", {**go_env, "GOARCH": "arm64"})
    return binary


def test_the_fixture_binary_matches_the_stored_oracle_and_go_version_m(
    fixture_binary: Path,
) -> None:
    want = expected_buildinfo()
    got = ours(fixture_binary)
    assert got == go_version_m(fixture_binary)
    assert got["go_version"] == want["go_version"]
    assert got["main"] == (want["main_module"]["path"], want["main_module"]["version"])
    assert [(d[0], d[1]) for d in got["deps"]] == [
        (p["name"], p["version"]) for p in want["packages"]
    ]
    assert dict(got["settings"]) == want["build_settings"]


def expected_buildinfo() -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads((DATA / "golang" / "expected-buildinfo.json").read_text())
    return data


def test_the_fixture_binary_gives_its_module_deps_and_stdlib(fixture_binary: Path) -> None:
    want = expected_buildinfo()
    packages = analyze(fixture_binary)
    assert [(p.type, p.name, p.version) for p in packages] == [
        ("golang", want["main_module"]["path"], want["main_module"]["version"]),
        *[("golang", p["name"], p["version"]) for p in want["packages"]],
        ("golang", "stdlib", want["stdlib"]["version"]),
    ]
    main = packages[0]
    assert main.dependencies == ("github.com/google/uuid@v1.3.0", "github.com/pkg/errors@v0.9.1")
    assert dict(main.metadata)["main_package"] == "example.com/scanner-fixture"
    assert {p.path for p in packages} == {"usr/local/bin/app"}


def test_replacements_on_another_architecture(replaced_arm64_binary: Path) -> None:
    got = ours(replaced_arm64_binary)
    assert got == go_version_m(replaced_arm64_binary)
    assert ("GOARCH", "arm64") in got["settings"]
    packages = {(p.name, p.version) for p in analyze(replaced_arm64_binary)}
    # a module replacement is the module the binary holds; a local directory is (devel)
    assert ("example.com/forked/errors", "v0.9.2") in packages
    assert ("github.com/pkg/errors", "v0.9.1") not in packages
    assert ("github.com/google/uuid", "(devel)") in packages


def test_a_go_binary_inside_a_layer(fixture_binary: Path, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(fixture_binary, arcname="usr/local/bin/fixture")
        info = tarfile.TarInfo("usr/local/bin/not-exec")
        info.size, info.mode = fixture_binary.stat().st_size, 0o644
        with fixture_binary.open("rb") as data:
            tar.addfile(info, data)
        script = b"#!/bin/sh\n" + b"echo hi\n" * 20_000
        info = tarfile.TarInfo("usr/local/bin/script")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
    layer = read_layer(io.BytesIO(buffer.getvalue()), [GoBinaryAnalyzer()])
    assert set(layer.files) == {"usr/local/bin/fixture", "usr/local/bin/script"}
    assert layer.files["usr/local/bin/script"].all_packages() == []
    names = [p.name for p in layer.files["usr/local/bin/fixture"].all_packages()]
    assert names[-1] == "stdlib" and "github.com/pkg/errors" in names


@pytest.fixture(scope="module")
def esbuild_binaries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if shutil.which("npm") is None:
        pytest.skip("npm not installed: the Go 1.17 binaries come from the npm registry")
    root = tmp_path_factory.mktemp("esbuild")
    env = {
        **os.environ,
        "npm_config_cache": str(root / "cache"),
        "npm_config_update_notifier": "false",
    }
    done = subprocess.run(
        ["npm", "pack", *ESBUILD, "--pack-destination", str(root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"npm pack failed (no registry?): {done.stderr[-500:]}")
    binaries = []
    for tgz in sorted(root.glob("*.tgz")):
        with tarfile.open(tgz) as tar:
            member = tar.extractfile("package/bin/esbuild")
            assert member is not None
            binary = root / tgz.stem
            binary.write_bytes(member.read())
            binary.chmod(0o755)
            binaries.append(binary)
    assert len(binaries) == len(ESBUILD)
    return binaries


def test_go_117_pointer_format_in_three_architectures(esbuild_binaries: list[Path]) -> None:
    from elftools.elf.elffile import ELFFile

    shapes = set()
    for binary in esbuild_binaries:
        got = ours(binary)
        assert got == go_version_m(binary), binary.name
        assert got["go_version"].startswith("go1.17")
        with binary.open("rb") as file:
            elf = ELFFile(file)
            shapes.add((elf.elfclass, elf.little_endian, elf["e_machine"]))
        packages = analyze(binary)
        assert packages[0].name == "github.com/evanw/esbuild"
        assert packages[-1].name == "stdlib"
        assert packages[-1].version == "v" + got["go_version"].removeprefix("go")
    assert shapes == {(64, True, "EM_X86_64"), (32, True, "EM_386"), (64, False, "EM_S390")}


@pytest.fixture(scope="module")
def debian_go_binaries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("debian")
    done = subprocess.run(
        ["apt-get", "download", "gosu"], cwd=root, capture_output=True, text=True, timeout=300
    )
    binaries = []
    if done.returncode == 0:
        [deb] = root.glob("gosu_*.deb")
        _run(["dpkg-deb", "-x", str(deb), str(root / "x")], root)
        binaries.append(root / "x/usr/sbin/gosu")
    binaries += [
        Path(p) for p in ("/usr/bin/umoci", "/usr/bin/docker-registry") if Path(p).exists()
    ]
    if not binaries:
        pytest.skip(f"no Debian Go binary: apt-get download gosu failed: {done.stderr[-300:]}")
    return binaries


def test_debian_go_binaries_built_in_gopath_mode(debian_go_binaries: list[Path]) -> None:
    for binary in debian_go_binaries:
        got = ours(binary)
        assert got == go_version_m(binary), binary
        packages = analyze(binary)
        assert packages[-1].name == "stdlib"
        assert packages[-1].version == "v" + got["go_version"].removeprefix("go")
        if got["main"] is None:  # GOPATH mode: only the toolchain is known
            assert [p.name for p in packages] == ["stdlib"]
            assert dict(packages[0].metadata)["main_package"] == got["path"]


def test_elf_files_that_are_not_go_give_nothing() -> None:
    for binary in (Path(sys.executable).resolve(), Path("/bin/ls"), Path("/bin/sh").resolve()):
        assert analyze(binary) == [], binary


def test_files_that_are_not_elf_give_nothing() -> None:
    for data in (b"#!/bin/sh\necho hi\n" * 10_000, b"\x00" * MIN_SIZE, b"MZ" + b"\x00" * MIN_SIZE):
        assert GoBinaryAnalyzer().analyze("bin/x", io.BytesIO(data), len(data)) == []


def test_a_truncated_go_binary_is_refused_while_it_holds_its_build_info(
    fixture_binary: Path,
) -> None:
    data = fixture_binary.read_bytes()
    magic = data.find(MAGIC)
    kept = [cut for cut in (magic + 32, len(data) // 2, len(data) - 4096) if cut > magic + 32]
    assert kept, "the fixture's build info is too near its end for the cuts"
    for cut in kept:
        part = data[:cut]
        with pytest.raises(ValueError, match="ELF"):
            GoBinaryAnalyzer().analyze("bin/x", io.BytesIO(part), len(part))
    # Cut before the magic, it cannot be told from any other cut-short ELF file: not Go.
    for cut in (64, 1000, magic):
        part = data[:cut]
        assert GoBinaryAnalyzer().analyze("bin/x", io.BytesIO(part), len(part)) == []


def test_an_elf_header_followed_by_garbage_is_not_go() -> None:
    data = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 400
    assert GoBinaryAnalyzer().analyze("bin/x", io.BytesIO(data), len(data)) == []


def test_an_elf_header_followed_by_garbage_and_the_magic_is_refused() -> None:
    data = bytearray(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 400)
    data[4096 : 4096 + len(MAGIC)] = MAGIC
    with pytest.raises(ValueError, match="unreadable ELF"):
        GoBinaryAnalyzer().analyze("bin/x", io.BytesIO(bytes(data)), len(data))


def test_elf_files_without_the_magic_are_never_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(*args: object) -> None:
        raise AssertionError("an ELF file without Go's build-info magic was parsed")

    monkeypatch.setattr(golang, "ELFFile", parse)
    cut = Path("/bin/ls").read_bytes()[:1000]  # broken too: its tables reach past the end
    for data in (Path("/bin/ls").read_bytes(), Path(sys.executable).resolve().read_bytes(), cut):
        assert GoBinaryAnalyzer().analyze("bin/x", io.BytesIO(data), len(data)) == []


@pytest.mark.parametrize("at", [0, (1 << 20) - 7, (1 << 20) - len(MAGIC), 1 << 20, 3 << 20])
def test_the_magic_is_found_wherever_it_lies(at: int) -> None:
    data = bytearray(b"\x7fELF" + b"\x00" * (4 << 20))
    data[at : at + len(MAGIC)] = MAGIC
    assert golang._holds_magic(io.BytesIO(bytes(data)))
    assert not golang._holds_magic(io.BytesIO(bytes(data).replace(MAGIC, MAGIC[:-1] + b"!")))


def _patched(binary: Path, offset: int, replacement: bytes) -> bytes:
    data = bytearray(binary.read_bytes())
    start = data.find(b"\xff Go buildinf:")
    assert start >= 0
    data[start + offset : start + offset + len(replacement)] = replacement
    return bytes(data)


def test_build_info_that_lies_about_its_lengths_is_refused(fixture_binary: Path) -> None:
    # the version string's varint length made enormous: 0xff 0xff 0xff 0xff 0x0f = 2**32 - 1
    data = _patched(fixture_binary, 32, b"\xff\xff\xff\xff\x0f")
    with pytest.raises(ValueError, match="too long"):
        GoBinaryAnalyzer().analyze("bin/x", io.BytesIO(data), len(data))


def test_build_info_pointers_outside_the_file_are_refused(fixture_binary: Path) -> None:
    # flags 0 = the pre-1.18 pointer format, with pointers that map nowhere
    data = _patched(fixture_binary, 15, b"\x00" + b"\xef\xbe\xad\xde" * 4)
    with pytest.raises(ValueError, match="points outside"):
        GoBinaryAnalyzer().analyze("bin/x", io.BytesIO(data), len(data))


@pytest.mark.parametrize(
    ("mode", "size", "wanted"),
    [
        (0o755, 2_000_000, True),
        (0o700, 2_000_000, True),
        (0o644, 2_000_000, False),
        (0o755, MIN_SIZE - 1, False),
        (0o755, MAX_SIZE + 1, False),
    ],
)
def test_wants_looks_at_mode_and_size_only(mode: int, size: int, wanted: bool) -> None:
    assert GoBinaryAnalyzer().wants("usr/bin/anything", mode, size) is wanted


def test_damaged_headers_and_build_info_never_crash(fixture_binary: Path) -> None:
    data = fixture_binary.read_bytes()
    info = data.find(b"\xff Go buildinf:")
    # the ELF header, program headers, section headers and the build info blob
    regions = [(0, 64), (64, 64 + 56 * 8), (456, 456 + 14 * 64), (info, info + 400)]
    results = [outcome(GoBinaryAnalyzer(), "bin/x", d) for d in mutations(data, 300, 7, regions)]
    assert any(isinstance(r, ValueError) for r in results)
    assert any(isinstance(r, list) and r for r in results)


@pytest.mark.parametrize(
    ("go_version", "want"),
    [
        ("go1.19.8", "v1.19.8"),
        ("go1.21rc2", "v1.21rc2"),
        ("go1.22.0 X:boringcrypto", "v1.22.0"),
        ("devel go1.23-abc123 Tue Jan 1 00:00:00 2030 +0000", "v1.23-abc123"),
    ],
)
def test_the_toolchain_version_as_stdlib(go_version: str, want: str) -> None:
    assert stdlib_version(go_version) == want


def test_module_info_lines_go_writes() -> None:
    text = (
        "path\texample.com/cmd/tool\n"
        "mod\texample.com\tv1.2.3\th1:abc=\n"
        "=>\texample.com/fork\tv1.2.4\th1:def=\n"
        "dep\t\tDevel\t\n"  # old toolchains list the main module as a dep with no path
        "dep\tgolang.org/x/sys\tv0.1.0\th1:xyz=\n"
        'build\t-ldflags="-X main.version=1.2.3"\n'
        "build\tvcs.revision=0123abcd\n"
    )
    info = parse_modinfo("go1.21.0", text)
    packages = [(p.name, p.version) for p in packages_of(info, "bin/tool")]
    assert packages == [
        ("example.com/fork", "v1.2.4"),
        ("golang.org/x/sys", "v0.1.0"),
        ("stdlib", "v1.21.0"),
    ]
    assert ("-ldflags", '"-X main.version=1.2.3"') in info.settings
