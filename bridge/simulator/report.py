"""What happened to one simulated stream, for tests, the CLI's final report and anyone checking a client."""

from __future__ import annotations

from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from bridge.rtms.enums import Product


class WebhookRecord(NamedTuple):
    """One webhook delivery: its event, the last HTTP status (None: no answer in time) and attempts made."""

    event: str
    status: int | None
    attempts: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class RejectedHandshake(NamedTuple):
    socket: str  # "signaling" or "media"
    status_code: int | None  # the shared HandshakeRejected event's type; the simulator always sets one
    reason: str


class MeetingReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    product: Product
    instance_id: str
    rtms_stream_id: str
    lines_total: int
    lines_sent: int
    """Transcript lines actually written to a media socket, each once."""
    lines_discarded: int = 0
    """Lines due while the client was connected without a transcript socket (it did not ask for transcripts)."""
    lines_redelivered: int = 0
    """Writes of a line already sent, after its socket was lost (`redeliver_s` > 0); not in `lines_sent`."""
    stop_reason: int
    webhooks: list[WebhookRecord] = Field(default_factory=list)
    connections: int = 0
    """Accepted handshakes, signaling and media together."""
    signaling_connections: int = 0
    media_connections: int = 0
    reconnects: int = 0
    """Accepted handshakes that replaced a connection the stream had lost."""
    rejected_handshakes: list[RejectedHandshake] = Field(default_factory=list)
    keepalives_sent: int = 0
    keepalives_answered: int = 0
    audio_packets_sent: int = 0
    chaos_applied: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    duration_s: float = 0.0

    @property
    def complete(self) -> bool:
        """Every line was written and nothing went wrong on the simulator's side."""
        return self.lines_sent == self.lines_total and not self.errors
