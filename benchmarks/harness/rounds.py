"""One benchmark run: the untimed setup on both servers, then every round's phases in order,
then the whole-run figures (peak memory, total CPU, process count)."""

from __future__ import annotations

import os
import time

from harness.auth import PRIVATE_REPO
from harness.errors import BenchError
from harness.loadgen import run_queue
from harness.profiles import ORDER
from harness.rawhttp import Conn, expect, expect_digest
from harness.registry_ops import OCI_MANIFEST, push_image, put_manifest
from harness.scenarios.request_load import closed_loop
from harness.scenarios.tags import list_tags
from harness.scenarios.transfer import pull_blob_streams, push_blob, push_small_images
from harness.session import Bench


def setup(bench: Bench) -> None:
    for name, srv in bench.servers.items():
        t0 = time.perf_counter()
        auth = bench.write_auth(srv, ["bench/wrk", "bench/tags", PRIVATE_REPO])
        conn = Conn(srv.port, auth=auth)
        push_image(conn, "bench/wrk", "latest", bench.wrk_image)
        push_image(conn, PRIVATE_REPO, "latest", bench.wrk_image)
        conn.close()
        conn = Conn(srv.port)  # reads are anonymous (public repositories)
        resp = expect(
            conn.request(
                "GET", "/v2/bench/wrk/manifests/latest", {"Accept": OCI_MANIFEST}, keep=True
            ),
            200,
            "manifest GET bench/wrk:latest",
        )
        if resp.body != bench.wrk_image.manifest:
            raise BenchError(f"{name}: manifest GET returned other bytes than pushed")
        expect_digest(resp, bench.wrk_image.manifest_digest, "manifest GET")
        resp = expect(
            conn.request("HEAD", f"/v2/bench/wrk/blobs/{bench.wrk_image.layer_digest}"),
            200,
            "blob HEAD",
        )
        if resp.header("content-length") != str(bench.p.small_layer):
            raise BenchError(f"{name}: blob HEAD Content-Length {resp.headers}")
        conn.close()
        conn = Conn(srv.port, auth=auth)
        push_image(conn, "bench/tags", bench.tag_names[0], bench.tags_image)
        conn.close()
        run_queue(
            srv.port,
            bench.tag_names[1:],
            lambda c, tag: put_manifest(c, "bench/tags", tag, bench.tags_image),
            bench.p.small_concurrency,
            bench.p.phase_timeout,
            f"{name} tag setup",
            auth=auth,
        )
        bench.log(
            f"setup {name}: wrk image + {bench.p.tags} tags in {time.perf_counter() - t0:.1f} s"
        )


# -- phases


def run_rounds(bench: Bench) -> None:
    setup(bench)
    for r in range(bench.p.rounds):
        tr = time.perf_counter()
        bench.loadavg.append(os.getloadavg())
        bench.log(f"round {r + 1}/{bench.p.rounds}: push monolithic")
        push_blob(bench, r, chunked=False)
        bench.log(f"round {r + 1}/{bench.p.rounds}: push chunked")
        digest = push_blob(bench, r, chunked=True)
        bench.log(f"round {r + 1}/{bench.p.rounds}: pull")
        pull_blob_streams(bench, "bench/push-chunked", digest)
        bench.log(f"round {r + 1}/{bench.p.rounds}: small images")
        push_small_images(bench, r)
        manifest_path = "/v2/bench/wrk/manifests/latest"
        accept = {"Accept": OCI_MANIFEST}
        bench.log(f"round {r + 1}/{bench.p.rounds}: manifest GET (wrk)")
        closed_loop(bench, "manifest_get", "GET", manifest_path, accept, "wrk")
        bench.log(f"round {r + 1}/{bench.p.rounds}: blob HEAD (Python load generator)")
        blob_path = f"/v2/bench/wrk/blobs/{bench.wrk_image.layer_digest}"
        closed_loop(bench, "blob_head", "HEAD", blob_path, {}, "py")
        bench.log(f"round {r + 1}/{bench.p.rounds}: manifest GET (Python load generator)")
        closed_loop(bench, "manifest_get_py", "GET", manifest_path, accept, "py")
        if bench.token_servers:
            auth = f" with a bearer token ({PRIVATE_REPO})"
            path = f"/v2/{PRIVATE_REPO}/manifests/latest"
            bench.log(f"round {r + 1}/{bench.p.rounds}: manifest GET (wrk){auth}")
            closed_loop(bench, "manifest_get_token", "GET", path, accept, "wrk", True)
            bench.log(f"round {r + 1}/{bench.p.rounds}: blob HEAD (Python){auth}")
            path = f"/v2/{PRIVATE_REPO}/blobs/{bench.wrk_image.layer_digest}"
            closed_loop(bench, "blob_head_token", "HEAD", path, {}, "py", True)
        bench.log(f"round {r + 1}/{bench.p.rounds}: tags list")
        list_tags(bench)
        bench.log(f"round {r + 1} done in {time.perf_counter() - tr:.0f} s")
    for name in ORDER:
        srv = bench.servers[name]
        srv.check_alive()
        one, total = srv.peak_rss()
        bench.record("peak_rss_mib", name, one / 1024)
        bench.record("peak_rss_all_mib", name, total / 1024)
        bench.record("total_cpu_s", name, srv.cpu())
        bench.record("processes", name, len(srv.pids()))
