"""When to reconnect a stream, and when to give up: one pure function, `next_delay`, decides for every failure.

The four scenarios of rtms-protocol.md section 11: (1) fail-over, a new `*.rtms_started` for a live stream, redo
everything at once on the new URL; (2) the signaling socket is lost, redo signaling and media within Zoom's
signaling window (60 s); (3) one media socket is lost, redo that socket within the media window (65 s); (4) the
stream is terminated (stream state 4 or `*.rtms_stopped`): never reconnect.

The one reconnect loop (`RtmsStream.run` for signaling, `_media_loop` for one media socket) waits `next_delay`
between attempts: full jitter, uniform in [0, min(cap, base * 2**attempt)] (base 3 s, cap 30 s, configurable), so
thousands of streams cut by one Zoom fail-over do not redial in lockstep. Worst case, in one place: a lost stream
is redialled until `window_s` after the loss (60 s signaling, 65 s media) and then ended (`gave_up`); no wait
reaches past the window, and each attempt is bounded by `connect_timeout_s`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

from bridge.intake.ssrf import RefusedUrl
from bridge.rtms.client import is_duplicate
from bridge.rtms.errors import HandshakeFailed, InvalidState


class Scenario(StrEnum):
    FAILOVER = "failover"
    SIGNALING = "signaling"
    MEDIA = "media"


@dataclass(frozen=True)
class Backoff:
    base_s: float = 3.0
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def ceiling(self, attempt: int) -> float:
        """The longest wait before attempt number `attempt` (0-based): base, 2 base, 4 base ... capped."""
        return float(min(self.cap_s, self.base_s * 2.0 ** min(attempt, 32)))

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, ceiling(attempt)]."""
        return self.rng.uniform(0.0, self.ceiling(attempt))


def is_permanent(error: BaseException, *, was_connected: bool = False) -> bool:
    """Failures no retry can fix: the URL is not allowed, our own bug, or Zoom refusing the first handshake (bad
    signature, unknown stream, missing scope). A duplicate-connection refusal (status 8, 15, 16) is transient.

    Once the stream has been up, a refusal is not final: a server that failed over answers "unknown stream"
    until the new `*.rtms_started` arrives, so it is retried inside the window (the stopped webhook or the
    window's end still stop it).
    """
    if isinstance(error, HandshakeFailed):
        return not is_duplicate(error) and not was_connected
    return isinstance(error, (RefusedUrl, InvalidState))


def next_delay(error: BaseException, *, attempt: int, lost_for_s: float, window_s: float,
               backoff: Backoff, was_connected: bool = False) -> float | None:
    """Seconds to wait before the next attempt after `error`, or None to stop.

    `attempt` counts failed attempts since the connection was last good; `lost_for_s` is how long it has been
    down; `was_connected` says whether the stream was ever fully up. The delay is trimmed so the attempt still
    falls inside Zoom's reconnect window.
    """
    if is_permanent(error, was_connected=was_connected):
        return None
    remaining = window_s - lost_for_s
    if remaining <= 0:
        return None
    return min(backoff.delay(attempt), remaining)
