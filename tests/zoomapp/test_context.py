"""Opening the Zoom App context: what Zoom seals with our secret opens; anything else is refused with its reason."""

from __future__ import annotations

import base64

import pytest

from bridge.zoomapp.context import ContextError, Problem, decrypt_context, open_context
from tests.zoomapp.zoom_context import context_payload, encrypt_context, now_ms, seal

SECRET = "zoom-app-client-secret-0123"
MID = "tCGp5zUNmQZ9A+dsV8NReQ=="


def refused(value: str | None, *, secret: str = SECRET, at: int | None = None) -> Problem:
    with pytest.raises(ContextError) as caught:
        decrypt_context(value, secret, now_ms=now_ms() if at is None else at)
    return caught.value.problem


def test_a_context_sealed_as_zoom_does_opens() -> None:
    payload = context_payload(MID, attendrole="host", entitlements=[], aud="client-id", iss="marketplace.zoom.us")
    context = decrypt_context(encrypt_context(payload, SECRET, aad=b"zoom"), SECRET, now_ms=now_ms())
    assert (context.typ, context.uid, context.mid) == ("meeting", "zoom-user-7Hq2", MID)
    assert context.exp - context.ts == 120_000
    assert context.model_extra == {"attendrole": "host", "entitlements": [], "aud": "client-id",
                                   "iss": "marketplace.zoom.us"}


def test_guest_context_without_uid_opens() -> None:
    context = decrypt_context(encrypt_context(context_payload(MID, uid=None), SECRET), SECRET, now_ms=now_ms())
    assert context.uid is None and context.mid == MID


def test_url_safe_alphabet_and_whitespace_are_tolerated() -> None:
    value = encrypt_context(context_payload(MID), SECRET, iv=b"\xfb" * 12)
    url_safe = value.replace("+", "-").replace("/", "_").rstrip("=")
    assert decrypt_context(f" {url_safe}\n", SECRET, now_ms=now_ms()).mid == MID


def test_missing() -> None:
    assert refused(None) is Problem.MISSING
    assert refused("  ") is Problem.MISSING


def test_forged_with_another_secret() -> None:
    assert refused(encrypt_context(context_payload(MID), "some-other-app-secret")) is Problem.FORGED


@pytest.mark.parametrize("where", ["iv", "aad", "ciphertext", "tag"])
def test_any_flipped_bit_is_forged(where: str) -> None:
    raw = bytearray(seal(b'{"typ":"meeting","mid":"m","ts":1,"exp":2}', SECRET, iv=b"\x01" * 12, aad=b"ad"))
    offsets = {"iv": 1, "aad": 1 + 12 + 2, "ciphertext": 1 + 12 + 2 + 2 + 4, "tag": len(raw) - 1}
    raw[offsets[where]] ^= 0x01
    assert refused(base64.b64encode(bytes(raw)).decode()) is Problem.FORGED


def test_expired() -> None:
    old = now_ms() - 600_000
    assert refused(encrypt_context(context_payload(MID, ts=old), SECRET)) is Problem.EXPIRED
    value = encrypt_context(context_payload(MID), SECRET)
    assert refused(value, at=now_ms() + 121_000) is Problem.EXPIRED


def test_seconds_instead_of_milliseconds_read_as_expired() -> None:
    """`ts`/`exp` are epoch milliseconds: a context in seconds is decades old, never accepted."""
    seconds = now_ms() // 1000
    assert refused(encrypt_context({"typ": "meeting", "mid": MID, "ts": seconds, "exp": seconds + 120},
                                   SECRET)) is Problem.EXPIRED


def test_issued_in_the_future_or_backwards() -> None:
    future = now_ms() + 3_600_000
    assert refused(encrypt_context(context_payload(MID, ts=future), SECRET)) is Problem.UNPARSEABLE
    assert refused(encrypt_context(context_payload(MID, lifetime_ms=-5), SECRET)) is Problem.UNPARSEABLE


def test_no_meeting() -> None:
    assert refused(encrypt_context(context_payload(None, typ="panel"), SECRET)) is Problem.NO_MEETING
    opened = decrypt_context(encrypt_context(context_payload(None, typ="panel"), SECRET), SECRET,
                             now_ms=now_ms(), require_meeting=False)
    assert opened.mid is None


@pytest.mark.parametrize("value", [
    "not base64 at all!",
    base64.b64encode(b"\x0c").decode(),  # an iv length and nothing else
    base64.b64encode(b"\x0c" + b"\x00" * 5).decode(),  # ends inside the iv
    base64.b64encode(b"\x00" + b"\x00\x00" + b"\x00\x00\x00\x00" + b"\x00" * 16).decode(),  # empty iv
    "A" * 9000,
])
def test_unparseable_layouts(value: str) -> None:
    assert refused(value) is Problem.UNPARSEABLE


def test_wrong_lengths_are_unparseable() -> None:
    raw = seal(b'{"typ":"meeting"}', SECRET, iv=b"\x02" * 12)
    assert refused(base64.b64encode(raw[:-1]).decode()) is Problem.UNPARSEABLE  # a 15-byte tag
    assert refused(base64.b64encode(raw + b"\x00").decode()) is Problem.UNPARSEABLE  # a 17-byte tag
    too_long = raw[:15] + (10_000).to_bytes(4, "little") + raw[19:]  # ciphertext length past the end
    assert refused(base64.b64encode(too_long).decode()) is Problem.UNPARSEABLE


@pytest.mark.parametrize("plaintext", [b"not json", b"[1, 2]", b"\xff\xfe", b'{"typ": "meeting"}',
                                       b'{"typ": "meeting", "mid": "m", "ts": "soon", "exp": 1}'])
def test_sealed_garbage_is_unparseable(plaintext: bytes) -> None:
    assert refused(encrypt_context(plaintext, SECRET)) is Problem.UNPARSEABLE


def test_errors_name_the_problem() -> None:
    with pytest.raises(ContextError, match="forged: it was not sealed with this app's client secret"):
        open_context(encrypt_context(context_payload(MID), "x"), SECRET)


def test_no_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="no client secret"):
        decrypt_context(encrypt_context(context_payload(MID), SECRET), "", now_ms=now_ms())
