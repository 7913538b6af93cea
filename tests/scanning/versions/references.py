"""The reference implementations on this machine, each run once over a whole table of pairs.

Every runner takes ``[(a, b), ...]`` and answers one word per pair: ``lt``, ``eq``, ``gt``, or
``error`` where the reference refuses a version (dpkg also for a version it only warns about:
Moorage refuses those). A runner whose tool is missing skips the test with the reason; dpkg and
rpm are required (scripts/test installs them), the others come with the machine (Java and Maven,
Node.js and npm, Go) or with Debian packages the test script installs (ruby, php-cli,
php-composer-semver).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from moorage.errors import VersionUnparseable
from moorage.scanning.versions import Version

Pairs = Sequence[tuple[str, str]]
WORD = {-1: "lt", 0: "eq", 1: "gt"}


def ours(scheme: type[Version], pairs: Pairs) -> list[str]:
    out = []
    for a, b in pairs:
        try:
            out.append(WORD[scheme.compare(a, b)])
        except VersionUnparseable:
            out.append("error")
    return out


def disagreements(pairs: Pairs, mine: list[str], theirs: list[str]) -> list[str]:
    assert len(mine) == len(theirs) == len(pairs)
    return [
        f"{a!r} vs {b!r}: moorage {m}, reference {t}"
        for (a, b), m, t in zip(pairs, mine, theirs, strict=True)
        if m != t
    ]


def _need(tool: str, required: bool = False) -> str:
    path = shutil.which(tool)
    if path is None:
        if required:
            pytest.fail(f"{tool} is required for this test (scripts/test installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def _run(args: list[str], stdin: str = "", timeout: float = 120) -> str:
    result = subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def _tsv(pairs: Pairs) -> str:
    for a, b in pairs:
        assert "\t" not in a + b and "\n" not in a + b
    return "".join(f"{a}\t{b}\n" for a, b in pairs)


_DPKG_LOOP = r"""
while IFS='	' read -r a b; do
  err=$(dpkg --compare-versions "$a" lt "$b" 2>&1 >/dev/null); rc=$?
  if [ -n "$err" ] || [ "$rc" -gt 1 ]; then echo error
  elif [ "$rc" -eq 0 ]; then echo lt
  elif dpkg --compare-versions "$a" eq "$b" 2>/dev/null; then echo eq
  else echo gt; fi
