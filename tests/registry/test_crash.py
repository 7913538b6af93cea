"""SIGKILL in the middle of pushes, then a restart on the same data (DESIGN.md §3, §7).

Storage first, metadata last: every push that got its 201 survives byte for byte; nothing
half-written is ever visible (no blob for an upload that never finished, no stored object
whose bytes do not hash to its address); and the registry takes pushes again afterwards.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningRegistry
from tests.registry.pushing import (
    OCI_MANIFEST,
    manifest_for,
    patch_chunk,
    push_image,
    sha256,
    start_upload,
)

MiB = 1 << 20
WORKERS = 6
MAX_PUSHES_PER_WORKER = 40  # bounded: the kill normally comes long before
KILL_AFTER_MANIFESTS = 5
ROUNDS = 2

pytestmark = pytest.mark.slow


@dataclass
class Ledger:
    """What the clients were told, shared by the pushing threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked_blobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (repo, digest) → size
    acked_manifests: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    # In flight when the server died: (repo, digest[, body]).
    never_finished: list[tuple[str, str]] = field(default_factory=list)  # PUT never sent
    finishing: list[tuple[str, str, int]] = field(default_factory=list)  # PUT sent, no 201
    manifests_in_flight: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # error answers while the server lived

    def manifest_count(self) -> int:
        with self.lock:
            return len(self.acked_manifests)


class ServerGone(Exception):
    pass


def _check(r: httpx.Response, status: int, what: str, ledger: Ledger) -> None:
    if r.status_code != status:
        with ledger.lock:
            ledger.unexpected.append(f"{what}: {r.status_code} {r.text[:300]}")
        raise ServerGone(what)


def _worker(
    reg: RunningRegistry, worker: int, round_no: int, ledger: Ledger, stop: threading.Event
) -> None:
    repo = f"crash/r{round_no}/w{worker % 3}"  # two workers share each repository
    with reg.client(timeout=20.0) as c:
        for n in range(MAX_PUSHES_PER_WORKER):
            if stop.is_set():
                return
            tag = f"w{worker}-{n}"
            config = f'{{"worker":{worker},"n":{n},"round":{round_no},"r":"{os.urandom(8).hex()}"}}'
            config_b = config.encode()
            layer = os.urandom((2 + (worker + n) % 4) * MiB + n)
            state: tuple[str, ...] = ()
            try:
                # Config: monolithic.
                state = ("blob", sha256(config_b), str(len(config_b)))
                r = c.post(
                    f"/v2/{repo}/blobs/uploads/", params={"digest": state[1]}, content=config_b
                )
                _check(r, 201, "config push", ledger)
                with ledger.lock:
                    ledger.acked_blobs[(repo, state[1])] = len(config_b)
                # Layer: chunked, 1 MiB PATCHes.
                digest = sha256(layer)
                state = ("patching", digest)
                r = c.post(f"/v2/{repo}/blobs/uploads/")
                _check(r, 202, "start upload", ledger)
                location = r.headers["Location"]
                for start in range(0, len(layer), MiB):
                    r = patch_chunk(c, location, layer[start : start + MiB], start)
                    _check(r, 202, "patch", ledger)
                    location = r.headers["Location"]
                state = ("finishing", digest, str(len(layer)))
                r = c.put(location, params={"digest": digest})
                _check(r, 201, "finish", ledger)
                with ledger.lock:
                    ledger.acked_blobs[(repo, digest)] = len(layer)
                # Manifest under a tag of its own.
                body = manifest_for(config_b, [layer])
                state = ("manifest", sha256(body), tag)
                r = c.put(
                    f"/v2/{repo}/manifests/{tag}",
                    content=body,
                    headers={"Content-Type": OCI_MANIFEST},
                )
                _check(r, 201, "manifest", ledger)
                with ledger.lock:
                    ledger.acked_manifests.append((repo, tag, sha256(body), body))
                state = ()
            except (httpx.HTTPError, ServerGone):
                with ledger.lock:
                    if state and state[0] == "patching":
                        ledger.never_finished.append((repo, state[1]))
                    elif state and state[0] in ("finishing", "blob"):
                        ledger.finishing.append((repo, state[1], int(state[2])))
                    elif state and state[0] == "manifest":
                        body = manifest_for(config_b, [layer])
                        ledger.manifests_in_flight.append((repo, state[2], state[1], body))
                return


