"""The three signatures of RTMS: the WebSocket handshake HMAC, webhook `x-zm-signature`, URL-validation token.

Two different secrets are involved: the app's client secret signs handshakes, the webhook secret token signs
webhooks and answers the URL-validation challenge. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac

from bridge.rtms.errors import BadSignature, MissingSignature, StaleTimestamp

DEFAULT_TOLERANCE_S = 300
_MAX_TIMESTAMP_DIGITS = 15  # Unix seconds stay 10 digits until 2286; milliseconds (13) are refused as stale


def _hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def handshake_signature(client_id: str, client_secret: str, instance_id: str, rtms_stream_id: str) -> str:
    """Lowercase hex HMAC-SHA256 of `client_id,instance_id,rtms_stream_id` (the raw, not URL-decoded, uuid)."""
    return _hmac_hex(client_secret, f"{client_id},{instance_id},{rtms_stream_id}".encode())


def verify_handshake_signature(
    signature: str, client_id: str, client_secret: str, instance_id: str, rtms_stream_id: str
) -> bool:
    expected = handshake_signature(client_id, client_secret, instance_id, rtms_stream_id)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def webhook_signature(secret_token: str, timestamp: str, body: bytes) -> str:
    """The `x-zm-signature` value: `v0=` + hex HMAC-SHA256 over `v0:{timestamp}:{raw body}`."""
    return "v0=" + _hmac_hex(secret_token, b"v0:" + timestamp.encode("ascii") + b":" + body)


def verify_webhook_signature(
    secret_token: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise a `SignatureError` subclass unless the request was signed with `secret_token` within the window.

    `timestamp` is the `x-zm-request-timestamp` header (Unix seconds); a millisecond value is refused as stale
    rather than guessed at, since Zoom signs seconds.
    """
    if not signature:
        raise MissingSignature("x-zm-signature header missing")
    if not timestamp:
        raise MissingSignature("x-zm-request-timestamp header missing")
    ts_text = timestamp.strip()
    if not (ts_text.isascii() and ts_text.isdigit()):
        raise BadSignature("x-zm-request-timestamp is not an integer")
    if len(ts_text) > _MAX_TIMESTAMP_DIGITS:  # never converted: Python refuses 4,300+ digits
        raise StaleTimestamp("x-zm-request-timestamp is out of range")
    ts = int(ts_text)
    if abs(now_s - ts) > tolerance_s:
        raise StaleTimestamp(f"x-zm-request-timestamp is {int(now_s - ts)} s from now (window {int(tolerance_s)} s)")
    expected = webhook_signature(secret_token, ts_text, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise BadSignature("x-zm-signature does not match the body")


def url_validation_token(secret_token: str, plain_token: str) -> str:
    """The `encryptedToken` answer to `endpoint.url_validation`."""
    return _hmac_hex(secret_token, plain_token.encode("utf-8"))


def url_validation_response(secret_token: str, plain_token: str) -> dict[str, str]:
    return {"plainToken": plain_token, "encryptedToken": url_validation_token(secret_token, plain_token)}
