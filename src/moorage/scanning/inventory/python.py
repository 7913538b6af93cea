"""Python distributions: ``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO``, ``*.egg-info`` files
and ``*.egg/EGG-INFO/PKG-INFO``.

These files hold the core metadata in e-mail header form; the standard library's
``email.parser`` reads them (as ``importlib.metadata`` does). Only the header block is read: it
ends at the first empty line, after which comes the long description, so a METADATA file of any
size costs at most ``MAX_HEADER_BYTES`` of reading; a header block larger than that is refused
with ``ValueError``. Classifiers written after a description that contains an empty line are
body text, not headers, exactly as pip and trivy read them.

The name is reported as the file spells it (``Unidecode``); the PEP 503 form that advisories are
matched on (``packaging.utils.canonicalize_name``) is in ``metadata`` as ``normalized_name``, and
``normalized_name()`` below gives it for any name.

Written by hand, because it is policy rather than parsing: the choice of licences, following
trivy (whose tests are the fixtures' oracle):

1. ``License-Expression`` (PEP 639) when present;
2. else every ``License :: ...`` classifier's last part, except the bare grouping
   ``OSI Approved``;
3. else the ``License`` field, unless it is licence text rather than a name (more than one line,
   or longer than ``MAX_LICENSE_NAME`` characters);
4. else ``file://<first License-File>``.

``UNKNOWN`` (what old setuptools writes) is kept as written.
"""

from __future__ import annotations

import email.parser
import email.policy
from typing import IO, ClassVar

from packaging.utils import canonicalize_name

from moorage.scanning.inventory.model import Package

MAX_HEADER_BYTES = 1024 * 1024
MAX_LICENSE_NAME = 200
_LINE_LIMIT = 64 * 1024


def normalized_name(name: str) -> str:
    """The PEP 503 form of a distribution name, which PyPI advisories use."""
    return str(canonicalize_name(name))


def is_metadata_path(path: str) -> bool:
    """Whether ``path`` is where an installed distribution keeps its core metadata."""
    parent, _, base = path.rpartition("/")
    if base == "METADATA":
        return parent.endswith(".dist-info")
    if base == "PKG-INFO":
        return parent.endswith(".egg-info") or parent.endswith(".egg/EGG-INFO")
    return base.endswith(".egg-info") and len(base) > len(".egg-info")


def read_header_block(file: IO[bytes]) -> str:
    """The bytes before the first empty line, decoded; bounded by ``MAX_HEADER_BYTES``."""
    lines: list[bytes] = []
    total = 0
    while True:
        line = file.readline(_LINE_LIMIT)
        if not line or line in (b"\n", b"\r\n", b"\r"):
            break
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise ValueError(f"metadata header block is larger than {MAX_HEADER_BYTES} bytes")
        lines.append(line)
    return b"".join(lines).decode("utf-8", "replace")


def choose_licenses(
    expression: str | None,
    classifiers: list[str],
    license_field: str | None,
    license_files: list[str],
) -> tuple[str, ...]:
    """The licences a distribution declares, in trivy's order of precedence."""
    if expression and expression.strip():
        return (expression.strip(),)
    named = []
    for classifier in classifiers:
        parts = [part.strip() for part in classifier.split("::")]
        if len(parts) >= 2 and parts[0] == "License" and parts[-1] != "OSI Approved":
            named.append(parts[-1])
    if named:
        return tuple(dict.fromkeys(named))
    value = (license_field or "").strip()
    if value and "\n" not in value and len(value) <= MAX_LICENSE_NAME:
        return (value,)
    for license_file in license_files:
        if license_file.strip():
            return (f"file://{license_file.strip()}",)
    return ()


class PythonAnalyzer:
    """Installed Python distributions, from their core metadata files."""

    name: ClassVar[str] = "python"
    version: ClassVar[int] = 1

    def wants(self, path: str, mode: int, size: int) -> bool:
        return is_metadata_path(path)

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        text = read_header_block(file)
        headers = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text)
        name = str(headers.get("Name", "")).strip()
        version = str(headers.get("Version", "")).strip()
        if not name or not version:
            raise ValueError("core metadata without Name or Version")
        licenses = choose_licenses(
            headers.get("License-Expression"),
            [str(c) for c in headers.get_all("Classifier") or []],
            headers.get("License"),
            [str(f) for f in headers.get_all("License-File") or []],
        )
        return [
            Package(
                type="pypi",
                name=name,
                version=version,
                path=path,
                licenses=licenses,
                metadata=(("normalized_name", normalized_name(name)),),
            )
        ]