def _crash_round(reg: RunningRegistry, round_no: int) -> Ledger:
    ledger = Ledger()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_worker, args=(reg, i, round_no, ledger, stop), daemon=True)
        for i in range(WORKERS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while ledger.manifest_count() < KILL_AFTER_MANIFESTS and time.monotonic() < deadline:
        if not any(t.is_alive() for t in threads):
            break
        time.sleep(0.02)
    time.sleep(0.15)  # let every worker get well into its next push
    reg.kill()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a pushing thread did not stop"
    return ledger


def _walk_blobs(data: Path) -> tuple[int, list[str]]:
    """Verify every stored object hashes to its address; returns (count, problems)."""
    root = data / "storage" / "blobs"
    problems: list[str] = []
    count = 0
    if not root.exists():
        return 0, []
    for dirpath, _dirs, files in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                continue  # an unrenamed temporary: invisible to readers, garbage for GC
            path = Path(dirpath, name)
            parts = rel.parts
            if name != "data" or len(parts) != 3:
                problems.append(f"unexpected file {path.relative_to(root)}")
                continue
            alg, prefix, hexdigest = parts
            if alg not in ("sha256", "sha512") or hexdigest[:2] != prefix:
                problems.append(f"misplaced {path.relative_to(root)}")
                continue
            h = hashlib.new(alg)
            with open(path, "rb") as f:
                while chunk := f.read(MiB):
                    h.update(chunk)
            if h.hexdigest() != hexdigest:
                problems.append(f"{path.relative_to(root)} holds {h.hexdigest()}")
            count += 1
    return count, problems


def _verify(reg: RunningRegistry, ledger: Ledger) -> None:
    assert not ledger.unexpected, ledger.unexpected
    with reg.client() as c:
        # Every acknowledged blob, byte for byte.
        for (repo, digest), size in ledger.acked_blobs.items():
            r = c.get(f"/v2/{repo}/blobs/{digest}")
            assert r.status_code == 200, (repo, digest, r.text)
            assert len(r.content) == size
            assert sha256(r.content) == digest
        # Every acknowledged manifest, by digest and by tag.
        for repo, tag, digest, body in ledger.acked_manifests:
            r = c.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
            assert r.status_code == 200, (repo, digest, r.text)
            assert r.content == body
            r = c.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
            assert r.status_code == 200, (repo, tag, r.text)
            assert r.content == body
            assert r.headers["Docker-Content-Digest"] == digest
        # An upload whose PUT was never sent has no blob.
        for repo, digest in ledger.never_finished:
            r = c.head(f"/v2/{repo}/blobs/{digest}")
            assert r.status_code == 404, (repo, digest, "visible though never finished")
        # A PUT cut short: either it committed (then whole and correct) or nothing is visible.
        for repo, digest, size in ledger.finishing:
            r = c.head(f"/v2/{repo}/blobs/{digest}")
            assert r.status_code in (200, 404), r.status_code
            if r.status_code == 200:
                got = c.get(f"/v2/{repo}/blobs/{digest}")
                assert got.status_code == 200
                assert len(got.content) == size
                assert sha256(got.content) == digest
        for repo, tag, digest, body in ledger.manifests_in_flight:
            r = c.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
            assert r.status_code in (200, 404), r.status_code
            if r.status_code == 200:
                assert r.content == body
            r = c.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
            assert r.status_code in (200, 404), r.status_code
            if r.status_code == 200:
                assert r.content == body
        # Tag lists name only tags whose manifests are servable.
        for repo in {m[0] for m in ledger.acked_manifests}:
            tags = c.get(f"/v2/{repo}/tags/list").json()["tags"]
            for tag in tags:
                assert c.head(f"/v2/{repo}/manifests/{tag}").status_code == 200, (repo, tag)
    count, problems = _walk_blobs(reg.data)
    assert not problems, problems
    assert count >= len({d for _r, d in ledger.acked_blobs})


def _push_again(reg: RunningRegistry, round_no: int) -> None:
    with reg.client() as c:
        name = f"crash/after{round_no}"
        layer = os.urandom(3 * MiB + 1)
        digest, body = push_image(c, name, "ok", b'{"after":"crash"}', [layer])
        assert c.get(f"/v2/{name}/manifests/ok").content == body
        assert c.get(f"/v2/{name}/blobs/{sha256(layer)}").content == layer
        # A chunked upload from scratch works too.
        data = os.urandom(2 * MiB + 3)
        location = start_upload(c, name)
        r = patch_chunk(c, location, data[:MiB], 0)
        assert r.status_code == 202, r.text
        r = patch_chunk(c, r.headers["Location"], data[MiB:], MiB)
        assert r.status_code == 202, r.text
        r = c.put(r.headers["Location"], params={"digest": sha256(data)})
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/{name}/blobs/{sha256(data)}").content == data
        assert digest == sha256(body)


def test_sigkill_mid_push(registry_factory: Callable[..., RunningRegistry]) -> None:
    reg = registry_factory(workers=2)  # the kill takes both serving processes mid-push
    ledgers: list[Ledger] = []
    for round_no in range(ROUNDS):
        ledger = _crash_round(reg, round_no)
        ledgers.append(ledger)
        assert ledger.acked_manifests, "no push completed before the kill"
        in_flight = ledger.never_finished + ledger.finishing + ledger.manifests_in_flight
        assert in_flight, "the kill found no push in flight"
        reg.start()
        # Everything acknowledged in every round so far is still there.
        for earlier in ledgers:
            _verify(reg, earlier)
        _push_again(reg, round_no)
    reg.stop()
    reg.start()  # a clean restart after crashes changes nothing either
    for ledger in ledgers:
        _verify(reg, ledger)
