"""The options of a run: what ``benchmarks/run.py`` parses, plus what the run learns on the way
(the exported commit, its PYTHONPATH, the temporary folder)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout


def default_wrk() -> str:
    return shutil.which("wrk") or "/usr/bin/wrk"


@dataclasses.dataclass
class Options:
    quick: bool = False
    rounds: int | None = None
    out: Path = ROOT / "benchmarks" / "results" / "latest.json"
    doc: Path | None = None
    moorage_cmd: str | None = None
    moorage_ref: str | None = None
    moorage_workers: int | None = None
    moorage_server: str = "default"
    distribution: str = "/usr/bin/docker-registry"
    wrk: str = dataclasses.field(default_factory=default_wrk)
    wrk_threads: int = 1
    access_logs: bool = False
    workdir: Path | None = None
    keep: bool = False
    # Set during the run.
    moorage_ref_commit: str | None = None
    moorage_pythonpath: str | None = None
    workdir_path: Path = dataclasses.field(default_factory=Path)
