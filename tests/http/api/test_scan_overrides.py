"""DTR's layer overrides: administrators only; setting one suppresses the matching findings of
every stored result holding the layer (by any of the vulnerability's IDs), the counts drop and
the summary shows why; deleting it brings them back; bad input is refused with nothing written."""

from __future__ import annotations

import pytest

from moorage.db import scan_result_tables as sr
from tests.http import scan_results as seed
from tests.http.scan_world import BASE, build, error_of
from tests.inprocess import InProcessApp

OVERRIDES = f"{BASE}/layeroverride"


def _body(**fields: str) -> dict[str, str]:
    return {
        "component": "libssl3",
        "componentVersion": "",
        "cve": "CVE-2023-5678",
        "notes": "",
        **fields,
    }


async def _summary(inproc: InProcessApp, auth: tuple[str, str], path: str) -> dict[str, object]:
    async with inproc.client(auth=auth) as c:
        r = await c.get(f"{BASE}/scansummary/repositories/{path}")
    assert r.status_code == 200, r.text
    (one,) = r.json()
    found: dict[str, object] = one
    return found


async def test_only_administrators_manage_overrides(inproc: InProcessApp) -> None:
    w = await build(inproc)
    layer = w.app.layers[0]
    for auth, status, code in ((w.alice, 403, "NOT_AUTHORIZED"), (None, 401, "NOT_AUTHENTICATED")):
        async with inproc.client(auth=auth) as c:
            error_of(await c.get(OVERRIDES), status, code)
            error_of(await c.post(f"{OVERRIDES}/{layer}", json=_body()), status, code)
            error_of(await c.delete(f"{OVERRIDES}/CVE-2023-5678"), status, code)
    assert await seed.rows(inproc, sr.scan_overrides) == []
    # Nothing was suppressed either.
    assert all(r.suppressed_by is None for r in await seed.rows(inproc, sr.image_scan_findings))


async def test_an_override_suppresses_the_finding_everywhere_the_layer_is(
    inproc: InProcessApp,
) -> None:
    w = await build(inproc)
    # The same layer in a second image (bob's): the override covers it too.
    async with inproc.client(auth=w.bob) as c:
        again, _layers = await seed.image(c, "bob/secret", "v2", layers=1)
    await seed.scan(
        inproc,
        again,
        [w.app.layers[0]],
        [
            seed.Pkg(
                "libssl3",
                "3.0.11-1~deb12u2",
                0,
                vulns=(seed.Vuln("DSA-5532-1", "critical", 7.5, aliases=("CVE-2023-5678",)),),
            )
        ],
    )
    layer = w.app.layers[0]
    async with inproc.client() as admin:
        # Named by its alias: the finding's every ID counts.
        r = await admin.post(
            f"{OVERRIDES}/{layer}", json=_body(cve="DSA-5532-1", notes="not reachable: no DH")
        )
        assert r.status_code == 200, r.text
        override = r.json()
        assert override["digest"] == layer and override["cve"] == "DSA-5532-1"
        assert override["component"] == "libssl3" and override["createdBy"] == "admin"
        listed = (await admin.get(OVERRIDES)).json()
        assert [o["pk"] for o in listed] == [override["pk"]]
        assert (await admin.get(OVERRIDES, params={"layer": w.app.layers[1]})).json() == []
    summary = await _summary(inproc, w.alice, "alice/app/v1")
    assert (summary["critical"], summary["major"], summary["minor"]) == (0, 1, 1)
    details = summary["layer_details"]
    assert isinstance(details, list)
    (ssl,) = [c for c in details[0]["components"] if c["component"] == "libssl3"]
    (vuln,) = ssl["vulns"]
    assert vuln["vuln"]["suppressed"] is True
    assert {"type": "suppressed", "reason": "not reachable: no DH"} in vuln["notes"]
    image = summary["scannedImage"]
    assert isinstance(image, dict)
    assert [o["pk"] for o in image["vulnOverrides"]] == [override["pk"]]
    assert image["maxCVSSValue"] == 5.3  # the suppressed 7.5 no longer counts
    bob = await _summary(inproc, w.bob, "bob/secret/v2")
    assert bob["critical"] == 0
    # The public image holds the CVE in another layer: untouched.
    public = await _summary(inproc, w.alice, "admin/public/latest")
    assert public["critical"] == 1
    # A search by the CVE no longer finds the images where it is overridden.
    async with inproc.client() as admin:
        r = await admin.get(f"{BASE}/scansummary/cve/CVE-2023-5678")
    assert {s["reponame"] for s in r.json()} == {"public", "secret"}  # bob's v1 has its own layer

    async with inproc.client() as admin:
        r = await admin.delete(f"{OVERRIDES}/{override['pk']}")
        assert r.status_code == 200 and [o["pk"] for o in r.json()] == [override["pk"]]
        error_of(await admin.delete(f"{OVERRIDES}/{override['pk']}"), 404, "NO_SUCH_LAYER")
    restored = await _summary(inproc, w.alice, "alice/app/v1")
    assert (restored["critical"], restored["major"], restored["minor"]) == (1, 1, 1)
    assert (await _summary(inproc, w.bob, "bob/secret/v2"))["critical"] == 1
    assert all(r.suppressed_by is None for r in await seed.rows(inproc, sr.image_scan_findings))


