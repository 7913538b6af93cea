"""Version tables: versions found in the shared fixtures (``data/*.txt``, see data/SOURCES.md)
plus each test's own examples from the specifications, turned into pairs."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from pathlib import Path

DATA = Path(__file__).parent / "data"


def versions(name: str) -> list[str]:
    return [line for line in (DATA / f"{name}.txt").read_text().splitlines() if line]


def pairs(
    values: list[str], extra: Sequence[tuple[str, str]] = (), randoms: int = 300, seed: int = 11
) -> list[tuple[str, str]]:
    """Neighbours in the sorted list (near misses), ``randoms`` seeded random pairs, each pair
    also reversed, every value against itself, then ``extra``."""
    ordered = sorted(set(values))
    rng = random.Random(seed)
    out = list(itertools.pairwise(ordered))
    out += [(rng.choice(ordered), rng.choice(ordered)) for _ in range(randoms)]
    out += [(b, a) for a, b in out]
    out += [(v, v) for v in ordered]
    out += list(extra)
    return out


def chain(*ordered: str) -> list[tuple[str, str]]:
    """Pairs of each value with every later one in an ordering a specification gives."""
    return [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :]]
