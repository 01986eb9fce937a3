"""Configuration from the environment and an optional `.env`, shared by the bridge and the simulator.

The three Zoom secrets keep the names Zoom's own webhook sample uses. Settings objects are built by the app
factory or the CLI, never at import time, so tests can make one per case.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ZoomCredentials(BaseSettings):
    """The app's secrets: the webhook secret token signs webhooks; client id and secret sign RTMS handshakes."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    zoom_webhook_secret_token: SecretStr = Field(
        default=SecretStr(""), validation_alias="ZOOM_WEBHOOK_SECRET_TOKEN",
        description="Webhook secret token (Marketplace app, Features > Access > Event subscription).",
    )
    zoom_client_id: str = Field(default="", validation_alias="ZOOM_CLIENT_ID", description="OAuth client id.")
    zoom_client_secret: SecretStr = Field(
        default=SecretStr(""), validation_alias="ZOOM_CLIENT_SECRET",
        description="OAuth client secret; signs the RTMS WebSocket handshakes.",
    )

    def missing(self) -> list[str]:
        """Names of the credentials that are not set, for a clear start-up error."""
        out = []
        if not self.zoom_webhook_secret_token.get_secret_value():
            out.append("ZOOM_WEBHOOK_SECRET_TOKEN")
        if not self.zoom_client_id:
            out.append("ZOOM_CLIENT_ID")
        if not self.zoom_client_secret.get_secret_value():
            out.append("ZOOM_CLIENT_SECRET")
        return out


_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
OptionalMedium = Literal["audio", "video", "chat"]


