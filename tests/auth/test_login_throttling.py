"""Failed sign-ins throttled per (source, account) and per source, in SQL, refused at once.

The attacks of the review: 64 parallel connections guessing one password (they got 6.4
guesses/s through a per-name sleep), and an anonymous source slowing the administrator's every
login to 8 s. Now a source over budget gets 429 with Retry-After at once, other sources are
untouched, and what a repeated sign-in costs is counted in SQL statements."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select, update

from moorage.auth import throttle
from moorage.auth.credentials import SLOW_CHECKS
from moorage.db import tables as t
from tests.auth.creds_helpers import (
    PASSWORD,
    access_token,
    app_services,
    bearer_token,
    csrf_of,
    from_address,
    new_user,
    reads,
    statements,
    ui_sign_in,
    writes,
)
from tests.inprocess import InProcessApp, running_app

ATTACKER = "203.0.113.7"


async def _guesses(app: InProcessApp, host: str, name: str, count: int) -> list[httpx.Response]:
    """``count`` wrong passwords for ``name`` from ``host``, all at once (one connection each)."""
    async with from_address(app, host) as c:
        return list(
            await asyncio.gather(*(c.get("/v2/", auth=(name, f"guess-{i}")) for i in range(count)))
        )


async def _rows(app: InProcessApp, source: str) -> list[tuple[int, int]]:
    db = app_services(app).db
    async with db.read() as conn:
        rows = await conn.execute(
            select(t.login_throttle.c.account_id, t.login_throttle.c.failures)
            .where(t.login_throttle.c.source == source)
            .order_by(t.login_throttle.c.account_id)
        )
        return [(int(r.account_id), int(r.failures)) for r in rows]


async def test_parallel_guessing_is_capped_and_refused_at_once(inproc: InProcessApp) -> None:
    await new_user(inproc, "carla")
    start = time.monotonic()
    answers: list[httpx.Response] = []
    for _ in range(3):  # 3 waves of 64 parallel guesses
        answers += await _guesses(inproc, ATTACKER, "carla", 64)
    elapsed = time.monotonic() - start
    checked = [r for r in answers if r.status_code == 401]
    refused = [r for r in answers if r.status_code == 429]
    assert len(checked) + len(refused) == len(answers)
    # At most the budget plus the guesses already in a slot when it ran out.
    assert throttle.PAIR_LIMIT <= len(checked) <= throttle.PAIR_LIMIT + SLOW_CHECKS, len(checked)
    error = refused[0].json()["errors"][0]
    assert error["code"] == "TOOMANYREQUESTS" and error["detail"]["retryAfter"] > 0
    assert 0 < int(refused[0].headers["Retry-After"]) <= 15 * 60
    # Refusals cost no Argon2 and no sleep: 192 answers come back quickly.
    assert elapsed < 20, elapsed
    # Over budget even the right password is refused: a guess teaches nothing.
    async with from_address(inproc, ATTACKER) as c:
        assert (await c.get("/v2/", auth=("carla", PASSWORD))).status_code == 429
    print(f"\nparallel guessing: {len(checked)}/{len(answers)} guesses checked in {elapsed:.2f} s")


async def test_a_clean_source_signs_in_at_once_while_another_hammers(
    inproc: InProcessApp,
) -> None:
    await new_user(inproc, "dora")

    async def hammer() -> None:
        for _ in range(4):
            await _guesses(inproc, ATTACKER, "admin", 32)
            await _guesses(inproc, ATTACKER, "dora", 32)

    # The attacker has spent both budgets before the users come, and goes on meanwhile.
    await _guesses(inproc, ATTACKER, "admin", 32)
    await _guesses(inproc, ATTACKER, "dora", 32)
    attack = asyncio.create_task(hammer())
    try:
        await asyncio.sleep(0.1)
        for name, secret in (inproc.admin, ("dora", PASSWORD)):
            # Nothing sleeps in the throttle: a 200 (not a 429) is "at once".
            async with from_address(inproc, "198.51.100.20") as c:
                assert (await c.get("/v2/", auth=(name, secret))).status_code == 200
                assert (await c.get("/api/v0/repositories", auth=(name, secret))).status_code == 200
    finally:
        await attack
    async with from_address(inproc, ATTACKER) as c:
        assert (await c.get("/v2/", auth=inproc.admin)).status_code == 429
    # The administrator from the usual address: never throttled by someone else's failures.
    async with inproc.client() as c:
        assert (await c.get("/api/v0/repositories")).status_code == 200


async def test_made_up_names_share_one_row_per_source(inproc: InProcessApp) -> None:
    source = "192.0.2.99"
    answers = []
    async with from_address(inproc, source) as c:
        for i in range(throttle.SOURCE_LIMIT + 5):
            answers.append((await c.get("/v2/", auth=(f"nobody-{i}", "x"))).status_code)
    assert answers[: throttle.SOURCE_LIMIT] == [401] * throttle.SOURCE_LIMIT
    assert answers[throttle.SOURCE_LIMIT :] == [429] * 5
    assert await _rows(inproc, source) == [(throttle.SOURCE_ONLY, throttle.SOURCE_LIMIT)]
    # The source's budget covers real names too; another source still signs in.
    async with from_address(inproc, source) as c:
        assert (await c.get("/v2/", auth=inproc.admin)).status_code == 429
    async with inproc.client() as c:
        assert (await c.get("/v2/")).status_code == 200


async def test_a_refusal_speaks_each_protocol(inproc: InProcessApp) -> None:
    await new_user(inproc, "emil")
    await _guesses(inproc, ATTACKER, "emil", throttle.PAIR_LIMIT + SLOW_CHECKS + 2)
    async with from_address(inproc, ATTACKER, auth=("emil", PASSWORD)) as c:
        r = await c.get("/api/v0/repositories")
        assert r.status_code == 429 and r.headers["Retry-After"]
        assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        r = await c.get("/auth/token", params={"service": inproc.settings.token_service})
        assert r.status_code == 429 and r.headers["Retry-After"]
        assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        r = await c.post(
            "/auth/token",
            data={"grant_type": "password", "username": "emil", "password": PASSWORD},
        )
        assert r.status_code == 429 and r.headers["Retry-After"]
    async with from_address(inproc, ATTACKER, follow_redirects=False) as c:
        form = await c.get("/login")
        r = await c.post(
            "/login",
            data={"csrf": csrf_of(form.text), "username": "emil", "password": PASSWORD},
        )
        assert r.status_code == 429 and r.headers["Retry-After"]
        assert "Too many failed sign-ins" in r.text


async def test_wrong_current_passwords_count_as_failed_sign_ins(inproc: InProcessApp) -> None:
    """A stolen session cookie guessing the current password on the account page (or the API's
    changePassword) is throttled as sign-ins are, from the same budget."""
    await new_user(inproc, "emil")
    source = "198.51.100.30"
    async with from_address(inproc, source, follow_redirects=False) as c:
        assert (await ui_sign_in(c, "emil", PASSWORD)).status_code == 303
        csrf = csrf_of((await c.get("/account")).text)
        form = {"csrf": csrf, "password": "whatever-password", "again": "whatever-password"}
        for i in range(throttle.PAIR_LIMIT):
            r = await c.post("/account", data={**form, "current": f"guess-{i}"})
            assert r.status_code == 403, r.text
        r = await c.post("/account", data={**form, "current": PASSWORD})
        assert r.status_code == 429 and r.headers["Retry-After"]
    assert await _rows(inproc, source) == [(throttle.SOURCE_ONLY, 10), (2, 10)]
    # Through the API: wrong current passwords count for the source as well.
    async with from_address(inproc, "198.51.100.31", auth=("emil", PASSWORD)) as c:
        r = await c.post(
            "/enzi/v0/accounts/emil/changePassword",
            json={"oldPassword": "not-it", "newPassword": "whatever-password"},
        )
        assert r.status_code == 403
    assert await _rows(inproc, "198.51.100.31") == [(throttle.SOURCE_ONLY, 1), (2, 1)]


async def test_the_window_ends_and_a_success_forgets_the_accounts_failures(
    inproc: InProcessApp,
) -> None:
    await new_user(inproc, "fritz")
    source = "192.0.2.50"
    async with from_address(inproc, source) as c:
        for _ in range(3):  # typos
            assert (await c.get("/v2/", auth=("fritz", "typo"))).status_code == 401
        assert [f for _, f in await _rows(inproc, source)] == [3, 3]
        assert (await c.get("/v2/", auth=("fritz", PASSWORD))).status_code == 200
        # The account's own count is gone; the source's total stays.
        assert await _rows(inproc, source) == [(throttle.SOURCE_ONLY, 3)]
        for _ in range(throttle.PAIR_LIMIT):
            await c.get("/v2/", auth=("fritz", "typo"))
        assert (await c.get("/v2/", auth=("fritz", PASSWORD))).status_code == 429
        db = app_services(inproc).db
        async with db.write() as conn:
            past = dt.datetime.now(dt.UTC) - throttle.WINDOW - dt.timedelta(seconds=1)
            await conn.execute(update(t.login_throttle).values(window_start=past))
        assert (await c.get("/v2/", auth=("fritz", PASSWORD))).status_code == 200
        # The next failure starts a new window.
        assert (await c.get("/v2/", auth=("fritz", "typo"))).status_code == 401
        assert [f for _, f in await _rows(inproc, source)] == [1, 1]
        # A success (its password remembered by now) forgets the account's failures too.
        assert (await c.get("/v2/", auth=("fritz", PASSWORD))).status_code == 200
        assert await _rows(inproc, source) == [(throttle.SOURCE_ONLY, 1)]
        # Ended windows are pruned.
        async with db.write() as conn:
            await conn.execute(update(t.login_throttle).values(window_start=past))
        assert await throttle.prune(db) == 1
        assert await _rows(inproc, source) == []


async def test_the_budget_is_shared_by_every_process(tmp_path: Path) -> None:
    """Two app instances (two workers or replicas) on one database: one budget."""
    data = tmp_path / "data"
    async with running_app(data) as one, running_app(data) as two:
        await new_user(one, "gina")
        answers = []
        for i in range(throttle.PAIR_LIMIT + 4):
            app = one if i % 2 else two
            async with from_address(app, ATTACKER) as c:
                answers.append((await c.get("/v2/", auth=("gina", "guess"))).status_code)
        assert answers.count(401) == throttle.PAIR_LIMIT and answers.count(429) == 4


def test_sources_are_addresses_and_ipv6_networks() -> None:
    assert throttle.source_key("203.0.113.7") == "203.0.113.7"
    assert throttle.source_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttle.source_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert throttle.source_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert throttle.source_key(None) == throttle.UNKNOWN_SOURCE


async def test_what_a_repeated_sign_in_costs(inproc: InProcessApp) -> None:
    """A repeated Basic request: at most 2 reads (measured: 1), a bearer request 1, and a
    successful sign-in writes nothing for throttling."""
    user = await new_user(inproc, "hugo")
    created = await access_token(inproc, user)
    tok = await bearer_token(inproc, user, "repository:hugo/app:pull")
    figures = {}
    async with inproc.client(auth=None) as c:
        for label, kwargs in [
            ("password", {"auth": user}),
            ("access token", {"auth": (user[0], created["token"])}),
            ("bearer", {"headers": {"Authorization": f"Bearer {tok}"}}),
        ]:
            assert (await c.get("/v2/", **kwargs)).status_code == 200  # first: Argon2, caches
            with statements(inproc) as seen:
                for _ in range(5):
                    assert (await c.get("/v2/", **kwargs)).status_code == 200
            assert writes(seen) == [], (label, writes(seen))
            figures[label] = len(reads(seen)) / 5
    assert figures["password"] <= 2 and figures["access token"] <= 2, figures
    assert figures["bearer"] <= 1, figures
    # The first sign-in of a clean source (Argon2 runs) writes nothing either.
    fresh = await new_user(inproc, "ivan")
    async with from_address(inproc, "198.51.100.77") as c:
        with statements(inproc) as seen:
            assert (await c.get("/v2/", auth=fresh)).status_code == 200
    assert writes(seen) == []
    assert len(reads(seen)) == 2  # the sign-in's statement, then the counters in the slot
    db = app_services(inproc).db
    async with db.read() as conn:
        rows = (await conn.execute(select(func.count()).select_from(t.login_throttle))).scalar()
    assert rows == 0
    print(f"\nSQL reads per repeated request: {figures}")
