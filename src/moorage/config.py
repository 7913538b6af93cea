"""Settings: flags over ``MOORAGE_*`` environment variables over a YAML file over defaults."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_serializer, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from moorage.errors import ConfigError

# The ecosystems the analysers report packages of, as osv.dev names its archives.
DEFAULT_FEED_ECOSYSTEMS = (
    "Debian",
    "Ubuntu",
    "Alpine",
    "Red Hat",
    "Rocky Linux",
    "AlmaLinux",
    "SUSE",
    "PyPI",
    "npm",
    "Go",
    "Maven",
    "RubyGems",
    "crates.io",
    "NuGet",
    "Packagist",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOORAGE_", extra="forbid")

    listen: str = "127.0.0.1:5000"
    data: Path = Path("./var")
    database: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite in the data folder"
    )
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # TLS from the registry's own CA (moorage.auth.own_ca, docs/tls.md): "auto" makes a CA and a
    # server certificate when no tls_cert/tls_key is given; "manual": TLS only from those files.
    tls: Literal["manual", "auto"] = "manual"
    tls_san: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="more host names or addresses for the own certificate"
    )
    # Plain HTTP answered with a 308 to https on this port (0: none; default: 80 when TLS is
    # served on 443).
    http_redirect_port: int | None = Field(default=None, ge=0, le=65535)
    # How often the serving supervisor checks whether the own server certificate needs renewing.
    tls_check_seconds: float = Field(default=6 * 3600.0, ge=1.0)
    workers: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 4),
        ge=1,
        le=64,
        description="serving processes (default: one per core, at most 4)",
    )
    server: str = Field(
        default="granian",
        pattern="^(granian|uvicorn)$",
        description="ASGI server: granian (Rust I/O, zero-copy file responses) or uvicorn",
    )
    log_level: str = "info"
    log_format: str = Field(default="json", pattern="^(json|text)$")
    max_manifest_bytes: int = 4 * 1024 * 1024
    # Every request body but blob uploads (moorage.http.gate); manifests have the limit above.
    max_request_body: int = Field(default=1024 * 1024, ge=1024)
    # Blob uploads one account may hold open at once (0: no limit); idle ones are purged by the
    # ``uploadpurge`` cron (moorage.registry.upload_limits).
    upload_limit_per_account: int = Field(default=1000, ge=0)
    migrate_on_start: bool = True
    # Where blobs live (moorage.storage.urls, docs/storage.md): file:///path, s3://, azblob://,
    # gs://, swift://; default: the filesystem under <data>/storage. Credentials never go in the
    # URL: the store's usual environment variables, or these two settings.
    storage: str | None = Field(default=None, description="storage URL (docs/storage.md)")
    storage_access_key: SecretStr | None = None
    storage_secret_key: SecretStr | None = None

    @field_serializer("storage_access_key", "storage_secret_key", when_used="json")
    def _storage_secret_json(self, value: SecretStr | None) -> str | None:
        """``moorage serve`` hands its settings to the workers as JSON: the storage keys are
        needed there (the other secrets are used before), so JSON keeps them; reprs mask them."""
        return None if value is None else value.get_secret_value()

    # Identity and the Docker token service.
    admin_name: str = "admin"
    admin_password: SecretStr | None = Field(
        default=None, description="password of the first administrator (else generated, shown once)"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="the Fernet key that seals stored secrets (signing key, LDAP and webhook "
        "secrets); written to <data>/secret.key on start; the same on every replica",
    )
    public_url: str | None = Field(
        default=None, description="external base URL, e.g. https://registry.example.com"
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose Forwarded/X-Forwarded-* headers count",
    )
    # Prometheus metrics at /metrics (moorage.http.metrics, docs/metrics.md): who may read them
    # (admin: system administrators; public: anyone; off: 404), and the networks (CIDRs) that may
    # read them without credentials, e.g. the Prometheus server's address.
    metrics_access: Literal["admin", "public", "off"] = "admin"
    metrics_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="CIDRs that may read /metrics without credentials"
    )
    token_service: str = "moorage"
    token_issuer: str = "moorage"
    token_ttl: int = Field(default=300, ge=30, le=86400)
    # Background jobs (moorage.jobs): jobs each process runs at once (0: none in `serve`),
    # how long a claimed job's lease lasts without renewal, how often idle workers look.
    job_workers: int = Field(default=1, ge=0, le=64)
    job_lease_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    job_poll_seconds: float = Field(default=1.0, gt=0, le=60.0)
    # Replicas (moorage.db.replica_heartbeats): this process's ID in the replicas table (default
    # derived from the host, the data folder and the listen address) and its heartbeat period.
    replica_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    heartbeat_seconds: float = Field(default=10.0, ge=0.1, le=300.0)
    # Repository events: pulls are written in batches this often; history compaction period.
    event_flush_interval: float = Field(default=1.0, gt=0, le=60)
    event_compaction_interval: float = Field(default=300.0, gt=0)
    # The vulnerability database (moorage.scanning.vulndb): the OSV feed online updates fetch
    # (``<url>/<ecosystem>/all.zip``, as osv.dev publishes them), whether the daily
    # ``vulndbupdate`` cron fetches it (off on air-gapped sites, which import files), the networks
    # it may be on besides public addresses (moorage.remote), and the largest archive taken.
    vulnerability_feed_url: str = Field(
        default="https://osv-vulnerabilities.storage.googleapis.com", pattern="^https?://"
    )
    vulnerability_feed_ecosystems: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_FEED_ECOSYSTEMS), min_length=1, max_length=256
    )
    vulnerability_feed_scheduled: bool = True
    vulnerability_feed_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="CIDRs the feed may be on besides public addresses"
    )
    vulnerability_db_max_archive_bytes: int = Field(default=4 * 1024**3, ge=1024)

    @field_validator("trusted_proxies", "metrics_networks", mode="before")
    @classmethod
    def _check_trusted_proxies(cls, value: Any) -> Any:
        """A list, a JSON list or a comma-separated string of CIDRs, each one checked."""
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list):
            value = [str(v).strip() for v in value if str(v).strip()]
            for item in value:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError as exc:
                    raise ValueError(f"not an IP address or CIDR: {item!r}") from exc
        return value

    @field_validator(
        "vulnerability_feed_ecosystems",
        "vulnerability_feed_allowed_networks",
        "tls_san",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """A list, a JSON list or a comma-separated string."""
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list):
            value = [str(v).strip() for v in value if str(v).strip()]
        return value

    @field_validator("vulnerability_feed_allowed_networks")
    @classmethod
    def _check_feed_networks(cls, value: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_network(v, strict=False)) for v in value]
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR notation (10.0.0.0/8): {exc}") from exc

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("listen must be HOST:PORT")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite:///{(self.data / 'moorage.db').resolve()}"

    @property
    def storage_root(self) -> Path:
        return (self.data / "storage").resolve()


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings: explicit overrides (flags) > environment > YAML file > defaults."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_file} must hold a mapping")
        file_values = {str(k).replace("-", "_"): v for k, v in loaded.items()}
    try:
        base = Settings(**file_values)
        # Environment variables win over the file: pydantic-settings gives init kwargs priority,
        # so re-read the environment on top of the file values.
        from_env = Settings().model_dump(exclude_unset=True)
        merged = {**base.model_dump(exclude_unset=True), **from_env}
        merged.update({k: v for k, v in overrides.items() if v is not None})
        return Settings(**merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
