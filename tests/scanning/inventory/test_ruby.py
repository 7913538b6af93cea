"""Ruby gems: trivy's gemspec cases and every gemspec Debian's Ruby ships, each checked against
RubyGems itself (``Gem::Specification.load``), plus the syntax forms gemspecs use and the files
that are not gemspecs at all."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from moorage.scanning.inventory.layers import read_layer
from moorage.scanning.inventory.ruby import MAX_SIZE, GemspecAnalyzer
from tests.scanning.inventory.language_trees import (
    DATA,
    expected,
    mutations,
    outcome,
    scan_tree,
    tree_layer,
)

CASE = DATA / "ruby" / "trivy-gemspecs"
SPECS = CASE / "usr/local/bundle/specifications"
DEBIAN_SPECS = [
    Path("/usr/lib/ruby/gems/3.1.0/specifications/default"),
    Path("/usr/share/rubygems-integration/all/specifications"),
]
# Where trivy and RubyGems disagree we follow RubyGems: `licenses = "MIT"` is Array("MIT").
RUBYGEMS_OVER_TRIVY = {"usr/local/bundle/specifications/normal01.gemspec": ("MIT",)}
_LOAD = (
    "ARGV.each { |f| s = Gem::Specification.load(f); "
    "puts JSON.generate([f, s && s.name, s && s.version && s.version.to_s, s ? s.licenses : nil]) }"
)


def rubygems(paths: list[Path]) -> dict[str, tuple[str | None, str | None, tuple[str, ...]]]:
    """What RubyGems makes of each gemspec: (name, version, licences); name ``None``: refused."""
    if shutil.which("ruby") is None:
        pytest.skip("ruby not installed: RubyGems is the oracle (Debian package ruby)")
    done = subprocess.run(
        ["ruby", "-rjson", "-e", _LOAD, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = {}
    for line in done.stdout.splitlines():
        path, name, version, licenses = json.loads(line)
        out[path] = (name, version, tuple(licenses or ()))
    return out


def ours(path: Path) -> tuple[str | None, str | None, tuple[str, ...]]:
    data = path.read_bytes()
    try:
        [package] = GemspecAnalyzer().analyze(
            "specifications/x.gemspec", io.BytesIO(data), len(data)
        )
    except ValueError:
        return (None, None, ())
    assert package.type == "gem"
    return (package.name, package.version, package.licenses)


def test_every_trivy_case() -> None:
    found = scan_tree(GemspecAnalyzer(), CASE)
    want = expected(CASE)["packages"]
    assert set(found) == {w["file"] for w in want}
    for w in want:
        result = found[w["file"]]
        if w.get("expect_error"):
            assert isinstance(result, ValueError), w["trivy_case"]
            continue
        assert not isinstance(result, ValueError), result
        [package] = result
        licenses = RUBYGEMS_OVER_TRIVY.get(w["file"], tuple(w["licenses"] or ()))
        assert (package.name, package.version, package.licenses) == (
            w["name"],
            w["version"],
            licenses,
        ), w["trivy_case"]


def test_every_trivy_case_agrees_with_rubygems() -> None:
    paths = sorted(SPECS.glob("*.gemspec"))
    theirs = rubygems(paths)
    for path in paths:
        name, version, licenses = theirs[str(path)]
        if name is None or version is None:
            assert ours(path) == (None, None, ()), path.name  # refused by both
        else:
            assert ours(path) == (name, version, licenses), path.name


def test_every_gemspec_debians_ruby_ships_agrees_with_rubygems() -> None:
    paths = sorted(p for d in DEBIAN_SPECS if d.is_dir() for p in d.glob("*.gemspec"))
    if not paths:
        pytest.skip("Debian's ruby is not installed")
    theirs = rubygems(paths)
    assert len(paths) > 20
    for path in paths:
        assert ours(path) == theirs[str(path)], path


SYNTAX = {
    "percent-q": 'Gem::Specification.new do |s|\n  s.name = %q{rack}\n  s.version = "2.2.8"\n'
    "  s.licenses = [%q<MIT>]\nend\n",
    "gem-version": "Gem::Specification.new do |spec|\n  spec.name    = 'nokogiri'\n"
    '  spec.version = Gem::Version.new("1.15.4".freeze)\n  spec.license = "MIT".freeze\nend\n',
    "escapes": 'Gem::Specification.new do |g|\n  g.name = "a\\"b"\n  g.version = \'1.0\'\n'
    "  g.licenses = %w[Apache-2.0 MIT]\nend\n",
    "later-wins": "Gem::Specification.new do |s|\n  s.name = 'x'\n  s.version = '1.0'\n"
    "  s.license = 'GPL-2.0'\n  s.licenses = ['MIT', 'Ruby'] # relicensed\n"
    "  s.version = '2.0'\nend\n",
    "conditional-tail": 'Gem::Specification.new do |s|\n  s.name = "y".freeze\n'
    '  s.version = "0.1" if s.respond_to? :version=\n  s.licenses = []\nend\n',
}


@pytest.mark.parametrize("name", sorted(SYNTAX))
def test_syntax_forms_agree_with_rubygems(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.gemspec"
    path.write_text(SYNTAX[name])
    assert ours(path) == rubygems([path])[str(path)]


def test_the_fixture_tree_read_as_a_layer() -> None:
    layer = read_layer(io.BytesIO(tree_layer(CASE)), [GemspecAnalyzer()])
    errors = {path for path, f in layer.files.items() if f.errors}
    assert errors == {
        "usr/local/bundle/specifications/malformed00.gemspec",
        "usr/local/bundle/specifications/malformed01.gemspec",
    }
    found = {p.name for f in layer.files.values() for p in f.all_packages()}
    assert found == {"rake", "async", "test-unit"}


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\x00\xff binary \x89PNG",
        b"puts 'not a gemspec'\n",
        b"Gem::Specification.new do |s|\n  s.name = \"unterminated\n  s.version = '1'\nend\n",
        b"Gem::Specification.new do |s|\n  s.name = NAME\n  s.version = VERSION\nend\n",
    ],
    ids=["empty", "binary", "ruby-code", "unterminated", "constants"],
)
def test_files_that_are_no_gemspec_are_refused(text: bytes) -> None:
    with pytest.raises(ValueError):
        GemspecAnalyzer().analyze("specifications/x.gemspec", io.BytesIO(text), len(text))


def test_a_huge_gemspec_is_refused_without_being_parsed() -> None:
    text = b"Gem::Specification.new do |s|\n" + b"  s.files = ['x']\n" * (MAX_SIZE // 16)
    with pytest.raises(ValueError, match="larger than"):
        GemspecAnalyzer().analyze("specifications/x.gemspec", io.BytesIO(text), len(text))


def test_a_very_long_line_is_read_in_bounded_time() -> None:
    line = b'  s.description = "' + b'\\"' * 200_000 + b"\n"
    text = b"Gem::Specification.new do |s|\n  s.name = 'z'\n  s.version = '1'\n" + line + b"end\n"
    started = time.monotonic()
    [package] = GemspecAnalyzer().analyze("specifications/z.gemspec", io.BytesIO(text), len(text))
    assert (package.name, package.version) == ("z", "1")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("usr/local/bundle/specifications/rake-13.0.3.gemspec", True),
        ("usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec", True),
        ("usr/local/bundle/gems/rake-13.0.3/rake.gemspec", False),
        ("usr/local/bundle/specifications/.gemspec", False),
        ("usr/local/bundle/specifications/README", False),
    ],
)
def test_wants_chooses_by_path(path: str, wanted: bool) -> None:
    assert GemspecAnalyzer().wants(path, 0o644, 100) is wanted


def test_damaged_gemspecs_never_crash() -> None:
    results = [
        outcome(GemspecAnalyzer(), "specifications/x.gemspec", damaged)
        for seed, path in enumerate(sorted(SPECS.glob("*.gemspec")))
        for damaged in mutations(path.read_bytes(), 200, seed)
    ]
    assert any(isinstance(r, ValueError) for r in results)
    assert any(isinstance(r, list) and r for r in results)
