"""``/api/v0/repositories`` answering as DTR 2.7's Swagger says: creating a repository that
exists is a 400 ``REPOSITORY_EXISTS``; a visibility other than public/private is a 400
``INVALID_REPOSITORY_VISIBILITY``, and nothing is stored."""

from __future__ import annotations

import uuid
from typing import Any

from tests.inprocess import ThreadedApp


def _error(body: Any) -> dict[str, Any]:
    (entry,) = body["errors"]
    assert set(entry) >= {"code", "message"}
    return dict(entry)


def test_existing_repository_is_400_repository_exists(app_registry: ThreadedApp) -> None:
    name = f"r{uuid.uuid4().hex[:8]}"
    with app_registry.client() as c:
        assert c.post("/api/v0/repositories/admin", json={"name": name}).status_code == 201
        r = c.post("/api/v0/repositories/admin", json={"name": name})
        assert r.status_code == 400, r.text
        assert _error(r.json())["code"] == "REPOSITORY_EXISTS"


def test_bad_visibility_is_refused_and_nothing_stored(app_registry: ThreadedApp) -> None:
    name = f"r{uuid.uuid4().hex[:8]}"
    with app_registry.client() as c:
        r = c.post("/api/v0/repositories/admin", json={"name": name, "visibility": "secret"})
        assert r.status_code == 400, r.text
        assert _error(r.json())["code"] == "INVALID_REPOSITORY_VISIBILITY"
        assert c.get(f"/api/v0/repositories/admin/{name}").status_code == 404
        assert c.post("/api/v0/repositories/admin", json={"name": name}).status_code == 201
        r = c.patch(f"/api/v0/repositories/admin/{name}", json={"visibility": "hidden"})
        assert r.status_code == 400, r.text
        assert _error(r.json())["code"] == "INVALID_REPOSITORY_VISIBILITY"
        assert c.get(f"/api/v0/repositories/admin/{name}").json()["visibility"] == "public"


def test_creating_needs_a_caller_who_may(app_registry: ThreadedApp) -> None:
    with app_registry.client(auth=None) as anon:
        r = anon.post("/api/v0/repositories/admin", json={"name": "nobody"})
        assert r.status_code == 401, r.text


def test_count_true_sends_x_resource_count(app_registry: ThreadedApp) -> None:
    ns = f"o{uuid.uuid4().hex[:8]}"
    with app_registry.client() as c:
        assert c.post("/enzi/v0/accounts", json={"name": ns, "isOrg": True}).status_code < 300
        for i in range(3):
            seen = "private" if i == 0 else "public"
            r = c.post(f"/api/v0/repositories/{ns}", json={"name": f"r{i}", "visibility": seen})
            assert r.status_code == 201, r.text
        r = c.get(f"/api/v0/repositories/{ns}", params={"count": "true", "pageSize": 2})
        assert r.status_code == 200, r.text
        assert r.headers["X-Resource-Count"] == "3"
        assert len(r.json()["repositories"]) == 2
        assert "X-Resource-Count" not in c.get(f"/api/v0/repositories/{ns}").headers
        everything = c.get("/api/v0/repositories", params={"count": "true"})
        assert int(everything.headers["X-Resource-Count"]) >= 3
    with app_registry.client(auth=None) as anon:
        # a caller counts only what it may see: the private repository is not counted
        r = anon.get(f"/api/v0/repositories/{ns}", params={"count": "true"})
        assert r.status_code == 200, r.text
        assert r.headers["X-Resource-Count"] == "2"
