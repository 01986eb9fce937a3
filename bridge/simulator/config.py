"""What a simulation is asked to do: the simulator's settings, each meeting, and the faults to inject.

Times are real seconds unless a name says otherwise; only the transcript replay is compressed by `speed`, so
keep-alive, reconnect and webhook timings stay what the client under test would meet (tests pass small values).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bridge.rtms.enums import MediaType, Product, StopReason, TranscriptLanguage
from bridge.simulator.transcripts import Transcript

ChaosKind = Literal[
    "drop_media",
    "drop_signaling",
    "failover",
    "stop",
    "duplicate_webhook",
    "delay_webhook",
    "ignore_keepalives_as_lost",
]
CHAOS_KINDS: tuple[ChaosKind, ...] = (
    "drop_media",
    "drop_signaling",
    "failover",
    "stop",
    "duplicate_webhook",
    "delay_webhook",
    "ignore_keepalives_as_lost",
)
MediaName = Literal["audio", "video", "deskshare", "transcript", "chat"]
MEDIA_BITS: dict[str, MediaType] = {
    "audio": MediaType.AUDIO,
    "video": MediaType.VIDEO,
    "deskshare": MediaType.DESKSHARE,
    "transcript": MediaType.TRANSCRIPT,
    "chat": MediaType.CHAT,
}

# What each product's app is typically granted. Contact Center and Phone stream voice only.
DEFAULT_SCOPES: dict[Product, MediaType] = {
    Product.MEETING: MediaType.AUDIO | MediaType.VIDEO | MediaType.DESKSHARE | MediaType.TRANSCRIPT | MediaType.CHAT,
    Product.WEBINAR: MediaType.AUDIO | MediaType.VIDEO | MediaType.DESKSHARE | MediaType.TRANSCRIPT | MediaType.CHAT,
    Product.SESSION: MediaType.AUDIO | MediaType.VIDEO | MediaType.DESKSHARE | MediaType.TRANSCRIPT | MediaType.CHAT,
    Product.CONTACT_CENTER: MediaType.AUDIO | MediaType.TRANSCRIPT,
    Product.PHONE: MediaType.AUDIO | MediaType.TRANSCRIPT,
}

DEFAULT_DELAY_S = 1.0
MIN_END_GAP_S = 0.1  # the official SDK drops a line that arrives with msg 8 state 4 (rtms-protocol.md 12.5)


class ChaosEvent(BaseModel):
    """A fault injected just before transcript line `at_line` (0-based) is written.

    Lines before it have been written when it strikes (the simulator waits for that), lines from it on are kept
    while the client reconnects and sent once it is back, so a correct client loses none and gets none twice.
    An `at_line` past the last line strikes after the last line, before the stream ends.

    * `drop_media`: the media socket carrying `media` (default: the transcript's) is cut without a close frame;
      event 7 and stream state 2 (reason 14) go out on signaling. Zoom waits `media_reconnect_window_s`.
    * `drop_signaling`: the signaling socket is cut, the media sockets with it, and `*.rtms_interrupted` is sent.
    * `failover`: both sockets are cut and `*.rtms_started` is sent again for the same stream with new URLs (the
      other server pair); the old servers then drop its handshakes unanswered, as a dead server would.
    * `stop`: the stream ends here with `stop_reason` (default 1, host triggered); later lines are never sent.
    * `duplicate_webhook`: the last `*.rtms_started` is delivered again, byte for byte (as a Zoom retry is).
    * `delay_webhook`: the next webhook is held back `delay_s`; at line 0 that is the first `*.rtms_started`.
    * `ignore_keepalives_as_lost`: the server stops hearing keep-alive answers on signaling, so after
      `keepalive_misses` requests it interrupts the stream as for a dead client (`*.rtms_interrupted`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ChaosKind
    at_line: int = Field(ge=0)
    stop_reason: int | None = Field(default=None, ge=0)
    delay_s: float | None = Field(default=None, ge=0)
    media: MediaName | None = None

    @model_validator(mode="after")
    def _arguments_fit(self) -> ChaosEvent:
        if self.stop_reason is not None and self.kind != "stop":
            raise ValueError(f"stop_reason applies to kind 'stop', not {self.kind!r}")
        if self.delay_s is not None and self.kind != "delay_webhook":
            raise ValueError(f"delay_s applies to kind 'delay_webhook', not {self.kind!r}")
        if self.media is not None and self.kind != "drop_media":
            raise ValueError(f"media applies to kind 'drop_media', not {self.kind!r}")
        return self

    @classmethod
    def parse(cls, text: str) -> ChaosEvent:
        """`KIND@LINE[:ARG]`: ARG is the stop reason (stop), seconds (delay_webhook) or a medium (drop_media)."""
        kind, sep, rest = text.strip().partition("@")
        if not sep or not rest:
            raise ValueError(f"chaos {text!r}: expected KIND@LINE[:ARG], e.g. drop_media@10")
        if kind not in CHAOS_KINDS:
            raise ValueError(f"chaos {text!r}: unknown kind {kind!r} (kinds: {', '.join(CHAOS_KINDS)})")
        line_text, _, arg = rest.partition(":")
        if not line_text.strip().isdigit():
            raise ValueError(f"chaos {text!r}: LINE must be a line number (0-based), got {line_text!r}")
        fields: dict[str, object] = {"kind": kind, "at_line": int(line_text)}
        if arg:
            if kind == "stop":
                if not arg.strip().isdigit():
                    raise ValueError(f"chaos {text!r}: ARG of stop is a stop reason number, got {arg!r}")
                fields["stop_reason"] = int(arg)
            elif kind == "delay_webhook":
                try:
                    fields["delay_s"] = float(arg)
                except ValueError:
                    raise ValueError(f"chaos {text!r}: ARG of delay_webhook is seconds, got {arg!r}") from None
            elif kind == "drop_media":
                if arg not in MEDIA_BITS:
                    raise ValueError(f"chaos {text!r}: ARG of drop_media is one of {', '.join(MEDIA_BITS)}")
                fields["media"] = arg
            else:
                raise ValueError(f"chaos {text!r}: kind {kind!r} takes no ARG")
        return cls.model_validate(fields)

    def __str__(self) -> str:
        arg = (
            self.stop_reason
            if self.stop_reason is not None
            else self.delay_s
            if self.delay_s is not None
            else self.media
        )
        return f"{self.kind}@{self.at_line}" + (f":{arg}" if arg is not None else "")


class MeetingSpec(BaseModel):
    """One simulated stream: what is said, by which product, with which faults."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    transcript: Transcript
    product: Product = Product.MEETING
    audio: bool = False
    """Send synthetic L16 audio when the client asks for audio (otherwise the participants are muted)."""
    chaos: list[ChaosEvent] = Field(default_factory=list)
    stop_reason: int = Field(default=StopReason.MEETING_ENDED, ge=0)
    """Reason given at the natural end of the replay."""
    scopes: MediaType | None = None
    """Media the app may receive; default per product (meetings: everything; Contact Center, Phone: voice)."""
    instance_id: str | None = Field(default=None, min_length=1)
    """meeting_uuid / webinar_uuid / session_id / engagement_id / call_id; generated when None."""
    rtms_stream_id: str | None = Field(default=None, min_length=1)
    language: int = TranscriptLanguage.ENGLISH
    name: str | None = None
    """A label for logs and the report (defaults to the transcript title)."""

    @property
    def effective_scopes(self) -> MediaType:
        return DEFAULT_SCOPES[self.product] if self.scopes is None else self.scopes


class SimulatorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    webhook_secret: SecretStr
    webhook_url: str
    extra_webhook_urls: tuple[str, ...] = ()
    """More endpoints behind the same logical webhook address, standing in for the account's load balancer in front
    of bridge replicas (Zoom itself posts to one URL); deliveries go round-robin over `webhook_urls`."""
    host: str = "127.0.0.1"
    port_signaling: int = Field(default=0, ge=0, le=65535)
    port_media: int = Field(default=0, ge=0, le=65535)
    speed: float = Field(default=1.0, gt=0)
    keepalive_interval_s: float = Field(default=10.0, gt=0)
    keepalive_misses: int = Field(default=3, ge=1)
    signaling_reconnect_window_s: float = Field(default=60.0, gt=0)
    media_reconnect_window_s: float = Field(default=65.0, gt=0)
    webhook_timeout_s: float = Field(default=3.0, gt=0)
    webhook_retry_schedule_s: tuple[float, ...] = (300.0, 1200.0, 3600.0)
    validate_url_first: bool = True
    frame_style: Literal["compact", "styled"] = "compact"
    frame_opcode: Literal["text", "binary"] = "text"
    require_event_subscription: bool = False
    media_mode: Literal["split", "unified"] = "unified"
    """What msg 2 advertises: one URL for every medium (unified) or one path per medium (split). The media
    server accepts any medium on any of them; the client chooses one socket for ALL or one per medium."""
    end_gap_s: float = Field(default=0.2, ge=MIN_END_GAP_S)
    """Real seconds between the last transcript line and msg 8 state 4."""
    handshake_timeout_s: float = Field(default=30.0, gt=0)
    """A socket that sends no handshake within this long is closed."""
    redeliver_s: float = Field(default=0.0, ge=0)
    """When a socket that carried transcript lines is lost before the stream's end, the lines written to it in
    the last this many real seconds are written again, in order, once a transcript socket streams again. Zoom
    documents no re-delivery (0, the default): this models at-least-once delivery across a client crash, so a
    test can check that the client deduplicates."""

    @property
    def webhook_urls(self) -> tuple[str, ...]:
        """Every webhook endpoint, the main one first."""
        return (self.webhook_url, *self.extra_webhook_urls)

    @field_validator("client_secret", "webhook_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("extra_webhook_urls")
    @classmethod
    def _http_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_http_url(url) for url in value)

    @field_validator("webhook_retry_schedule_s")
    @classmethod
    def _non_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays must be >= 0")
        return value


def _check_http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value
