"""Which operating system an image holds, from the files a container would read.

``OsReleaseFinder`` is a fact finder: it records the parsed contents of ``etc/os-release``,
``usr/lib/os-release``, ``etc/lsb-release`` (``KEY=value`` files), the first line of
``etc/alpine-release``, ``etc/debian_version``, ``etc/redhat-release``, ``etc/centos-release``,
``etc/fedora-release``, and the repository lines of ``etc/apk/repositories``. ``detect_os`` then
decides from the files visible in the image, in the order a container's own tools read them:

1. ``etc/os-release``, else ``usr/lib/os-release`` (os-release(5): the first is normally a
   symlink to the second; the caller's lookup follows symlinks through the image's files);
2. without either: ``etc/lsb-release``, then ``etc/alpine-release``, ``etc/fedora-release``,
   ``etc/centos-release``, ``etc/redhat-release`` (the most specific first: on CentOS and Fedora
   ``redhat-release`` is a link to theirs), and last ``etc/debian_version`` (Ubuntu has one too,
   naming the Debian release it was taken from, so it cannot win over ``lsb-release``).

``debian_version`` and ``alpine-release`` also give the point release (``12.5``, ``3.18.4``) and
fill a missing ``VERSION_ID`` (Debian testing has none). The apk repositories give the newest
release branch the image installs from (``v3.19``, ``edge``), which is what advisories are
matched against when it is newer than ``alpine-release``.

Written by hand: the ``KEY=value`` reader (os-release(5)'s shell-like quoting; ``shlex`` keeps
the backslash of an escaped dollar sign or backquote inside double quotes, which os-release
removes) and the ``<Name> release <version> (<codename>)`` pattern of the Red Hat family's
files; both are a few lines and no library reads these files without reading the running host.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, ClassVar

from moorage.scanning.inventory.model import Facts

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
KEY_VALUE_FILES = frozenset({*OS_RELEASE, "etc/lsb-release"})
FIRST_LINE_FILES = (
    "etc/alpine-release",
    "etc/fedora-release",
    "etc/centos-release",
    "etc/redhat-release",
    "etc/debian_version",
)
APK_REPOSITORIES = "etc/apk/repositories"
MAX_SIZE = 64 * 1024
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RELEASE_LINE = re.compile(
    r"^(?P<name>.+?)\s+release\s+(?P<version>[0-9][^\s()]*)\s*(?:\((?P<codename>[^)]*)\))?"
)
_BRANCH = re.compile(r"/(?P<branch>v\d+\.\d+|edge)/[^/]+/?$")
# Red Hat family names as their release files spell them, to os-release IDs.
_FAMILY = (
    ("red hat enterprise linux", "rhel"),
    ("centos stream", "centos"),
    ("centos", "centos"),
    ("fedora", "fedora"),
    ("rocky linux", "rocky"),
    ("almalinux", "almalinux"),
    ("oracle linux", "ol"),
    ("amazon linux", "amzn"),
    ("cbl-mariner", "mariner"),
)


class OsReleaseFinder:
    """The fact finder for the files that say which OS this is."""

    name: ClassVar[str] = "os-release"
    version: ClassVar[int] = 1

    def wants(self, path: str, mode: int, size: int) -> bool:
        known = path in KEY_VALUE_FILES or path in FIRST_LINE_FILES or path == APK_REPOSITORIES
        return known and size <= MAX_SIZE

    def find(self, path: str, file: IO[bytes], size: int) -> Facts:
        text = file.read(MAX_SIZE + 1)[:MAX_SIZE].decode("utf-8", "replace")
        if path in KEY_VALUE_FILES:
            return dict(parse_key_values(text))
        if path == APK_REPOSITORIES:
            return {"repositories": repository_lines(text)}
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return {"line": line} if line else {}


def parse_key_values(text: str) -> dict[str, str]:
    """os-release(5) / lsb-release: ``KEY=value`` lines, values maybe quoted as in a shell."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not _KEY.fullmatch(key):
            continue
        values[key] = unquote(value.strip())
    return values


def unquote(value: str) -> str:
    """A shell-quoted value: double quotes (backslash escapes quote, backslash, dollar and
    backquote), single quotes (kept as they are), or a bare word."""
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "'":
            end = value.find("'", i + 1)
            end = len(value) if end < 0 else end
            out.append(value[i + 1 : end])
            i = end + 1
        elif char == '"':
            i += 1
            while i < len(value) and value[i] != '"':
                if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in '\\"$`':
                    i += 1
                out.append(value[i])
                i += 1
            i += 1
        elif char.isspace():
            break  # an unquoted value ends at a space
        else:
            if char == "\\" and i + 1 < len(value):
                i += 1
            out.append(value[i])
            i += 1
    return "".join(out)


