"""DTR's settings objects: ``responses.Settings`` (``GET /meta/settings``, with Moorage's own
settings beside DTR's), ``responses.ReplicaSettings``, ``forms.Settings`` (the POST body, for
the OpenAPI document) and the per-user ``responses.UserSettings`` / ``forms.UserSettings``."""

from __future__ import annotations

import socket

from pydantic import BaseModel, ConfigDict, Field

from moorage.config import Settings as Config
from moorage.db import replica_heartbeats
from moorage.db.site_settings import SiteSettings, go_duration
from moorage.http.api.models.wire import WireModel
from moorage.storage.configured import storage_location


class ReplicaSettings(WireModel):
    http_port: int = Field(serialization_alias="HTTPPort")
    https_port: int = Field(serialization_alias="HTTPSPort")
    node: str


class ReplicaFacts(BaseModel):
    """What this replica is, from its configuration (not settable through the API)."""

    replica_id: str
    replica_settings: dict[str, ReplicaSettings]
    storage_volume: str
    nfs_host: str = ""
    nfs_path: str = ""
    log_protocol: str = ""
    log_host: str = ""
    log_level: str  # the configuration's, when the setting is empty

    @classmethod
    def of(cls, config: Config) -> ReplicaFacts:
        """This replica: its ID (its heartbeat's), its host name, the one port it listens on
        (HTTPS with a TLS certificate, else HTTP), its storage folder; no NFS, no remote log
        host."""
        node = socket.gethostname()
        tls = config.tls_cert is not None
        ports = ReplicaSettings(
            http_port=0 if tls else config.port, https_port=config.port if tls else 0, node=node
        )
        replica_id = replica_heartbeats.own_replica_id(config)
        return cls(
            replica_id=replica_id,
            replica_settings={replica_id: ports},
            storage_volume=storage_location(config),
            log_level=config.log_level,
        )


class Settings(WireModel):
    dtr_host: str = Field(serialization_alias="dtrHost")
    sso: bool
    create_repository_on_push: bool = Field(serialization_alias="createRepositoryOnPush")
    replica_settings: dict[str, ReplicaSettings] = Field(serialization_alias="replicaSettings")
    http_proxy: str = Field(serialization_alias="httpProxy")
    https_proxy: str = Field(serialization_alias="httpsProxy")
    no_proxy: str = Field(serialization_alias="noProxy")
    disable_upgrades: bool = Field(serialization_alias="disableUpgrades")
    report_analytics: bool = Field(serialization_alias="reportAnalytics")
    anonymize_analytics: bool = Field(serialization_alias="anonymizeAnalytics")
    disable_backup_warning: bool = Field(serialization_alias="disableBackupWarning")
    log_protocol: str = Field(serialization_alias="logProtocol")
    log_host: str = Field(serialization_alias="logHost")
    log_level: str = Field(serialization_alias="logLevel")
    web_tls_cert: str = Field(serialization_alias="webTLSCert")
    web_tls_ca: str = Field(serialization_alias="webTLSCA")
    web_tls_client_ca: str = Field(serialization_alias="webTLSClientCA")
    client_cert_auth_enabled: bool = Field(serialization_alias="clientCertAuthEnabled")
    replica_id: str = Field(serialization_alias="replicaID")
    scanning_enabled: bool = Field(serialization_alias="scanningEnabled")
    scanning_sync_online: bool = Field(serialization_alias="scanningSyncOnline")
    scanning_deadline: int = Field(serialization_alias="scanningDeadline")
    scanning_enable_auto_recheck: bool = Field(serialization_alias="scanningEnableAutoRecheck")
    job_history_compaction_enabled: bool = Field(serialization_alias="jobHistoryCompactionEnabled")
    job_history_to_keep: int = Field(serialization_alias="jobHistoryToKeep")
    job_history_max_age: str = Field(serialization_alias="jobHistoryMaxAge", examples=["720h0m0s"])
    repo_event_history_compaction_enabled: bool = Field(
        serialization_alias="repoEventHistoryCompactionEnabled"
    )
    repo_event_history_to_keep: int = Field(serialization_alias="repoEventHistoryToKeep")
    repo_event_history_max_age: str = Field(
        serialization_alias="repoEventHistoryMaxAge", examples=["720h0m0s"]
    )
    storage_volume: str = Field(serialization_alias="storageVolume")
    nfs_host: str = Field(serialization_alias="nfsHost")
    nfs_path: str = Field(serialization_alias="nfsPath")
    read_only_registry: bool = Field(serialization_alias="readOnlyRegistry")
    disable_persistent_cookies: bool = Field(serialization_alias="disablePersistentCookies")
    # Moorage's own.
    gc_collect_untagged_manifests: bool = Field(serialization_alias="gcCollectUntaggedManifests")
    webhook_allowed_networks: list[str] = Field(serialization_alias="webhookAllowedNetworks")

    @classmethod
    def of(cls, site: SiteSettings, replica: ReplicaFacts) -> Settings:
        return cls(
            dtr_host=site.dtr_host,
            sso=site.sso,
            create_repository_on_push=site.create_repository_on_push,
            replica_settings=replica.replica_settings,
            http_proxy=site.http_proxy,
            https_proxy=site.https_proxy,
            no_proxy=site.no_proxy,
            disable_upgrades=site.disable_upgrades,
            report_analytics=site.report_analytics,
            anonymize_analytics=site.anonymize_analytics,
            disable_backup_warning=site.disable_backup_warning,
            log_protocol=replica.log_protocol,
            log_host=replica.log_host,
            log_level=(site.log_level or replica.log_level).upper(),
            web_tls_cert=site.web_tls_cert,
            web_tls_ca=site.web_tls_ca,
            web_tls_client_ca=site.web_tls_client_ca,
            client_cert_auth_enabled=site.client_cert_auth_enabled,
            replica_id=replica.replica_id,
            scanning_enabled=site.scanning_enabled,
            scanning_sync_online=site.scanning_sync_online,
            scanning_deadline=site.scanning_deadline,
            scanning_enable_auto_recheck=site.scanning_enable_auto_recheck,
            job_history_compaction_enabled=site.job_history_compaction_enabled,
            job_history_to_keep=site.job_history_to_keep,
            job_history_max_age=go_duration(site.job_history_max_age),
            repo_event_history_compaction_enabled=site.repo_event_history_compaction_enabled,
            repo_event_history_to_keep=site.repo_event_history_to_keep,
            repo_event_history_max_age=go_duration(site.repo_event_history_max_age),
            storage_volume=replica.storage_volume,
            nfs_host=replica.nfs_host,
            nfs_path=replica.nfs_path,
            read_only_registry=site.read_only_registry,
            disable_persistent_cookies=site.disable_persistent_cookies,
            gc_collect_untagged_manifests=site.gc_collect_untagged_manifests,
            webhook_allowed_networks=list(site.webhook_allowed_networks),
        )


