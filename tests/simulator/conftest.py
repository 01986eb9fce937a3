"""Shared pieces of the simulator tests: credentials, a small transcript, a fast simulator config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.simulator import MeetingReport, MeetingSpec, Simulator
from bridge.simulator.config import SimulatorConfig
from bridge.simulator.transcripts import Transcript, TranscriptMeta, Utterance
from tests.simulator.rtms_client import ClientOptions, RtmsTestApp, StreamClient, StreamLog
from tests.waiting import until

CLIENT_ID = "sim-client-id"
CLIENT_SECRET = "sim-client-secret"
WEBHOOK_SECRET = "sim-webhook-secret-token"
SPEAKERS = (("Alice Adams", 16778240), ("Bob Brown", 16779264), ("Chen Cho", 16780288))


def make_transcript(lines: int = 6, *, step_ms: int = 1000, title: str = "test meeting") -> Transcript:
    """`lines` utterances, speakers taking turns, one every `step_ms`."""
    utterances = []
    for i in range(lines):
        name, uid = SPEAKERS[i % len(SPEAKERS)]
        utterances.append(
            Utterance(
                speaker=name,
                user_id=uid,
                start_ms=i * step_ms,
                end_ms=i * step_ms + step_ms - 100,
                text=f"line {i} from {name.split()[0]}",
            )
        )
    return Transcript(meta=TranscriptMeta(title=title), utterances=utterances)


def fast_config(webhook_url: str, **overrides: Any) -> SimulatorConfig:
    """Everything compressed so a test takes well under a second or two."""
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_url": webhook_url,
        "speed": 50.0,
        "keepalive_interval_s": 5.0,
        "signaling_reconnect_window_s": 5.0,
        "media_reconnect_window_s": 5.0,
        "webhook_timeout_s": 1.0,
        "webhook_retry_schedule_s": (0.05, 0.1, 0.2),
        "end_gap_s": 0.1,
    }
    values.update(overrides)
    return SimulatorConfig(**values)


async def run_meeting(
    spec: MeetingSpec,
    *,
    options: ClientOptions | None = None,
    within_s: float = 15.0,
    app_kwargs: dict[str, Any] | None = None,
    **config: Any,
) -> tuple[MeetingReport, StreamLog, RtmsTestApp, StreamClient]:
    """One meeting from webhook to stopped, against the test app; returns what both sides saw."""
    options = options or ClientOptions(CLIENT_ID, CLIENT_SECRET)
    async with (
        RtmsTestApp(WEBHOOK_SECRET, options, **(app_kwargs or {})) as app,
        Simulator(fast_config(app.url, **config)) as sim,
    ):
        handle = await sim.start_meeting(spec)
        report = await handle.wait(timeout=within_s)
        client = await app.client(handle.rtms_stream_id)
        log = await client.wait(within_s)
    assert not app.signature_errors, app.signature_errors
    return report, log, app, client


async def eventually(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    """Wait, bounded, for state another task owns (a test cannot await it directly)."""
    await until(predicate, timeout_s=within_s)
