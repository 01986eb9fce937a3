"""The double's clock, which the prompt cache's 5-minute lifetime is measured on.

Benchmarks replay an hour-long meeting in minutes, so wall time would keep every cache entry alive; the lifetime
must run in the meeting's time. Two clocks: `ScaledClock` (wall time since start-up times a scale: 1.0 for the
demo and for meetings played at real time, 60.0 when a replay runs 60x faster), and `ManualClock`, set by the
benchmark to the meeting time of each request (`POST /clock {"now_ms": ...}` on the server).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> float: ...


class ScaledClock:
    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be > 0, got {scale}")
        self.scale = scale
        self._start = time.monotonic()

    def now_ms(self) -> float:
        return (time.monotonic() - self._start) * 1000 * self.scale


class ManualClock:
    """Meeting time as the caller says; it may be set back (a new meeting starts at 0)."""

    def __init__(self, now_ms: float = 0.0) -> None:
        self._now = now_ms

    def set(self, now_ms: float) -> None:
        self._now = now_ms

    def now_ms(self) -> float:
        return self._now
