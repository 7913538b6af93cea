"""What one request costs in SQL, counted statement by statement on the app's engine (in process).

Authentication of a repeated Basic request reads at most 2 statements, a bearer request 1, an
anonymous one none; a successful sign-in writes nothing for throttling; and no request, pulls
and pushes alike, reads the same thing twice (the site settings and the repository row are read
once per request, ``moorage.db.request_memo``). The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func, select

from moorage.db import tables as t
from tests.auth.creds_helpers import (
    PASSWORD,
    access_token,
    app_services,
    bearer_token,
    from_address,
    new_user,
)
from tests.http.inproc_images import manifest_for_new_blobs, push_image
from tests.http.v2.helpers import OCI_MANIFEST, digest_of
from tests.inprocess import InProcessApp

# The tables authentication reads: the account, its access tokens, the throttling counters.
_AUTH = re.compile(r"\b(?:FROM|JOIN) (?:accounts|access_tokens|login_throttle)\b")
_SETTINGS = re.compile(r"\bFROM site_settings\b")
_REPOSITORY_BY_NAME = re.compile(r"\bFROM repositories WHERE repositories\.name = ")
_WRITE = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Cost:
    """The statements one request ran: (SQL, parameters), in order."""

    statements: list[tuple[str, str]] = field(default_factory=list)

    @property
    def reads(self) -> list[tuple[str, str]]:
        return [s for s in self.statements if s[0].startswith("SELECT")]

    @property
    def writes(self) -> list[str]:
        return [sql for sql, _ in self.statements if sql.startswith(_WRITE)]

    def reading(self, pattern: re.Pattern[str]) -> list[str]:
        return [sql for sql, _ in self.reads if pattern.search(sql)]

    @property
    def repeated_reads(self) -> list[tuple[str, str]]:
        """SELECTs run twice with the same parameters in this request."""
        seen: set[tuple[str, str]] = set()
        repeated = []
        for read in self.reads:
            if read in seen:
                repeated.append(read)
            seen.add(read)
        return repeated

    def figures(self) -> str:
        return (
            f"{len(self.statements)} statements ({len(self.reads)} reads): "
            f"{len(self.reading(_AUTH))} authentication, "
            f"{len(self.reading(_SETTINGS))} site settings, "
            f"{len(self.reading(_REPOSITORY_BY_NAME))} repository by name"
        )


@contextmanager
def counted(app: InProcessApp) -> Iterator[Cost]:
    """The statements of the requests this task sends inside the block (the ASGI transport runs
    the app in the caller's task; the app's background loops run in tasks of their own)."""
    db = app_services(app).db
    engine = db._sync if db._sync is not None else db._async.sync_engine  # type: ignore[union-attr]
    cost = Cost()
    mine = asyncio.current_task()

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # a worker thread (BEGIN IMMEDIATE): not a request's statement
            return
        if task is mine:
            cost.statements.append((" ".join(statement.split()), repr(parameters)))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield cost
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _no_repeats(label: str, cost: Cost) -> None:
    assert cost.repeated_reads == [], (label, cost.repeated_reads)
    assert len(cost.reading(_SETTINGS)) <= 1, (label, cost.statements)
    assert not [w for w in cost.writes if "login_throttle" in w], (label, cost.writes)


async def _throttle_rows(app: InProcessApp) -> int:
    async with app_services(app).db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(t.login_throttle))).scalar()
    return int(count or 0)


async def test_what_a_pull_costs(inproc: InProcessApp) -> None:
    """A repeated manifest GET: Basic (password and access token) at most 2 reads to
    authenticate, a bearer token 1, an anonymous caller none; nothing read twice."""
    user = await new_user(inproc, "carol")
    created = await access_token(inproc, user)
    tok = await bearer_token(inproc, user, "repository:carol/app:pull")
    async with inproc.client(auth=user) as c:
        await push_image(c, "carol/app", "v1")
        r = await c.patch("/api/v0/repositories/carol/app", json={"visibility": "public"})
        assert r.status_code == 200, r.text
    figures: dict[str, str] = {}
    async with inproc.client(auth=None) as c:
        for label, kwargs, auth_budget in [
            ("password", {"auth": user}, 2),
            ("access token", {"auth": (user[0], created["token"])}, 2),
            ("bearer", {"headers": {"Authorization": f"Bearer {tok}"}}, 1),
            ("anonymous", {}, 0),
        ]:
            # The first request verifies the secret (Argon2, RSA) and remembers it.
            assert (await c.get("/v2/carol/app/manifests/v1", **kwargs)).status_code == 200
            for _ in range(3):
                with counted(inproc) as cost:
                    r = await c.get("/v2/carol/app/manifests/v1", **kwargs)
                assert r.status_code == 200, r.text
                assert len(cost.reading(_AUTH)) <= auth_budget, (label, cost.statements)
                assert cost.writes == [], (label, cost.writes)  # pulls are counted in memory
                _no_repeats(label, cost)
            figures[label] = cost.figures()
    assert await _throttle_rows(inproc) == 0
    print("\nSQL of a repeated manifest GET:")
    for label, line in figures.items():
        print(f"  {label:>12}: {line}")


async def test_what_a_push_costs(inproc: InProcessApp) -> None:
    """Every push-class request reads the site settings at most once, its repository's row
    once, nothing twice, and writes nothing for throttling; authentication stays in budget."""
    user = await new_user(inproc, "dave")
    figures: dict[str, str] = {}
    async with inproc.client(auth=user) as c:
        await push_image(c, "dave/app", "v1")  # the repository exists; Argon2 has run
        doc = await manifest_for_new_blobs(c, "dave/app")
        layer = b"a layer in two chunks"
        with counted(inproc) as cost:
            r = await c.post("/v2/dave/app/blobs/uploads/")
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        costs: list[tuple[str, Cost]] = [("upload POST", cost)]
        with counted(inproc) as cost:
            r = await c.patch(location, content=layer[:8], headers={"Content-Range": "0-7"})
        assert r.status_code == 202, r.text
        costs.append(("upload PATCH", cost))
        with counted(inproc) as cost:
            r = await c.put(location, params={"digest": digest_of(layer)}, content=layer[8:])
        assert r.status_code == 201, r.text
        costs.append(("upload PUT", cost))
        other = b"a monolithic layer"
        with counted(inproc) as cost:
            r = await c.post(
                "/v2/dave/app/blobs/uploads/", params={"digest": digest_of(other)}, content=other
            )
        assert r.status_code == 201, r.text
        costs.append(("monolithic POST", cost))
        with counted(inproc) as cost:
            r = await c.put(
                "/v2/dave/app/manifests/v2",
                content=json.dumps(doc).encode(),
                headers={"Content-Type": OCI_MANIFEST},
            )
        assert r.status_code == 201, r.text
        costs.append(("manifest PUT", cost))
        await push_image(c, "dave/other", "v1")
        with counted(inproc) as cost:  # from a repository the caller may pull: 201 Created
            r = await c.post(
                "/v2/dave/other/blobs/uploads/",
                params={"mount": digest_of(layer), "from": "dave/app"},
            )
        assert r.status_code == 201, r.text
        costs.append(("mount POST", cost))
    tok = await bearer_token(inproc, user, "repository:dave/app:pull,push")
    bearer = {"Authorization": f"Bearer {tok}"}
    async with inproc.client(auth=None, headers=bearer) as c:
        assert (await c.get("/v2/")).status_code == 200  # the token's signature, remembered
        with counted(inproc) as cost:
            r = await c.post("/v2/dave/app/blobs/uploads/")
        assert r.status_code == 202, r.text
        costs.append(("bearer upload POST", cost))
        doc = await manifest_for_new_blobs(c, "dave/app")
        with counted(inproc) as cost:
            r = await c.put(
                "/v2/dave/app/manifests/v3",
                content=json.dumps(doc).encode(),
                headers={"Content-Type": OCI_MANIFEST},
            )
        assert r.status_code == 201, r.text
        costs.append(("bearer manifest PUT", cost))
    for label, cost in costs:
        budget = 1 if label.startswith("bearer") else 2
        assert len(cost.reading(_AUTH)) <= budget, (label, cost.statements)
        # The authorizer reads the repository by name and remembers it: the handler's own
        # lookups (the blob's link, inside its write transaction) are other statements, and
        # never a repeat of one already run.
        _no_repeats(label, cost)
        if label.endswith("manifest PUT"):
            # One read of the repository: the authorizer's row, which says whether the push
            # prunes or scans, serves the push too.
            assert len(cost.reading(_REPOSITORY_BY_NAME)) == 1, (label, cost.statements)
        figures[label] = cost.figures()
    assert await _throttle_rows(inproc) == 0
    print("\nSQL of push-class requests:")
    for label, line in figures.items():
        print(f"  {label:>20}: {line}")


async def test_a_first_sign_in_writes_nothing_for_throttling(inproc: InProcessApp) -> None:
    """A clean source's first Basic sign-in (Argon2 runs) writes no throttling row; a failure
    does, and the account's own count goes with the next success."""
    fresh = await new_user(inproc, "erin")
    async with from_address(inproc, "198.51.100.20") as c:
        with counted(inproc) as cost:
            assert (await c.get("/v2/", auth=fresh)).status_code == 200
        assert cost.writes == [], cost.writes
        assert await _throttle_rows(inproc) == 0
        assert (await c.get("/v2/", auth=(fresh[0], "wrong"))).status_code == 401
        assert await _throttle_rows(inproc) == 2  # the (source, account) pair and the source
        with counted(inproc) as cost:
            assert (await c.get("/v2/", auth=(fresh[0], PASSWORD))).status_code == 200
        assert [w for w in cost.writes if "login_throttle" in w] == [
            w for w in cost.writes if w.startswith("DELETE FROM login_throttle")
        ]
        assert await _throttle_rows(inproc) == 1  # the source's total stays


