"""Sizes and the two run profiles (full and ``--quick``)."""

from __future__ import annotations

import dataclasses

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
MB = 1_000_000
ORDER = ("moorage", "distribution")  # every phase runs on both, in this order


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    rounds: int
    blob_size: int
    chunk_size: int
    pull_repeats: int  # sequential one-stream pulls per round (CPU ticks need enough work)
    pull_streams: int
    small_images: int
    small_concurrency: int
    small_layer: int
    wrk_connections: int
    wrk_seconds: int
    tags: int
    tags_page: int
    tags_repeats: int
    phase_timeout: float  # seconds; any single phase on one server


FULL = Profile(
    name="full",
    rounds=3,
    blob_size=256 * MiB,
    chunk_size=16 * MiB,
    pull_repeats=4,
    pull_streams=8,
    small_images=200,
    small_concurrency=16,
    small_layer=4 * KiB,
    wrk_connections=32,
    wrk_seconds=10,
    tags=1000,
    tags_page=100,
    tags_repeats=10,
    phase_timeout=120.0,
)
QUICK = dataclasses.replace(
    FULL,
    name="quick",
    rounds=1,
    blob_size=32 * MiB,
    chunk_size=8 * MiB,
    pull_repeats=2,
    small_images=40,
    wrk_seconds=2,
    tags=200,
    tags_repeats=3,
    phase_timeout=30.0,
)
