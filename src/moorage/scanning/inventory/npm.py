"""npm packages: installed ``node_modules/**/package.json`` and ``package-lock.json`` v1, v2, v3.

JSON is read with the standard library, bounded by ``MAX_JSON_BYTES``; a file that is not valid
JSON, or not an object, is refused with ``ValueError``.

Written by hand, because no Python library reads npm's lock files: the walk of the lock file
formats and the choices below (trivy's, whose tests are the fixtures' oracle).

* An installed ``package.json`` counts only as ``node_modules/<name>/package.json`` or
  ``node_modules/@scope/<name>/package.json``; the ``package.json`` files packages keep in their
  own sub-folders (``{"type": "module"}`` markers) are not packages. One without a name or
  version is skipped (``[]``).
* Licences in their historic forms: ``"license": "MIT"``, ``{"type": "MIT"}``, a list of either,
  and the old ``"licenses": [{"type": ...}]``.
* Lock files v2 and v3 are read from ``packages`` (keyed by install path): the root project
  (``""``) is the application, not a dependency, and is not reported; a package's name is its
  ``name`` field (npm aliases) or the path after the last ``node_modules/``; workspace links
  (``"link": true``) are followed to their target, whose files are then named under the link's
  path, so a workspace member is reported under the link's name with the target's version
  (empty when the member has none, as trivy reports it). Paths outside ``node_modules`` are
  reported only through a link.
* Lock file v1 is read from the nested ``dependencies`` tree; an alias ``npm:<name>@<version>``
  is reported as the real package.
* Dev dependencies are kept (``npm ci`` installs them unless told otherwise; the lock cannot
  say how the image was built) and marked ``("dev", "true")`` in ``metadata``; a package that is
  both a dev and a production dependency is not a dev one.
* One package per name and version per file; ``dependencies`` lists ``name@version`` of what
  each package requires, resolved as Node resolves (nearest ``node_modules`` first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from moorage.scanning.inventory.model import Package

MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_V1_DEPTH = 256
_NODE_MODULES = "node_modules"


def read_json_object(file: IO[bytes], what: str) -> dict[str, Any]:
    """The JSON object in ``file``, bounded; ``ValueError`` when it is not one."""
    data = file.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"{what} is larger than {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{what} nests too deeply") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value


def licenses_of(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The licences a ``package.json`` (or a lock entry) declares, in any of npm's forms."""
    found: list[str] = []
    for key in ("license", "licenses"):
        value = manifest.get(key)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                item = item.get("type")
            if isinstance(item, str) and item.strip():
                found.append(item.strip())
    return tuple(dict.fromkeys(found))


def split_name(full: str) -> tuple[str | None, str]:
    """``@scope/name`` → (``scope``, ``name``); a name without a scope has none."""
    if full.startswith("@") and "/" in full:
        scope, _, name = full[1:].partition("/")
        return scope, name
    return None, full


def installed_manifest_name(path: str) -> bool:
    """Whether ``path`` is ``…node_modules/<name>/package.json`` (or ``@scope/<name>``)."""
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-3] == _NODE_MODULES:
        return not parts[-2].startswith((".", "@"))
    return len(parts) >= 4 and parts[-4] == _NODE_MODULES and parts[-3].startswith("@")


def name_from_install_path(path: str) -> str:
    """``node_modules/a/node_modules/@s/b`` → ``@s/b``."""
    index = path.rfind(_NODE_MODULES + "/")
    return path[index + len(_NODE_MODULES) + 1 :] if index >= 0 else path


@dataclass
class _Found:
    name: str
    version: str
    dev: bool
    licenses: list[str] = field(default_factory=list)
    requires: set[str] = field(default_factory=set)


class _Collector:
    """Packages of one lock file, one per name and version."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], _Found] = {}

    def add(
        self, name: str, version: str, dev: bool, licenses: tuple[str, ...], requires: set[str]
    ) -> None:
        key = (name, version)
        entry = self.found.get(key)
        if entry is None:
            entry = self.found[key] = _Found(name, version, dev)
        entry.dev = entry.dev and dev
        entry.licenses.extend(x for x in licenses if x not in entry.licenses)
        entry.requires |= requires

    def packages(self, path: str) -> list[Package]:
        out = []
        for entry in self.found.values():
            scope, short = split_name(entry.name)
            out.append(
                Package(
                    type="npm",
                    name=short,
                    version=entry.version,
                    path=path,
                    namespace=scope,
                    licenses=tuple(entry.licenses),
                    dependencies=tuple(sorted(entry.requires)),
                    metadata=(("dev", "true"),) if entry.dev else (),
                )
            )
        return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def resolve_links(packages: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``packages`` map with every workspace link replaced by its target's entries."""
    entries = {k: v for k, v in packages.items() if isinstance(k, str) and isinstance(v, dict)}
    links = {
        path: _text(entry.get("resolved")).rstrip("/")
        for path, entry in entries.items()
        if entry.get("link") is True
    }
    out = {path: entry for path, entry in entries.items() if path not in links}
    for link_path, target in links.items():
        if not target:
            continue  # a broken link: there is nothing to report
        for path, entry in entries.items():
            if path == target or path.startswith(target + "/"):
                out.pop(path, None)
                out[link_path + path[len(target) :]] = entry
    return out


