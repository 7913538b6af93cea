"""``moorage import`` from a plain OCI registry: Debian's ``docker-registry`` (CNCF
distribution 2.8), started on a loopback port for this module, without DTR's API: the
repositories come from ``/v2/_catalog``, tags and an index by digest, then ``--verify``."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from moorage.importer.run import Endpoint, ImportPlan, run_import, verify
from moorage.importer.transport import Credentials
from moorage.remote import outbound
from tests.importer.images import push_image, push_index
from tests.importer.served import served
from tests.inprocess import ADMIN, ThreadedApp, threaded_app

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
pytestmark = pytest.mark.skipif(
    not Path(REGISTRY).exists(), reason="Debian's docker-registry is not installed"
)
LOOPBACK = outbound.Guard(allowed=[ipaddress.ip_network("127.0.0.0/8")], setting="test")
CONFIG = """version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("distribution")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = folder / "config.yml"
    config.write_text(CONFIG.format(root=folder / "data", port=port))
    log = (folder / "log").open("wb")
    process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (folder / "log").read_text()
            assert time.monotonic() < deadline, "docker-registry did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def target_app(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[ThreadedApp]:
    """A Moorage that does not create repositories on push: the import makes them (and the
    organization ``oci``)."""
    with threaded_app(
        tmp_path_factory.mktemp("target"),
        database_factory(),
        site_settings={"createRepositoryOnPush": False},
    ) as app:
        yield app


def test_a_plain_registry_is_imported_and_verified(
    distribution: str, target_app: ThreadedApp, tmp_path: Path
) -> None:
    pushed: dict[str, str] = {}
    with httpx.Client(base_url=distribution, timeout=30) as c:
        pushed["oci/app:v1"] = push_image(c, "oci/app", "v1")
        pushed["oci/app:v2"] = push_image(c, "oci/app", "v2")
        pushed["oci/base:multi"] = push_index(c, "oci/base", "multi")
    with served(target_app) as target:
        plan = ImportPlan(
            source=Endpoint(distribution, Credentials()),
            target=Endpoint(target, Credentials(*ADMIN)),
            guard=LOOPBACK,
            state_file=tmp_path / "state.json",
        )
        lines: list[str] = []
        report = asyncio.run(run_import(plan, lines.append))
        assert lines[0] == "source: registry v2 only"
        assert report.problems == [] and report.tags_copied == 3, report
        assert report.created == [
            "organization oci",
            "repository oci/app",
            "repository oci/base",
        ]
        checked = asyncio.run(verify(plan, lines.append))
        assert checked.mismatches == [] and checked.tags_copied == 3
    with target_app.client() as c:
        for ref, digest in pushed.items():
            repo, tag = ref.split(":")
            r = c.head(
                f"/v2/{repo}/manifests/{tag}",
                headers={"Accept": "application/vnd.oci.image.index.v1+json, "
                         "application/vnd.oci.image.manifest.v1+json"},
            )  # fmt: skip
            assert r.headers.get("Docker-Content-Digest") == digest, ref
