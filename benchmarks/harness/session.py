"""The state of one benchmark run: the servers, the profile, the per-round results, notes,
warnings and wrk's raw output, and the helpers every scenario uses."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable

from harness.options import Options
from harness.processes import Server
from harness.profiles import Profile
from harness.rawhttp import sha256_digest
from harness.registry_ops import make_image

Results = dict[str, dict[str, list[float]]]  # figure -> server -> per-round values


class Bench:
    def __init__(
        self,
        profile: Profile,
        servers: dict[str, Server],
        args: Options,
        token_servers: dict[str, tuple[Server, Callable[[], str]]] | None = None,
    ) -> None:
        self.p = profile
        self.servers = servers
        # For the token-auth figures: per name, the server and how to get a pull token.
        self.token_servers = token_servers or {}
        self.args = args
        self.results: Results = {}
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.wrk_raw: dict[str, list[str]] = {}
        self.loadavg: list[tuple[float, float, float]] = []
        self.blob = bytearray(os.urandom(profile.blob_size))
        self.tag_names = [f"t{i:05d}" for i in range(profile.tags)]
        self.wrk_image = make_image("wrk", profile.small_layer)
        self.tags_image = make_image("tags", profile.small_layer)

    def record(self, figure: str, server: str, value: float) -> None:
        self.results.setdefault(figure, {}).setdefault(server, []).append(value)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def settle(self) -> None:
        """Flush dirty pages so one server's writeback does not land in the other's timing."""
        os.sync()
        for srv in self.servers.values():
            srv.check_alive()
        for srv, _token in self.token_servers.values():
            srv.check_alive()

    def write_auth(self, srv: Server, repos: list[str]) -> dict[str, str]:
        """Headers for pushing to ``repos`` (untimed: a client gets its token before it
        pushes); none for a registry that does not ask for credentials."""
        return srv.auth.write_headers(repos) if srv.auth else {}

    def fresh_blob(self, round_no: int, label: str) -> str:
        struct.pack_into("<16s", self.blob, 0, f"{label}:{round_no}:".encode()[:16])
        self.blob[16:32] = os.urandom(16)
        return sha256_digest(self.blob)

    # -- setup (untimed)
