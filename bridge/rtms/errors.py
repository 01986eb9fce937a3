"""The one error tree of the RTMS core.

    RtmsError
    ├── ProtocolError            the peer broke the protocol (a bad frame, a refused handshake)
    │   ├── MalformedFrame       a frame that cannot be decoded; names the field and the problem
    │   │   └── UnknownMessageType
    │   └── HandshakeFailed      the peer answered a handshake with a non-zero status code
    ├── InvalidState             we misused a state machine (also an AssertionError: it is a bug here)
    ├── SignatureError           a webhook whose signature cannot be trusted (HTTP 401)
    │   ├── MissingSignature
    │   ├── StaleTimestamp
    │   └── BadSignature
    └── WebhookError
        ├── MalformedWebhook     not JSON, or a known event whose payload misses a field (HTTP 400)
        └── UnknownWebhookEvent  a well-formed event this code does not handle (HTTP 200, ignored)

Messages never carry payload text (transcripts are private): only field names, types and short reasons.
"""

from __future__ import annotations


class RtmsError(Exception):
    """Base of every error raised by the RTMS core."""


class ProtocolError(RtmsError):
    """The peer broke the protocol."""


class MalformedFrame(ProtocolError):
    """A frame that cannot be decoded into a message."""

    def __init__(self, reason: str, *, field: str | None = None, msg_type: int | None = None) -> None:
        self.reason = reason
        self.field = field
        self.msg_type = msg_type
        where = []
        if msg_type is not None:
            where.append(f"msg_type {msg_type}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(f"malformed RTMS frame: {prefix}{reason}")


class UnknownMessageType(MalformedFrame):
    """A JSON message whose msg_type is not part of protocol V1."""

    def __init__(self, msg_type: int) -> None:
        super().__init__("unknown message type", field="msg_type", msg_type=msg_type)


class HandshakeFailed(ProtocolError):
    """A handshake answered with a non-zero status code."""

    def __init__(self, stage: str, status_code: int | None, reason: str | None) -> None:
        self.stage = stage
        self.status_code = status_code
        self.reason = reason
        super().__init__(f"{stage} handshake failed: status {status_code} ({reason or 'no reason given'})")


class InvalidState(RtmsError, AssertionError):
    """A state machine was asked to do something its state does not allow: a bug in the caller."""


class SignatureError(RtmsError):
    """A webhook request whose signature cannot be trusted."""


class MissingSignature(SignatureError):
    pass


class StaleTimestamp(SignatureError):
    pass


class BadSignature(SignatureError):
    pass


class WebhookError(RtmsError):
    pass


class MalformedWebhook(WebhookError):
    def __init__(self, reason: str, *, field: str | None = None, event: str | None = None) -> None:
        self.reason = reason
        self.field = field
        self.event = event
        parts = [p for p in (f"event {event!r}" if event else None, f"field {field!r}" if field else None) if p]
        prefix = f"{', '.join(parts)}: " if parts else ""
        super().__init__(f"malformed webhook: {prefix}{reason}")


class UnknownWebhookEvent(WebhookError):
    def __init__(self, event: str) -> None:
        self.event = event
        super().__init__(f"unknown webhook event {event!r}")
