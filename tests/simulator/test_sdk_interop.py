"""Interop with a client nobody here wrote: Zoom's official `rtms` SDK joins a simulated stream from the webhook it
receives and must get every transcript line of the replay, once each, in order.

The SDK runs in its own venv (tests/interop/sdk_env.py); where its wheel cannot be installed (not Linux x86_64 with
glibc >= 2.34, no CPython 3.10-3.13, no registry) the test is skipped and says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.simulator import ChaosEvent, MeetingReport, MeetingSpec, Simulator
from bridge.simulator.transcripts import Transcript, load_transcript
from tests.interop.harness import start_sdk_client
from tests.interop.sdk_env import SdkUnavailable, ensure_sdk_python
from tests.simulator.conftest import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET, fast_config

SDK_ENV = {
    "ZOOM_WEBHOOK_SECRET_TOKEN": WEBHOOK_SECRET,
    "ZOOM_CLIENT_ID": CLIENT_ID,
    "ZOOM_CLIENT_SECRET": CLIENT_SECRET,
}
LINES = 8  # the first 63 s of the sales call: about 5 s at 12x


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    try:
        return ensure_sdk_python()
    except SdkUnavailable as exc:
        pytest.skip(f"official Zoom RTMS SDK unavailable: {exc}")


def _slice(lines: int) -> Transcript:
    sales = load_transcript("sales")
    return Transcript(meta=sales.meta, utterances=sales.utterances[:lines])


async def _replay_to_sdk(sdk_python: Path, spec: MeetingSpec) -> tuple[MeetingReport, list[dict[str, Any]], str]:
    sdk = await start_sdk_client(sdk_python, SDK_ENV, timeout_s=60)
    try:
        config = fast_config(sdk.webhook_url, speed=12.0, keepalive_interval_s=0.5)
        async with Simulator(config) as sim:
            handle = await sim.start_meeting(spec)
            report = await handle.wait(timeout=60)
            events = await sdk.collect_until_leave(timeout=20)
    finally:
        await sdk.aclose()
    return report, events, handle.rtms_stream_id


@pytest.mark.parametrize(
    "chaos",
    [[], ["drop_media@2", "drop_signaling@5"]],
    ids=["plain", "media-and-signaling-drops"],
)
async def test_official_sdk_gets_every_line(sdk_python: Path, chaos: list[str]) -> None:
    transcript = _slice(LINES)
    spec = MeetingSpec(transcript=transcript, chaos=[ChaosEvent.parse(c) for c in chaos])
    report, events, stream_id = await _replay_to_sdk(sdk_python, spec)

    joined = [e for e in events if e["event"] == "joined"]
    assert joined and joined[0]["reason"] == 0, events
    got = [e for e in events if e["event"] == "transcript"]
    assert [e["text"] for e in got] == [u.text for u in transcript.utterances]  # every line, once, in order
    assert [e["user_name"] for e in got] == [u.speaker for u in transcript.utterances]
    assert [e["user_id"] for e in got] == [u.user_id for u in transcript.utterances]
    assert all(e["stream_id"] == stream_id for e in got)
    assert [e["end"] - e["start"] for e in got] == [u.end_ms - u.start_ms for u in transcript.utterances]
    speakers = {e["user_id"] for e in events if e["event"] == "active_speaker"}
    if not chaos:  # events are not buffered: those that fall inside a drop are gone, as with Zoom
        assert speakers == set(transcript.speakers.values())
    leave = [e for e in events if e["event"] == "leave"]
    assert leave and leave[0]["reason"] == 6
    assert report.lines_sent == LINES and report.complete, report
    assert report.chaos_applied == chaos
    if chaos:
        assert report.reconnects >= 2  # the SDK rejoined after each drop, by itself
    started = [w for w in report.webhooks if w.event == "meeting.rtms_started"]
    assert [w.status for w in started] == [200]
    assert report.webhooks[-1] == ("meeting.rtms_stopped", 200, 1)
