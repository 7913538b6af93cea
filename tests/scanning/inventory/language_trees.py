"""Fixture trees as layers: what the language analysers' tests share.

``scan_tree`` hands every file of a directory to an analyser the way the layer reader does
(path relative to the root, mode bits, size; a seekable file at 0); ``tree_layer`` packs a
directory as a gzip layer tar for ``read_layer``.
"""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
from pathlib import Path
from typing import Any

from moorage.scanning.inventory.model import Analyzer, Package

DATA = Path(__file__).resolve().parent.parent / "data" / "scanner"


def scan_tree(analyzer: Analyzer, root: Path) -> dict[str, list[Package] | ValueError]:
    """Path → the analyser's packages (or the ``ValueError`` it raised), for wanted files."""
    out: dict[str, list[Package] | ValueError] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(root).as_posix()
        info = path.stat()
        if not analyzer.wants(rel, info.st_mode & 0o7777, info.st_size):
            continue
        with path.open("rb") as file:
            try:
                out[rel] = analyzer.analyze(rel, file, info.st_size)
            except ValueError as exc:
                out[rel] = exc
    return out


def tree_layer(root: Path, prefix: str = "") -> bytes:
    """The files under ``root`` as a gzip-compressed layer tar (``prefix`` before each path)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(root.rglob("*")):
            if path.name == "expected-packages.json" and path.parent == root:
                continue
            arcname = prefix + path.relative_to(root).as_posix()
            tar.add(path, arcname=arcname, recursive=False)
    return buffer.getvalue()


def expected(case_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((case_dir / "expected-packages.json").read_text())
    return data


def cases(ecosystem: str) -> list[Path]:
    """The fixture case directories of one ecosystem (each with an ``expected-packages.json``)."""
    base = DATA / ecosystem
    return sorted(p.parent for p in base.glob("*/expected-packages.json"))


def executable(path: Path) -> bool:
    return os.access(path, os.X_OK)


def mutations(
    data: bytes, count: int, seed: int, regions: list[tuple[int, int]] | None = None
) -> list[bytes]:
    """``count`` copies of ``data`` with a few random bytes changed (deterministic by ``seed``),
    each inside one of ``regions`` (start, end) when given."""
    rng = random.Random(seed)
    spans = regions or [(0, len(data))]
    out = []
    for _ in range(count):
        copy = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            start, end = rng.choice(spans)
            copy[rng.randrange(start, min(end, len(copy)))] = rng.randrange(256)
        out.append(bytes(copy))
    return out


def outcome(analyzer: Analyzer, path: str, data: bytes) -> list[Package] | ValueError:
    """What the analyser makes of ``data``: packages, or the ``ValueError`` it refused it with.
    Any other exception propagates (and fails the test): the layer reader expects only these."""
    try:
        return analyzer.analyze(path, io.BytesIO(data), len(data))
    except ValueError as exc:
        return exc
