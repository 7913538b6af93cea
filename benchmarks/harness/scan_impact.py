"""What scanning costs concurrent pushes and pulls (issue 11's target: "scanning never slows a
concurrent push or pull by more than 10%"), for ``benchmarks/scan_impact.py``.

Each round measures, alone and while scans of a large image run back to back (the two in
alternating order, ABBA, so that the shared machine's drift falls on both):

- the push of a fresh 64 MiB blob (monolithic ``POST`` + ``PUT``), MB/s;
- the push of small images (a 4 KiB layer, a config, a manifest; 4 at a time), images/s;
- the pull of a 64 MiB blob (two sequential ``GET``), MB/s.

The scans: the ~100 MB image of ``harness.scanning.build_image`` (real Debian 12 packages and
Python distributions, three gzip layers) pushed as many variants. A variant's layers are the
image's gzip streams each followed by an empty gzip member with a header of its own: the same
files, a new digest, so no layer inventory is ever cached and every scan reads and analyses
~100 MB. One ``scan`` job at a time is asked for through DTR's API (``POST
/api/v0/imagescan/scan/{ns}/{repo}/{tag}/linux/amd64``), the next as soon as one ends. Every
measurement records its "coverage": the part of its interval during which a scan job was running
(the jobs' ``startedAt`` / ``endedAt``).

Where the scans run is the mode: ``inline`` (``moorage serve`` as installed: each serving process
runs jobs beside its requests), ``worker`` (serve with no job slots, one ``moorage worker``
process), ``worker-nice`` (that worker at nice 19, as an operator may run it). Servers and workers
are stopped by their PIDs whatever happens.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from harness.errors import BenchError
from harness.loadgen import run_queue
from harness.processes import Server, free_port
from harness.profiles import MB, KiB, MiB
from harness.rawhttp import Conn, expect, sha256_digest
from harness.registry_ops import make_image, pull_blob, push_image, push_monolithic
from harness.scanning import BenchImage

ADMIN = "bench"
IMAGE_REPO = "bench/big"
PUSH_REPO = "bench/push"
SMALL_REPO = "bench/small"
PULL_REPO = "bench/pull"
MODES = ("inline", "worker", "worker-nice")
CONDITIONS = ("alone", "scanning")
METRICS = {
    "push_mbps": ("push 64 MiB blob", "MB/s"),
    "small_images_per_s": ("push small images", "images/s"),
    "pull_mbps": ("pull 64 MiB blob", "MB/s"),
}
TARGET_RATIO = 0.9  # at most 10% slower while scanning
POLL_S = 0.1  # job polling of the scan loop and the job runners (MOORAGE_JOB_POLL_SECONDS)


@dataclasses.dataclass(frozen=True)
class Settings:
    rounds: int = 5
    variants: int = 24
    blob_bytes: int = 64 * MiB
    small_images: int = 40
    small_concurrency: int = 4
    small_layer: int = 4 * KiB
    pull_repeats: int = 2
    timeout: float = 600.0


@dataclasses.dataclass(frozen=True)
class Window:
    """One measurement: its value and when it ran (wall clock, as the jobs' times are)."""

    round: int
    condition: str
    metric: str
    value: float
    start: float
    end: float


# ---- the image's variants -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LargeImage:
    layers: list[bytes]  # the gzip layer blobs, in order
    media_types: list[str]
    config: bytes

    @classmethod
    def of(cls, bench: BenchImage) -> LargeImage:
        image = bench.image
        blobs = image.layout / "blobs" / "sha256"
        layers = [
            (blobs / layer.digest.removeprefix("sha256:")).read_bytes() for layer in image.layers
        ]
        media_types = [layer.media_type for layer in image.layers]
        if not all(m.endswith("gzip") for m in media_types):
            raise BenchError(f"variants need gzip layers, the image has {media_types}")
        return cls(layers, media_types, image.config)

    @property
    def size(self) -> int:
        return sum(len(layer) for layer in self.layers)

    def variant(self, i: int) -> tuple[list[bytes], bytes]:
        """Variant ``i``'s layer blobs and manifest: each layer followed by an empty gzip member
        whose header (its mtime) is the variant's and the layer's own."""
        layers = [
            layer + gzip.compress(b"", mtime=1_000_000 + i * 16 + j)
            for j, layer in enumerate(self.layers)
        ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_digest(self.config),
                "size": len(self.config),
            },
            "layers": [
                {"mediaType": m, "digest": sha256_digest(b), "size": len(b)}
                for m, b in zip(self.media_types, layers, strict=True)
            ],
        }
        return layers, json.dumps(manifest, separators=(",", ":")).encode()