def _split_commas(value: object) -> object:
    """Lists come from the environment as `a,b,c` (a JSON list works too)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class BridgeSettings(ZoomCredentials):
    """Everything `rtms-langflow serve` reads. Environment names are `BRIDGE_` + the field name in capitals
    (`BRIDGE_ALLOWED_HOSTS`); the three Zoom credentials keep their unprefixed names. The README lists them."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds (0.0.0.0 in a container).")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port (0 picks a free one).")
    webhook_path: str = Field(default="/webhook", pattern=r"^/[A-Za-z0-9._~/-]*$",
                              description="Path of the Zoom event-notification endpoint.")
    max_body_bytes: int = Field(default=65536, ge=1024, description="Webhook bodies larger than this get 413.")
    signature_window_s: float = Field(default=300.0, gt=0,
                                      description="Maximum age (either way) of x-zm-request-timestamp.")
    webhook_dedupe_ttl_s: float = Field(default=7200.0, gt=0,
                                        description="How long a delivered webhook is remembered (Zoom retries "
                                                    "up to 85 min later).")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*.zoom.us"],
        description="Hosts the bridge may dial: exact names or IPs, or *.domain; comma-separated.")
    allow_insecure_ws: bool = Field(default=False, description="Also dial ws:// (plain text): simulator only.")
    ca_bundle: Path | None = Field(default=None, description="PEM CA bundle for wss:// (default: system store).")
    media: Annotated[list[OptionalMedium], NoDecode] = Field(
        default_factory=list,
        description="Media besides the transcript (always on) to receive: any of audio, video, chat.")
    transcript_language: int | None = Field(default=None, ge=-1, le=36,
                                            description="Transcript source-language hint (RTMS language id; "
                                                        "9 = English); unset lets Zoom detect it.")
    max_streams: int = Field(default=2000, ge=1, description="Streams held at once; more are refused and logged.")
    queue_size: int = Field(default=1000, ge=1, description="Events buffered per stream for the consumer.")
    backoff_base_s: float = Field(default=3.0, gt=0, description="First reconnect delay; doubles per attempt.")
    backoff_cap_s: float = Field(default=30.0, gt=0, description="Longest reconnect delay.")
    signaling_reconnect_window_s: float = Field(default=60.0, gt=0,
                                                description="How long Zoom waits for a signaling reconnect.")
    media_reconnect_window_s: float = Field(default=65.0, gt=0,
                                            description="How long Zoom waits for a media reconnect.")
    watchdog_timeout_s: float = Field(default=65.0, gt=0,
                                      description="Silence on a socket (no frame at all) that counts as lost.")
    connect_timeout_s: float = Field(default=10.0, gt=0,
                                     description="Limit for opening a socket and getting the handshake reply.")
    drain_timeout_s: float = Field(default=2.0, ge=0,
                                   description="After the stream ends, how long media sockets may still deliver "
                                               "lines already in flight.")
    shutdown_timeout_s: float = Field(default=10.0, gt=0,
                                      description="On SIGTERM, how long streams get to close and deliver.")
    transcript_dedupe_size: int = Field(default=5000, ge=16,
                                        description="Transcript lines remembered per stream to drop repeats "
                                                    "after a reconnect.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level.")
    # --- pipeline, store and API (issue 5) ---
    database_url: str = Field(default="sqlite+aiosqlite:///rtms-langflow.db",
                              description="SQLAlchemy async URL of the store (postgresql+asyncpg://... for "
                                          "PostgreSQL); migrated on start.")
    api_token: SecretStr = Field(default=SecretStr(""),
                                 description="Bearer token for /api/* and the dashboard (meeting content is "
                                             "private); unset disables the API.")
    langflow_url: str = Field(default="", description="Base URL of the Langflow server; unset runs no flows.")
    langflow_api_key: SecretStr = Field(default=SecretStr(""), description="Langflow API key (x-api-key).")
    flows_config: Path | None = Field(default=None,
                                      description="TOML file mapping flows (endpoint names) to triggers "
                                                  "(default: the bundled bridge/pipeline/flows.toml).")
    langflow_database_file: Path | None = Field(
        default=None, description="Langflow's SQLite file, when Langflow runs on this machine with SQLite: after a "
                                  "purge the bridge truncates its write-ahead log, which still holds deleted rows.")
    max_concurrent_runs: int = Field(default=16, ge=1, description="Flow runs in flight at once, all meetings.")
    langflow_tweaks: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Tweaks for every flow run, as JSON {node id: {field: value}} (e.g. the model node's base_url); "
                    "a flow's own tweaks in the flows file win.")
    model_label: str = Field(default="", description="What the dashboard says produced the insights (`offline` "
                                                     "shows the rule-based-model banner); empty: `offline` when "
                                                     "the tweaks point the model at a loopback address.")

    # --- replicas (issue 8) ---
    redis_url: str = Field(default="", description="Redis URL (redis://host:6379/0); set it on every replica to "
                                                   "share the streams. Unset: one process, no Redis.")
    replica_id: str = Field(default="", pattern=r"^[A-Za-z0-9._:-]*$",
                            description="This replica's name in Redis (default: host name and process id).")
    redis_prefix: str = Field(default="rtms:", description="Prefix of every Redis key and channel the replicas "
                                                          "share (one per deployment).")
    lease_ttl_s: float = Field(default=10.0, ge=0.5, le=50.0,
                               description="A stream's lease lifetime: a dead replica's streams are taken over "
                                           "after about this long (keep well inside Zoom's 60 s window).")
    cluster_sweep_s: float = Field(default=1.0, gt=0, le=30.0,
                                   description="How often each replica looks for streams nobody holds.")

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("media", mode="before")
    @classmethod
    def _media_list(cls, value: object) -> object:
        value = _split_commas(value)
        if isinstance(value, list):
            value = [v.strip().lower() if isinstance(v, str) else v for v in value]
            value = [v for v in value if v != "transcript"]  # always on; naming it is harmless
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        cleaned: list[str] = []
        for raw in value:
            host = raw.strip().lower().rstrip(".")
            bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
            try:
                ipaddress.ip_address(bare)
            except ValueError:
                if not _HOST_PATTERN.match(host):
                    raise ValueError(f"{raw!r} is not a host name, an IP address or *.domain") from None
            cleaned.append(host)
        if not cleaned:
            raise ValueError("at least one host is needed")
        return cleaned

    @field_validator("ca_bundle")
    @classmethod
    def _check_ca(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"CA bundle {str(value)!r} is not a readable file")
        return value

    @model_validator(mode="after")
    def _check_backoff(self) -> BridgeSettings:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError("backoff_cap_s must be >= backoff_base_s")
        return self

    @model_validator(mode="after")
    def _check_replicas(self) -> BridgeSettings:
        if self.redis_url:
            if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"redis_url must be a redis://, rediss:// or unix:// URL, got {self.redis_url!r}")
            if self.database_url.startswith("sqlite"):
                raise ValueError("replicas (redis_url set) need one database they all share: set database_url to "
                                 "a PostgreSQL URL (postgresql+asyncpg://...); SQLite is for a single process")
        return self
