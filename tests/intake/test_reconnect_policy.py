from __future__ import annotations

import pytest

from bridge.intake.reconnect import Backoff, next_delay
from bridge.intake.ssrf import RefusedUrl
from bridge.rtms.errors import HandshakeFailed, InvalidState

BACKOFF = Backoff(3.0, 30.0)
LOST = ConnectionResetError("reset")


def test_backoff_starts_at_3_doubles_and_caps_at_30() -> None:
    assert [BACKOFF.delay(n) for n in range(7)] == [3, 6, 12, 24, 30, 30, 30]
    assert Backoff(0.01, 0.05).delay(100) == 0.05


def test_retries_fill_the_signaling_window_then_stop() -> None:
    lost_for, attempt, delays = 0.0, 0, []
    while (delay := next_delay(LOST, attempt=attempt, lost_for_s=lost_for, window_s=60, backoff=BACKOFF)) is not None:
        delays.append(delay)
        lost_for += delay
        attempt += 1
    assert delays == [3, 6, 12, 24, 15]  # the last one trimmed to the window
    assert sum(delays) == 60


def test_media_window_is_65_s() -> None:
    assert next_delay(LOST, attempt=4, lost_for_s=45, window_s=65, backoff=BACKOFF) == 20
    assert next_delay(LOST, attempt=0, lost_for_s=65, window_s=65, backoff=BACKOFF) is None


@pytest.mark.parametrize("error, was_connected, retry", [
    (HandshakeFailed("signaling", 3, "invalid signature"), False, False),
    (HandshakeFailed("signaling", 3, "invalid signature"), True, True),  # fail-over: old server forgets
    (HandshakeFailed("signaling", 2, "unknown rtms_stream_id"), True, True),
    (HandshakeFailed("signaling", 8, "duplicate signal request"), False, True),
    (HandshakeFailed("media", 16, "duplicate media data connection"), False, True),
    (RefusedUrl("host_not_allowed", "x"), True, False),
    (InvalidState("bug"), True, False),
    (TimeoutError(), False, True),
    (OSError("refused"), False, True),
])
def test_what_is_retried(error: BaseException, was_connected: bool, retry: bool) -> None:
    delay = next_delay(error, attempt=0, lost_for_s=0, window_s=60, backoff=BACKOFF, was_connected=was_connected)
    assert (delay is not None) is retry
