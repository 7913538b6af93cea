"""A throwaway PostgreSQL server for tests (started once per session, one database per registry)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

SCRIPT = Path(__file__).with_name("pg-start.sh")
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")


def available() -> bool:
    return Path(PGBIN, "initdb").exists() or bool(os.environ.get("MOORAGE_TEST_PG_DSN"))


@dataclass
class PostgresServer:
    host: str
    port: int
    pid: int | None
    state_dir: Path | None
    admin_dsn: str

    def create_database(self, template: str | None = None) -> str:
        """A fresh database (empty, or a copy of the database ``template``, which nobody may
        be connected to); returns its SQLAlchemy-style URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy} OWNER registry')
        return f"postgresql://registry:registry@{self.host}:{self.port}/{name}"

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server (fast shutdown: clients are cut off), wait ``down_for`` seconds, and
        start it again on the same data and port (a database host's reboot)."""
        assert self.pid is not None and self.state_dir is not None, "not a server we started"
        self.halt()
        time.sleep(down_for)
        data = self.state_dir / "pg" / "data"
        argv = [f"{PGBIN}/pg_ctl", "-D", str(data), "-l", str(data.parent / "postgres.log")]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(
            [*argv, "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=90
        )
        self.pid = int((data / "postmaster.pid").read_text().splitlines()[0])

    def halt(self) -> None:
        """Fast shutdown (SIGINT), keeping the data; SIGKILL after 10 s."""
        assert self.pid is not None
        try:
            os.kill(self.pid, signal.SIGINT)  # fast shutdown
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.pid is None:
            return
        self.halt()
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def start(port: int) -> PostgresServer:
    external = os.environ.get("MOORAGE_TEST_PG_DSN")
    if external:
        from sqlalchemy.engine import make_url

        u = make_url(external)
        return PostgresServer(u.host or "127.0.0.1", u.port or 5432, None, None, external)
    state = Path(tempfile.mkdtemp(prefix="moorage-pg-", dir="/tmp"))
    os.chmod(state, 0o755)
    out = subprocess.run(
        ["sh", str(SCRIPT), str(state / "pg")],
        env={**os.environ, "PG_PORT": str(port), "PGBIN": PGBIN},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    pid = int(out.stdout.strip().splitlines()[-1])
    admin = f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
    return PostgresServer("127.0.0.1", port, pid, state, admin)
