"""Storage URLs: each form parsed to its config, every bad one a ConfigError naming the
problem (never a traceback, never a secret echoed), and make_storage building the driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from moorage.config import Settings, load_settings
from moorage.errors import ConfigError
from moorage.storage.configured import make_storage, storage_location
from moorage.storage.filesystem import FilesystemDriver
from moorage.storage.objectstore import ObjectStoreDriver
from moorage.storage.urls import StorageConfig, parse_storage_url


def test_file_url() -> None:
    assert parse_storage_url("file:///srv/moorage") == StorageConfig(
        "file", path=Path("/srv/moorage")
    )
    assert parse_storage_url("file://localhost/srv/x%20y").path == Path("/srv/x y")


def test_s3_url_with_every_option() -> None:
    config = parse_storage_url(
        "s3://my-bucket/some/prefix/?endpoint=http://127.0.0.1:9000/&region=eu-west-1"
        "&path_style=false&redirect=true&redirect_seconds=60"
    )
    assert config.kind == "s3"
    assert config.bucket == "my-bucket"
    assert config.prefix == "some/prefix"
    assert config.options == {
        "endpoint": "http://127.0.0.1:9000",
        "region": "eu-west-1",
        "path_style": "false",
    }
    assert config.redirect_seconds == 60
    assert parse_storage_url(config.display()) == config


def test_defaults() -> None:
    s3 = parse_storage_url("s3://bucket")
    assert (s3.prefix, s3.options, s3.redirect_seconds) == ("", {"region": "us-east-1"}, None)
    assert parse_storage_url("s3://bucket?redirect=true").redirect_seconds == 600
    assert parse_storage_url("s3://bucket?redirect=false").redirect_seconds is None


def test_azure_gcs_swift_urls() -> None:
    az = parse_storage_url("azblob://blobs/reg?account=devstoreaccount1&endpoint=http://h:1/a")
    assert (az.kind, az.bucket, az.prefix) == ("azblob", "blobs", "reg")
    assert az.options == {"account": "devstoreaccount1", "endpoint": "http://h:1/a"}
    gs = parse_storage_url("gs://my_bucket.x/p?endpoint=http://127.0.0.1:4443&redirect=true")
    assert (gs.kind, gs.bucket, gs.prefix, gs.redirect_seconds) == ("gcs", "my_bucket.x", "p", 600)
    sw = parse_storage_url("swift://Registry Blobs/p?auth_url=http://127.0.0.1:8080/auth/v1.0")
    assert (sw.kind, sw.bucket) == ("swift", "Registry Blobs")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://x/y", "unknown scheme"),
        ("", "unknown scheme"),
        ("/srv/moorage", "unknown scheme"),
        ("s3://AKIAEXAMPLE:verysecret@bucket/p", "credentials do not belong in the URL"),
        ("s3://user@bucket", "credentials do not belong in the URL"),
        ("s3:///prefix", "no bucket"),
        ("s3://Bad_Bucket", "not valid"),
        ("s3://b", "not valid"),
        ("s3://bucket/a/../b", "plain path segments"),
        ("s3://bucket/a//b", "plain path segments"),
        ("s3://bucket/./b", "plain path segments"),
        ("s3://bucket?region=us-east-1&region=eu-west-1", "option given twice"),
        ("s3://bucket?endpoint=ftp://x", "endpoint must be an http"),
        ("s3://bucket?endpoint=http://k:s@host", "endpoint must not hold credentials"),
        ("s3://bucket?endpoint=", "endpoint must be an http"),
        ("s3://bucket?path_style=maybe", "path_style must be true or false"),
        ("s3://bucket?region=EU WEST", "not a region name"),
        ("s3://bucket?secret_key=x", "unknown option secret_key"),
        ("s3://bucket?redirect_seconds=0&redirect=true", "redirect_seconds must be"),
        ("s3://bucket?redirect_seconds=99999999999", "redirect_seconds must be"),
        ("s3://bucket#frag", "fragment"),
        ("s3://bucket?noequals", "bad query string"),
        ("s3://bucket:99999", "out of range"),
        ("azblob://container", "account=NAME"),
        ("azblob://container?account=x", "account=NAME"),
        ("azblob://container?account=abc&redirect=maybe", "redirect must be true or false"),
        ("azblob://UPPER?account=abc", "not valid"),
        ("swift://c", "swift needs auth_url"),
        ("swift://c?auth_url=http://h/auth&redirect=true", "not supported on swift"),
        ("file://host/srv", "no host or options"),
        ("file:///srv?x=1", "no host or options"),
        ("file:relative", "absolute path"),
        ("gs://bucket?anonymous=perhaps", "anonymous must be true or false"),
    ],
)
def test_bad_urls_are_clear_config_errors(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_storage_url(url)
    assert says in str(info.value)
    assert "verysecret" not in str(info.value)


def test_make_storage_default_and_file(tmp_path: Path) -> None:
    default = make_storage(Settings(data=tmp_path / "d"))
    assert isinstance(default, FilesystemDriver)
    assert default.root == (tmp_path / "d" / "storage").resolve()
    other = make_storage(Settings(data=tmp_path / "d", storage=f"file://{tmp_path}/elsewhere"))
    assert isinstance(other, FilesystemDriver) and other.root == tmp_path / "elsewhere"


def test_make_storage_object_stores(tmp_path: Path) -> None:
    s3 = make_storage(
        Settings(data=tmp_path, storage="s3://bucket/p?endpoint=http://127.0.0.1:1&redirect=true"),
        env={"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"},
    )
    assert isinstance(s3, ObjectStoreDriver) and s3.name == "s3"
    gcs = make_storage(
        Settings(data=tmp_path, storage="gs://bucket?endpoint=http://127.0.0.1:1"), env={}
    )
    assert isinstance(gcs, ObjectStoreDriver) and gcs.name == "gcs"
    az = make_storage(
        Settings(
            data=tmp_path,
            storage="azblob://container?account=devstoreaccount1&endpoint=http://127.0.0.1:1/d",
            storage_secret_key="a2V5",
        ),
        env={},
    )
    assert isinstance(az, ObjectStoreDriver) and az.name == "azblob"


@pytest.mark.parametrize(
    ("url", "env", "says"),
    [
        ("s3://bucket", {"AWS_ACCESS_KEY_ID": "AK"}, "both an access key and a secret key"),
        ("azblob://container?account=abc", {}, "AZURE_STORAGE_KEY"),
        ("swift://c?endpoint=http://127.0.0.1:1/v1/AUTH_t", {}, "OS_AUTH_TOKEN"),
        ("swift://c?auth_url=http://127.0.0.1:1/auth/v1.0", {}, "ST_USER"),
        (
            "swift://c?auth_url=http://127.0.0.1:1/auth/v1.0",
            {"ST_USER": "u", "ST_KEY": "k"},
            "failed",
        ),
        ("s3://bucket?x=1", {}, "unknown option"),
    ],
)
def test_make_storage_missing_credentials(
    tmp_path: Path, url: str, env: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        make_storage(Settings(data=tmp_path, storage=url), env=env)


def test_storage_settings_from_yaml_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "moorage.yaml"
    config.write_text(
        "storage: s3://from-file/p\nstorage_access_key: AK\nstorage_secret_key: SK-secret\n"
    )
    settings = load_settings(config)
    assert settings.storage == "s3://from-file/p"
    assert settings.storage_secret_key is not None
    assert "SK-secret" not in repr(settings)  # a SecretStr: not in logs or reprs
    monkeypatch.setenv("MOORAGE_STORAGE", "gs://from-env")
    assert load_settings(config).storage == "gs://from-env"


def test_storage_keys_reach_the_serving_workers() -> None:
    """``moorage serve`` passes its settings to the workers as JSON: the storage keys survive
    it (a masked key would fail every request), while reprs still mask them."""
    settings = Settings(storage="s3://bucket", storage_access_key="AK", storage_secret_key="SK!")
    again = Settings.model_validate_json(settings.model_dump_json())
    assert again.storage_secret_key is not None
    assert again.storage_secret_key.get_secret_value() == "SK!"
    assert again.storage_access_key is not None
    assert again.storage_access_key.get_secret_value() == "AK"
    assert "SK!" not in repr(settings) and "SK!" not in str(settings.model_dump())


def test_storage_location_names_the_store_without_secrets(tmp_path: Path) -> None:
    assert storage_location(Settings(data=tmp_path)) == str(Settings(data=tmp_path).storage_root)
    assert storage_location(Settings(data=tmp_path, storage=f"file://{tmp_path}/b")) == str(
        tmp_path / "b"
    )
    where = storage_location(
        Settings(
            data=tmp_path,
            storage="s3://bucket/root?endpoint=http://127.0.0.1:9000&region=us-east-1",
            storage_access_key="AKIDSECRET",
            storage_secret_key="very-secret",
        )
    )
    assert where.startswith("s3://bucket/root?") and "127.0.0.1" in where
    assert "SECRET" not in where and "very-secret" not in where
