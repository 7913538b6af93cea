"""A throwaway OpenLDAP server (slapd) with an AD-shaped test directory, on free loopback ports.

The directory (``ldap-start.sh``, from ../shared/RECIPES-services.md §1): ``dc=example,dc=org``;
admin ``cn=admin,dc=example,dc=org`` / ``adminpw``; users ``uid=alice|bob|carol|dave|erin`` under
``ou=people``, password ``<uid>pw``; groups ``cn=registry-admins`` (alice, bob) and
``cn=developers`` (bob, carol, dave) under ``ou=groups``; an AD-shaped user ``cn=Frank Ford,ou=svc``
(``sAMAccountName: ffrank``, password ``frankpw``) in the AD-shaped group ``cn=Registry Users``
(with erin). The server also offers StartTLS, and LDAPS on a second port, with a self-signed
certificate for 127.0.0.1 made here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port
from tests.services.tls import self_signed

SCRIPT = Path(__file__).with_name("ldap-start.sh")
BASE = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "adminpw"


def available() -> bool:
    return all(
        shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")
        for tool in ("slapd", "slaptest", "slappasswd", "ldapadd", "ldapsearch")
    )


@dataclass
class LdapServer:
    port: int
    ldaps_port: int
    pid: int
    state_dir: Path
    cert_pem: str

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @contextlib.contextmanager
    def admin(self):  # type: ignore[no-untyped-def]
        """An ldap3 connection bound as the directory's administrator (to change entries),
        unbound (its socket closed) when the ``with`` block ends."""
        import ldap3

        server = ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=5)
        conn = ldap3.Connection(
            server,
            ADMIN_DN,
            ADMIN_PASSWORD,
            auto_bind=True,
            receive_timeout=10,
            raise_exceptions=True,
        )
        try:
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.unbind()

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        else:
            for _ in range(50):
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
        # a stopped child may linger as <defunct> until reaped: wait for the port to close
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    break
            time.sleep(0.1)
        shutil.rmtree(self.state_dir, ignore_errors=True)


def start() -> LdapServer:
    state = Path(tempfile.mkdtemp(prefix="moorage-ldap-", dir="/tmp"))
    tls = state / "tls"
    tls.mkdir()
    cert_pem = self_signed(tls)[0].read_text()
    port, ldaps_port = free_port(), free_port()
    out = subprocess.run(
        ["sh", str(SCRIPT), str(state / "slapd")],
        env={
            **os.environ,
            "LDAP_PORT": str(port),
            "LDAPS_PORT": str(ldaps_port),
            "LDAP_TLS_DIR": str(tls),
        },
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    pid = int(out.stdout.strip().splitlines()[-1])
    return LdapServer(port, ldaps_port, pid, state, cert_pem)
