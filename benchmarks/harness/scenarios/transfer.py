"""Blob transfer scenarios: one big blob pushed (monolithic, chunked), pulled on one stream and
on several, and many small images pushed concurrently."""

from __future__ import annotations

import threading
import time

from harness.errors import BenchError
from harness.loadgen import percentile, run_queue, run_threads
from harness.profiles import MB, ORDER, GiB
from harness.rawhttp import Conn, expect
from harness.registry_ops import make_image, pull_blob, push_chunked, push_image, push_monolithic
from harness.session import Bench


def push_blob(bench: Bench, round_no: int, chunked: bool) -> str:
    label = "chunked" if chunked else "mono"
    digest = bench.fresh_blob(round_no, label)
    view = memoryview(bench.blob)
    for name in ORDER:
        srv = bench.servers[name]
        conn = Conn(srv.port, auth=bench.write_auth(srv, [f"bench/push-{label}"]))
        bench.settle()
        c0 = srv.cpu()
        t0 = time.perf_counter()
        if chunked:
            push_chunked(conn, f"bench/push-{label}", view, digest, bench.p.chunk_size)
        else:
            push_monolithic(conn, f"bench/push-{label}", view, digest)
        elapsed = time.perf_counter() - t0
        cpu = srv.cpu() - c0
        if elapsed > bench.p.phase_timeout:
            raise BenchError(f"{name} push {label}: {elapsed:.0f} s over the time bound")
        resp = expect(
            conn.request("HEAD", f"/v2/bench/push-{label}/blobs/{digest}"),
            200,
            f"{name} HEAD pushed blob",
        )
        if resp.header("content-length") != str(len(bench.blob)):
            raise BenchError(f"{name}: pushed blob has Content-Length {resp.headers}")
        conn.close()
        bench.record(f"push_{label}_mbps", name, len(bench.blob) / elapsed / MB)
        bench.record(f"push_{label}_cpu_s_per_gib", name, cpu / (len(bench.blob) / GiB))
    return digest


def pull_blob_streams(bench: Bench, repo: str, digest: str) -> None:
    size = len(bench.blob)
    for name in ORDER:  # untimed check of the bytes themselves
        conn = Conn(bench.servers[name].port)
        pull_blob(conn, repo, digest, size, verify=True)
        conn.close()
    for name in ORDER:
        srv = bench.servers[name]
        bench.settle()
        conn = Conn(srv.port)
        c0 = srv.cpu()
        t0 = time.perf_counter()
        for _ in range(bench.p.pull_repeats):
            pull_blob(conn, repo, digest, size, verify=False)
            if time.perf_counter() - t0 > bench.p.phase_timeout:
                raise BenchError(f"{name} pull: over the time bound")
        elapsed = time.perf_counter() - t0
        cpu = srv.cpu() - c0
        conn.close()
        total = size * bench.p.pull_repeats
        bench.record("pull_1_mbps", name, total / elapsed / MB)
        bench.record("pull_1_cpu_s_per_gib", name, cpu / (total / GiB))
    for name in ORDER:
        srv = bench.servers[name]
        bench.settle()
        conns = [Conn(srv.port) for _ in range(bench.p.pull_streams)]

        def work(i: int, _stop: threading.Event, conns: list[Conn] = conns) -> None:
            pull_blob(conns[i], repo, digest, size, verify=False)

        c0 = srv.cpu()
        elapsed = run_threads(
            bench.p.pull_streams, work, bench.p.phase_timeout, f"{name} pull x{len(conns)}"
        )
        cpu = srv.cpu() - c0
        for c in conns:
            c.close()
        total = size * bench.p.pull_streams
        bench.record("pull_n_mbps", name, total / elapsed / MB)
        bench.record("pull_n_cpu_s_per_gib", name, cpu / (total / GiB))


def push_small_images(bench: Bench, round_no: int) -> None:
    images = [
        make_image(f"r{round_no}-{i}", bench.p.small_layer) for i in range(bench.p.small_images)
    ]
    repo = f"bench/small-{round_no}"
    for name in ORDER:
        srv = bench.servers[name]
        auth = bench.write_auth(srv, [repo])
        bench.settle()
        c0 = srv.cpu()
        elapsed, latencies = run_queue(
            srv.port,
            list(enumerate(images)),
            lambda c, item: push_image(c, repo, f"v{item[0]}", item[1]),
            bench.p.small_concurrency,
            bench.p.phase_timeout,
            f"{name} small images",
            auth=auth,
        )
        cpu = srv.cpu() - c0
        if len(latencies) != len(images):
            raise BenchError(f"{name} small images: {len(latencies)} of {len(images)} pushed")
        bench.record("small_images_per_s", name, len(images) / elapsed)
        bench.record("small_manifest_put_p50_ms", name, percentile(latencies, 50) * 1000)
        bench.record("small_manifest_put_p99_ms", name, percentile(latencies, 99) * 1000)
        bench.record("small_cpu_ms_per_image", name, cpu * 1000 / len(images))
