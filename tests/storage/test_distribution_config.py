"""distribution's ``storage:`` block ↔ Moorage's storage URL and credentials: both ways, every
driver, and what is refused (unknown drivers and fields, values Moorage would not honour,
bodies that are not a block)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from moorage.storage import distribution_config as dist
from moorage.storage.objectstore_operators import Credentials
from moorage.storage.urls import parse_storage_url


def _refused(block: Any, setting: str, words: str) -> None:
    with pytest.raises(dist.InvalidStorageSettings) as caught:
        dist.to_url(dist.parse_body(block) if isinstance(block, str | bytes) else block)
    said = [p["msg"] for p in caught.value.detail if p["setting"] == setting]
    assert said, caught.value.detail
    assert any(words in msg for msg in said), said


def test_dtr_s3_body_as_scripts_send_it() -> None:
    body = json.dumps(
        {
            "storage": {
                "delete": {"enabled": True},
                "maintenance": {"readonly": {"enabled": False}},
                "s3": {
                    "rootdirectory": "",
                    "region": "eu-west-1",
                    "regionendpoint": "",
                    "bucket": "dtr-blobs",
                    "accesskey": "AKIAEXAMPLE",
                    "secretkey": "c2VjcmV0/key+value",
                    "secure": True,
                },
            }
        }
    )
    got = dist.to_url(dist.parse_body(body.encode()))
    config = parse_storage_url(got.url)
    assert (config.kind, config.bucket, config.prefix) == ("s3", "dtr-blobs", "")
    assert config.options == {"region": "eu-west-1", "path_style": "false"}  # AWS: virtual host
    assert (got.access_key, got.secret_key) == ("AKIAEXAMPLE", "c2VjcmV0/key+value")
    assert "AKIAEXAMPLE" not in got.url and "secret" not in got.url


def test_yaml_block_with_a_custom_endpoint_is_path_style() -> None:
    text = """
version: 0.1
storage:
  s3:
    bucket: blobs
    region: us-west-2
    regionendpoint: minio.internal:9000
    secure: false
    rootdirectory: /moorage/prod/
    chunksize: 10485760
  redirect:
    disable: false
  cache:
    blobdescriptor: inmemory