def repository_lines(text: str) -> list[str]:
    lines = (ln.strip() for ln in text.splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


@dataclass(frozen=True)
class OsInfo:
    """The image's operating system as its files say."""

    id: str
    """os-release ``ID``: ``debian``, ``ubuntu``, ``alpine``, ``rhel``, ``centos``, ``fedora`` …"""
    version_id: str | None
    codename: str | None
    pretty_name: str | None
    source: str
    """The file the answer came from."""
    id_like: tuple[str, ...] = ()
    point_release: str | None = None
    """``debian_version`` / ``alpine-release`` (``12.5``, ``3.18.4``)."""
    apk_branch: str | None = None
    """The newest Alpine branch in ``etc/apk/repositories`` (``v3.19``, ``edge``)."""


Lookup = Callable[[str], tuple[str, Facts] | None]
"""Path → (the file it resolves to, this finder's facts there), or None when not visible."""


def detect_os(lookup: Lookup) -> OsInfo | None:
    """The OS from the files a container sees (``lookup`` follows the image's symlinks)."""
    for path in OS_RELEASE:
        found = lookup(path)
        if found is not None and found[1].get("ID"):
            return _complete(_from_os_release(found[0], found[1]), lookup)
    lsb = lookup("etc/lsb-release")
    if lsb is not None and lsb[1].get("DISTRIB_ID"):
        values = lsb[1]
        return _complete(
            OsInfo(
                id=_text(values.get("DISTRIB_ID")).lower(),
                version_id=_opt(values.get("DISTRIB_RELEASE")),
                codename=_opt(values.get("DISTRIB_CODENAME")),
                pretty_name=_opt(values.get("DISTRIB_DESCRIPTION")),
                source=lsb[0],
            ),
            lookup,
        )
    for path in FIRST_LINE_FILES:
        found = lookup(path)
        if found is not None and found[1].get("line"):
            info = _from_first_line(path, found[0], _text(found[1].get("line")))
            if info is not None:
                return _complete(info, lookup)
    return None


def _from_os_release(path: str, values: Facts) -> OsInfo:
    return OsInfo(
        id=_text(values.get("ID")).lower(),
        version_id=_opt(values.get("VERSION_ID")),
        codename=_opt(values.get("VERSION_CODENAME")) or _opt(values.get("UBUNTU_CODENAME")),
        pretty_name=_opt(values.get("PRETTY_NAME")) or _opt(values.get("NAME")),
        id_like=tuple(_text(values.get("ID_LIKE")).lower().split()),
        source=path,
    )


def _from_first_line(kind: str, path: str, line: str) -> OsInfo | None:
    if kind == "etc/alpine-release":
        return OsInfo("alpine", line, None, f"Alpine Linux v{line}", path, point_release=line)
    if kind == "etc/debian_version":
        version = line if line[:1].isdigit() else None
        codename = None if version else line.split("/")[0]
        major = version.split(".")[0] if version else None
        return OsInfo("debian", major, codename, f"Debian {line}", path, point_release=line)
    match = _RELEASE_LINE.match(line)
    if match is None:
        return None
    name = match["name"].lower()
    os_id = next((ident for prefix, ident in _FAMILY if name.startswith(prefix)), None)
    if os_id is None:
        os_id = name.split()[0]
    return OsInfo(os_id, match["version"], match["codename"] or None, line, path)


def _complete(info: OsInfo, lookup: Lookup) -> OsInfo:
    """Point release, a missing version and the apk branch from the other files."""
    point, version, branch = info.point_release, info.version_id, info.apk_branch
    if info.id == "debian":
        found = lookup("etc/debian_version")
        if found is not None and found[1].get("line"):
            point = point or _text(found[1].get("line"))
            if version is None and point[:1].isdigit():
                version = point.split(".")[0]
    if info.id == "alpine":
        found = lookup("etc/alpine-release")
        if found is not None and found[1].get("line"):
            point = point or _text(found[1].get("line"))
        repos = lookup(APK_REPOSITORIES)
        if repos is not None:
            lines = repos[1].get("repositories", [])
            branch = newest_branch(lines if isinstance(lines, list) else [lines])
    return OsInfo(
        info.id,
        version,
        info.codename,
        info.pretty_name,
        info.source,
        info.id_like,
        point,
        branch,
    )


def newest_branch(repositories: list[str]) -> str | None:
    """``edge`` over any ``vX.Y``, else the highest ``vX.Y`` named by a repository URL."""
    branches = [m["branch"] for ln in repositories if (m := _BRANCH.search(ln.split()[-1]))]
    if "edge" in branches:
        return "edge"
    numbered = [b for b in branches if b != "edge"]
    return max(numbered, key=lambda b: tuple(int(x) for x in b[1:].split(".")), default=None)


def _text(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(value)


def _opt(value: str | list[str] | None) -> str | None:
    return _text(value) or None
