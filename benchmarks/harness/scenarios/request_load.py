"""Request-rate scenarios: closed-loop load for a fixed time with ``wrk`` or the built-in
generator, anonymous or with a bearer token, checked for errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.errors import BenchError
from harness.loadgen import LoadGen, parse_wrk
from harness.profiles import ORDER
from harness.rawhttp import Conn, expect
from harness.session import Bench


def closed_loop(
    bench: Bench,
    figure: str,
    method: str,
    path: str,
    headers: dict[str, str],
    tool: str,
    token: bool = False,
) -> None:
    """Closed-loop load for a fixed time: ``wrk`` or the built-in generator (``py``);
    with ``token``, against the token-auth servers with a bearer token (pull scope)."""
    script = Path(bench.args.workdir_path) / f"wrk-{method.lower()}.lua"
    script.write_text(f'wrk.method = "{method}"\n')
    base_headers = headers
    for name in ORDER:
        headers = base_headers
        if token:
            srv, get_token = bench.token_servers[name]
            headers = {**base_headers, "Authorization": f"Bearer {get_token()}"}
            probe = Conn(srv.port)
            try:
                expect(
                    probe.request(method, path, headers, keep=False),
                    200,
                    f"{name} {figure} with a bearer token",
                )
                unauth = probe.request(method, path, base_headers, keep=False)
            finally:
                probe.close()
            if unauth.status != 401:
                raise BenchError(f"{name} {figure}: {unauth.status} without the token")
        else:
            srv = bench.servers[name]
        bench.settle()
        c0 = srv.cpu()
        if tool == "wrk":
            stats = run_wrk(bench, name, figure, script, path, headers, srv.port)
        else:
            stats = LoadGen(srv.port, method, path, headers).run(
                bench.p.wrk_connections, bench.p.wrk_seconds
            )
            bench.record(f"{figure}_client_cpu_share", name, stats["client_cpu_share"])
            if stats["client_cpu_share"] > 0.9:
                bench.warnings.append(
                    f"{name} {figure}: the Python load generator used "
                    f"{stats['client_cpu_share']:.0%} of a core; it may have been the limit"
                )
        cpu = srv.cpu() - c0
        srv.check_alive()
        if stats["non2xx"]:
            raise BenchError(f"{name} {figure}: {stats['non2xx']:.0f} non-2xx responses")
        if stats["socket_errors"]:
            raise BenchError(f"{name} {figure}: {stats['socket_errors']:.0f} socket errors")
        if stats["timeouts"]:
            bench.warnings.append(f"{name} {figure}: {stats['timeouts']:.0f} wrk timeouts (> 5 s)")
        if stats["requests"] <= 0:
            raise BenchError(f"{name} {figure}: no request completed")
        bench.record(f"{figure}_rps", name, stats["rps"])
        bench.record(f"{figure}_p50_ms", name, stats["p50_ms"])
        bench.record(f"{figure}_p99_ms", name, stats["p99_ms"])
        bench.record(f"{figure}_cpu_ms_per_req", name, cpu * 1000 / stats["requests"])


def run_wrk(
    bench: Bench,
    name: str,
    figure: str,
    script: Path,
    path: str,
    headers: dict[str, str],
    port: int,
) -> dict[str, float]:
    cmd = [
        bench.args.wrk,
        f"-t{bench.args.wrk_threads}",
        f"-c{bench.p.wrk_connections}",
        f"-d{bench.p.wrk_seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
    ]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=bench.p.wrk_seconds + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{name} {figure}: wrk did not finish in time") from exc
    bench.wrk_raw.setdefault(f"{figure}/{name}", []).append(out.stdout)
    if out.returncode != 0:
        raise BenchError(f"{name} {figure}: wrk failed: {out.stderr[:500]}")
    stats = parse_wrk(out.stdout)
    if stats["non2xx"] or stats["socket_errors"] or stats["requests"] <= 0:
        raise BenchError(f"{name} {figure}: wrk reports errors:\n{out.stdout}")
    return stats
