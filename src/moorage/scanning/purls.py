"""Package URLs (purl-spec) for what a scan found: one purl per stored component and one for the
image, built with ``packageurl-python``; and the comparison OpenVEX needs (does a statement's
purl name this component?).

What is decided here, not by the library: which purl namespace an OS package gets (the
distribution: ``pkg:deb/debian/...``, ``pkg:rpm/redhat/...``, from the image's
``os-release`` ID), the ``distro``, ``arch``, ``epoch`` and ``upstream`` qualifiers syft and
Trivy also write, and the matching rule of ``matches``: type, namespace, name equal; the version
only when the statement gives one; a qualifier only when both purls carry it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from packageurl import PackageURL

OS_TYPES = frozenset({"deb", "apk", "rpm"})
# os-release IDs to the purl namespace of their rpm vendor (purl-spec's examples, syft's names).
_RPM_NAMESPACE = {
    "rhel": "redhat",
    "sles": "suse",
    "sle-micro": "suse",
    "opensuse-leap": "opensuse",
    "opensuse-tumbleweed": "opensuse",
    "ol": "oracle",
    "amzn": "amazon",
}
_DEFAULT_NAMESPACE = {"deb": "debian", "apk": "alpine"}
_EPOCH = re.compile(r"^(\d+):(.+)$")


@dataclass(frozen=True, slots=True)
class ImageOs:
    """The image's operating system as the scan stored it (``os-release`` ID and VERSION_ID)."""

    id: str | None = None
    version_id: str | None = None
    pretty_name: str | None = None

    @classmethod
    def of(cls, os_name: str | None, os_detail: str | None) -> ImageOs:
        """From ``image_scans.os`` (``"debian 12"``) and ``os_detail`` (JSON, if it parses)."""
        detail: dict[str, object] = {}
        if os_detail:
            try:
                loaded = json.loads(os_detail)
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                detail = {str(k).lower(): v for k, v in loaded.items()}
        ident = detail.get("id")
        version = detail.get("version_id")
        pretty = detail.get("pretty_name")
        if not isinstance(ident, str) and os_name:
            ident, _, rest = os_name.strip().partition(" ")
            version = rest.strip() or None
        return cls(
            id=ident.lower() if isinstance(ident, str) and ident else None,
            version_id=version if isinstance(version, str) and version else None,
            pretty_name=pretty if isinstance(pretty, str) else os_name,
        )

    @property
    def distro(self) -> str | None:
        if self.id and self.version_id:
            return f"{self.id}-{self.version_id}"
        return self.id


@dataclass(frozen=True, slots=True)
class ComponentIdentity:
    """What a purl is made from: the columns of ``image_scan_components`` that name a package."""

    type: str
    name: str
    version: str
    namespace: str | None = None
    arch: str | None = None
    source_name: str | None = None
    source_version: str | None = None


def _os_namespace(kind: str, os: ImageOs) -> str | None:
    if kind == "rpm":
        return _RPM_NAMESPACE.get(os.id or "", os.id)
    return os.id or _DEFAULT_NAMESPACE.get(kind)


def component_purl(c: ComponentIdentity, os: ImageOs) -> PackageURL:
    """The purl of one component; OS packages are namespaced by the image's distribution."""
    qualifiers: dict[str, str] = {}
    namespace = c.namespace or None
    name, version = c.name, c.version
    if c.type in OS_TYPES:
        namespace = _os_namespace(c.type, os)
        if c.arch:
            qualifiers["arch"] = c.arch
        if os.distro:
            qualifiers["distro"] = os.distro
        if c.type == "rpm":
            epoch = _EPOCH.match(version)
            if epoch:
                qualifiers["epoch"] = epoch.group(1)
                version = epoch.group(2)
        if c.source_name and c.source_name != c.name:
            upstream = c.source_name
            if c.source_version and c.source_version != c.version:
                upstream = f"{upstream}@{c.source_version}"
            qualifiers["upstream"] = upstream
    elif c.type == "npm" and namespace and not namespace.startswith("@"):
        namespace = f"@{namespace}"
    elif c.type == "golang" and namespace is None and "/" in name:
        namespace, _, name = name.rpartition("/")
    elif c.type == "maven" and namespace is None and ":" in name:
        namespace, _, name = name.partition(":")
    return PackageURL(
        type=c.type,
        namespace=namespace,
        name=name,
        version=version or None,
        qualifiers=qualifiers or None,
    )


def image_name(repository: str) -> str:
    """The purl name of an image: the repository's last path segment (purl-spec ``oci``)."""
    return repository.rsplit("/", 1)[-1]


def image_purl(
    repository: str, digest: str, *, registry_host: str | None, tag: str | None = None
) -> PackageURL:
    """``pkg:oci/<name>@<digest>?repository_url=<host>/<repository>&tag=<tag>``."""
    qualifiers: dict[str, str] = {}
    qualifiers["repository_url"] = f"{registry_host}/{repository}" if registry_host else repository
    if tag:
        qualifiers["tag"] = tag
    return PackageURL(
        type="oci", name=image_name(repository), version=digest, qualifiers=qualifiers
    )


def parse(value: str) -> PackageURL:
    """A purl from text; ``ValueError`` with the library's reason when it is not one."""
    if not value.startswith("pkg:"):
        raise ValueError("a package URL starts with pkg:")
    return PackageURL.from_string(value)


def _qualifiers(purl: PackageURL) -> dict[str, str]:
    raw = purl.qualifiers
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    return {}


def image_digest(purl: PackageURL) -> str | None:
    """The manifest digest a ``pkg:oci`` purl names (its version), else None."""
    if purl.type != "oci" or not purl.version:
        return None
    return str(purl.version)


def matches(statement: PackageURL, component: PackageURL) -> bool:
    """Whether ``statement`` (from a VEX document) names ``component``: same type, name and
    namespace (a statement without a namespace leaves it open), the same version if the
    statement has one, and every qualifier present in both equal."""
    if statement.type != component.type or statement.name != component.name:
        return False
    if statement.namespace and (statement.namespace or "") != (component.namespace or ""):
        return False
    if statement.version and statement.version != component.version:
        return False
    mine, theirs = _qualifiers(statement), _qualifiers(component)
    return all(theirs[k] == v for k, v in mine.items() if k in theirs)
