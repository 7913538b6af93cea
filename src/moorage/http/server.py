"""The serving supervisor: a fresh, small process that only runs the ASGI server.

``moorage serve`` migrates the database and bootstraps in a full interpreter, then
replaces itself (``exec``, same PID) with this module, so the long-lived supervisor
holds only the server library, not SQLAlchemy, Alembic or Argon2's working memory.
The worker processes it starts import the application (``moorage.http.asgi``).
Settings arrive as JSON in one environment variable; only the standard library and
``moorage.logs`` are imported here, on purpose.
"""

from __future__ import annotations

import json
import os
from typing import Any

from moorage import logs

SETTINGS_ENV = "MOORAGE__SETTINGS_JSON"
APP = "moorage.http.asgi:factory"


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
        timeout_keep_alive=30,
    )


def main() -> None:
    s: dict[str, Any] = json.loads(os.environ[SETTINGS_ENV])
    logs.configure(s["log_level"], s["log_format"])
    host, _, port = s["listen"].rpartition(":")
    if s["server"] == "granian":
        _serve_granian(s, host.strip("[]"), int(port))
    else:
        _serve_uvicorn(s, host.strip("[]"), int(port))


if __name__ == "__main__":
    main()
