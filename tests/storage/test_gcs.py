"""The object-store driver on GCS: the shared driver suite against a real fake-gcs-server
(JSON API only, so the driver writes each part as one streamed upload, no ``chunk=``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import opendal
import pytest

from moorage.storage.base import StorageDriver
from moorage.storage.objectstore import ObjectStoreDriver
from tests.services.objectstores import ObjectStoreServer
from tests.storage.driver_suite import DriverSuite

BUCKET = "moorage"


@pytest.fixture(scope="module")
def gcs_bucket(gcs_server: ObjectStoreServer) -> str:
    answer = httpx.post(
        f"{gcs_server.endpoint}/storage/v1/b", params={"project": "test"}, json={"name": BUCKET}
    )
    assert answer.status_code in (200, 409), answer.text
    return BUCKET


def gcs_operator(server: ObjectStoreServer, bucket: str, root: str) -> opendal.AsyncOperator:
    return opendal.AsyncOperator(
        "gcs",
        bucket=bucket,
        root=f"/{root}/",
        endpoint=server.endpoint,
        allow_anonymous="true",
        disable_vm_metadata="true",
        disable_config_load="true",
    )


class TestGcsDriver(DriverSuite):
    @pytest.fixture
    async def driver(
        self, gcs_server: ObjectStoreServer, gcs_bucket: str
    ) -> AsyncIterator[StorageDriver]:
        op = gcs_operator(gcs_server, gcs_bucket, f"t-{uuid.uuid4().hex}")
        yield ObjectStoreDriver(op, name="gcs", chunk=None)

    # fake-gcs-server ignores If-Match on reads, so a reader racing an overwrite with another
    # size is caught (opendal's short-read error) only after its first bytes went out.
    @pytest.mark.xfail(reason="fake-gcs-server ignores If-Match on reads", strict=False)
    async def test_put_bytes_is_atomic_for_readers(self, driver: StorageDriver) -> None:
        await super().test_put_bytes_is_atomic_for_readers(driver)
