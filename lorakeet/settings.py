"""Configuration from the environment (prefix ``LORAKEET_``), ``.env`` and secret files.

Nested groups use ``__``: ``LORAKEET_MQTT__URL``, ``LORAKEET_STORE__KIND``. Secrets are
``SecretStr`` and never printed. Settings are built once per entry point and passed down.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MqttSettings(BaseModel):
    """Where uplinks come from over MQTT."""

    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port or mqtts://host:port")
    network: Literal["ttn", "chirpstack"] = "ttn"
    application: str = Field("+", description="TTS: app-id@tenant (or app-id); ChirpStack: application UUID")
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = Field(None, description="CA bundle for TLS; system CAs when unset")
    tls_insecure: bool = Field(False, description="skip certificate verification (never in production)")
    topic_template: str | None = None
    events: list[str] = ["up"]
    qos: int = Field(1, ge=0, le=1, description="TTS delivers QoS 0 only; local brokers and ChirpStack: 1")
    client_id: str = Field(
        "lorakeet-bridge",
        description="unique per connection; with share_group and clean_session, host and pid are appended",
    )
    share_group: str = Field(
        "",
        description=(
            "MQTT shared subscription group ($share/<group>/...): N bridges split the uplinks "
            "(Mosquitto, EMQX, ChirpStack's broker; The Things Stack refuses it); empty = no sharing"
        ),
        pattern=r"^[A-Za-z0-9_.-]*$",
    )
    clean_session: bool = False
    keepalive: int = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 60.0

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ValueError("MQTT url must look like mqtt://host:1883 or mqtts://host:8883")
        return v

    @model_validator(mode="after")
    def _stable_id_for_shared_sessions(self) -> MqttSettings:
        if self.share_group and not self.clean_session and "client_id" not in self.model_fields_set:
            raise ValueError(
                "a shared subscription with a persistent session needs a stable, distinct client_id "
                "per bridge (e.g. LORAKEET_MQTT__CLIENT_ID=lorakeet-bridge-1): the broker keeps "
                "queueing a share for every session, and one nobody resumes loses it"
            )
        return self

    @property
    def effective_client_id(self) -> str:
        """The client id to connect with: clean-session members of a group must not collide."""
        if self.share_group and "client_id" not in self.model_fields_set:
            return f"{self.client_id}-{socket.gethostname()}-{os.getpid()}"
        return self.client_id

    @property
    def host(self) -> str:
        """Broker host name."""
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def tls(self) -> bool:
        """True for mqtts:// and ssl:// URLs."""
        return urlsplit(self.url).scheme in ("mqtts", "ssl")

    @property
    def port(self) -> int:
        """Broker port (1883, or 8883 with TLS, when not given)."""
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


class StoreSettings(BaseModel):
    """Where readings go."""

    kind: Literal["sqlite", "influxdb"] = "sqlite"
    sqlite_path: Path = Path("data/lorakeet.db")
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = "FULL"
    influx_url: str = "http://127.0.0.1:8086"
    influx_api: Literal["v1", "v2"] = "v1"
    influx_database: str = "lorakeet"
    influx_retention_policy: str | None = None
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_token: SecretStr | None = None
    influx_org: str = "-"
    influx_bucket: str | None = None
    influx_gzip: Literal["auto", "on", "off"] = Field(
        "auto",
        description="gzip line protocol on v1 writes; auto: off when InfluxDB is on this host (loopback)",
    )


class PipelineSettings(BaseModel):
    """Batching and back-pressure."""

    batch_size: int = Field(5000, ge=1, le=100_000)
    flush_interval_s: float = Field(0.2, gt=0, le=60)
    queue_size: int = Field(50_000, ge=1)
    dedup_capacity: int = Field(200_000, ge=0)
    workers: int = Field(
        0,
        ge=0,
        le=1,
        description=(
            "0: decode and write in a thread of the bridge (fastest on 2 cores); "
            "1: in a worker process, restarted and replayed if it dies"
        ),
    )
    spool_path: Path | None = Field(
        Path("data/spool.db"),
        description="on-disk spool for batches the store refused (replayed in order); empty: no spool",
    )

    network_time_future_s: float = Field(
        3600,
        ge=0,
        description="a network's reception time may lie this far after arrival here (else rejected)",
    )
    sensor_time_past_s: float = Field(
        90 * 86_400,
        ge=0,
        description="a sensor's sample time may lie this far before the uplink's reception (else rejected)",
    )
    sensor_time_future_s: float = Field(
        600, ge=0, description="a sensor's own sample time may lie this far after the uplink's reception"
    )

    @field_validator("spool_path", mode="before")
    @classmethod
    def _empty_means_no_spool(cls, v: object) -> object:
        return None if v == "" else v