def push_variants(conn: Conn, image: LargeImage, count: int) -> list[str]:
    """Push ``count`` variants as tags ``v0`` …; their tags."""
    push_monolithic(conn, IMAGE_REPO, image.config, sha256_digest(image.config))
    tags = []
    for i in range(count):
        layers, manifest = image.variant(i)
        for blob in layers:
            push_monolithic(conn, IMAGE_REPO, blob, sha256_digest(blob))
        resp = conn.request(
            "PUT",
            f"/v2/{IMAGE_REPO}/manifests/v{i}",
            {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            manifest,
        )
        expect(resp, 201, f"variant v{i} manifest PUT")
        tags.append(f"v{i}")
    return tags


# ---- scans back to back ---------------------------------------------------------------------


def _at(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class ScanLoop:
    """One ``scan`` job at a time, the next asked for as soon as one ends, on a thread of its
    own; every job's running interval kept, every result checked ``scanned``."""

    def __init__(self, http: httpx.Client, tags: deque[str], timeout: float) -> None:
        self.http, self.tags, self.timeout = http, tags, timeout
        self.intervals: list[tuple[float, float]] = []
        self.error: BaseException | None = None
        self.running = threading.Event()  # the first job of this run has started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scan-loop", daemon=True)

    def __enter__(self) -> ScanLoop:
        self._thread.start()
        if not self.running.wait(self.timeout) or self.error is not None:
            self.stop()
            raise BenchError(f"no scan started: {self.error!r}")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Ask for no more scans and wait for the one running to end."""
        self._stop.set()
        self._thread.join(self.timeout)
        if self._thread.is_alive():
            raise BenchError(f"a scan still runs after {self.timeout:.0f} s")
        if self.error is not None:
            raise BenchError(f"scan loop: {self.error}") from self.error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.tags:
                    raise BenchError("every variant is scanned: use more --variants")
                self._scan(self.tags.popleft())
        except BaseException as exc:  # reported by stop()
            self.error = exc
            self.running.set()

    def _scan(self, tag: str) -> None:
        r = self.http.post(f"/api/v0/imagescan/scan/{IMAGE_REPO}/{tag}/linux/amd64")
        (job,) = r.raise_for_status().json()["jobs"]
        deadline = time.monotonic() + self.timeout
        while True:
            job = self.http.get(f"/api/v0/jobs/{job['id']}").raise_for_status().json()
            if job["status"] == "running":
                self.running.set()
            elif job["status"] != "waiting":
                break
            if time.monotonic() > deadline:
                raise BenchError(f"scan of {tag} not done after {self.timeout:.0f} s")
            time.sleep(POLL_S)
        if job["status"] != "done":
            raise BenchError(f"scan of {tag}: job {job['status']}")
        self.running.set()
        self.intervals.append((_at(job["startedAt"]), _at(job["endedAt"])))
        found = self.http.get(
            f"/api/v0/imagescan/scansummary/repositories/{IMAGE_REPO}/{tag}",
            params={"detailed": "false"},
        ).raise_for_status()
        (summary,) = found.json()
        if summary["status"] != "scanned":
            raise BenchError(f"scan of {tag}: {summary['status']} {summary.get('reason')}")


def coverage(window: Window, intervals: list[tuple[float, float]]) -> float:
    """The part of ``window`` during which a scan job was running."""
    covered = sum(
        max(0.0, min(end, window.end) - max(start, window.start)) for start, end in intervals
    )
    return covered / max(window.end - window.start, 1e-9)


# ---- the measurements -----------------------------------------------------------------------


class Measure:
    """The three measurements against one server, as one user (Basic credentials)."""

    def __init__(self, port: int, auth: dict[str, str], s: Settings) -> None:
        self.port, self.auth, self.s = port, auth, s
        self.pull_blob = os.urandom(s.blob_bytes)
        self.pull_digest = sha256_digest(self.pull_blob)
        self.pushed = 0

    def setup(self) -> None:
        conn = Conn(self.port, auth=self.auth)
        push_monolithic(conn, PULL_REPO, self.pull_blob, self.pull_digest)
        pull_blob(conn, PULL_REPO, self.pull_digest, len(self.pull_blob), verify=True)
        conn.close()

    def push(self) -> tuple[float, float, float]:
        data = os.urandom(self.s.blob_bytes)
        digest = sha256_digest(data)
        conn = Conn(self.port, auth=self.auth)
        start, t0 = time.time(), time.perf_counter()
        push_monolithic(conn, PUSH_REPO, data, digest)
        seconds = time.perf_counter() - t0
        conn.close()
        return len(data) / seconds / MB, start, time.time()

    def small(self) -> tuple[float, float, float]:
        self.pushed += 1
        images = [
            make_image(f"s{self.pushed}-{i}", self.s.small_layer)
            for i in range(self.s.small_images)
        ]
        start = time.time()
        elapsed, _ = run_queue(
            self.port,
            list(enumerate(images)),
            lambda c, item: push_image(c, SMALL_REPO, f"r{self.pushed}-{item[0]}", item[1]),
            self.s.small_concurrency,
            self.s.timeout,
            "small images",
            auth=self.auth,
        )
        return len(images) / elapsed, start, time.time()

    def pull(self) -> tuple[float, float, float]:
        conn = Conn(self.port, auth=self.auth)
        size = len(self.pull_blob)
        start, t0 = time.time(), time.perf_counter()
        for _ in range(self.s.pull_repeats):
            pull_blob(conn, PULL_REPO, self.pull_digest, size, verify=False)
        seconds = time.perf_counter() - t0
        conn.close()
        return size * self.s.pull_repeats / seconds / MB, start, time.time()

    def all(self, round_no: int, condition: str) -> list[Window]:
        out = []
        steps: dict[str, Callable[[], tuple[float, float, float]]] = {
            "push_mbps": self.push,
            "small_images_per_s": self.small,
            "pull_mbps": self.pull,
        }
        for metric, step in steps.items():
            time.sleep(0.2)
            value, start, end = step()
            out.append(Window(round_no, condition, metric, value, start, end))
        return out


# ---- the servers of a mode ------------------------------------------------------------------


def moorage(*args: str) -> list[str]:
    return [sys.executable, "-m", "moorage.cli.main", *args]


def _env(password: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORAGE_")}
    return {
        **env,
        "MOORAGE_ADMIN_NAME": ADMIN,
        "MOORAGE_ADMIN_PASSWORD": password,
        "MOORAGE_LOG_LEVEL": "warning",
        "MOORAGE_VULNERABILITY_FEED_SCHEDULED": "false",
        "MOORAGE_JOB_POLL_SECONDS": str(POLL_S),
        **extra,
    }


@contextlib.contextmanager
def servers(mode: str, workdir: Path, password: str) -> Iterator[Server]:
    """``moorage serve`` on a free loopback port, and for the worker modes one ``moorage
    worker`` beside it; both stopped by PID on the way out."""
    if mode not in MODES:
        raise BenchError(f"mode {mode!r}: one of {', '.join(MODES)}")
    data = workdir / "data"
    slots = {} if mode == "inline" else {"MOORAGE_JOB_WORKERS": "0"}
    port = free_port()
    cmd = moorage("serve", "--listen", f"127.0.0.1:{port}", "--data", str(data))
    server = Server("moorage", cmd, _env(password, **slots), port, workdir)
    server.start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        if mode != "inline":
            argv = moorage("worker", "--data", str(data), "--capacity", "1")
            if mode == "worker-nice":
                argv = ["nice", "-n", "19", *argv]
            with open(workdir / "worker.log", "wb") as log:
                worker = subprocess.Popen(
                    argv, env=_env(password), stdin=subprocess.DEVNULL, stdout=log, stderr=log
                )
        yield server
    finally:
        if worker is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
                worker.wait(timeout=15)
        server.stop()


def import_records(workdir: Path, archive: Path, timeout: float) -> float:
    """``moorage vulndb import`` of the synthetic records into the mode's data folder; seconds."""
    argv = moorage("vulndb", "import", str(archive), "--data", str(workdir / "data"), "--json")
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise BenchError(f"vulndb import exited {proc.returncode}: {proc.stderr[-2000:]}")
    return time.perf_counter() - t0


# ---- one mode -------------------------------------------------------------------------------


def run_mode(
    mode: str,
    workdir: Path,
    image: LargeImage,
    archive: Path,
    s: Settings,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Setup (records, repositories, variants, the pull blob), then the rounds; the windows,
    the scans' intervals and the mode's figures."""
    password = base64.urlsafe_b64encode(os.urandom(18)).decode()
    basic = base64.b64encode(f"{ADMIN}:{password}".encode()).decode()
    auth = {"Authorization": f"Basic {basic}"}
    with servers(mode, workdir, password) as server:
        base = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=base, auth=(ADMIN, password), timeout=120) as http:
            imported = import_records(workdir, archive, s.timeout)
            for repo in (IMAGE_REPO, PUSH_REPO, SMALL_REPO, PULL_REPO):
                body = {"name": repo.split("/")[1], "visibility": "private", "scanOnPush": False}
                http.post("/api/v0/repositories/bench", json=body).raise_for_status()
            t0 = time.perf_counter()
            conn = Conn(server.port, auth=auth)
            tags = deque(push_variants(conn, image, s.variants))
            conn.close()
            pushed_s = time.perf_counter() - t0
            measure = Measure(server.port, auth, s)
            measure.setup()
            log(f"{mode}: {s.variants} variants pushed in {pushed_s:.0f} s")
            windows: list[Window] = []
            intervals: list[tuple[float, float]] = []
            for r in range(s.rounds):
                order = CONDITIONS if r % 2 == 0 else CONDITIONS[::-1]
                for condition in order:
                    if condition == "alone":
                        windows += measure.all(r, condition)
                        continue
                    with ScanLoop(http, tags, s.timeout) as loop:
                        windows += measure.all(r, condition)
                    intervals += loop.intervals
                server.check_alive()
                log(f"{mode}: round {r + 1}/{s.rounds}, {len(intervals)} scans so far")
    return {
        "mode": mode,
        "import_s": imported,
        "variants_push_s": pushed_s,
        "windows": [dataclasses.asdict(w) for w in windows],
        "scans": [{"start": a, "end": b, "seconds": b - a} for a, b in intervals],
        "figures": figures(windows, intervals),
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def figures(windows: list[Window], intervals: list[tuple[float, float]]) -> dict[str, Any]:
    """Per metric: medians and spread alone and while scanning, the ratio of the medians, the
    median of the rounds' own ratios (paired), the coverage, and whether the target is met."""
    out: dict[str, Any] = {}
    for metric in METRICS:
        by = {
            c: {w.round: w for w in windows if w.metric == metric and w.condition == c}
            for c in CONDITIONS
        }
        alone = [w.value for w in by["alone"].values()]
        scanning = [w.value for w in by["scanning"].values()]
        paired = [
            by["scanning"][r].value / by["alone"][r].value
            for r in by["alone"]
            if r in by["scanning"]
        ]
        ratio = statistics.median(scanning) / statistics.median(alone)
        out[metric] = {
            "alone": _spread(alone),
            "scanning": _spread(scanning),
            "ratio": ratio,
            "paired_ratio": _spread(paired),
            "coverage": _spread([coverage(w, intervals) for w in by["scanning"].values()]),
            "met": ratio >= TARGET_RATIO,
        }
    seconds = [b - a for a, b in intervals]
    out["scan_s"] = _spread(seconds) if seconds else None
    return out