"""
    got = dist.to_url(dist.parse_body(text))
    config = parse_storage_url(got.url)
    assert config.prefix == "moorage/prod"
    assert config.options["endpoint"] == "http://minio.internal:9000"
    assert config.options["path_style"] == "true"
    assert config.redirect_seconds is not None  # redirect.disable: false
    assert got.access_key is None and got.secret_key is None  # the environment's, later


@pytest.mark.parametrize(
    ("block", "kind", "bucket", "prefix", "options"),
    [
        ({"filesystem": {"rootdirectory": "/srv/blobs/"}}, "file", "", "", {}),
        (
            {"gcs": {"bucket": "my-bucket", "rootdirectory": "/reg"}},
            "gcs",
            "my-bucket",
            "reg",
            {},
        ),
        (
            {
                "azure": {
                    "accountname": "acct1",
                    "accountkey": "a2V5",
                    "container": "blobs",
                    "realm": "core.chinacloudapi.cn",
                }
            },
            "azblob",
            "blobs",
            "",
            {"account": "acct1", "endpoint": "https://acct1.blob.core.chinacloudapi.cn"},
        ),
        (
            {
                "swift": {
                    "username": "test:tester",
                    "password": "testing",
                    "authurl": "http://127.0.0.1:8080/auth/v1.0",
                    "container": "registry",
                    "prefix": "dtr",
                }
            },
            "swift",
            "registry",
            "dtr",
            {"auth_url": "http://127.0.0.1:8080/auth/v1.0"},
        ),
    ],
)
def test_each_driver_translates_and_comes_back(
    block: dict[str, Any], kind: str, bucket: str, prefix: str, options: dict[str, str]
) -> None:
    got = dist.to_url(block)
    config = parse_storage_url(got.url)
    assert (config.kind, config.bucket, config.prefix, config.options) == (
        kind,
        bucket,
        prefix,
        options,
    )
    # Back as a block (secrets redacted), and that block, with the secrets kept, is the same URL.
    back = dist.to_block(
        got.url, has_access=got.access_key is not None, has_secret=got.secret_key is not None
    )
    again = dist.to_url(back, stored_access=got.access_key, stored_secret=got.secret_key)
    assert again == got
    text = json.dumps(back)
    for secret in (got.access_key, got.secret_key):
        if secret:
            assert secret not in text
            assert dist.REDACTED in text


def test_s3_round_trip_redacts_both_keys() -> None:
    got = dist.to_url(
        {"s3": {"bucket": "b-1", "region": "us-east-1", "accesskey": "AK"} | {"secretkey": "SK"}}
    )
    back = dist.to_block(got.url, has_access=True, has_secret=True)
    assert back["s3"]["accesskey"] == back["s3"]["secretkey"] == dist.REDACTED
    assert back["delete"] == {"enabled": True}
    assert back["redirect"] == {"disable": True}
    assert dist.to_url(back, stored_access="AK", stored_secret="SK") == got


def test_a_redacted_secret_needs_a_stored_one() -> None:
    _refused(
        {
            "s3": {
                "bucket": "b-1",
                "region": "us-east-1",
                "accesskey": "AK",
                "secretkey": dist.REDACTED,
            }
        },
        "storage.s3.secretkey",
        "none is stored",
    )


@pytest.mark.parametrize(
    ("block", "setting", "words"),
    [
        ({"oss": {"bucket": "x"}}, "storage.oss", "unknown storage driver"),
        ({"inmemory": {}}, "storage.inmemory", "unknown storage driver"),
        ({"s3": {"bucket": "b-1"}, "gcs": {"bucket": "b-2"}}, "storage", "exactly one"),
        ({"delete": {"enabled": True}}, "storage", "exactly one"),
        (
            {"s3": {"bucket": "b-1", "region": "r", "bogus": 1}},
            "storage.s3.bogus",
            "unknown s3 field",
        ),
        (
            {"s3": {"bucket": "b-1", "region": "us-east-1", "encrypt": True}},
            "storage.s3.encrypt",
            "only false",
        ),
        (
            {"s3": {"bucket": "b-1", "region": "us-east-1", "v4auth": False}},
            "storage.s3.v4auth",
            "SigV4",
        ),
        (
            {"s3": {"bucket": "b-1", "region": "us-east-1", "storageclass": "GLACIER"}},
            "storage.s3.storageclass",
            "STANDARD",
        ),
        ({"s3": {"bucket": "b-1"}}, "storage.s3.region", "required"),
        ({"s3": {"region": "us-east-1"}}, "storage.s3.bucket", "required"),
        (
            {"s3": {"bucket": "b-1", "region": "us-east-1", "accesskey": "AK"}},
            "storage.s3.secretkey",
            "together",
        ),
        (
            {"s3": {"bucket": "b-1", "region": "us-east-1", "forcepathstyle": "maybe"}},
            "storage.s3.forcepathstyle",
            "true or false",
        ),
        (
            {"s3": {"bucket": "b-1", "region": "us-east-1"}, "delete": {"enabled": False}},
            "storage.delete.enabled",
            "always deletes",
        ),
        (
            {
                "s3": {"bucket": "b-1", "region": "us-east-1"},
                "maintenance": {"readonly": {"enabled": True}},
            },
            "storage.maintenance.readonly.enabled",
            "readOnlyRegistry",
        ),
        (
            {"s3": {"bucket": "b-1", "region": "us-east-1"}, "cache": {"redis": {}}},
            "storage.cache.redis",
            "blobdescriptor",
        ),
        (
            {"gcs": {"bucket": "b-1", "keyfile": "/etc/key.json"}},
            "storage.gcs.keyfile",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ),
        (
            {
                "swift": {
                    "username": "u",
                    "password": "p",
                    "authurl": "http://k:5000/v3",
                    "container": "c",
                    "authversion": 3,
                }
            },
            "storage.swift.authversion",
            "v1 auth",
        ),
        (
            {
                "swift": {
                    "username": "u",
                    "password": "p",
                    "authurl": "http://k/v1",
                    "container": "c",
                    "tenant": "t",
                }
            },
            "storage.swift.tenant",
            "Keystone",
        ),
        (
            {"azure": {"accountname": "acct1", "container": "c"}},
            "storage.azure.accountkey",
            "required",
        ),
        (
            {"filesystem": {"rootdirectory": "relative/path"}},
            "storage.filesystem.rootdirectory",
            "absolute",
        ),
        ({"filesystem": {}}, "storage.filesystem.rootdirectory", "required"),
        ({"filesystem": "/srv"}, "storage.filesystem", "a mapping"),
        ({"s3": {"bucket": "UPPER_CASE", "region": "us-east-1"}}, "storage.s3", "not valid"),
    ],
)
def test_refused_blocks_name_the_field(block: dict[str, Any], setting: str, words: str) -> None:
    _refused(block, setting, words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"\xff\xfe", "UTF-8"),
        ("[1, 2]", "mapping"),
        ("storage: [1]", "storage is a mapping"),
        ("storage:\n  s3: {bucket: b\n", "neither JSON nor YAML"),
        ("a: &x [1]\nstorage: *x\n", "aliases"),
        ('{"storage": {"s3": {}}, "http": {"addr": ":5000"}}', "only the storage block"),
    ],
)
def test_bodies_that_are_not_a_block(body: str | bytes, words: str) -> None:
    with pytest.raises(dist.InvalidStorageSettings) as caught:
        dist.parse_body(body)
    assert words in json.dumps(caught.value.detail)


def test_storage_given_as_yaml_text_inside_json() -> None:
    text = "s3:\n  bucket: b-1\n  region: us-east-1\n"
    assert dist.parse_body(json.dumps({"storage": text})) == {
        "s3": {"bucket": "b-1", "region": "us-east-1"}
    }


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(dist.InvalidStorageSettings) as caught:
        dist.to_url({"s3": {"bogus": 1, "encrypt": True}, "delete": {"enabled": False}})
    named = {p["setting"] for p in caught.value.detail}
    assert {"storage.s3.bogus", "storage.s3.encrypt", "storage.s3.bucket"} <= named
    assert "storage.delete.enabled" in named


def test_the_stored_record_seals_and_opens_the_keys() -> None:
    record = dist.sealed_record(
        "s3://b-1?region=us-east-1",
        Credentials("AK", "SK"),
        lambda clear: clear[::-1] + "#sealed",
        by="admin",
        at="2026-12-04T00:00:00+00:00",
    )
    assert "AK" not in json.dumps(record).replace("KA#sealed", "")
    opened = dist.opened_credentials(record, lambda sealed: sealed.removesuffix("#sealed")[::-1])
    assert opened == Credentials("AK", "SK")
    assert dist.opened_credentials({"url": "file:///x"}, str) == Credentials()
