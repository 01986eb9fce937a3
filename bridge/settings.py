"""Configuration from the environment and an optional `.env`, shared by the bridge and the simulator.

The three Zoom secrets keep the names Zoom's own webhook sample uses. Settings objects are built by the app
factory or the CLI, never at import time, so tests can make one per case. A bad value is reported by the name the
user set (`BRIDGE_PORT`, not `port`): `problems()` turns a validation error into one line per setting, and
`BadSetting` carries one such line from anywhere else (a store that does not open, a port that is taken).
"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class BadSetting(ValueError):
    """One setting (or command-line option) that cannot be used: `str()` is the one line to print."""

    def __init__(self, name: str, problem: str) -> None:
        self.name, self.problem = name, problem
        super().__init__(f"{name}: {problem}")


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
    body_timeout_s: float = Field(default=5.0, gt=0, le=60,
                                  description="A webhook body not fully received this long after its headers gets "
                                              "408 (a sender dribbling bytes holds no connection longer).")
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
    langflow_tweaks: Annotated[dict[str, dict[str, Any]], NoDecode] = Field(
        default_factory=dict,
        description="Tweaks for every flow run, as JSON {node id: {field: value}} (e.g. the model node's base_url); "
                    "a flow's own tweaks in the flows file win.")
    model_label: str = Field(default="", description="What the dashboard says produced the insights (`offline` "
                                                     "shows the rule-based-model banner); empty: `offline` when "
                                                     "the tweaks point the model at a loopback address.")

    zoomapp_client_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Client secret that opens the Zoom App panel's context (/zoomapp/); empty: ZOOM_CLIENT_SECRET "
                    "(the panel and the RTMS webhooks are one Marketplace app).")

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

    # --- Team Chat delivery (issue 15) ---
    chat_enabled: bool = Field(default=False, description="Post objection hints and end-of-meeting summaries to "
                                                           "Zoom Team Chat through a chatbot (opt-in).")
    chat_client_id: str = Field(default="", description="Client id of the Marketplace app with the chatbot feature "
                                                        "(default: ZOOM_CLIENT_ID).")
    chat_client_secret: SecretStr = Field(default=SecretStr(""), description="Its client secret (default: "
                                                                             "ZOOM_CLIENT_SECRET).")
    chat_robot_jid: str = Field(default="", description="The chatbot's Bot JID (Features > Team Chat "
                                                        "subscription), ...@xmpp.zoom.us.")
    chat_account_id: str = Field(default="", description="The Zoom account id the chatbot is installed on.")
    chat_objections_to: str = Field(default="host", description="Where each objection hint goes: `host` (the "
                                                                "meeting's host, from meeting.started), a user or "
                                                                "channel JID, or empty for none.")
    chat_summary_to: str = Field(default="", description="Channel JID for the final summary and tickets of each "
                                                         "meeting; empty: none.")
    chat_api_url: str = Field(default="https://api.zoom.us/v2", description="Base URL of Zoom's REST API.")
    chat_oauth_url: str = Field(default="https://zoom.us/oauth/token", description="Zoom's OAuth token URL.")
    chat_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["zoom.us", "*.zoom.us"],
        description="Hosts the chat URLs may name (https only; http just for a loopback test double).")
    chat_max_attempts: int = Field(default=5, ge=1, le=20, description="Tries per post before it waits for a "
                                                                       "later sweep.")
    chat_max_wait_s: float = Field(default=120.0, gt=0, description="Longest rate-limit wait slept through; a "
                                                                    "longer one (a daily limit) is retried later.")
    chat_poll_s: float = Field(default=2.0, gt=0, description="How often the store is swept for what is owed.")
    chat_summary_wait_s: float = Field(default=120.0, ge=0, description="After a meeting ends, how long the "
                                                                        "summary waits for its last flow runs.")
    chat_lookback_s: float = Field(default=7200.0, gt=0, description="Meetings changed this recently are swept "
                                                                     "(older ones are never posted about).")

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("chat_allowed_hosts", mode="before")
    @classmethod
    def _chat_hosts_list(cls, value: object) -> object:
        return _split_commas(value)

    @model_validator(mode="after")
    def _check_chat(self) -> BridgeSettings:
        if not self.chat_enabled:
            return self
        from bridge.teamchat.client import check_url

        missing = [name for name, value in (("BRIDGE_CHAT_ROBOT_JID", self.chat_robot_jid),
                                            ("BRIDGE_CHAT_ACCOUNT_ID", self.chat_account_id)) if not value.strip()]
        if not (self.chat_client_id or self.zoom_client_id):
            missing.append("BRIDGE_CHAT_CLIENT_ID (or ZOOM_CLIENT_ID)")
        if not (self.chat_client_secret.get_secret_value() or self.zoom_client_secret.get_secret_value()):
            missing.append("BRIDGE_CHAT_CLIENT_SECRET (or ZOOM_CLIENT_SECRET)")
        if missing:
            raise ValueError(f"Team Chat delivery (BRIDGE_CHAT_ENABLED) needs {', '.join(missing)}")
        if not self.chat_objections_to.strip() and not self.chat_summary_to.strip():
            raise ValueError("Team Chat delivery needs somewhere to post: set BRIDGE_CHAT_OBJECTIONS_TO (host or a "
                             "JID) or BRIDGE_CHAT_SUMMARY_TO (a channel JID)")
        check_url(self.chat_api_url, self.chat_allowed_hosts, what="BRIDGE_CHAT_API_URL")
        check_url(self.chat_oauth_url, self.chat_allowed_hosts, what="BRIDGE_CHAT_OAUTH_URL")
        return self

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
        if value is None:
            return value
        if not value.is_file():
            raise ValueError(f"CA bundle {str(value)!r} is not a readable file")
        try:
            ssl.create_default_context(cafile=str(value))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValueError(f"CA bundle {str(value)!r} holds no usable PEM certificate "
                             f"({getattr(exc, 'reason', None) or exc})") from None
        return value

    @field_validator("langflow_tweaks", mode="before")
    @classmethod
    def _tweaks_json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno}); expected "
                                 '{"node id": {"field": value}}') from None
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ValueError('expected a JSON object of objects: {"node id": {"field": value}}')
        return value

    @field_validator("langflow_url")
    @classmethod
    def _check_langflow_url(cls, value: str) -> str:
        if value:
            _check_http_url(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        from bridge.store.engine import parse_url  # SQLAlchemy is heavy: only when a bridge is configured

        parse_url(value)  # ValueError naming what is wrong
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"must be a redis://, rediss:// or unix:// URL, got {value!r}")
        return value

    @field_validator("flows_config")
    @classmethod
    def _check_flows_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a readable file")
        return value

    @model_validator(mode="after")
    def _check_backoff(self) -> BridgeSettings:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError(f"BRIDGE_BACKOFF_CAP_S ({self.backoff_cap_s:g}) must be >= BRIDGE_BACKOFF_BASE_S "
                             f"({self.backoff_base_s:g})")
        return self

    @model_validator(mode="after")
    def _check_replicas(self) -> BridgeSettings:
        if self.redis_url and self.database_url.startswith("sqlite"):
            raise ValueError("BRIDGE_REDIS_URL is set (replicas), so BRIDGE_DATABASE_URL must name one database "
                             "they all share: a PostgreSQL URL (postgresql+asyncpg://...); SQLite is for a single "
                             "process")
        return self


def _check_http_url(value: str) -> None:
    """An http(s) URL with a host, or ValueError saying what is missing."""
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError when not a number in range
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")


def check_http_url(name: str, value: str) -> str:
    """For command-line options: the URL, or `BadSetting` naming the option."""
    try:
        _check_http_url(value)
    except ValueError as exc:
        raise BadSetting(name, str(exc)) from None
    return value


def env_name(field: str, model: type[BaseSettings] = BridgeSettings) -> str:
    """The environment name a field is read from."""
    info = model.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, str):
        return alias
    prefix = model.model_config.get("env_prefix") or ""
    return f"{prefix}{field}".upper()


_SECRET_FIELDS = frozenset({"zoom_webhook_secret_token", "zoom_client_secret", "api_token", "langflow_api_key"})


def problems(exc: ValidationError, model: type[BaseSettings] = BridgeSettings,
             names: dict[str, str] | None = None) -> list[str]:
    """One line per bad setting: its environment name (or the option in `names`), what is wrong, and the value
    given unless it is a secret."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if not loc:  # a check across settings: its message names them
            lines.append(message)
            continue
        field = loc[0]
        name = (names or {}).get(field) or env_name(field, model)
        where = name + "".join(f"[{part}]" for part in loc[1:])
        given = error.get("input")
        shown = ""
        if field not in _SECRET_FIELDS and isinstance(given, (str, int, float)) and error["type"] != "value_error":
            text = str(given)
            shown = f" (got {text[:60] + '...' if len(text) > 60 else text!r})"
        lines.append(f"{where}: {message}{shown}")
    return lines