async def test_setting_again_replaces_and_deleting_by_cve_removes_all(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client() as admin:
        first = (await admin.post(f"{OVERRIDES}/{w.app.layers[0]}", json=_body(notes="one"))).json()
        again = (await admin.post(f"{OVERRIDES}/{w.app.layers[0]}", json=_body(notes="two"))).json()
        assert again["pk"] == first["pk"] and again["notes"] == "two"
        # A version the layer does not hold: nothing of it is suppressed any more.
        narrowed = await admin.post(
            f"{OVERRIDES}/{w.app.layers[0]}", json=_body(componentVersion="9.9.9", notes="three")
        )
        assert narrowed.json()["componentVersion"] == "9.9.9"
        assert (await _summary(inproc, w.alice, "alice/app/v1"))["critical"] == 1
        await admin.post(
            f"{OVERRIDES}/{w.app.layers[0]}", json=_body(componentVersion="3.0.11-1~deb12u2")
        )
        assert (await _summary(inproc, w.alice, "alice/app/v1"))["critical"] == 0
        await admin.post(f"{OVERRIDES}/{w.public.layers[1]}", json=_body(component="openssl"))
        assert len((await admin.get(OVERRIDES)).json()) == 2
        r = await admin.delete(f"{OVERRIDES}/cve-2023-5678")
        assert len(r.json()) == 2
        assert (await admin.get(OVERRIDES)).json() == []
    assert (await _summary(inproc, w.alice, "alice/app/v1"))["critical"] == 1
    assert (await _summary(inproc, w.alice, "admin/public/latest"))["critical"] == 1


@pytest.mark.parametrize(
    ("layer", "body", "status", "code", "phrase"),
    [
        ("sha256:" + "1" * 64, {}, 404, "NO_SUCH_LAYER", "no scanned image"),
        ("not-a-digest", {}, 400, "INVALID_SETTINGS", "digest"),
        (None, {"cve": "  "}, 400, "INVALID_SETTINGS", "cve is required"),
        (None, {"component": ""}, 400, "INVALID_SETTINGS", "component is required"),
        (None, {"notes": "bad\x00note"}, 400, "INVALID_SETTINGS", "control characters"),
        (None, {"cve": "C" * 300}, 400, "INVALID_JSON", "invalid request"),
    ],
    ids=["unknown-layer", "bad-digest", "no-cve", "no-component", "control-chars", "too-long"],
)
async def test_bad_overrides_are_refused_and_write_nothing(
    inproc: InProcessApp,
    layer: str | None,
    body: dict[str, str],
    status: int,
    code: str,
    phrase: str,
) -> None:
    w = await build(inproc)
    async with inproc.client() as admin:
        r = await admin.post(f"{OVERRIDES}/{layer or w.app.layers[0]}", json=_body(**body))
    assert phrase in error_of(r, status, code)["message"]
    assert await seed.rows(inproc, sr.scan_overrides) == []
    assert all(r.suppressed_by is None for r in await seed.rows(inproc, sr.image_scan_findings))
