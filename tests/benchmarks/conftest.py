"""The benchmark's modules import as ``benchmarks/run.py`` sees them: ``benchmarks/`` first on
the path (``harness`` is its package)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
