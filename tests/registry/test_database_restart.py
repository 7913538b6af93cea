"""PostgreSQL restarts under a running ``moorage serve`` (a database host's reboot or failover):
while it is down, requests fail in the registry's own error format and nothing is half-written;
once it is back, the same process serves and accepts pushes again without a restart. And under
load: two replicas pushing side by side through a restart lose no push they acknowledged, and
answer nothing but 503 while the database is away.

A PostgreSQL server of this module's own (the session's is shared by the other tests)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import RunningRegistry, free_port
from tests.registry.pushing import manifest_for, push_image, sha256
from tests.services import postgres


@pytest.fixture(scope="module")
def own_pg(db_kind: str) -> Iterator[postgres.PostgresServer]:
    if db_kind != "postgres":
        pytest.skip("a PostgreSQL restart (the full run's --db postgres)")
    if os.environ.get("MOORAGE_TEST_PG_DSN") or not postgres.available():
        pytest.skip("needs PostgreSQL binaries to start and restart a server of its own")
    server = postgres.start(free_port())
    try:
        yield server
    finally:
        server.stop()


def _wait_until_serving(c: httpx.Client, name: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        r = c.get(f"/v2/{name}/tags/list")
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_serving_goes_on_after_postgresql_restarts(
    own_pg: postgres.PostgresServer, registry_factory: Callable[..., RunningRegistry]
) -> None:
    reg = registry_factory(database=own_pg.create_database())
    with reg.client() as c:
        push_image(c, "restart/app", "v1", b'{"n": 1}', [os.urandom(1000)])
        own_pg.halt()  # down: every pooled connection is cut
        try:
            down = c.get("/v2/restart/app/manifests/v1")
            assert down.status_code == 503, down.text
            assert down.json()["errors"][0]["code"] == "UNAVAILABLE", down.text
            # The DTR API says it in its own envelope.
            api = c.get("/api/v0/repositories/restart/app")
            assert api.status_code == 503, api.text
            assert api.json()["errors"][0]["code"] == "UNAVAILABLE", api.text
        finally:
            own_pg.restart()
        assert _wait_until_serving(c, "restart/app").json()["tags"] == ["v1"]
        push_image(c, "restart/app", "v2", b'{"n": 2}', [os.urandom(1000)])
        tags = c.get("/v2/restart/app/tags/list").json()["tags"]
        assert tags == ["v1", "v2"]
    assert reg.proc is not None and reg.proc.poll() is None  # the same process throughout


PUSHERS = 4
ACKED_BEFORE = 8  # acknowledged pushes before the restart, and again after it
LOAD_SECONDS = 120  # bound on each phase


@dataclass
class Load:
    """What the pushing threads were told, by status."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: list[tuple[str, str, bytes, bytes]] = field(default_factory=list)  # tag, digest, ...
    refused: dict[int, int] = field(default_factory=dict)  # status → count
    stop: threading.Event = field(default_factory=threading.Event)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def _pusher(replicas: list[RunningRegistry], worker: int, load: Load) -> None:
    clients = [r.client(timeout=30.0) for r in replicas]
    try:
        for n in range(10_000):
            if load.stop.is_set():
                return
            c = clients[(worker + n) % len(clients)]
            config = f'{{"worker": {worker}, "n": {n}}}'.encode()
            layer = os.urandom(2048)
            tag = f"w{worker}-{n}"
            status = 201
            for blob in (config, layer):
                r = c.post(
                    "/v2/restart/load/blobs/uploads/", params={"digest": sha256(blob)}, content=blob
                )
                if r.status_code != 201:
                    status = r.status_code
                    break
            body = manifest_for(config, [layer])
            if status == 201:
                r = c.put(
                    f"/v2/restart/load/manifests/{tag}",
                    content=body,
                    headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                )
                status = r.status_code
            with load.lock:
                if status == 201:
                    load.acked.append((tag, sha256(body), body, layer))
                else:
                    load.refused[status] = load.refused.get(status, 0) + 1
            if status != 201:
                time.sleep(0.1)  # as a client backs off before its retry
    finally:
        for c in clients:
            c.close()


def _wait_for(load: Load, count: int) -> None:
    deadline = time.monotonic() + LOAD_SECONDS
    while load.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert load.count() >= count, (load.count(), load.refused)


def test_two_replicas_under_load_lose_nothing_acknowledged(
    own_pg: postgres.PostgresServer,
    registry_factory: Callable[..., RunningRegistry],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    database, data = own_pg.create_database(), tmp_path_factory.mktemp("shared")
    replicas = [registry_factory(data=data, database=database) for _ in range(2)]
    load = Load()
    threads = [
        threading.Thread(target=_pusher, args=(replicas, i, load), daemon=True)
        for i in range(PUSHERS)
    ]
    for t in threads:
        t.start()
    try:
        _wait_for(load, ACKED_BEFORE)
        own_pg.restart(down_for=1.0)  # the pushes go on meanwhile, refused or not
        after = load.count()
        _wait_for(load, after + ACKED_BEFORE)  # both replicas reconnected on their own
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    # While the database was away the registry said so: 503 only, never a 500 or a 4xx.
    assert set(load.refused) <= {503}, load.refused
    assert load.refused.get(503, 0) > 0, "no push met the restart: not under load"
    for reg in replicas:
        assert reg.proc is not None and reg.proc.poll() is None  # no replica restarted
        with reg.client() as c:
            for tag, digest, body, layer in load.acked:
                r = c.get(
                    f"/v2/restart/load/manifests/{tag}",
                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
                )
                assert r.status_code == 200 and r.content == body, (tag, r.status_code)
                assert r.headers["Docker-Content-Digest"] == digest
                got = c.get(f"/v2/restart/load/blobs/{sha256(layer)}")
                assert got.status_code == 200 and got.content == layer, tag
