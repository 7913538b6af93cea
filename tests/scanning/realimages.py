"""Real images built from Debian packages, pip and npm, without a Docker daemon, as OCI layout
directories for skopeo to push.

``Downloads`` fetches with the ordinary clients into one cache folder (per test session, or per
benchmark run): ``apt-get download`` of .deb files, ``pip install --target`` of a pinned
distribution, ``npm install`` of a pinned package. A registry the machine cannot reach raises
``Unreachable`` with the tool's own message (the tests skip with it).

A root file system is laid out as dpkg leaves one: each .deb unpacked with ``dpkg-deb -x``,
``var/lib/dpkg/status`` written from the packages' control fields (``dpkg-deb -f``) with
``Status: install ok installed`` and the MD5 sums of their conffiles, and
``var/lib/dpkg/info/<package>[:<arch>].{list,md5sums}`` (``:<arch>`` for ``Multi-Arch: same``).

Written by hand, because no tool on the machine does it without root file system privileges
(mmdebstrap would run maintainer scripts): the status writer (dpkg's field order, from the field
table of dpkg's ``lib/dpkg/parse.c``; fields dpkg does not know follow in the control file's
order). The layers and the OCI layout are written by ``tests/scanning/realimage_layout.py``.

What is in the image is also told by the reference tools, for the tests' expectations:
``dpkg-deb -f`` (binary and source package, version), ``pip list --path`` and ``npm ls``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from debian.deb822 import Deb822

from tests.scanning.realimage_layout import BuiltImage, Layer, write_image

STATUS = "var/lib/dpkg/status"
INFO = "var/lib/dpkg/info"
SITE_PACKAGES = "usr/local/lib/python3.11/site-packages"
APP = "usr/src/app"
TIMEOUT = 600.0

# dpkg's field order in the status file (lib/dpkg/parse.c, fieldinfos[]).
DPKG_FIELDS = (
    *("Package", "Essential", "Protected", "Status", "Priority", "Section", "Installed-Size"),
    *("Origin", "Maintainer", "Bugs", "Architecture", "Multi-Arch", "Source", "Version"),
    *("Config-Version", "Replaces", "Provides", "Depends", "Pre-Depends", "Recommends"),
    *("Suggests", "Breaks", "Conflicts", "Enhances", "Conffiles", "Description"),
    *("Triggers-Pending", "Triggers-Awaited"),
)
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")


class Unreachable(RuntimeError):
    """A package registry (Debian, PyPI, npm) could not be reached, or a tool is missing."""


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    download: bool = False,
) -> str:
    """The command's standard output. A missing tool, or a failed ``download`` (one that asks a
    registry), raises ``Unreachable``; any other failure ``RuntimeError``."""
    if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
        raise Unreachable(f"not installed: {argv[0]}")
    proc = subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if proc.returncode != 0:
        kind = Unreachable if download else RuntimeError
        raise kind(f"{' '.join(argv[:4])} … exited {proc.returncode}: {proc.stderr[-1500:]}")
    return proc.stdout


@dataclass(frozen=True)
class Deb:
    """One downloaded .deb: its control fields (as ``dpkg-deb -f`` prints them) and files."""

    file: Path
    control: Deb822
    unpacked: Path
    control_dir: Path
    members: tuple[str, ...]  # the data archive's paths in archive order ("/." first)

    @property
    def name(self) -> str:
        return str(self.control["Package"])

    @property
    def version(self) -> str:
        return str(self.control["Version"])

    @property
    def arch(self) -> str:
        return str(self.control["Architecture"])

    @property
    def source(self) -> tuple[str, str]:
        """The source package and its version (``Source: gosu (1.14-1)`` of a binNMU)."""
        match = _SOURCE.match(self.control.get("Source", self.name).strip())
        assert match is not None, self.control.get("Source")
        return match["name"], match["version"] or self.version

    @property
    def info_name(self) -> str:
        """The name of its files in ``var/lib/dpkg/info`` (``zlib1g:amd64``)."""
        same = self.control.get("Multi-Arch") == "same"
        return f"{self.name}:{self.arch}" if same else self.name

    def conffiles(self) -> list[str]:
        path = self.control_dir / "conffiles"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line.strip() for line in lines if line.strip().startswith("/")]


class Distribution(NamedTuple):
    """A Python distribution or an npm package as its own tool lists it."""

    name: str
    version: str


@dataclass
class Downloads:
    """Downloads cached in ``root``: each .deb, pip target and npm install made once."""

    root: Path

    def debs(self, names: Iterable[str]) -> list[Deb]:
        folder = self.root / "debs"
        folder.mkdir(parents=True, exist_ok=True)
        wanted = [n for n in names if not list(folder.glob(f"{n}_*.deb"))]
        if wanted:
            apt = ["apt-get", "-q", "-o", "APT::Sandbox::User=root", "download"]
            run([*apt, *wanted], cwd=folder, download=True)
        found = [sorted(folder.glob(f"{name}_*.deb")) for name in names]
        if any(len(files) != 1 for files in found):
            raise Unreachable(f"not one .deb per package in {folder}: {found}")
        return [self._deb(files[0]) for files in found]

    def _deb(self, file: Path) -> Deb:
        unpacked = self.root / "unpacked" / file.stem
        control_dir = self.root / "control" / file.stem
        if not control_dir.exists():
            unpacked.mkdir(parents=True, exist_ok=True)
            control_dir.parent.mkdir(parents=True, exist_ok=True)
            run(["dpkg-deb", "-x", str(file), str(unpacked)])
            run(["dpkg-deb", "-e", str(file), str(control_dir)])
        control = Deb822(run(["dpkg-deb", "-f", str(file)]))
        argv = ["dpkg-deb", "--fsys-tarfile", str(file)]
        with subprocess.Popen(argv, stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                names = [m.name.removeprefix(".").rstrip("/") for m in tar]
        if proc.returncode != 0:
            raise Unreachable(f"dpkg-deb --fsys-tarfile {file.name} exited {proc.returncode}")
        members = tuple(name or "/." for name in names)
        return Deb(file, control, unpacked, control_dir, members)

    def pip(self, *specs: str) -> tuple[Path, list[Distribution]]:
        """``pip install --target`` of ``specs`` (no dependencies): the folder, and what
        ``pip list --path`` says it holds."""
        target = self.root / "pip" / hashlib.sha256(" ".join(specs).encode()).hexdigest()[:16]
        if not target.exists():
            tmp = target.with_suffix(".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            argv = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            run([*argv, "--no-deps", "--no-compile", "--target", str(tmp), *specs], download=True)
            tmp.rename(target)
        pip_list = [sys.executable, "-m", "pip", "list", "--disable-pip-version-check"]
        listed = run([*pip_list, "--format=json", "--path", str(target)])
        return target, [Distribution(d["name"], d["version"]) for d in json.loads(listed)]

    def npm(self, *specs: str) -> tuple[Path, list[Distribution]]:
        """``npm install`` of ``specs`` into an app folder: the folder, and ``npm ls``'s view."""
        app = self.root / "npm" / hashlib.sha256(" ".join(specs).encode()).hexdigest()[:16]
        env = {**os.environ, "npm_config_cache": str(self.root / "npm-cache")}
        env |= {"npm_config_update_notifier": "false", "npm_config_fund": "false"}
        if not app.exists():
            tmp = app.with_suffix(".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            (tmp / "package.json").write_text('{"name": "app", "version": "1.0.0"}\n')
            npm = ["npm", "install", "--no-audit", "--no-package-lock"]
            run([*npm, *specs], cwd=tmp, env=env, download=True)
            tmp.rename(app)
        listed = json.loads(run(["npm", "ls", "--all", "--json"], cwd=app, env=env))
        found = [Distribution(n, d["version"]) for n, d in _npm_tree(listed.get("dependencies"))]
        return app, found


def _npm_tree(deps: dict[str, Any] | None) -> Iterable[tuple[str, dict[str, Any]]]:
    for name, dep in (deps or {}).items():
        yield name, dep
        yield from _npm_tree(dep.get("dependencies"))


# ---- dpkg's database ------------------------------------------------------------------------


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def status_stanza(deb: Deb) -> str:
    """The package's ``var/lib/dpkg/status`` stanza, as dpkg writes it after an install."""
    fields = dict(deb.control)
    fields["Status"] = "install ok installed"
    conffiles = deb.conffiles()
    if conffiles:
        sums = [f" {c} {_md5(deb.unpacked / c.lstrip('/'))}" for c in conffiles]
        fields["Conffiles"] = "\n" + "\n".join(sums)
    known = [f for f in DPKG_FIELDS if f in fields]
    rest = [f for f in fields if f not in DPKG_FIELDS]
    lines = []
    for name in [*known, *rest]:
        value = fields[name]
        lines.append(f"{name}:{value}" if value.startswith("\n") else f"{name}: {value}")
    return "\n".join(lines) + "\n"


def dpkg_database(debs: Sequence[Deb], written: Sequence[Deb]) -> dict[str, bytes]:
    """The status file listing ``debs``, and the info files of ``written`` (the packages a layer
    installs): what dpkg leaves in ``var/lib/dpkg``."""
    files = {STATUS: "\n".join(status_stanza(d) for d in debs).encode()}
    for deb in written:
        files[f"{INFO}/{deb.info_name}.list"] = ("\n".join(deb.members) + "\n").encode()
        sums = deb.control_dir / "md5sums"
        if sums.exists():
            files[f"{INFO}/{deb.info_name}.md5sums"] = sums.read_bytes()
    return files


def package_paths(deb: Deb) -> list[str]:
    """The files and symlinks the package installed (not its directories), for whiteouts."""
    out = []
    for member in deb.members:
        rel = member.lstrip("/")
        path = deb.unpacked / rel
        if rel and (path.is_symlink() or path.is_file()):
            out.append(rel)
    return out


# ---- the test's image -----------------------------------------------------------------------

BASE_DEBS = ("base-files", "zlib1g", "libexpat1")
GO_DEB = "gosu"  # a Go program Debian ships (built with Debian's Go toolchain)
PIP_SPECS = ("urllib3==1.26.4", "six==1.15.0")
NPM_SPECS = ("minimist@1.2.5",)
REMOVED_DEB = "libexpat1"  # purged by the last layer
REMOVED_PIP = "six"  # uninstalled by the last layer


@dataclass(frozen=True)
class Installed:
    """A package the image holds, as the reference tools name it, and the layer it came in."""

    layer: int
    type: str  # the purl type the scanner reports
    name: str
    version: str
    source_name: str | None = None
    source_version: str | None = None


@dataclass(frozen=True)
class SampleImage:
    image: BuiltImage
    present: tuple[Installed, ...]
    removed: tuple[Installed, ...]  # installed by a lower layer, gone in the top one
    go_version: str  # gosu's toolchain, as ``go version -m`` says (``go1.19.8``)

    def one(self, name: str) -> Installed:
        (found,) = [p for p in self.present if p.name == name]
        return found


def go_toolchain(binary: Path) -> str:
    """The Go version a binary was built with, from ``go version -m``."""
    first = run(["go", "version", "-m", str(binary)]).splitlines()[0]
    return first.rsplit(":", 1)[1].strip()


def sample_image(downloads: Downloads, layout: Path, tag: str = "v1") -> SampleImage:
    """Five layers: a Debian base (gzip), gosu installed (zstd), a site-packages (uncompressed),
    a node_modules (gzip), and one that purges ``libexpat1`` and uninstalls ``six`` (dpkg's
    database rewritten, their files removed by whiteouts)."""
    base = downloads.debs(BASE_DEBS)
    (gosu,) = downloads.debs([GO_DEB])
    site, dists = downloads.pip(*PIP_SPECS)
    app, node = downloads.npm(*NPM_SPECS)
    removed_deb = next(d for d in base if d.name == REMOVED_DEB)
    kept = [d for d in [*base, gosu] if d is not removed_deb]
    pip_gone = [p.name for p in site.iterdir() if p.name.split("-")[0].split(".")[0] == REMOVED_PIP]
    layers = [
        Layer(
            "apt-get install base-files zlib1g libexpat1",
            trees=[(d.unpacked, "") for d in base],
            files=dpkg_database(base, base),
        ),
        Layer(
            "apt-get install gosu",
            trees=[(gosu.unpacked, "")],
            files=dpkg_database([*base, gosu], [gosu]),
            compression="zstd",
        ),
        Layer(
            f"pip install {' '.join(PIP_SPECS)}", trees=[(site, SITE_PACKAGES)], compression="none"
        ),
        Layer(f"npm install {' '.join(NPM_SPECS)}", trees=[(app, APP)]),
        Layer(
            f"apt-get purge {REMOVED_DEB} && pip uninstall {REMOVED_PIP}",
            files=dpkg_database(kept, []),
            whiteouts=[
                *package_paths(removed_deb),
                *(f"{INFO}/{removed_deb.info_name}.{kind}" for kind in ("list", "md5sums")),
                f"usr/share/doc/{removed_deb.name}",
                *(f"{SITE_PACKAGES}/{name}" for name in pip_gone),
            ],
        ),
    ]
    image = write_image(layout, tag, layers, cmd="/usr/sbin/gosu")
    go_version = go_toolchain(gosu.unpacked / "usr/sbin/gosu")

    def deb(layer: int, d: Deb) -> Installed:
        return Installed(layer, "deb", d.name, d.version, *d.source)

    everything = [deb(0, d) for d in base] + [deb(1, gosu)]
    everything.append(Installed(1, "golang", "stdlib", "v" + go_version.removeprefix("go")))
    everything += [Installed(2, "pypi", d.name, d.version) for d in dists]
    everything += [Installed(3, "npm", d.name, d.version) for d in node]
    gone = {REMOVED_DEB, REMOVED_PIP}
    return SampleImage(
        image,
        present=tuple(p for p in everything if p.name not in gone),
        removed=tuple(p for p in everything if p.name in gone),
        go_version=go_version,
    )