class BackfillSettings(BaseModel):
    """The Things Stack Storage Integration, to fill gaps after the bridge was away."""

    enabled: bool = Field(False, description="backfill on start and after every MQTT reconnect")
    base_url: str = Field("https://eu1.cloud.thethings.network", description="TTS cluster URL")
    application: str | None = Field(None, description="TTS application id; default: from mqtt.application")
    api_key: SecretStr | None = Field(None, description="API key with RIGHT_APPLICATION_TRAFFIC_READ")
    overlap_s: float = Field(300, ge=0, description="re-fetch this much before the newest stored uplink")
    default_window_s: float = Field(86_400, gt=0, description="how far back when nothing is stored yet")
    retention_s: float = Field(86_400, gt=0, description="Storage Integration retention (TTN: 24 h)")
    page_size: int = Field(1000, ge=1, le=10_000)
    timeout_s: float = Field(30, gt=0)


class LeaderSettings(BaseModel):
    """One active MQTT consumer per TTS application (a lock in the registry database)."""

    enabled: bool = Field(False, description="only the lock holder connects to MQTT; others stand by")
    name: str | None = Field(None, description="lock name; default: the MQTT application")
    lease_s: float = Field(5.0, gt=0, description="SQLite lease length (renewed every third of it)")
    poll_s: float = Field(1.0, gt=0, description="how often a standby tries to take the lock")


class ApiSettings(BaseModel):
    """The HTTP API."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    cors_origins: list[str] = []
    open_signup: bool = Field(True, description="anyone may POST /v1/accounts; else admins only")
    rate_limit_per_minute: float = Field(600, gt=0, description="sustained requests per key (or IP)")
    rate_limit_burst: int = Field(120, ge=1, description="requests allowed in a burst")
    ingest_rate_limit_per_minute: float = Field(
        12_000, gt=0, description="sustained webhook uplinks per source address (TTS sends from a few)"
    )
    ingest_rate_limit_burst: int = Field(2_000, ge=1, description="webhook uplinks allowed in a burst")
    tts_url: str | None = Field(
        None,
        description="The Things Stack (e.g. https://eu1.cloud.thethings.network) asked whether an API key "
        "belongs to an application an account claims; unset: TTS keys prove nothing",
    )
    max_devices_per_account: int = Field(1_000, ge=0, description="devices one account may register")
    max_alert_rules_per_account: int = Field(200, ge=0, description="alert rules one account may keep")
    max_jobs_per_account: int = Field(4, ge=1, description="re-decode jobs one account may run at once")
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="largest request body any route reads (webhook ingest: 64 KiB)"
    )


class AlertSettings(BaseModel):
    """Alert delivery."""

    allow_private_targets: bool = Field(
        False, description="let alert webhooks call private, loopback or link-local addresses"
    )


class RouteSettings(BaseModel):
    """Collection routes: the depot, the vehicles and the shift."""

    depot_lat: float | None = Field(
        None, ge=-90, le=90, description="depot latitude; default: the bins' centroid"
    )
    depot_lon: float | None = Field(None, ge=-180, le=180, description="depot longitude")
    vehicles: int = Field(2, ge=1, le=50, description="vehicles on a shift")
    capacity_l: int = Field(12_000, ge=1, description="litres of waste one vehicle takes")
    shift_h: float = Field(8.0, gt=0, le=24, description="hours from leaving the depot to being back")
    service_s: int = Field(120, ge=0, le=3600, description="seconds spent at each bin")
    speed_kmh: float = Field(20.0, gt=0, le=120, description="average driving speed between stops")
    detour: float = Field(1.3, ge=1, le=3, description="road distance / straight-line distance")
    bin_volume_l: int = Field(240, ge=1, description="volume of a bin whose metadata has no volume_l")
    solver_timeout_s: float = Field(2.0, gt=0, le=60, description="longest a route solve may search")


class MapSettings(BaseModel):
    """The crews' maps (drawn as SVG on the server; a tile background is optional)."""

    tile_url: str | None = Field(
        None,
        pattern=r"^https://[^\s{}]+(/[^\s]*)?$",
        description="raster tiles behind the map, e.g. https://tiles.example.org/{z}/{x}/{y}.png",
    )
    tile_attribution: str = Field("", max_length=200, description="credit shown under the map")


class Settings(BaseSettings):
    """Everything Lorakeet reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="LORAKEET_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        # Docker/Kubernetes secrets: a file named like the variable, e.g. /run/secrets/lorakeet_mqtt
        secrets_dir="/run/secrets" if os.path.isdir("/run/secrets") else None,
        extra="ignore",
    )

    mqtt: MqttSettings = MqttSettings()
    store: StoreSettings = StoreSettings()
    pipeline: PipelineSettings = PipelineSettings()
    api: ApiSettings = ApiSettings()
    alerts: AlertSettings = AlertSettings()
    backfill: BackfillSettings = BackfillSettings()
    leader: LeaderSettings = LeaderSettings()
    routes: RouteSettings = RouteSettings()
    map: MapSettings = MapSettings()
    registry_url: str = "sqlite:///data/registry.db"
    device_repo_path: Path | None = Field(
        None, description="checkout of the TTN Device Repository (lorawan-devices) for codec imports"
    )
    log_level: str = "INFO"
    log_json: bool = False

    @model_validator(mode="after")
    def _one_consumer_model(self) -> Settings:
        if self.mqtt.share_group and self.leader.enabled:
            raise ValueError(
                "mqtt.share_group (several bridges split the uplinks) and leader.enabled (one bridge "
                "consumes, the others stand by) exclude each other; choose one"
            )
        return self
