"""Zip archives of real OSV records (tests/scanning/data/vulndb/archive, see its SOURCES.md),
laid out as osv.dev publishes ``<ecosystem>/all.zip``; and a feed server on 127.0.0.1 serving
them."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "vulndb" / "archive"


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


def fixture_records() -> dict[str, bytes]:
    """Every fixture record as JSON bytes (PYSEC's YAML converted), by id."""
    found: dict[str, bytes] = {}
    for path in sorted(DATA.rglob("*.json")):
        raw = path.read_bytes()
        found[json.loads(raw)["id"]] = raw
    for path in sorted(DATA.rglob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        found[document["id"]] = json.dumps(document, indent=2, default=_json_value).encode()
    return found


def base_ecosystems(raw: bytes) -> set[str]:
    document = json.loads(raw)
    return {
        a["package"]["ecosystem"].split(":", 1)[0]
        for a in document.get("affected", [])
        if "package" in a
    }


def by_ecosystem(records: dict[str, bytes]) -> dict[str, dict[str, bytes]]:
    """Records per base ecosystem (a record naming several is in each, as on osv.dev)."""
    found: dict[str, dict[str, bytes]] = {}
    for record_id, raw in records.items():
        for base in base_ecosystems(raw):
            found.setdefault(base, {})[record_id] = raw
    return found


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.write_bytes(zip_bytes(members))
    return path


def osv_layout(records: dict[str, bytes], folder: str = "") -> dict[str, bytes]:
    """Members named as in osv.dev's archives (``<id>.json``), optionally under ``folder``."""
    prefix = f"{folder.strip('/')}/" if folder else ""
    return {f"{prefix}{record_id}.json": raw for record_id, raw in records.items()}


def changed(raw: bytes, **fields: Any) -> bytes:
    """The record with ``fields`` replaced (``modified`` etc. as RFC 3339 strings)."""
    document = json.loads(raw)
    document.update(fields)
    return json.dumps(document, indent=2).encode()


def modified_of(raw: bytes) -> dt.datetime:
    return dt.datetime.fromisoformat(json.loads(raw)["modified"]).astimezone(dt.UTC)


def later(raw: bytes, days: int = 1) -> str:
    """A ``modified`` ``days`` after the record's own."""
    return (modified_of(raw) + dt.timedelta(days=days)).isoformat().replace("+00:00", "Z")


@dataclass
class FeedServer:
    """``GET /<ecosystem>/all.zip`` from ``archives`` (by ecosystem name); records each path."""

    server: ThreadingHTTPServer
    archives: dict[str, bytes] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)
    declare_length: bool = True  # False: no Content-Length, the body ends with the connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextlib.contextmanager
def feed_server(archives: dict[str, bytes]) -> Iterator[FeedServer]:
    feed: FeedServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            feed.requested.append(self.path)
            parts = self.path.strip("/").split("/")
            body = None
            if len(parts) == 2 and parts[1] == "all.zip":
                body = feed.archives.get(unquote(parts[0]))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            if feed.declare_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    feed = FeedServer(server, dict(archives))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield feed
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
