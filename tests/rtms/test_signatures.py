"""The three RTMS signatures against known vectors and against an independent HMAC computed here."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bridge.rtms.errors import BadSignature, MissingSignature, RtmsError, SignatureError, StaleTimestamp
from bridge.rtms.signatures import (
    DEFAULT_TOLERANCE_S,
    handshake_signature,
    url_validation_response,
    url_validation_token,
    verify_handshake_signature,
    verify_webhook_signature,
    webhook_signature,
)
from tests.rtms.golden import CLIENT_ID, CLIENT_SECRET, MEETING_UUID, SDK_SIGNATURE, STREAM_ID

WEBHOOK_SECRET = "rtms-test-webhook-secret"
# The OpenAPI meeting.rtms_started example, byte for byte as Zoom sends it (compact JSON).
BODY = (
    b'{"event":"meeting.rtms_started","event_ts":1626230691572,"payload":{"meeting_uuid":"4444AAAiAAAAAiAiAiiAii==",'
    b'"operator_id":"30R7kT7bTIKSNUFEuH_Qlg","rtms_stream_id":"609340fb2a7946909659956c8aa9250c",'
    b'"server_urls":"wss://127.0.0.1:443"}}'
)
TS = "1626230691"  # x-zm-request-timestamp: Unix seconds, while the body's event_ts is milliseconds
NOW = 1626230691.0
# HMAC-SHA256(WEBHOOK_SECRET, b"v0:" + TS + b":" + BODY), hex
BODY_SIGNATURE = "v0=736d93543e792b8ae8da820f3f25e5e46b2322d9a1a6062f45369d175e68fdff"


def _independent(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Handshake (msg_type 1 and 3)


def test_handshake_vector_from_the_official_sdk() -> None:
    signature = handshake_signature(CLIENT_ID, CLIENT_SECRET, MEETING_UUID, STREAM_ID)
    assert signature == SDK_SIGNATURE
    assert signature.startswith("ffc60552") and signature.endswith("59f9")
    assert signature == _independent(CLIENT_SECRET, f"{CLIENT_ID},{MEETING_UUID},{STREAM_ID}".encode())


@pytest.mark.parametrize("instance_id", ["8888WwWwWwWwWwWwWwWwWw==", "a/b+c==", "eng_1234", "call-5678", "%2Fx%3D"])
def test_handshake_signs_the_raw_id_with_commas(instance_id: str) -> None:
    expected = _independent("secret", f"client,{instance_id},stream".encode())
    assert handshake_signature("client", "secret", instance_id, "stream") == expected


def test_verify_handshake_signature() -> None:
    args = (CLIENT_ID, CLIENT_SECRET, MEETING_UUID, STREAM_ID)
    assert verify_handshake_signature(SDK_SIGNATURE, *args)
    assert verify_handshake_signature(f"  {SDK_SIGNATURE.upper()}\n", *args)
    assert not verify_handshake_signature(SDK_SIGNATURE[:-1] + "0", *args)
    assert not verify_handshake_signature("", *args)
    assert not verify_handshake_signature(SDK_SIGNATURE, CLIENT_ID, "other secret", MEETING_UUID, STREAM_ID)
    # the readme of the old mock server drops the commas: that is not the signature
    no_commas = _independent(CLIENT_SECRET, f"{CLIENT_ID}{MEETING_UUID}{STREAM_ID}".encode())
    assert not verify_handshake_signature(no_commas, *args)


# ---------------------------------------------------------------------------------------------------------------
# Webhook x-zm-signature


def test_webhook_signature_vector() -> None:
    assert webhook_signature(WEBHOOK_SECRET, TS, BODY) == BODY_SIGNATURE
    assert "v0=" + _independent(WEBHOOK_SECRET, b"v0:" + TS.encode() + b":" + BODY) == BODY_SIGNATURE


def _verify(**overrides: object) -> None:
    kwargs: dict[str, object] = {"timestamp": TS, "signature": BODY_SIGNATURE, "body": BODY, "now_s": NOW}
    kwargs.update(overrides)
    secret = str(kwargs.pop("secret", WEBHOOK_SECRET))
    verify_webhook_signature(secret, **kwargs)  # type: ignore[arg-type]


def test_good_signature_passes() -> None:
    _verify()
    _verify(now_s=NOW + DEFAULT_TOLERANCE_S)
    _verify(now_s=NOW - DEFAULT_TOLERANCE_S)
    _verify(now_s=NOW + 0.5)


def test_surrounding_whitespace_in_headers_is_ignored() -> None:
    _verify(timestamp=f" {TS}\t", signature=f"  {BODY_SIGNATURE} \r\n")


REFUSED: list[tuple[str, dict[str, object], type[SignatureError], str]] = [
    ("signature header missing", {"signature": None}, MissingSignature, "x-zm-signature"),
    ("signature header empty", {"signature": ""}, MissingSignature, "x-zm-signature"),
    ("timestamp header missing", {"timestamp": None}, MissingSignature, "x-zm-request-timestamp"),
    ("timestamp header empty", {"timestamp": ""}, MissingSignature, "x-zm-request-timestamp"),
    ("stale: too old", {"now_s": NOW + DEFAULT_TOLERANCE_S + 1}, StaleTimestamp, "window 300"),
    ("stale: from the future", {"now_s": NOW - DEFAULT_TOLERANCE_S - 1}, StaleTimestamp, "window 300"),
    ("milliseconds instead of seconds", {"timestamp": "1626230691572"}, StaleTimestamp, "from now"),
    ("custom window", {"now_s": NOW + 61, "tolerance_s": 60}, StaleTimestamp, "window 60"),
    ("timestamp not an integer", {"timestamp": "yesterday"}, BadSignature, "not an integer"),
    ("timestamp fractional", {"timestamp": "1626230691.5"}, BadSignature, "not an integer"),
    ("timestamp negative", {"timestamp": "-1626230691"}, BadSignature, "not an integer"),
    ("timestamp with underscores", {"timestamp": "1_626_230_691"}, BadSignature, "not an integer"),
    ("timestamp only whitespace", {"timestamp": "   "}, BadSignature, "not an integer"),
    ("timestamp in non-ASCII digits", {"timestamp": "\u0661\u0662\u0663"}, BadSignature, "not an integer"),
    ("tampered body", {"body": BODY.replace(b"443", b"444")}, BadSignature, "does not match"),
    ("body re-serialized with spaces", {"body": BODY.replace(b'":"', b'": "')}, BadSignature, "does not match"),
    ("wrong secret", {"secret": "client secret, not the webhook token"}, BadSignature, "does not match"),
    ("timestamp of another request", {"timestamp": str(int(TS) + 1)}, BadSignature, "does not match"),
    ("signature without v0=", {"signature": BODY_SIGNATURE[3:]}, BadSignature, "does not match"),
    ("signature in upper case", {"signature": "v0=" + BODY_SIGNATURE[3:].upper()}, BadSignature, "does not match"),
    ("signature with non-ASCII", {"signature": "v0=\u00e9"}, BadSignature, "does not match"),
]


@pytest.mark.parametrize(("overrides", "error", "words"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_signatures(overrides: dict[str, object], error: type[SignatureError], words: str) -> None:
    with pytest.raises(error) as info:
        _verify(**overrides)
    assert type(info.value) is error
    assert isinstance(info.value, SignatureError) and isinstance(info.value, RtmsError)
    text = str(info.value)
    assert words in text
    assert WEBHOOK_SECRET not in text and "meeting_uuid" not in text and BODY_SIGNATURE[3:] not in text


# ---------------------------------------------------------------------------------------------------------------
# endpoint.url_validation


def test_url_validation_token_vector() -> None:
    plain = "qgg8vlvZRS6UYooatFL8Aw"
    token = url_validation_token(WEBHOOK_SECRET, plain)
    assert token == "00798d281033feb3fc67f341210e24948e3d10f957f24467d293a5f464835a67"
    assert token == _independent(WEBHOOK_SECRET, plain.encode())
    assert url_validation_response(WEBHOOK_SECRET, plain) == {"plainToken": plain, "encryptedToken": token}


def test_url_validation_token_depends_on_both_inputs() -> None:
    base = url_validation_token("a", "token")
    assert url_validation_token("b", "token") != base
    assert url_validation_token("a", "token2") != base
    assert base == base.lower() and len(base) == 64
