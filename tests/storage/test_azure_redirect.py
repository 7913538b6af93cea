"""Blob GETs redirected to a service SAS on Azure Blob, against a real Azurite (which checks SAS
signatures, permissions, expiry and the protocol): the URL reads its one blob and nothing else,
and through the registry (in process, and ``moorage serve`` with skopeo) only callers the
registry lets pull get it."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from moorage.storage import distribution_config as dist
from moorage.storage.azure_sas import BlobSas
from moorage.storage.configured import driver_for
from moorage.storage.objectstore import ObjectStoreDriver
from moorage.storage.objectstore_operators import Credentials
from moorage.storage.urls import parse_storage_url
from tests.clients.conftest import build_umoci_image, client_environment, dir_blobs, requires
from tests.conftest import RunningRegistry
from tests.inprocess import ThreadedApp, threaded_app
from tests.registry.pushing import push_image, sha256
from tests.services.objectstores import AZURE_ACCOUNT, AZURE_KEY, ObjectStoreServer
from tests.storage.test_azure import connection_string

CONTAINER = "redirects"


@pytest.fixture(scope="module")
def container(azure_server: ObjectStoreServer) -> str:
    with BlobServiceClient.from_connection_string(connection_string(azure_server)) as service:
        if not service.get_container_client(CONTAINER).exists():
            service.create_container(CONTAINER)
    return CONTAINER


def azure_url(server: ObjectStoreServer, prefix: str, query: str = "redirect=true") -> str:
    base = f"azblob://{CONTAINER}/{prefix}?account={AZURE_ACCOUNT}&endpoint={server.endpoint}"
    return f"{base}&{query}" if query else base


def azure_driver(server: ObjectStoreServer, prefix: str, query: str) -> ObjectStoreDriver:
    driver = driver_for(azure_url(server, prefix, query), Credentials(secret_key=AZURE_KEY), {})
    assert isinstance(driver, ObjectStoreDriver)
    return driver


def _resign(url: str, **changes: str) -> str:
    """``url`` with query parameters replaced (the rest, and their order, kept)."""
    parsed = httpx.URL(url)
    params = [(k, changes.get(k, v)) for k, v in parsed.params.multi_items()]
    return str(parsed.copy_with(params=params))


async def test_the_sas_url_reads_its_blob_and_nothing_else(
    azure_server: ObjectStoreServer, container: str
) -> None:
    prefix = f"r-{uuid.uuid4().hex}"
    driver = azure_driver(azure_server, prefix, "redirect=true&redirect_seconds=300")
    data = secrets.token_bytes(70_000)
    await driver.put_bytes("blobs/sha256/ab/abc/data", data)
    await driver.put_bytes("blobs/other", b"other")
    url = await driver.redirect_url("blobs/sha256/ab/abc/data")
    assert url is not None
    assert url.startswith(f"{azure_server.endpoint}/{CONTAINER}/{prefix}/blobs/sha256/ab/abc/data?")
    params = httpx.URL(url).params
    assert (params["sp"], params["sr"], params["spr"]) == ("r", "b", "https,http")
    start = dt.datetime.fromisoformat(params["st"])
    expiry = dt.datetime.fromisoformat(params["se"])
    now = dt.datetime.now(dt.UTC)
    assert start < now - dt.timedelta(minutes=4)  # clock skew
    assert dt.timedelta(seconds=290) < expiry - now <= dt.timedelta(seconds=300)
    assert AZURE_KEY not in url and AZURE_KEY[:20] not in url

    async with httpx.AsyncClient(timeout=30) as store:
        fetched = await store.get(url)
        assert fetched.status_code == 200, fetched.text
        assert fetched.content == data
        ranged = await store.get(url, headers={"Range": "bytes=10-19"})
        assert (ranged.status_code, ranged.content) == (206, data[10:20])

        signature = params["sig"]
        tampered = _resign(url, sig=("A" if signature[0] != "A" else "B") + signature[1:])
        assert (await store.get(tampered)).status_code == 403
        widened = _resign(url, sp="rw")  # a permission the signature does not cover
        assert (await store.get(widened)).status_code == 403
        longer = _resign(url, se=(expiry + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert (await store.get(longer)).status_code == 403
        other = url.replace("/blobs/sha256/ab/abc/data?", "/blobs/other?")
        assert (await store.get(other)).status_code == 403  # signed for one blob only

        put = await store.put(url, content=b"evil", headers={"x-ms-blob-type": "BlockBlob"})
        assert put.status_code == 403
        delete = await store.delete(url)
        assert delete.status_code == 403
    assert await driver.read_bytes("blobs/sha256/ab/abc/data") == data


async def test_an_expired_sas_url_is_refused(
    azure_server: ObjectStoreServer, container: str
) -> None:
    driver = azure_driver(azure_server, f"e-{uuid.uuid4().hex}", "redirect=true&redirect_seconds=3")
    await driver.put_bytes("blob", b"short-lived")
    url = await driver.redirect_url("blob")
    assert url is not None
    async with httpx.AsyncClient(timeout=30) as store:
        assert (await store.get(url)).content == b"short-lived"
        expiry = dt.datetime.fromisoformat(httpx.URL(url).params["se"])
        wait = (expiry - dt.datetime.now(dt.UTC)).total_seconds() + 1.5
        assert wait < 5  # bounded
        await asyncio.sleep(max(0.0, wait))
        assert (await store.get(url)).status_code == 403


async def test_no_redirect_without_redirect_true(
    azure_server: ObjectStoreServer, container: str
) -> None:
    driver = azure_driver(azure_server, f"n-{uuid.uuid4().hex}", "")
    await driver.put_bytes("blob", b"streamed")
    assert await driver.redirect_url("blob") is None


def test_https_endpoints_get_https_only_urls() -> None:
    sas = BlobSas(
        account="acct",
        key=AZURE_KEY,
        endpoint="https://acct.blob.core.windows.net",
        container="c1",
        prefix="a b/p",
    )
    url = sas.url("blobs/x y/data", 60)
    assert url.startswith("https://acct.blob.core.windows.net/c1/a%20b/p/blobs/x%20y/data?")
    assert httpx.URL(url).params["spr"] == "https"
    assert "acct" in repr(sas) and AZURE_KEY not in repr(sas)


def test_azblob_urls_and_distribution_blocks_take_redirect() -> None:
    config = parse_storage_url("azblob://cont/p?account=acct&redirect=true&redirect_seconds=60")
    assert config.redirect_seconds == 60
    assert parse_storage_url("azblob://cont?account=acct&redirect=true").redirect_seconds == 600
    assert parse_storage_url("azblob://cont?account=acct").redirect_seconds is None
    block = {
        "azure": {"accountname": "acct", "accountkey": "k", "container": "cont"},
        "redirect": {"disable": False},
    }
    got = dist.to_url(block)
    assert parse_storage_url(got.url).redirect_seconds is not None
    assert dist.to_block(got.url, has_secret=True)["redirect"] == {"disable": False}
    streamed = dist.to_url({**block, "redirect": {"disable": True}})
    assert parse_storage_url(streamed.url).redirect_seconds is None
    assert dist.to_block(streamed.url)["redirect"] == {"disable": True}


# ---- through the registry ----------------------------------------------------------------------


@pytest.fixture
def azure_app(
    tmp_path: Path, azure_server: ObjectStoreServer, container: str
) -> Iterator[ThreadedApp]:
    url = azure_url(azure_server, f"reg-{uuid.uuid4().hex}", "redirect=true&redirect_seconds=120")
    with threaded_app(tmp_path / "data", storage=url, storage_secret_key=AZURE_KEY) as app:
        yield app


def test_blob_gets_redirect_to_azurite_for_authorized_callers_only(
    azure_app: ThreadedApp, azure_server: ObjectStoreServer
) -> None:
    config, layer = b'{"architecture":"amd64","os":"linux"}', secrets.token_bytes(300_000)
    with azure_app.client() as c:
        digest, manifest = push_image(c, "az/app", "v1", config, [layer])
        assert c.get("/v2/az/app/manifests/v1").content == manifest
        urls = {}
        for blob in (config, layer):
            r = c.get(f"/v2/az/app/blobs/{sha256(blob)}")
            assert r.status_code == 307, r.text
            urls[sha256(blob)] = target = r.headers["Location"]
            assert target.startswith(f"{azure_server.endpoint}/{CONTAINER}/reg-")
            assert httpx.URL(target).params["sp"] == "r"
            fetched = httpx.get(target, timeout=30)  # the store itself, no registry auth
            assert fetched.status_code == 200
            assert fetched.content == blob
        assert c.get(f"/v2/az/app/blobs/{sha256(b'nope')}").status_code == 404
    with azure_app.client(auth=None) as anonymous:
        r = anonymous.get(f"/v2/az/app/blobs/{sha256(layer)}")
        assert r.status_code == 401
        assert "Location" not in r.headers
        assert not any(u.split("?")[0] in r.text for u in urls.values())
    with azure_app.client(auth=("admin", "wrong password")) as wrong:
        r = wrong.get(f"/v2/az/app/blobs/{sha256(layer)}")
        assert r.status_code == 401
        assert "Location" not in r.headers
    assert digest == sha256(manifest)


# ---- a real client against `moorage serve` on Azure ----------------------------------------


@requires("skopeo", "umoci")
@pytest.mark.clients
def test_skopeo_round_trip_through_moorage_serve_on_azure(
    tmp_path: Path,
    azure_server: ObjectStoreServer,
    container: str,
    registry_factory: Callable[..., RunningRegistry],
) -> None:
    # The URL and key from a YAML file: the key must reach the serving workers too.
    config = tmp_path / "moorage.yaml"
    url = azure_url(azure_server, f"serve-{uuid.uuid4().hex}")
    config.write_text(f"storage: '{url}'\nstorage_secret_key: '{AZURE_KEY}'\n")
    registry = registry_factory(extra_args=["--config", str(config)])
    cenv = client_environment(tmp_path / "clients", registry)
    image = build_umoci_image(cenv, cenv.root / "img-oci", "v1")
    cenv.skopeo("copy", "--dest-tls-verify=false", image.oci_ref, cenv.ref("az/skopeo:v1"))
    local_store = registry.data / "storage" / "blobs"
    assert not local_store.exists() or not any(local_store.rglob("data"))
    with registry.client() as c:
        r = c.get(f"/v2/az/skopeo/blobs/{image.layer_digests[0]}")
        assert r.status_code == 307  # redirect on: the pull below goes to Azurite
        assert r.headers["Location"].startswith(f"{azure_server.endpoint}/{CONTAINER}/serve-")
    out = cenv.tmpdir("pulled")
    cenv.skopeo("copy", "--src-tls-verify=false", cenv.ref("az/skopeo:v1"), f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == image.manifest
    blobs = dir_blobs(out)
    assert set(blobs) == {image.config_digest, *image.layer_digests}
    for digest, data in blobs.items():
        assert sha256(data) == digest == sha256(image.blobs[digest])
