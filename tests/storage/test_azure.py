"""The object-store driver on Azure Blob: the shared driver suite against a real Azurite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import opendal
import pytest
from azure.storage.blob import BlobServiceClient

from moorage.storage.base import StorageDriver
from moorage.storage.objectstore import ObjectStoreDriver
from tests.services.objectstores import ObjectStoreServer
from tests.storage.driver_suite import DriverSuite

CONTAINER = "moorage"


def connection_string(server: ObjectStoreServer) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={server.extra['account']};"
        f"AccountKey={server.extra['key']};BlobEndpoint={server.endpoint};"
    )


@pytest.fixture(scope="module")
def azure_container(azure_server: ObjectStoreServer) -> str:
    """The container the tests share (each test takes a fresh root prefix in it)."""
    with BlobServiceClient.from_connection_string(connection_string(azure_server)) as service:
        if not service.get_container_client(CONTAINER).exists():
            service.create_container(CONTAINER)
    return CONTAINER


def azure_operator(server: ObjectStoreServer, container: str, root: str) -> opendal.AsyncOperator:
    return opendal.AsyncOperator(
        "azblob",
        container=container,
        root=f"/{root}/",
        endpoint=server.endpoint,
        account_name=server.extra["account"],
        account_key=server.extra["key"],
    )


class TestAzureDriver(DriverSuite):
    @pytest.fixture
    async def driver(
        self, azure_server: ObjectStoreServer, azure_container: str
    ) -> AsyncIterator[StorageDriver]:
        op = azure_operator(azure_server, azure_container, f"t-{uuid.uuid4().hex}")
        yield ObjectStoreDriver(op, name="azblob")
