"""The bridge process of `bench.intake_scale`: the real app under uvicorn, as `rtms-langflow serve` runs it, with a
measuring consumer and `GET /bench/stats` added. Run by the benchmark, not by hand.

Arrival time: the moment `RtmsStream._feed` gets a frame from `ws.recv()` (the first line of bridge code that sees
it). The benchmark wraps `_feed` (a context variable in the reader task) and `EventDispatcher.put` (which, in the
same task, stores the time under (stream_id, seq)); the consumer takes the difference to `time.monotonic()` when the
dispatcher's worker hands it the line. No bridge code changes: the wrappers live here and fail loudly if the
methods they wrap are renamed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import cProfile
import functools
import os
import signal
import time
from array import array
from collections import Counter
from typing import Any

import uvicorn

from bench.common import raise_nofile, summary_ms
from bridge.app import create_app
from bridge.intake.dispatch import EventDispatcher
from bridge.intake.events import MeetingEnded, MeetingEvent, Utterance
from bridge.intake.stream import RtmsStream
from bridge.logs import configure_logging
from bridge.settings import BridgeSettings

_ARRIVED: contextvars.ContextVar[float | None] = contextvars.ContextVar("bench_arrived", default=None)
_ARRIVALS: dict[tuple[str, int], float] = {}


def install_arrival_hooks() -> None:
    feed = RtmsStream._feed
    put = EventDispatcher.put
    if not (asyncio.iscoroutinefunction(feed) and asyncio.iscoroutinefunction(put)):
        raise RuntimeError("bench hooks: RtmsStream._feed / EventDispatcher.put changed; update bench/intake_bridge")

    @functools.wraps(feed)
    async def timed_feed(self: RtmsStream, link: Any, frame: str | bytes) -> Any:
        token = _ARRIVED.set(time.monotonic())
        try:
            return await feed(self, link, frame)
        finally:
            _ARRIVED.reset(token)

    @functools.wraps(put)
    async def timed_put(self: EventDispatcher, event: MeetingEvent) -> None:
        if isinstance(event, Utterance):
            arrived = _ARRIVED.get()
            if arrived is not None:
                _ARRIVALS[(event.stream_id, event.seq)] = arrived
        await put(self, event)

    RtmsStream._feed = timed_feed  # type: ignore[method-assign]
    EventDispatcher.put = timed_put  # type: ignore[method-assign]


class MeasuringConsumer:
    """Counts lines per stream (checking seq has no gap or repeat) and records, per line, the intake latency
    (arrival -> handle, monotonic) and the lateness against the simulator's schedule (wall clock - end_ms)."""

    def __init__(self) -> None:
        self.arrived_at = array("d")
        self.intake_s = array("d")
        self.schedule_s = array("d")
        self.lines: Counter[str] = Counter()
        self.order_errors = 0
        self.ended: Counter[str] = Counter()
        self.unmatched = 0

    async def handle(self, event: MeetingEvent) -> None:
        if isinstance(event, Utterance):
            now = time.monotonic()
            arrived = _ARRIVALS.pop((event.stream_id, event.seq), None)
            if arrived is None:
                self.unmatched += 1
            else:
                self.arrived_at.append(arrived)
                self.intake_s.append(now - arrived)
            self.schedule_s.append(max(0.0, time.time() - event.end_ms / 1000))
            self.lines[event.stream_id] += 1
            if event.seq != self.lines[event.stream_id]:
                self.order_errors += 1
        elif isinstance(event, MeetingEnded):
            self.ended[event.cause] += 1

    def stats(self, since: float, until: float) -> dict[str, Any]:
        """Counts, and latency summaries overall and for lines that arrived in [since, until] (monotonic clock,
        which on Linux is the same in every process: the benchmark passes its steady-state window)."""
        window = [d for t, d in zip(self.arrived_at, self.intake_s, strict=True) if since <= t <= until]
        return {"lines": sum(self.lines.values()), "streams_with_lines": len(self.lines),
                "order_errors": self.order_errors, "unmatched": self.unmatched, "ended": dict(self.ended),
                "intake": summary_ms(self.intake_s), "intake_window": summary_ms(window),
                "schedule": summary_ms(self.schedule_s)}


class LoopLag:
    """How late a 50 ms sleep wakes up: time a ready callback waits for the busy loop."""

    def __init__(self) -> None:
        self.at = array("d")
        self.lag_s = array("d")

    async def run(self) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.05)
            self.at.append(start)
            self.lag_s.append(max(0.0, time.monotonic() - start - 0.05))

    def window(self, since: float, until: float) -> list[float]:
        return [d for t, d in zip(self.at, self.lag_s, strict=True) if since <= t <= until]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", metavar="PATH", help="write a cProfile of the whole run here")
    args = parser.parse_args()
    raise_nofile(16384)
    install_arrival_hooks()
    settings = BridgeSettings(_env_file=None, port=args.port)
    configure_logging(settings.log_level)
    consumer = MeasuringConsumer()
    lag = LoopLag()
    app = create_app(settings, consumer)
    lag_task: list[asyncio.Task[None]] = []

    @app.get("/bench/stats", include_in_schema=False)
    async def bench_stats(since: float = 0.0, until: float = float("inf")) -> dict[str, Any]:
        if not lag_task:
            lag_task.append(asyncio.create_task(lag.run()))
        return {"pid": os.getpid(), "consumer": consumer.stats(since, until), "loop_lag": summary_ms(lag.lag_s),
                "loop_lag_window": summary_ms(lag.window(since, until)),
                "streams": len(app.state.bridge.manager.streams), "pending_arrivals": len(_ARRIVALS)}

    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_config=None, lifespan="on",
                            access_log=False, timeout_graceful_shutdown=int(settings.shutdown_timeout_s) + 5)
    server = uvicorn.Server(config)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        # uvicorn re-raises the SIGTERM it handled once it has shut down; with the default action that would end
        # the process before the profile is written.
        signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
        profiler.enable()
    server.run()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
