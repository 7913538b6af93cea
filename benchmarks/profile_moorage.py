#!/usr/bin/env python3
"""Profile one Moorage workload of the benchmark with py-spy and summarize the hot paths.

    pip install py-spy   # into the same venv
    python benchmarks/profile_moorage.py manifest_get [--seconds 10] [--native] [--out FILE.txt]

Starts Moorage alone (same settings as ``run.py``, fresh temporary data folder), prepares the
data the workload needs, runs the workload while ``py-spy record --format raw`` samples the
server process, stops Moorage by PID, and writes a text summary: where the samples fall by
package, the functions with the most self time, the functions with the most inclusive time,
and the heaviest stacks. With ``--folded`` the raw folded stacks are kept beside the summary.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness.loadgen import LoadGen, run_queue, run_threads
from harness.machine import git_info
from harness.options import Options
from harness.processes import Server
from harness.profiles import MB, KiB, MiB
from harness.rawhttp import Conn, expect, sha256_digest
from harness.registry_ops import (
    OCI_MANIFEST,
    make_image,
    next_link,
    pull_blob,
    push_chunked,
    push_image,
    push_monolithic,
    put_manifest,
)
from harness.servers import export_ref, start_moorage

WORKLOADS = (
    "manifest_get",
    "blob_head",
    "small_push",
    "push_mono",
    "push_chunked",
    "pull",
    "pull8",
    "tags_paged",
)


def _repeat(seconds: float, fn: Callable[[], None]) -> int:
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        fn()
        n += 1
    return n


def prepare(name: str, server: Server) -> Callable[[float], str]:
    """Push what the workload needs (untimed); return ``drive(seconds) -> summary``.
    Writes carry a bearer token when Moorage asks for credentials; reads are anonymous
    (the repositories are public), as in run.py."""
    port = server.port
    repos = ["bench/img", "bench/small", "bench/big", "bench/tags"]
    wauth = server.auth.write_headers(repos) if server.auth else {}
    conn = Conn(port, auth=wauth)
    img = make_image("profile", 4 * KiB)
    push_image(conn, "bench/img", "latest", img)

    if name in ("manifest_get", "blob_head"):
        get = name == "manifest_get"
        path = (
            "/v2/bench/img/manifests/latest" if get else f"/v2/bench/img/blobs/{img.layer_digest}"
        )
        headers = {"Accept": OCI_MANIFEST} if get else {}

        def load(seconds: float) -> str:
            gen = LoadGen(port, "GET" if get else "HEAD", path, headers)
            stats = gen.run(32, seconds)
            return f"{stats['requests']:.0f} requests, {stats['rps']:.0f} req/s, 32 connections"

        return load

    if name == "small_push":
        images = [make_image(f"p{i}", 4 * KiB) for i in range(20_000)]

        def small(seconds: float) -> str:
            counter = iter(range(len(images)))
            lock = threading.Lock()
            end = time.perf_counter() + seconds
            done = [0]

            def one(c: Conn, _item: int) -> None:
                while time.perf_counter() < end:
                    with lock:
                        i = next(counter)
                    push_image(c, "bench/small", f"v{i}", images[i])
                    with lock:
                        done[0] += 1

            run_queue(port, list(range(16)), one, 16, seconds + 60, "small push", auth=wauth)
            return f"{done[0]} images, {done[0] / seconds:.0f} images/s, 16 at a time"

        return small

    reader = Conn(port)  # anonymous
    if name == "tags_paged":
        for i in range(1000):
            put_manifest(conn, "bench/tags", f"t{i:05d}", img)

        def paged_once() -> None:
            target: str | None = "/v2/bench/tags/tags/list?n=100"
            while target:
                resp = expect(reader.request("GET", target), 200, "tags page")
                target = next_link(resp.header("link"))

        return lambda s: f"{_repeat(s, paged_once)} paged listings of 1,000 tags"

    size = 256 * MiB
    data = bytearray(os.urandom(size))
    view = memoryview(data)
    if name in ("pull", "pull8"):
        digest = sha256_digest(data)
        push_monolithic(conn, "bench/big", view, digest)
        if name == "pull":

            def pull_once() -> None:
                pull_blob(reader, "bench/big", digest, size, verify=False)

            return lambda s: f"{_repeat(s, pull_once)} pulls of 256 MiB"
        conns = [Conn(port) for _ in range(8)]

        def pull8(seconds: float) -> str:
            end = time.perf_counter() + seconds
            count = [0]

            def one(i: int, _stop: threading.Event) -> None:
                while time.perf_counter() < end:
                    pull_blob(conns[i], "bench/big", digest, size, verify=False)
                    count[0] += 1

            run_threads(8, one, seconds + 60, "pull8")
            return f"{count[0]} pulls of 256 MiB over 8 streams"

        return pull8
    if name in ("push_mono", "push_chunked"):
        variants = []
        for k in range(40):  # distinct blobs, hashed before sampling starts
            data[:8] = k.to_bytes(8, "little")
            variants.append(sha256_digest(data))

        def push(seconds: float) -> str:
            end = time.perf_counter() + seconds
            n = 0
            while time.perf_counter() < end and n < len(variants):
                data[:8] = n.to_bytes(8, "little")
                if name == "push_mono":
                    push_monolithic(conn, "bench/big", view, variants[n])
                else:
                    push_chunked(conn, "bench/big", view, variants[n], 16 * MiB)
                n += 1
            return f"{n} pushes of 256 MiB, {n * size / seconds / MB:.0f} MB/s"

        return push
    raise SystemExit(f"unknown workload {name}")


def _frame(raw: str) -> tuple[str, str]:
    """('function (file)', 'package') from a py-spy frame 'func (path:line)'."""
    m = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", raw.strip())
    if not m:
        return raw.strip(), "?"
    func, path = m.group(1), m.group(2)
    short = path
    for marker in ("site-packages/", "lib/python3", "/src/"):
        if marker in path:
            short = path.split(marker, 1)[1]
            if marker == "lib/python3":
                short = "stdlib/" + short.split("/", 1)[1] if "/" in short else short
            break
    package = short.split("/", 1)[0] if "/" in short else short
    if package == "stdlib":
        package = "stdlib/" + short.split("/")[1].removesuffix(".py")
    return f"{func} ({short})", package


_WAITS = ("epoll_pwait", "epoll_wait", "pthread_cond_timedwait", "pthread_cond_wait", "sem_wait")


def summarize(folded: Path, title: str, note: str, top: int = 30) -> str:
    total = 0
    waiting = 0
    self_time: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    stacks: collections.Counter[str] = collections.Counter()
    for line in folded.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not count_s.isdigit():
            continue
        count = int(count_s)
        raw = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread ("))]
        named = [f for f in raw if not f.startswith("0x")]  # unresolved native addresses
        if not named:
            continue
        if any(w in named[-1] for w in _WAITS) or (
            any(w in stack for w in ("SimpleQueue_get", "PyThread_acquire_lock_timed"))
        ):
            waiting += count  # a thread blocked in a wait: py-spy --native counts it as busy
            continue
        frames = [_frame(f) for f in named]
        total += count
        self_time[frames[-1][0]] += count
        packages[frames[-1][1]] += count
        for name in {f[0] for f in frames}:
            incl[name] += count
        stacks[" <- ".join(f[0] for f in reversed(frames[-6:]))] += count

    def pct(n: int) -> str:
        return f"{100 * n / max(total, 1):5.1f}%"

    out = [title, "=" * len(title), note]
    out.append(
        f"{total} busy samples"
        + (f" ({waiting} samples of threads blocked in a wait left out)" if waiting else "")
    )
    out.append("")
    out.append("Self time by package of the innermost Python frame")
    out += [f"  {pct(n)}  {name}" for name, n in packages.most_common(15)]
    out += ["", f"Top {top} functions by self time"]
    out += [f"  {pct(n)}  {name}" for name, n in self_time.most_common(top)]
    out += ["", f"Top {top} functions by inclusive time"]
    out += [f"  {pct(n)}  {name}" for name, n in incl.most_common(top)]
    out += ["", "Heaviest stacks (innermost first, 6 frames)"]
    out += [f"  {pct(n)}  {name}" for name, n in stacks.most_common(12)]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("workload", choices=WORKLOADS)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    ap.add_argument("--idle", action="store_true", help="py-spy --idle (waiting threads too)")
    ap.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread, not only the one holding the GIL (py-spy counts threads "
        "blocked in C, e.g. aiosqlite's queue wait, as busy)",
    )
    ap.add_argument("--out", type=Path, help="summary file (default: print)")
    ap.add_argument("--folded", action="store_true", help="keep the raw stacks beside --out")
    ap.add_argument("--moorage-ref", help="profile Moorage as of this commit (see run.py)")
    ap.add_argument("--moorage-workers", type=int)
    ap.add_argument(
        "--moorage-server", choices=["default", "uvicorn", "granian"], default="default"
    )
    ap.add_argument("--access-logs", action="store_true")
    args = ap.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        print("py-spy not found: pip install py-spy", file=sys.stderr)
        return 2
    ns = Options(
        moorage_workers=args.moorage_workers,
        access_logs=args.access_logs,
        moorage_server=args.moorage_server,
    )
    wd = Path(tempfile.mkdtemp(prefix="moorage-profile-")).resolve()
    server: Server | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        if args.moorage_ref:
            ns.moorage_ref_commit = export_ref(args.moorage_ref, wd / "moorage-src")
            ns.moorage_ref = args.moorage_ref
            ns.moorage_pythonpath = str(wd / "moorage-src" / "src")
        git = git_info(ns)
        source = f"commit {git['commit'][:12]}" + (
            " + uncommitted changes in src" if git["dirty"] else ""
        )
        server = start_moorage(ns, wd)
        folded = wd / "profile.folded"
        cmd = [
            pyspy,
            "record",
            "-p",
            str(server.pid),
            "-o",
            str(folded),
            "--format",
            "raw",
            "-r",
            str(args.rate),
            "-d",
            str(int(args.seconds) + 1),
        ]
        # --nonblocking keeps the sampler from pausing the server; --native needs the pauses.
        cmd.append("--native" if args.native else "--nonblocking")
        if args.idle:
            cmd.append("--idle")
        if not args.all_threads:
            cmd.append("--gil")
        cmd.append("--subprocesses")  # granian (and uvicorn --workers) serve from children
        drive = prepare(args.workload, server)  # untimed, before sampling starts
        c0 = server.cpu()
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        result = drive(args.seconds)
        cpu = server.cpu() - c0
        spy.wait(timeout=120)
        if not folded.exists():
            err = spy.stderr.read().decode() if spy.stderr else ""
            print(f"py-spy wrote nothing: {err}", file=sys.stderr)
            return 1
        note = (
            f"moorage ({source}) pid {server.pid}; "
            f"workload {args.workload} for {args.seconds:.0f} s: "
            f"{result}; server CPU {cpu:.1f} s; "
            f"py-spy {args.rate} Hz{' --native' if args.native else ''}"
            f"{' --idle' if args.idle else ''}{'' if args.all_threads else ' --gil'}"
        )
        text = summarize(folded, f"Moorage profile: {args.workload}", note)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text)
            if args.folded:
                shutil.copy(folded, args.out.with_suffix(".folded"))
            print(f"wrote {args.out}")
        else:
            print(text)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()  # by its own handle: the py-spy we started
        if server is not None:
            server.stop()
        shutil.rmtree(wd, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
