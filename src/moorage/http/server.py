"""The serving supervisor: a fresh, small process that only runs the ASGI server.

``moorage serve`` migrates the database and bootstraps in a full interpreter, then
replaces itself (``exec``, same PID) with this module, so the long-lived supervisor
holds only the server library, not SQLAlchemy, Alembic or Argon2's working memory.
The worker processes it starts import the application (``moorage.http.asgi``).
Settings arrive as JSON in one environment variable; only the standard library,
``moorage.logs`` and ``moorage.http.tls_supervision`` (standard library only) are imported
here, on purpose.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from typing import Any

from moorage import logs
from moorage.http.tls_supervision import start_tls_duties

SETTINGS_ENV = "MOORAGE__SETTINGS_JSON"
APP = "moorage.http.asgi:factory"


def address_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served, or None when it is free.

    The servers listen with ``SO_REUSEPORT`` so their workers share one port; the price is that a
    second server on a busy port would start too and split the traffic. So before starting, bind
    the address the way a lone server would, without ``SO_REUSEPORT`` (``SO_REUSEADDR`` only, so
    connections of a previous run lingering in TIME_WAIT are no obstacle): that fails while any
    socket listens there."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc}"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"{host}:{port} is already in use: another server (another moorage?) "
                    "listens there; stop it or choose another --listen address"
                )
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _serve_granian(s: dict[str, Any], host: str, port: int) -> None:
    from pathlib import Path

    from granian.constants import Interfaces, Loops, SSLProtocols
    from granian.server import Server

    Server(
        APP,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=s["workers"],
        loop=Loops.uvloop,
        ssl_cert=Path(s["tls_cert"]) if s.get("tls_cert") else None,
        ssl_key=Path(s["tls_key"]) if s.get("tls_key") else None,
        ssl_protocol_min=SSLProtocols.tls12,
        # On SIGHUP (a renewed own certificate: moorage.http.tls_supervision) each new worker
        # gets this long to start before the old one stops: workers listen with SO_REUSEPORT.
        respawn_interval=30.0,
        log_access=False,
        log_level=s["log_level"].lower(),
        log_dictconfig=logs.dict_config(s["log_level"], s["log_format"]),
    ).serve()


def _serve_uvicorn(s: dict[str, Any], host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=s["workers"],
        loop="uvloop",
        http="httptools",
        ssl_certfile=s.get("tls_cert"),
        ssl_keyfile=s.get("tls_key"),
        access_log=False,
        log_config=None,
        server_header=False,
        # Forwarded headers are moorage.http.proxies' business (trusted_proxies only).
        proxy_headers=False,
        timeout_keep_alive=30,
    )


def main() -> None:
    s: dict[str, Any] = json.loads(os.environ[SETTINGS_ENV])
    logs.configure(s["log_level"], s["log_format"])
    host, _, port = s["listen"].rpartition(":")
    # Checked again here, just before the server binds (``moorage serve`` checked first).
    problem = address_in_use(host.strip("[]"), int(port))
    if problem is not None:
        print(f"moorage: {problem}", file=sys.stderr, flush=True)
        sys.exit(2)
    # The https redirect and the own certificate's renewal (moorage.http.tls_supervision).
    stops = start_tls_duties(s, host.strip("[]"), int(port))
    try:
        if s["server"] == "granian":
            _serve_granian(s, host.strip("[]"), int(port))
        else:
            _serve_uvicorn(s, host.strip("[]"), int(port))
    finally:
        for stop in stops:
            stop()


if __name__ == "__main__":
    main()