class SettingsForm(BaseModel):
    """DTR's ``forms.Settings`` plus what Moorage also takes (every key optional: only the ones
    sent change). Documentation of the POST body; the handler checks the body itself, so that
    each refused key is named in DTR's envelope."""

    model_config = ConfigDict(extra="forbid")

    dtrHost: str | None = None
    sso: bool | None = None
    createRepositoryOnPush: bool | None = None
    disableUpgrades: bool | None = None
    reportAnalytics: bool | None = Field(None, description="only false: no analytics are sent")
    anonymizeAnalytics: bool | None = None
    disableBackupWarning: bool | None = None
    webTLSCert: str | None = Field(None, description="PEM; stored, see docs/settings.md")
    webTLSKey: str | None = Field(
        None, description="only empty: the TLS key is the configuration's tls_key file"
    )
    webTLSCA: str | None = None
    webTLSClientCA: str | None = None
    clientCertAuthEnabled: bool | None = Field(None, description="only false")
    scanningEnabled: bool | None = None
    scanningSyncOnline: bool | None = None
    scanningDeadline: int | None = None
    scanningEnableAutoRecheck: bool | None = None
    jobHistoryCompactionEnabled: bool | None = None
    jobHistoryToKeep: int | None = None
    jobHistoryMaxAge: str | None = Field(None, examples=["720h"])
    repoEventHistoryCompactionEnabled: bool | None = None
    repoEventHistoryToKeep: int | None = None
    repoEventHistoryMaxAge: str | None = Field(None, examples=["720h"])
    readOnlyRegistry: bool | None = None
    disablePersistentCookies: bool | None = None
    httpProxy: str | None = None
    httpsProxy: str | None = None
    noProxy: str | None = None
    logLevel: str | None = None
    gcCollectUntaggedManifests: bool | None = None
    webhookAllowedNetworks: list[str] | None = None


class UserSettings(WireModel):
    """DTR's ``responses.UserSettings`` (its Go field name, capitalised, on the wire)."""

    content_cache_uuid: str = Field(serialization_alias="ContentCacheUUID")


class UserSettingsForm(BaseModel):
    """DTR's ``forms.UserSettings``."""

    model_config = ConfigDict(extra="forbid")

    contentCacheUUID: str | None = None