async def test_an_api_write_reads_the_site_settings_once(inproc: InProcessApp) -> None:
    """The gate reads them (read-only mode), and the webhook's address guard gets its networks
    from that same read."""
    async with inproc.client() as c:
        allowed = {"webhookAllowedNetworks": ["127.0.0.0/8"]}
        assert (await c.post("/api/v0/meta/settings", json=allowed)).status_code == 202
        r = await c.post("/api/v0/repositories/admin", json={"name": "hooked"})
        assert r.status_code == 201, r.text
        body = {"type": "TAG_PUSH", "key": "admin/hooked", "endpoint": "http://127.0.0.1:9/"}
        with counted(inproc) as cost:
            r = await c.post("/api/v0/webhooks", json=body)
        assert r.status_code == 201, r.text
    assert len(cost.reading(_SETTINGS)) == 1, cost.statements
    print(f"\nSQL of a webhook's creation: {cost.figures()}")


async def test_the_memo_lasts_one_request(inproc: InProcessApp) -> None:
    """A change made by one request is seen by the next (no memo outlives its request), and a
    request sees its own change: read-only mode switched on refuses the very next push."""
    user = await new_user(inproc, "fred")
    async with inproc.client(auth=user) as c:
        await push_image(c, "fred/app", "v1")
        r = await c.post("/v2/fred/app/blobs/uploads/")
        assert r.status_code == 202, r.text
    async with inproc.client() as admin:
        r = await admin.post("/api/v0/meta/settings", json={"readOnlyRegistry": True})
        assert r.status_code == 202, r.text
        assert (await admin.get("/api/v0/meta/settings")).json()["readOnlyRegistry"] is True
        async with inproc.client(auth=user) as c:
            r = await c.post("/v2/fred/app/blobs/uploads/")
            assert r.status_code == 405, r.text
        r = await admin.post("/api/v0/meta/settings", json={"readOnlyRegistry": False})
        assert r.status_code == 202, r.text
        assert (await admin.get("/api/v0/meta/settings")).json()["readOnlyRegistry"] is False
        # A repository made private is hidden from the very next anonymous pull.
        r = await admin.patch("/api/v0/repositories/fred/app", json={"visibility": "public"})
        assert r.json()["visibility"] == "public"
        async with inproc.client(auth=None) as anonymous:
            assert (await anonymous.get("/v2/fred/app/manifests/v1")).status_code == 200
            r = await admin.patch("/api/v0/repositories/fred/app", json={"visibility": "private"})
            assert r.json()["visibility"] == "private"
            assert (await anonymous.get("/v2/fred/app/manifests/v1")).status_code == 401
