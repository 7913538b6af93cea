"""Server processes: start, wait until ready, CPU and peak memory from /proc, stop by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness.auth import RegistryAuth
from harness.errors import BenchError
from harness.rawhttp import Conn

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads); 0 when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    def __init__(
        self, name: str, cmd: list[str], env: dict[str, str], port: int, workdir: Path
    ) -> None:
        self.name, self.cmd, self.env, self.port = name, cmd, env, port
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.children: set[int] = set()
        self.startup_s = 0.0
        self.challenge = ""  # WWW-Authenticate of GET /v2/ when it asks for credentials
        self.auth: RegistryAuth | None = None
        self.settings: dict[str, str] = {}

    def start(self, timeout: float = 60.0) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
            )
        self.pid = self.proc.pid
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        t0 = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited at startup:\n{self.log_tail()}")
            status = 0
            with contextlib.suppress(OSError, BenchError):
                conn = Conn(self.port)
                try:
                    resp = conn.request("GET", "/v2/")
                    status = resp.status
                    if status == 401:
                        self.challenge = resp.header("www-authenticate")
                finally:
                    conn.close()
            if status in (200, 401):
                break
            if time.perf_counter() - t0 > timeout:
                raise BenchError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.05)
        self.startup_s = time.perf_counter() - t0

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"{self.name} (pid {self.pid}) died:\n{self.log_tail()}")

    def pids(self) -> list[int]:
        kids = descendants(self.pid) if self.pid else []
        self.children.update(kids)
        return [self.pid, *kids]

    def cpu(self) -> float:
        """CPU seconds of the server and its live child processes (uvicorn workers, if any)."""
        return sum(cpu_seconds(p) for p in self.pids())

    def peak_rss(self) -> tuple[int, int]:
        """(largest VmHWM of one process, sum over the processes), KiB."""
        values = [vm_hwm_kib(p) for p in self.pids()]
        return max(values), sum(values)

    def stop(self) -> None:
        """Stop by PID: SIGTERM, then SIGKILL after 15 s; recorded children likewise."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        for child in self.children:
            fields = _stat_fields(child)
            # Only a process that is still one of ours (re-parented to init at most).
            if fields is not None and int(fields[1]) in (self.pid, 1):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)


def run_command(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=60, cwd=cwd, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout or out.stderr).strip()
