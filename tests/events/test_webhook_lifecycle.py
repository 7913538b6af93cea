"""Webhooks belong to their scope and their creator (security review), and a delivery is one
job with its attempts inside it (newcomer's review). In-process app, real receivers on
127.0.0.1 (allowed by the site setting ``webhookAllowedNetworks``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.events.hookworld import (
    LOOPBACK_ALLOWED,
    deliveries,
    make_hook,
    push_image,
    wait_delivery,
)
from tests.events.receiver import receiving
from tests.inprocess import running_app

PASSWORD = "correct-horse-battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _ok(r: httpx.Response) -> httpx.Response:
    assert r.status_code < 300, (r.request.method, str(r.request.url), r.status_code, r.text)
    return r


async def test_hook_of_a_user_removed_from_the_org_is_skipped_and_made_inactive(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> None:
    with receiving() as rec:
        async with running_app(
            tmp_path / "data", database_factory(), site_settings=LOOPBACK_ALLOWED
        ) as app:
            async with app.client() as admin:
                await _ok(
                    await admin.post("/enzi/v0/accounts", json={"name": "acme", "isOrg": True})
                )
                await _ok(
                    await admin.post(
                        "/enzi/v0/accounts", json={"name": "carol", "password": PASSWORD}
                    )
                )
                await _ok(await admin.put("/enzi/v0/accounts/acme/members/carol"))
                await _ok(await admin.post("/enzi/v0/accounts/acme/teams", json={"name": "devs"}))
                await _ok(await admin.put("/enzi/v0/accounts/acme/teams/devs/members/carol"))
                await _ok(await admin.post("/api/v0/repositories/acme", json={"name": "app"}))
                await _ok(
                    await admin.put(
                        "/api/v0/repositories/acme/app/teamAccess/devs",
                        json={"accessLevel": "admin"},
                    )
                )
            async with app.client(auth=("carol", PASSWORD)) as carol:
                hook = await make_hook(
                    carol, type="TAG_PUSH", key="acme/app", endpoint=rec.url("/carol")
                )
            async with app.client() as admin:
                await push_image(admin, "acme/app", "v1")
                await rec.arrived("/carol")  # delivered while carol administers the repository
                await wait_delivery(admin, hook["id"], {"delivered"})
                await _ok(await admin.delete("/enzi/v0/accounts/acme/members/carol"))
                await push_image(admin, "acme/app", "v2")
                skipped = await wait_delivery(admin, hook["id"], {"skipped"})
                assert skipped["payload"]["contents"]["tag"] == "v2"
                assert [h["status"] for h in skipped["history"]] == ["skipped"]
                found = (await admin.get(f"/api/v0/webhooks/{hook['id']}")).json()
                assert found["inactive"] is True
                assert "carol" in found["inactiveReason"]
                assert "administrators" in found["inactiveReason"]
                listed = {h["id"]: h for h in (await admin.get("/api/v0/webhooks")).json()}
                assert listed[hook["id"]]["inactiveReason"] == found["inactiveReason"]
                # It cannot simply be switched on again: its creator still has no access.
                r = await admin.post(
                    "/api/v0/webhooks/update", json={"webhookID": hook["id"], "active": True}
                )
                assert r.status_code == 400, r.text
                assert "carol" in r.json()["errors"][0]["message"]
                # An inactive hook gets no new deliveries at all.
                await push_image(admin, "acme/app", "v3")
                await push_image(admin, "acme/app", "v4")
                assert len(await deliveries(admin, hook["id"])) == 2
            assert len(rec.at("/carol")) == 1


async def test_a_deleted_and_recreated_repository_has_no_hooks(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> None:
    with receiving() as rec:
        async with (
            running_app(
                tmp_path / "data", database_factory(), site_settings=LOOPBACK_ALLOWED
            ) as app,
            app.client() as c,
        ):
            await _ok(await c.post("/enzi/v0/accounts", json={"name": "acme", "isOrg": True}))
            await _ok(await c.post("/api/v0/repositories/acme", json={"name": "app"}))
            bound = await make_hook(c, type="TAG_PUSH", key="acme/app", endpoint=rec.url("/a"))
            # made by an administrator before its repository exists
            early = await make_hook(c, type="TAG_PUSH", key="acme/later", endpoint=rec.url("/b"))
            space = await make_hook(c, type="TAG_PUSH", key="acme", endpoint=rec.url("/ns"))
            await push_image(c, "acme/later", "v1")
            await rec.arrived("/b")
            await _ok(await c.delete("/api/v0/repositories/acme/app"))
            await _ok(await c.delete("/api/v0/repositories/acme/later"))
            ids = {h["id"] for h in (await c.get("/api/v0/webhooks")).json()}
            assert bound["id"] not in ids and early["id"] not in ids
            assert space["id"] in ids  # the namespace's hook stays with the namespace
            assert (await c.get(f"/api/v0/webhooks/{bound['id']}")).status_code == 404
            await _ok(await c.post("/api/v0/repositories/acme", json={"name": "app"}))
            await push_image(c, "acme/app", "v1")
            await push_image(c, "acme/later", "v2")
            await rec.arrived("/ns", 2)  # the events were dispatched
            assert rec.at("/a") == []
            assert len(rec.at("/b")) == 1
            # Namespace hooks go with their organization.
            await _ok(await c.delete("/api/v0/repositories/acme/app"))
            await _ok(await c.delete("/api/v0/repositories/acme/later"))
            await _ok(await c.delete("/enzi/v0/accounts/acme"))
            assert (await c.get(f"/api/v0/webhooks/{space['id']}")).status_code == 404


async def test_a_delivery_is_one_job_with_its_attempts_inside(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> None:
    with receiving() as rec:
        rec.failures["/flaky"] = 2
        async with running_app(
            tmp_path / "data", database_factory(), site_settings=LOOPBACK_ALLOWED
        ) as app:
            async with app.client() as c:
                hook = await make_hook(c, type="TAG_PUSH", key="", endpoint=rec.url("/flaky"))
                await push_image(c, "admin/app", "v1")
                delivery = await wait_delivery(c, hook["id"], {"delivered"}, seconds=60)
                assert [h["status"] for h in delivery["history"]] == [
                    "failed",
                    "failed",
                    "delivered",
                ]
                assert [h["responseCode"] for h in delivery["history"]] == [500, 500, 200]
                for _ in range(100):  # the job ends just after the delivery it made
                    jobs = (await c.get("/api/v0/jobs", params={"action": "webhook"})).json()
                    jobs = jobs["jobs"]
                    mine = [j for j in jobs if j["parameters"] == {"delivery": delivery["id"]}]
                    if [j["status"] for j in mine] != ["running"]:
                        break
                    await asyncio.sleep(0.05)
                assert len(mine) == 1, jobs  # one row, not one per attempt
                (job,) = mine
                assert job["status"] == "done"
                assert job["attempt"] == 3
                assert job["retryFromID"] == ""
                assert len(jobs) == 1
                logs = (await c.get(f"/api/v0/jobs/{job['id']}/logs")).json()
                numbers = [line["lineNum"] for line in logs]
                assert numbers == sorted(set(numbers))  # the attempts' lines follow each other
                text = "\n".join(line["data"] for line in logs)
                assert "attempt 1: failed (HTTP 500)" in text
                assert "attempt 3: delivered (HTTP 200)" in text
            async with app.client(auth=None, follow_redirects=False) as ui:
                form = await ui.get("/login")
                token = CSRF.search(form.text)
                assert token, form.text
                r = await ui.post(
                    "/login",
                    data={"csrf": token[1], "username": app.admin[0], "password": app.admin[1]},
                )
                assert r.status_code == 303, r.text
                page = await ui.get(f"/jobs/{job['id']}")
                assert page.status_code == 200
                table = page.text.split('id="delivery-attempts"', 1)[1].split("</table>", 1)[0]
                assert table.count("<tr>") == 4  # the header and three attempts
                assert "500" in table and "delivered" in table
                listing = await ui.get("/jobs")
                assert listing.text.count(f'href="/jobs/{job["id"]}"') == 1
                assert listing.text.count("<td>webhook</td>") == 1  # one row for the delivery