done
"""


def dpkg(pairs: Pairs) -> list[str]:
    """``dpkg --compare-versions`` (any warning or error: ``error``), one shell loop."""
    _need("dpkg", required=True)
    return _run(["sh", "-c", _DPKG_LOOP], _tsv(pairs)).split()


_RPM_LUA = """
local out = {}
for line in io.lines(arg_path) do
  local a, b = line:match("^(.-)\\t(.*)$")
  local ok, r = pcall(rpm.vercmp, a, b)
  if not ok then out[#out + 1] = "error"
  elseif r < 0 then out[#out + 1] = "lt"
  elseif r > 0 then out[#out + 1] = "gt"
  else out[#out + 1] = "eq" end
end
print(table.concat(out, " "))
"""


def rpm(pairs: Pairs, tmp: Path) -> list[str]:
    """rpm 4.18's ``rpm.vercmp`` in one ``rpm --eval`` of a Lua script."""
    _need("rpm", required=True)
    data, script = tmp / "pairs.tsv", tmp / "vercmp.lua"
    data.write_text(_tsv(pairs))
    script.write_text(f"local arg_path = {json.dumps(str(data))}\n" + _RPM_LUA)
    return _run(["rpm", "--eval", f'%{{lua: dofile("{script}")}}']).split()


MAVEN_JAR = Path("/usr/share/java/maven3-artifact.jar")


def maven(pairs: Pairs) -> list[str]:
    """maven-artifact's ``ComparableVersion`` main (compares neighbours), one JVM."""
    _need("java")
    if not MAVEN_JAR.exists():
        pytest.skip(f"{MAVEN_JAR} is not installed (Debian package maven)")
    flat = [v for pair in pairs for v in pair]
    assert all(v.strip() == v and " " not in v and v for v in flat)
    output = _run(
        [
            "java",
            "-cp",
            str(MAVEN_JAR),
            "org.apache.maven.artifact.versioning.ComparableVersion",
            *flat,
        ]
    )
    ops = [line.split()[1] for line in output.splitlines() if line.startswith("   ")]
    assert len(ops) == len(flat) - 1
    word = {"<": "lt", "==": "eq", ">": "gt"}
    return [word[ops[2 * i]] for i in range(len(pairs))]


_RUBY = """
require "json"
JSON.parse(STDIN.read).each do |a, b|
  begin
    puts({-1 => "lt", 0 => "eq", 1 => "gt"}[Gem::Version.new(a) <=> Gem::Version.new(b)])
  rescue ArgumentError
    puts "error"
  end
end
"""


def rubygems(pairs: Pairs) -> list[str]:
    _need("ruby")
    return _run(["ruby", "-e", _RUBY], json.dumps(list(pairs))).split()


COMPOSER_SEMVER = Path("/usr/share/php/Composer/Semver/autoload.php")
_PHP = """
require getenv("COMPOSER_SEMVER");
$parser = new Composer\\Semver\\VersionParser();
foreach (json_decode(stream_get_contents(STDIN)) as $pair) {
    try {
        $a = $parser->normalize($pair[0]);
        $b = $parser->normalize($pair[1]);
    } catch (UnexpectedValueException $e) {
        echo "error\\n";
        continue;
    }
    if (str_starts_with($a, "dev-") || str_starts_with($b, "dev-")) {
        echo "error\\n";  // branches have no order (Constraint::versionCompare)
        continue;
    }
    echo [-1 => "lt", 0 => "eq", 1 => "gt"][version_compare($a, $b)], "\\n";
}
"""


def packagist(pairs: Pairs) -> list[str]:
    _need("php")
    if not COMPOSER_SEMVER.exists():
        pytest.skip("composer/semver is not installed (Debian package php-composer-semver)")
    env = {**os.environ, "COMPOSER_SEMVER": str(COMPOSER_SEMVER)}
    result = subprocess.run(
        ["php", "-r", _PHP],
        input=json.dumps(list(pairs)),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    return result.stdout.split()


NODE_SEMVER = Path("/usr/lib/node_modules/npm/node_modules/semver")
_NODE = """
const semver = require(process.env.NODE_SEMVER);
const pairs = JSON.parse(require("fs").readFileSync(0, "utf8"));
const word = {"-1": "lt", "0": "eq", "1": "gt"};
for (const [a, b] of pairs) {
  if (semver.valid(a) === null || semver.valid(b) === null) console.log("error");
  else console.log(word[String(semver.compare(a, b))]);
}
"""


def npm(pairs: Pairs) -> list[str]:
    """node-semver as npm bundles it (``valid`` then ``compare``)."""
    _need("node")
    if not NODE_SEMVER.exists():
        pytest.skip(f"{NODE_SEMVER} is not installed (npm)")
    env = {**os.environ, "NODE_SEMVER": str(NODE_SEMVER)}
    result = subprocess.run(
        ["node", "-e", _NODE],
        input=json.dumps(list(pairs)),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    return result.stdout.split()


_GO_MAIN = """package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"ref/semver"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	words := map[int]string{-1: "lt", 0: "eq", 1: "gt"}
	for in.Scan() {
		ab := strings.SplitN(in.Text(), "\\t", 2)
		if !semver.IsValid(ab[0]) || !semver.IsValid(ab[1]) {
			fmt.Println("error")
			continue
		}
		fmt.Println(words[semver.Compare(ab[0], ab[1])])
	}
}
"""


def go_semver(pairs: Pairs, tmp: Path) -> list[str]:
    """golang.org/x/mod/semver as the Go toolchain vendors it, built here in a scratch module."""
    go = _need("go")
    goroot = _run([go, "env", "GOROOT"]).strip()
    source = Path(goroot) / "src/cmd/vendor/golang.org/x/mod/semver/semver.go"
    if not source.exists():
        pytest.skip(f"{source} is not in this Go toolchain")
    (tmp / "semver").mkdir()
    shutil.copy(source, tmp / "semver" / "semver.go")
    (tmp / "go.mod").write_text("module ref\n\ngo 1.19\n")
    (tmp / "main.go").write_text(_GO_MAIN)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOWORK": "off"}
    subprocess.run(
        [go, "build", "-o", str(tmp / "ref"), "."], cwd=tmp, env=env, check=True, timeout=300
    )
    return _run([str(tmp / "ref")], _tsv(pairs)).split()


def pip_legacy() -> Callable[[str], object]:
    """pip's vendored packaging 21.3 ``parse`` (PEP 440 or LegacyVersion), as pip ordered."""
    try:
        from pip._vendor.packaging import version as old
    except ImportError:
        pytest.skip("pip does not vendor packaging")
    if not hasattr(old, "LegacyVersion"):
        pytest.skip("pip's vendored packaging no longer has LegacyVersion")

    def parse(text: str) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return old.parse(text)

    return parse


_PHP_NORMALIZE = """
require getenv("COMPOSER_SEMVER");
$parser = new Composer\\Semver\\VersionParser();
$out = [];
foreach (json_decode(stream_get_contents(STDIN)) as $v) {
    try { $out[] = $parser->normalize($v); } catch (UnexpectedValueException $e) { $out[] = null; }
}
echo json_encode($out);
"""


def packagist_normalize(texts: Sequence[str]) -> list[str | None]:
    """composer/semver's ``VersionParser::normalize`` of each text (None: refused)."""
    _need("php")
    if not COMPOSER_SEMVER.exists():
        pytest.skip("composer/semver is not installed (Debian package php-composer-semver)")
    env = {**os.environ, "COMPOSER_SEMVER": str(COMPOSER_SEMVER)}
    result = subprocess.run(
        ["php", "-r", _PHP_NORMALIZE],
        input=json.dumps(list(texts)),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    normalized: list[str | None] = json.loads(result.stdout)
    return normalized
