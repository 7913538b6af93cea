"""The figures of the table: what each is, its unit and format, its target and how the target
is checked; and the summary of a run's per-round values (medians, ratio Moorage/distribution)."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from typing import NotRequired, TypedDict

from harness.session import Results


class Row(TypedDict):
    """One line of the table (and of the JSON report's ``figures``, without ``fmt``)."""

    key: str
    label: str
    unit: str
    moorage: float | None
    distribution: float | None
    ratio: float | None
    target: str
    met: bool | None
    rounds: dict[str, list[float]]
    fmt: str
    note: NotRequired[str]


@dataclasses.dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    fmt: str = "{:.1f}"
    target: str = ""
    # check(moorage, distribution, ratio, context) -> met?; None = no target
    check: Callable[[float, float, float, dict[str, float]], bool] | None = None


def _ratio_at_least(x: float) -> Callable[[float, float, float, dict[str, float]], bool]:
    return lambda _m, _d, r, _c: r >= x


FIGURES = [
    Figure(
        "push_mono_mbps",
        "push 256 MiB monolithic",
        "MB/s",
        "{:.0f}",
        ">=3x and >=0.7 x sha256",
        lambda m, _d, r, c: r >= 3 and m >= 0.7 * c["sha256_mbps"],
    ),
    Figure(
        "push_chunked_mbps",
        "push 256 MiB in 16 MiB chunks",
        "MB/s",
        "{:.0f}",
        ">=3x and >=0.7 x sha256",
        lambda m, _d, r, c: r >= 3 and m >= 0.7 * c["sha256_mbps"],
    ),
    Figure("push_mono_cpu_s_per_gib", "  server CPU, monolithic push", "CPU-s/GiB", "{:.2f}"),
    Figure("push_chunked_cpu_s_per_gib", "  server CPU, chunked push", "CPU-s/GiB", "{:.2f}"),
    Figure("pull_1_mbps", "pull, 1 stream", "MB/s", "{:.0f}", ">=1x", _ratio_at_least(1)),
    Figure(
        "pull_1_cpu_s_per_gib",
        "  server CPU, 1 stream",
        "CPU-s/GiB",
        "{:.2f}",
        "<=0.25",
        lambda m, _d, _r, _c: m <= 0.25,
    ),
    Figure("pull_n_mbps", "pull, 8 streams", "MB/s", "{:.0f}", ">=1x", _ratio_at_least(1)),
    Figure(
        "pull_n_cpu_s_per_gib",
        "  server CPU, 8 streams",
        "CPU-s/GiB",
        "{:.2f}",
        "<=0.25",
        lambda m, _d, _r, _c: m <= 0.25,
    ),
    Figure(
        "small_images_per_s",
        "small images pushed, 16 at a time",
        "images/s",
        "{:.0f}",
        ">=2x",
        _ratio_at_least(2),
    ),
    Figure("small_manifest_put_p50_ms", "  manifest PUT p50", "ms", "{:.1f}"),
    Figure("small_manifest_put_p99_ms", "  manifest PUT p99", "ms", "{:.1f}"),
    Figure("small_cpu_ms_per_image", "  server CPU per image", "CPU-ms", "{:.1f}"),
    Figure(
        "manifest_get_rps",
        "manifest GET by tag, 32 conns (wrk)",
        "req/s",
        "{:.0f}",
        ">=5x",
        _ratio_at_least(5),
    ),
    Figure("manifest_get_p50_ms", "  latency p50", "ms", "{:.2f}"),
    Figure("manifest_get_p99_ms", "  latency p99", "ms", "{:.2f}"),
    Figure("manifest_get_cpu_ms_per_req", "  server CPU per request", "CPU-ms", "{:.3f}"),
    Figure(
        "manifest_get_py_rps",
        "  same GET, Python load generator",
        "req/s",
        "{:.0f}",
    ),
    Figure("manifest_get_py_p50_ms", "    latency p50", "ms", "{:.2f}"),
    Figure("manifest_get_py_p99_ms", "    latency p99", "ms", "{:.2f}"),
    Figure(
        "blob_head_rps",
        "blob HEAD, 32 conns (Python load generator)",
        "req/s",
        "{:.0f}",
        ">=5x",
        _ratio_at_least(5),
    ),
    Figure("blob_head_p50_ms", "  latency p50", "ms", "{:.2f}"),
    Figure("blob_head_p99_ms", "  latency p99", "ms", "{:.2f}"),
    Figure("blob_head_cpu_ms_per_req", "  server CPU per request", "CPU-ms", "{:.3f}"),
    Figure(
        "manifest_get_token_rps",
        "manifest GET, bearer token (wrk)",
        "req/s",
        "{:.0f}",
        ">=3x",
        _ratio_at_least(3),
    ),
    Figure("manifest_get_token_p50_ms", "  latency p50", "ms", "{:.2f}"),
    Figure("manifest_get_token_p99_ms", "  latency p99", "ms", "{:.2f}"),
    Figure("manifest_get_token_cpu_ms_per_req", "  server CPU per request", "CPU-ms", "{:.3f}"),
    Figure(
        "blob_head_token_rps",
        "blob HEAD, bearer token (Python load generator)",
        "req/s",
        "{:.0f}",
        ">=3x",
        _ratio_at_least(3),
    ),
    Figure("blob_head_token_p50_ms", "  latency p50", "ms", "{:.2f}"),
    Figure("blob_head_token_p99_ms", "  latency p99", "ms", "{:.2f}"),
    Figure("blob_head_token_cpu_ms_per_req", "  server CPU per request", "CPU-ms", "{:.3f}"),
    Figure("tags_whole_ms", "tags list, 1,000 tags, whole", "ms/listing", "{:.2f}"),
    Figure("tags_paged_ms", "tags list, 1,000 tags, n=100 pages", "ms/listing", "{:.2f}"),
    Figure(
        "peak_rss_mib",
        "peak RSS (VmHWM), one process",
        "MiB",
        "{:.1f}",
        "<=1.5x",
        lambda _m, _d, r, _c: r <= 1.5,
    ),
    Figure("total_cpu_s", "total CPU of the server process(es)", "CPU-s", "{:.1f}"),
]
TOKEN_FIGURES = ("manifest_get_token_rps", "blob_head_token_rps")


def summarize(results: Results, context: dict[str, float]) -> list[Row]:
    rows: list[Row] = []
    for fig in FIGURES:
        per = results.get(fig.key)
        if not per and fig.key in TOKEN_FIGURES:
            rows.append(
                {
                    "key": fig.key,
                    "label": fig.label,
                    "unit": fig.unit,
                    "moorage": None,
                    "distribution": None,
                    "ratio": None,
                    "target": fig.target,
                    "met": None,
                    "rounds": {},
                    "fmt": fig.fmt,
                    "note": "not measured (see the notes)",
                }
            )
            continue
        if not per:
            continue
        m = statistics.median(per["moorage"])
        d = statistics.median(per["distribution"])
        ratio = m / d if d else float("inf")
        met = None if fig.check is None else bool(fig.check(m, d, ratio, context))
        rows.append(
            {
                "key": fig.key,
                "label": fig.label,
                "unit": fig.unit,
                "moorage": m,
                "distribution": d,
                "ratio": ratio,
                "target": fig.target,
                "met": met,
                "rounds": per,
                "fmt": fig.fmt,
            }
        )
    return rows
