"""Running the ``moorage`` command line as operators do: a subprocess of this virtualenv's
Python (``python -m moorage.cli.main ...``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from moorage.config import Settings


def moorage(
    *args: str,
    settings: Settings | None = None,
    data: Path | None = None,
    database: str | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """``moorage ARGS --data ... [--database ...]``; ``settings`` gives both."""
    if settings is not None:
        data, database = settings.data, settings.database
    where: list[str] = []
    if data is not None:
        where += ["--data", str(data)]
    if database:
        where += ["--database", database]
    return subprocess.run(
        [sys.executable, "-m", "moorage.cli.main", *args, *where],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MOORAGE_LOG_FORMAT": "text", **(env or {})},
        check=False,
    )
