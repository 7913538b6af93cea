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

    def stop(self) -> None:
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)  # fast shutdown
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
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
