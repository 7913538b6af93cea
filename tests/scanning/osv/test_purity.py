"""``scanning.versions`` and ``scanning.osv`` are pure: from Moorage they import only
``moorage.errors`` and each other."""

from __future__ import annotations

import ast
from pathlib import Path

import moorage.scanning

ALLOWED = ("moorage.errors", "moorage.scanning.versions", "moorage.scanning.osv")


def test_imports() -> None:
    root = Path(moorage.scanning.__file__).parent
    files = [*(root / "versions").glob("*.py"), *(root / "osv").glob("*.py")]
    assert len(files) >= 15
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("moorage"):
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"
