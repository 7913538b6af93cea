"""A whole registry on the S3 driver against a real s3rver: pushes (monolithic and chunked),
pulls streamed or redirected to a presigned URL (only for callers the registry lets pull),
abandoned uploads collected by GC, and skopeo against ``moorage serve`` on S3."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from moorage.config import Settings
from moorage.registry import uploads
from moorage.registry.gc_report import GcReport
from moorage.registry.gc_uploads import collect_uploads
from moorage.storage.configured import make_storage
from moorage.storage.objectstore import ObjectStoreDriver
from tests.clients.conftest import build_umoci_image, client_environment, dir_blobs, requires
from tests.conftest import RunningRegistry
from tests.inprocess import ThreadedApp, threaded_app
from tests.jobs.helpers import registry_context
from tests.registry.pushing import patch_chunk, push_image, sha256, start_upload
from tests.services.objectstores import S3_BUCKET, S3_KEY, ObjectStoreServer


def s3_url(server: ObjectStoreServer, prefix: str, *, redirect: bool) -> str:
    query = f"endpoint={server.endpoint}&region=us-east-1&path_style=true"
    return f"s3://{S3_BUCKET}/{prefix}?{query}" + ("&redirect=true" if redirect else "")


def s3_settings(server: ObjectStoreServer, prefix: str, *, redirect: bool) -> dict[str, str]:
    return {
        "storage": s3_url(server, prefix, redirect=redirect),
        "storage_access_key": S3_KEY,
        "storage_secret_key": S3_KEY,
    }


@pytest.fixture(params=[False, True], ids=["streamed", "redirected"])
def s3_app(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server: ObjectStoreServer
) -> Iterator[ThreadedApp]:
    prefix = f"reg-{uuid.uuid4().hex}"
    settings = s3_settings(s3_server, prefix, redirect=request.param)
    with threaded_app(tmp_path / "data", **settings) as app:
        yield app


def test_push_and_pull_blobs_on_s3(s3_app: ThreadedApp) -> None:
    redirect = s3_app.settings.storage is not None and "redirect=true" in s3_app.settings.storage
    config, layer = b'{"architecture":"amd64","os":"linux"}', secrets.token_bytes(300_000)
    with s3_app.client() as c:
        digest, manifest = push_image(c, "s3/app", "v1", config, [layer])
        # A chunked upload: three PATCHes (three part objects), then PUT ?digest=.
        chunked = secrets.token_bytes(9 * 1024 * 1024 + 5)
        location = start_upload(c, "s3/app")
        offset = 0
        for piece in (chunked[:4_000_000], chunked[4_000_000:8_000_000], chunked[8_000_000:]):
            r = patch_chunk(c, location, piece, offset)
            assert r.status_code == 202, r.text
            location, offset = r.headers["Location"], offset + len(piece)
        r = c.put(location, params={"digest": sha256(chunked)})
        assert r.status_code == 201, r.text

        assert c.get("/v2/s3/app/manifests/v1").content == manifest
        for blob in (config, layer, chunked):
            r = c.get(f"/v2/s3/app/blobs/{sha256(blob)}")
            if redirect:
                assert r.status_code == 307
                target = r.headers["Location"]
                assert target.startswith(s3_app.settings.storage.split("endpoint=")[1][:20])
                fetched = httpx.get(target, timeout=30)  # the store itself, no registry auth
                assert fetched.status_code == 200
                assert fetched.content == blob
            else:
                assert r.status_code == 200
                assert r.content == blob
        # A range of a streamed blob, and a blob nobody pushed.
        assert c.get(f"/v2/s3/app/blobs/{sha256(b'nope')}").status_code == 404
    assert digest == sha256(manifest)


def test_redirects_are_authorized_bounded_and_hold_no_secret(
    tmp_path: Path, s3_server: ObjectStoreServer
) -> None:
    """The registry checks the caller before it hands out a presigned URL; the URL names one
    object, expires after ``redirect_seconds`` and carries a signature, never the secret key.
    (s3rver does not verify SigV4 signatures, so a tampered URL is not refused there: that
    check belongs to the store; test_swift.py makes it against Swift's s3api, which does.)"""
    prefix = f"reg-{uuid.uuid4().hex}"
    settings = s3_settings(s3_server, prefix, redirect=True)
    settings["storage"] += "&redirect_seconds=120"
    with threaded_app(tmp_path / "data", **settings) as app:
        private = secrets.token_bytes(1000)
        with app.client() as c:
            push_image(c, "s3/sec", "v1", b"{}", [private])
            r = c.get(f"/v2/s3/sec/blobs/{sha256(private)}")
            assert r.status_code == 307
            url = r.headers["Location"]
        with app.client(auth=None) as anonymous:
            r = anonymous.get(f"/v2/s3/sec/blobs/{sha256(private)}")
            assert r.status_code == 401
            assert "Location" not in r.headers
        with app.client(auth=("admin", "wrong password")) as wrong:
            assert wrong.get(f"/v2/s3/sec/blobs/{sha256(private)}").status_code == 401
    query = httpx.URL(url).params
    assert query["X-Amz-Expires"] == "120"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert len(query["X-Amz-Signature"]) == 64
    assert query["X-Amz-Credential"].startswith(f"{S3_KEY}/")
    assert "Secret" not in url and f"{S3_KEY}&" not in url.split("X-Amz-Credential=")[0]
    hex_ = sha256(private).split(":")[1]
    assert httpx.URL(url).path == f"/{S3_BUCKET}/{prefix}/blobs/sha256/{hex_[:2]}/{hex_}/data"
    assert httpx.get(url, timeout=30).content == private


async def test_abandoned_uploads_on_s3_are_collected(
    tmp_path: Path, s3_server: ObjectStoreServer
) -> None:
    """An upload row nobody wrote to for the max age goes with its part objects (the row's
    updated_at); part objects of an upload with no row go once the newest is older than the max
    age (the store's last-modified); younger ones stay, and a dry run deletes nothing."""
    prefix = f"gc-{uuid.uuid4().hex}"
    settings = Settings(data=tmp_path / "data", **s3_settings(s3_server, prefix, redirect=False))
    driver = make_storage(settings)
    assert isinstance(driver, ObjectStoreDriver)
    (tmp_path / "gc").mkdir()

    async def progress(message: str, report: GcReport) -> None:
        return None

    async def collect(max_age: dt.timedelta, *, dry_run: bool = False) -> GcReport:
        report = GcReport()
        await collect_uploads(ctx, max_age, 100, dry_run, report, progress, lambda: False)
        return report

    async def one_chunk() -> AsyncIterator[bytes]:
        yield b"y" * 5000

    async with registry_context(None, tmp_path / "gc", driver) as ctx:
        with_row = await uploads.start(ctx, "gc/repo")
        await uploads.append(ctx, "gc/repo", with_row.upload_id, one_chunk())
        orphan = str(uuid.uuid4())  # a monolithic push that died: parts, no row
        w = await driver.open_append(f"uploads/{orphan}/data", 0)
        await w.write(b"x" * 1000)
        await w.close()
        assert sorted(await driver.list("uploads")) == sorted(
            [f"uploads/{with_row.upload_id}/data", f"uploads/{orphan}/data"]
        )

        assert (await collect(dt.timedelta(hours=1))).uploads_deleted == 0
        assert len(await driver.list("uploads")) == 2
        await asyncio.sleep(2.1)  # the store's clock has whole seconds
        dry = await collect(dt.timedelta(seconds=1), dry_run=True)
        assert dry.uploads_deleted == 2
        assert len(await driver.list("uploads")) == 2
        report = await collect(dt.timedelta(seconds=1))
        assert report.uploads_deleted == 2
        assert report.upload_bytes_freed == 6000
        assert await driver.list("uploads") == []


# ---- a real client against `moorage serve` on S3 ---------------------------------------------


@requires("skopeo", "umoci")
@pytest.mark.clients
def test_skopeo_round_trip_through_moorage_serve_on_s3(
    tmp_path: Path,
    s3_server: ObjectStoreServer,
    registry_factory: Callable[..., RunningRegistry],
) -> None:
    # The URL and keys from a YAML file: the keys must reach the serving workers too.
    prefix = f"serve-{uuid.uuid4().hex}"
    config = tmp_path / "moorage.yaml"
    config.write_text(
        f"storage: '{s3_url(s3_server, prefix, redirect=True)}'\n"
        f"storage_access_key: {S3_KEY}\nstorage_secret_key: {S3_KEY}\n"
    )
    registry = registry_factory(extra_args=["--config", str(config)])
    cenv = client_environment(tmp_path / "clients", registry)
    image = build_umoci_image(cenv, cenv.root / "img-oci", "v1")
    cenv.skopeo("copy", "--dest-tls-verify=false", image.oci_ref, cenv.ref("s3/skopeo:v1"))
    # Nothing was written to the data folder's filesystem store: the blobs are in S3.
    local_store = registry.data / "storage" / "blobs"
    assert not local_store.exists() or not any(local_store.rglob("data"))
    with registry.client() as c:
        r = c.get(f"/v2/s3/skopeo/blobs/{image.layer_digests[0]}")
        assert r.status_code == 307  # redirect on: the pull below goes to the store
    out = cenv.tmpdir("pulled")
    cenv.skopeo("copy", "--src-tls-verify=false", cenv.ref("s3/skopeo:v1"), f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == image.manifest
    blobs = dir_blobs(out)
    assert set(blobs) == {image.config_digest, *image.layer_digests}
    for digest, data in blobs.items():
        assert sha256(data) == digest == sha256(image.blobs[digest])
