"""What the report says about the run's surroundings: the machine, the versions of everything
that serves or loads, the commit measured, and the sha256 speed of one core (the reference)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from harness.options import ROOT, Options
from harness.processes import run_command
from harness.profiles import MB, MiB
from harness.servers import moorage_env


def sha256_speed() -> float:
    """hashlib sha256 on one core, MB/s (best of 3 over 64 MiB)."""
    data = os.urandom(64 * MiB)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        hashlib.sha256(data).digest()
        best = max(best, len(data) / (time.perf_counter() - t0) / MB)
    return best


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
    return {
        "nproc": os.cpu_count(),
        "nproc_available": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "os": run_command(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "memory_gib": round(mem_kib / MiB, 1),
        "loadavg_start": os.getloadavg(),
    }


def versions(args: Options, moorage_cmd: list[str]) -> dict[str, str]:
    out = {
        "python": platform.python_version(),
        "moorage": run_command([*moorage_cmd, "--version"], env=moorage_env(args)),
        "distribution": run_command([args.distribution, "--version"]),
        "wrk": run_command([args.wrk, "-v"]).splitlines()[0]
        if run_command([args.wrk, "-v"])
        else "",
    }
    probe = (
        "import importlib.metadata as m, sys\n"
        "for p in ('granian','uvicorn','uvloop','httptools','starlette','sqlalchemy',"
        "'aiosqlite'):\n"
        "    try: print(p, m.version(p))\n"
        "    except Exception: pass\n"
        "print('python', sys.version.split()[0])\n"
    )
    if moorage_cmd and "python" in Path(moorage_cmd[0]).name:
        interpreter = moorage_cmd[0]
    else:
        interpreter = sys.executable
    probe += "import moorage; print('moorage_path', moorage.__file__)\n"
    probe += (
        "from moorage.config import Settings\n"
        "f = Settings.model_fields.get('server')\n"
        "print('moorage_server_default', f.default if f else 'uvicorn')\n"
    )
    for line in run_command([interpreter, "-c", probe], env=moorage_env(args)).splitlines():
        pkg, _, ver = line.partition(" ")
        if pkg == "python":
            out["python_server"] = ver
        elif ver:
            out[pkg] = ver
    return out


def git_info(args: Options) -> dict[str, Any]:
    head = run_command(["git", "rev-parse", "HEAD"], cwd=ROOT)
    if args.moorage_ref_commit:
        return {
            "commit": args.moorage_ref_commit,
            "ref": args.moorage_ref,
            "dirty": False,
            "source": "git archive of the commit (the work tree was not used)",
            "work_tree_head": head,
        }
    dirty = run_command(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "pyproject.toml"],
        cwd=ROOT,
    )
    return {"commit": head, "dirty": bool(dirty), "source": "work tree"}
