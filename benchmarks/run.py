#!/usr/bin/env python3
"""Moorage beside the CNCF distribution registry: one benchmark run (issue 5).

    python benchmarks/run.py [--quick] [--out benchmarks/results/latest.json]
                             [--doc docs/performance.md]

Starts Moorage (embedded default: SQLite + filesystem, fresh temporary data folder) and the
Debian ``docker-registry`` (filesystem driver, log level warn, delete enabled) on free loopback
ports, measures both in the same run with the servers alternating inside every phase
(A B A B ...), takes the median over the rounds, prints a table and writes JSON. Both servers
are stopped by PID at the end, whatever happened.

When Moorage asks for credentials (its identity layer), the benchmark makes its admin
account, creates public repositories through /api/v0, pushes with bearer tokens and reads
anonymously; the token-auth figures read a private repository with a bearer token, from
Moorage's token service and from a second distribution process with ``auth.token`` given
tokens minted here. ``--moorage-ref REV`` pins the run to a commit (``git archive`` of
``src/`` into the temporary folder, first on PYTHONPATH).

Python-driven phases use a small HTTP/1.1 client on raw sockets (keep-alive, ``recv_into`` into
a reused buffer) so that the client spends as little of the machine's CPU as possible;
manifest GET uses ``wrk``; blob HEAD uses a built-in closed-loop load generator, since wrk 4.1
cannot do HEAD (its parser waits for the body that a HEAD answer's Content-Length announces).
Every phase is bounded in time and count, and any protocol error (unexpected status, digest
or size mismatch) stops the run with a message.
Needs the standard library, ``moorage``, ``docker-registry`` and ``wrk``; uses uvloop, PyJWT and
cryptography (all brought by Moorage) when present.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import BenchError
from harness.figures import summarize
from harness.machine import git_info, machine_info, sha256_speed, versions
from harness.options import ROOT, Options, default_wrk
from harness.processes import Server
from harness.profiles import FULL, QUICK
from harness.report import table_lines, update_doc
from harness.rounds import run_rounds
from harness.servers import (
    export_ref,
    moorage_command,
    start_distribution,
    start_moorage,
    token_setup,
)
from harness.session import Bench


def parse_args(argv: list[str] | None) -> Options:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes, 1 round (<1 min)")
    ap.add_argument("--rounds", type=int, help="override the number of rounds")
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "latest.json",
        help="JSON file",
    )
    ap.add_argument(
        "--doc", type=Path, help="also rewrite the generated block of this Markdown file"
    )
    ap.add_argument("--moorage-cmd", help="command that runs moorage (default: this Python's)")
    ap.add_argument(
        "--moorage-ref",
        help="benchmark Moorage as of this commit (git archive into the temporary folder, run "
        "with PYTHONPATH) instead of the work tree",
    )
    ap.add_argument("--moorage-workers", type=int, help="pass --workers N to moorage serve")
    ap.add_argument(
        "--moorage-server",
        choices=["default", "uvicorn", "granian"],
        default="default",
        help="Moorage's ASGI server (MOORAGE_SERVER; default: Moorage's own default)",
    )
    ap.add_argument("--distribution", default="/usr/bin/docker-registry")
    ap.add_argument("--wrk", default=default_wrk())
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument(
        "--access-logs",
        action="store_true",
        help="keep both access logs on (default: both off, log level warn)",
    )
    ap.add_argument("--workdir", type=Path, help="parent of the temporary data folders")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return Options(**vars(ap.parse_args(argv)))


@contextlib.contextmanager
def workdir(args: Options) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="moorage-bench-", dir=args.workdir)).resolve()
    try:
        yield path
    finally:
        if args.keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.rounds:
        profile = dataclasses.replace(profile, rounds=args.rounds)
    for tool in (args.distribution, args.wrk):
        if not (shutil.which(tool) or Path(tool).exists()):
            print(f"benchmark: {tool} not found", file=sys.stderr)
            return 2

    def on_sigterm(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt  # so that the finally below stops both servers

    signal.signal(signal.SIGTERM, on_sigterm)
    started = dt.datetime.now(dt.UTC)
    t_start = time.perf_counter()
    try:
        mcmd = moorage_command(args)
    except BenchError as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2
    servers: dict[str, Server] = {}
    extra_servers: list[Server] = []  # distribution with token auth
    token_notes: list[str] = []
    bench: Bench | None = None
    failure: str | None = None
    with workdir(args) as wd:
        args.workdir_path = wd
        if args.moorage_ref:
            try:
                args.moorage_ref_commit = export_ref(args.moorage_ref, wd / "moorage-src")
            except (BenchError, subprocess.CalledProcessError) as exc:
                print(f"benchmark: {exc}", file=sys.stderr)
                return 2
            args.moorage_pythonpath = str(wd / "moorage-src" / "src")
        machine = machine_info()
        vers = versions(args, mcmd)
        git = git_info(args)
        if args.moorage_pythonpath and not vers.get("moorage_path", "").startswith(
            args.moorage_pythonpath
        ):
            print(f"benchmark: moorage not imported from the export: {vers}", file=sys.stderr)
            return 2
        print(f"moorage from {vers.get('moorage_path')} ({git['commit'][:12]})", flush=True)
        print("sha256 reference ...", flush=True)
        sha = sha256_speed()
        try:
            servers["moorage"] = start_moorage(args, wd)
            servers["distribution"] = start_distribution(args, wd)
            token_servers = token_setup(args, wd, servers, extra_servers, token_notes)
            for s in [*servers.values(), *extra_servers]:
                print(
                    f"{s.name}: pid {s.pid}, port {s.port}, up in {s.startup_s:.2f} s", flush=True
                )
            bench = Bench(profile, servers, args, token_servers)
            for note in token_notes:
                bench.note(note)
            run_rounds(bench)
        except BenchError as exc:
            failure = str(exc)
        except KeyboardInterrupt:
            failure = "interrupted"
        except Exception:
            failure = "unexpected error in the harness:\n" + traceback.format_exc()
        finally:
            everything = [*servers.values(), *extra_servers]
            for s in everything:
                s.stop()
            for s in everything:
                print(f"stopped {s.name} (pid {s.pid})", flush=True)
            if failure and everything:
                for s in everything:
                    tail = s.log_tail(1500).strip()
                    if tail:
                        print(f"--- {s.name} log tail ---\n{tail}", file=sys.stderr)
    if failure or bench is None:
        print(f"\nBENCHMARK FAILED: {failure}", file=sys.stderr)
        return 1
    machine["loadavg_end"] = os.getloadavg()
    rows = summarize(bench.results, {"sha256_mbps": sha})
    report: dict[str, Any] = {
        "schema": 1,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - t_start,
        "profile": dataclasses.asdict(profile),
        "machine": machine,
        "versions": vers,
        "git": git,
        "servers": {
            s.name: {
                "cmd": s.cmd,
                "pid": s.pid,
                "port": s.port,
                "startup_s": s.startup_s,
                "settings": s.settings,
                "asks_for_credentials": bool(s.challenge),
            }
            for s in [*servers.values(), *extra_servers]
        },
        "settings": {
            "access_logs": args.access_logs,
            "wrk_threads": args.wrk_threads,
            "moorage_workers": args.moorage_workers,
            "moorage_server": args.moorage_server,
        },
        "sha256_mbps": sha,
        "processes_moorage": int(bench.results["processes"]["moorage"][0]),
        "figures": [{k: v for k, v in row.items() if k != "fmt"} for row in rows],
        "all_results": bench.results,
        "loadavg_per_round": bench.loadavg,
        "notes": bench.notes,
        "warnings": bench.warnings,
        "wrk_output": bench.wrk_raw,
    }
    lines = table_lines(rows, profile, sha, markdown=False)
    print()
    print("\n".join(lines))
    for note in bench.notes + bench.warnings:
        print(f"note: {note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out} ({report['duration_s']:.0f} s)")
    if args.doc:
        update_doc(args.doc, report, table_lines(rows, profile, sha, markdown=True))
        print(f"updated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
