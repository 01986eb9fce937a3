from __future__ import annotations

import random

import pytest

from bridge.intake.reconnect import Backoff, next_delay
from bridge.intake.ssrf import RefusedUrl
from bridge.rtms.errors import HandshakeFailed, InvalidState

BACKOFF = Backoff(3.0, 30.0, random.Random(7))
LOST = ConnectionResetError("reset")


def test_backoff_ceiling_starts_at_3_doubles_and_caps_at_30() -> None:
    assert [BACKOFF.ceiling(n) for n in range(7)] == [3, 6, 12, 24, 30, 30, 30]
    assert Backoff(0.01, 0.05).ceiling(100) == 0.05


def test_delays_are_full_jitter_under_the_ceiling() -> None:
    for attempt in range(8):
        delays = [BACKOFF.delay(attempt) for _ in range(300)]
        ceiling = BACKOFF.ceiling(attempt)
        assert all(0 <= d <= ceiling for d in delays)
        # spread over the whole range, not bunched: streams cut together do not redial together
        assert min(delays) < 0.1 * ceiling and max(delays) > 0.9 * ceiling


def test_streams_lost_together_redial_apart() -> None:
    backoffs = [Backoff(3.0, 30.0, random.Random(seed)) for seed in range(1000)]
    first = sorted(round(b.delay(0), 1) for b in backoffs)
    assert len(set(first)) > 25  # 1000 streams spread over the first 3 s instead of one instant


def test_retries_fill_the_signaling_window_then_stop() -> None:
    lost_for, attempt, delays = 0.0, 0, []
    while (delay := next_delay(LOST, attempt=attempt, lost_for_s=lost_for, window_s=60, backoff=BACKOFF)) is not None:
        assert delay <= BACKOFF.ceiling(attempt)
        delays.append(delay)
        lost_for += delay
        attempt += 1
    assert sum(delays) == pytest.approx(60)  # the last one trimmed to the window, never past it


def test_media_window_is_65_s() -> None:
    assert next_delay(LOST, attempt=4, lost_for_s=64.5, window_s=65, backoff=BACKOFF) <= 0.5  # type: ignore[operator]
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
