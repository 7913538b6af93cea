"""The Jobs page of the web UI: system administrators see the job runner's jobs, their logs and
schedules, run garbage collection now and cancel jobs; everyone else is refused."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from tests.auth.world import PASSWORD, World
from tests.conftest import ADMIN
from tests.http.ui.conftest import csrf_of, sign_in
from tests.inprocess import ThreadedApp, threaded_app
from tests.jobs.helpers import submit, wait_status


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[ThreadedApp]:
    """The in-process app, its job runner polling often; no server is under test here."""
    with threaded_app(
        tmp_path_factory.mktemp("jobs-page"), database_factory(), job_poll_seconds=0.2
    ) as app:
        yield app


def test_jobs_page_lists_jobs_and_shows_their_logs(registry: ThreadedApp) -> None:
    with registry.client() as api, sign_in(registry, *ADMIN) as admin:
        r = api.post("/api/v0/crons", json={"action": "onlinegc", "schedule": "0 3 * * *"})
        assert r.status_code == 202, r.text
        queued = submit(api, "sleep", parameters={"seconds": 0.2})
        listing = admin.get("/jobs")
        assert listing.status_code == 200
        assert f'href="/jobs/{queued["id"]}"' in listing.text
        assert 'id="crons"' in listing.text and "0 3 * * *" in listing.text
        assert 'href="/jobs" class="on"' in listing.text  # no longer a "coming" slot
        # The filters: by action, by status.
        assert queued["id"] in admin.get("/jobs", params={"action": "sleep"}).text
        assert queued["id"] not in admin.get("/jobs", params={"action": "onlinegc"}).text
        done = wait_status(api, queued["id"], ("done",))
        assert queued["id"] in admin.get("/jobs", params={"status": "finished"}).text
        assert queued["id"] not in admin.get("/jobs", params={"status": "running"}).text
        detail = admin.get(f"/jobs/{queued['id']}")
        assert detail.status_code == 200
        assert 'id="job-status">done' in detail.text
        assert done["workerID"] in detail.text
        assert "awake" in detail.text
        assert 'http-equiv="refresh"' not in detail.text  # finished: no refresh
        assert 'id="cancel-job"' not in detail.text
        assert admin.get("/jobs/no-such-job").status_code == 404


def test_run_now_and_cancel(registry: ThreadedApp) -> None:
    with registry.client() as api, sign_in(registry, *ADMIN) as admin:
        token = csrf_of(admin.get("/jobs"))
        r = admin.post("/jobs", data={"csrf": token, "dry_run": "on"})
        assert r.status_code == 303
        job_id = r.headers["location"].removeprefix("/jobs/")
        done = wait_status(api, job_id, ("done", "errored"), timeout=60)
        assert done["action"] == "onlinegc" and done["parameters"] == {"dryRun": True}
        assert done["status"] == "done", done
        assert job_id in admin.get("/jobs", params={"action": "onlinegc"}).text

        # A running job: its page refreshes itself and offers to cancel it.
        slow = submit(api, "sleep", parameters={"seconds": 60})
        wait_status(api, slow["id"], ("running",))
        running = admin.get(f"/jobs/{slow['id']}")
        assert 'http-equiv="refresh"' in running.text
        assert 'id="cancel-job"' in running.text
        r = admin.post(f"/jobs/{slow['id']}", data={"csrf": csrf_of(running), "action": "cancel"})
        assert r.status_code == 303
        assert wait_status(api, slow["id"], ("canceled",))["cancelRequested"] is True


def test_forms_need_the_csrf_token(registry: ThreadedApp) -> None:
    with registry.client() as api, sign_in(registry, *ADMIN) as admin:
        before = {
            j["id"] for j in api.get("/api/v0/jobs", params={"action": "onlinegc"}).json()["jobs"]
        }
        for data in ({}, {"csrf": "not-the-token"}):
            r = admin.post("/jobs", data=data)
            assert r.status_code == 403
            assert "CSRF" in r.text
        after = {
            j["id"] for j in api.get("/api/v0/jobs", params={"action": "onlinegc"}).json()["jobs"]
        }
        assert after == before
        slow = submit(api, "sleep", parameters={"seconds": 60})
        r = admin.post(f"/jobs/{slow['id']}", data={"action": "cancel"})
        assert r.status_code == 403
        assert api.get(f"/api/v0/jobs/{slow['id']}").json()["cancelRequested"] is False
        api.post(f"/api/v0/jobs/{slow['id']}/cancel")


def test_only_system_administrators(registry: ThreadedApp, world: World) -> None:
    with registry.client() as api:
        job_id = submit(api, "sleep", parameters={"seconds": 0})["id"]
    with sign_in(registry, world.name("bob"), PASSWORD) as bob:
        page = bob.get("/repositories")
        assert 'href="/jobs"' not in page.text
        token = csrf_of(page)
        assert bob.get("/jobs").status_code == 403
        assert bob.get(f"/jobs/{job_id}").status_code == 403
        assert bob.post("/jobs", data={"csrf": token}).status_code == 403
        r = bob.post(f"/jobs/{job_id}", data={"csrf": token, "action": "cancel"})
        assert r.status_code == 403
        assert not re.search(r"Run garbage collection", bob.get("/jobs").text)