def _nearest(packages: dict[str, dict[str, Any]], from_path: str, name: str) -> str | None:
    """The install path Node would load ``name`` from, required by the package at ``from_path``."""
    parts = f"{from_path}/{_NODE_MODULES}".split("/")
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] != _NODE_MODULES:
            continue
        candidate = "/".join([*parts[: index + 1], name])
        if candidate in packages:
            return candidate
    return None


def parse_lock_v2(lock: dict[str, Any]) -> _Collector:
    """Lock files v2 and v3: the flat ``packages`` map keyed by install path."""
    packages = resolve_links(_mapping(lock.get("packages")))
    collector = _Collector()
    for path, entry in packages.items():
        if not path.startswith(_NODE_MODULES + "/"):
            continue
        name = _text(entry.get("name")) or name_from_install_path(path)
        requires = set()
        for key in ("dependencies", "optionalDependencies", "peerDependencies"):
            for dep_name in _mapping(entry.get(key)):
                dep_path = _nearest(packages, path, str(dep_name))
                if dep_path is not None:
                    dep = packages[dep_path]
                    dep_full = _text(dep.get("name")) or name_from_install_path(dep_path)
                    requires.add(f"{dep_full}@{_text(dep.get('version'))}")
        collector.add(
            name,
            _text(entry.get("version")),
            entry.get("dev") is True,
            licenses_of(entry),
            requires,
        )
    return collector


def _alias(name: str, version: str) -> tuple[str, str]:
    """An npm alias (``npm:real-name@1.2.3``) as the real name and version."""
    if version.startswith("npm:"):
        real, sep, real_version = version[4:].rpartition("@")
        if sep and real:
            return real, real_version
    return name, version


def parse_lock_v1(lock: dict[str, Any]) -> _Collector:
    """Lock file v1: nested ``dependencies``; requirements resolve to the nearest level."""
    collector = _Collector()
    stack: list[tuple[dict[str, Any], dict[str, str], int]] = [
        (_mapping(lock.get("dependencies")), {}, 0)
    ]
    while stack:
        level, outer, depth = stack.pop()
        if depth > MAX_V1_DEPTH:
            raise ValueError(f"package-lock.json nests deeper than {MAX_V1_DEPTH} levels")
        visible = dict(outer)
        for name, entry in level.items():
            if isinstance(entry, dict):
                visible[str(name)] = _text(entry.get("version"))
        for name, entry in level.items():
            if not isinstance(entry, dict):
                continue
            real, version = _alias(str(name), _text(entry.get("version")))
            nested = _mapping(entry.get("dependencies"))
            requires = set()
            for dep_name in _mapping(entry.get("requires")):
                dep_entry = nested.get(dep_name)
                if isinstance(dep_entry, dict):
                    dep_version = _text(dep_entry.get("version"))
                elif dep_name in visible:
                    dep_version = visible[dep_name]
                else:
                    continue
                dep_real, dep_version = _alias(str(dep_name), dep_version)
                requires.add(f"{dep_real}@{dep_version}")
            collector.add(real, version, entry.get("dev") is True, (), requires)
            if nested:
                stack.append((nested, visible, depth + 1))
    return collector


class NpmAnalyzer:
    """npm packages, installed (``package.json``) or locked (``package-lock.json``)."""

    name: ClassVar[str] = "npm"
    version: ClassVar[int] = 1

    def wants(self, path: str, mode: int, size: int) -> bool:
        base = path.rpartition("/")[2]
        if base == "package-lock.json":
            return f"/{_NODE_MODULES}/" not in f"/{path}"
        return installed_manifest_name(path)

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        if path.rpartition("/")[2] == "package-lock.json":
            return self.analyze_lock(path, file)
        manifest = read_json_object(file, "package.json")
        full = _text(manifest.get("name")).strip()
        version = _text(manifest.get("version")).strip()
        if not full or not version:
            return []
        scope, short = split_name(full)
        return [
            Package(
                type="npm",
                name=short,
                version=version,
                path=path,
                namespace=scope,
                licenses=licenses_of(manifest),
                dependencies=tuple(sorted(str(d) for d in _mapping(manifest.get("dependencies")))),
            )
        ]

    def analyze_lock(self, path: str, file: IO[bytes]) -> list[Package]:
        lock = read_json_object(file, "package-lock.json")
        version = lock.get("lockfileVersion", 1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"package-lock.json has lockfileVersion {version!r}")
        if version >= 2 and isinstance(lock.get("packages"), dict):
            return parse_lock_v2(lock).packages(path)
        if version in (1, 2):
            return parse_lock_v1(lock).packages(path)
        raise ValueError(f"package-lock.json v{version} without a packages map")
