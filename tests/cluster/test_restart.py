"""One bridge on its own (no Redis, the embedded SQLite store, a real process: `python -m bridge.cli serve`), killed
(SIGKILL) or stopped (SIGTERM) in the middle of two meetings and started again on the same data dir within Zoom's
60 s reconnect window: it resumes both meetings from its store. Every line is captured once, each meeting ends
normally (Zoom ends it: cause `terminated` or `stopped`) and its final windows run in a real Langflow.

The simulator stands in for Zoom. After the bridge's sockets go away it sends `*.rtms_interrupted` (retried while
nobody answers, as Zoom retries a webhook) and keeps the stream for the reconnect window. It re-sends the lines of
the last seconds after an abrupt socket loss (`redeliver_s`): Zoom documents no such re-delivery, but a killed
bridge loses what it had read and not yet stored, so the test gives it at-least-once delivery and checks that each
line is stored once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from bridge.langflow_process import free_port
from bridge.rtms.enums import StopReason
from bridge.simulator import MeetingSpec, Simulator
from bridge.simulator.transcripts import load_transcript
from bridge.store import Store
from tests.cluster.replicas import Replica, bridge_env
from tests.cluster.test_replicas import replica_env, wait_for
from tests.conftest import ARTIFACTS
from tests.intake.live import simulator_config
from tests.langflow.meetings import SAMPLES_DIR
from tests.langflow_server import LangflowServer, OfflineLLMProcess
from tests.pipeline.test_live import flows_file

pytestmark = [pytest.mark.heavy, pytest.mark.timeout(900)]

SLICE_MS = 240_000  # four minutes of each sample
SPEED = 5.0  # each meeting lasts about 50 s


def solo_env(langflow: LangflowServer, llm: OfflineLLMProcess, flows: Path, db: Path) -> dict[str, str]:
    env = replica_env(langflow, llm, flows)
    for key in ("BRIDGE_LEASE_TTL_S", "BRIDGE_CLUSTER_SWEEP_S"):
        env.pop(key)
    return bridge_env(**env, BRIDGE_DATABASE_URL=f"sqlite+aiosqlite:///{db}")


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
async def test_a_single_bridge_resumes_its_meetings_after_a_restart(
    stop: str, langflow: LangflowServer, offline_llm_process: OfflineLLMProcess, tmp_path: Path
) -> None:
    samples = [load_transcript(SAMPLES_DIR / f"{n}.jsonl").sliced(SLICE_MS) for n in ("sales_discovery",
                                                                                        "support_call")]
    specs = [MeetingSpec(transcript=t, name=f"m{i}") for i, t in enumerate(samples)]
    db = tmp_path / "data" / "bridge.db"
    db.parent.mkdir()
    workdir = ARTIFACTS / "restart"
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{stop.lower()}.log"
    log_path.unlink(missing_ok=True)
    bridge = Replica("solo", free_port(), solo_env(langflow, offline_llm_process, flows_file(tmp_path), db),
                     log_path)
    url = f"sqlite+aiosqlite:///{db}"
    try:
        bridge.start()
        await bridge.wait_ready()
        config = simulator_config(bridge.webhook_url, speed=SPEED, keepalive_interval_s=2.0,
                                  signaling_reconnect_window_s=60.0, media_reconnect_window_s=60.0,
                                  redeliver_s=10.0, webhook_retry_schedule_s=(1.0, 2.0, 4.0, 8.0))
        async with Simulator(config) as sim:
            handles = await sim.start_meetings(specs)
            ids = [h.rtms_stream_id for h in handles]
            store = await Store.open(url)
            try:
                async def some_lines() -> bool:
                    return all([await store.last_line_seq(s) >= 15 for s in ids])

                await wait_for("lines stored before the stop", some_lines, 60)
            finally:
                await store.close()

            stopped_at = time.monotonic()
            if stop == "SIGKILL":
                bridge.kill()
            else:
                bridge.terminate()
                # uvicorn re-raises SIGTERM once its graceful shutdown is over: -15 is a clean exit here
                assert await bridge.wait_exit(60) in (0, -signal.SIGTERM)
            bridge.start()
            await bridge.wait_ready()
            back_s = time.monotonic() - stopped_at
            assert back_s < 50, f"the bridge took {back_s:.0f} s to come back: past Zoom's reconnect window"

            reports = await asyncio.gather(*(h.wait(timeout=300) for h in handles))

        store = await Store.open(url)
        try:
            async def finished() -> bool:
                meetings = [await store.get_meeting(s) for s in ids]
                unfinished = [await store.unfinished_windows(s) for s in ids]
                return all(m is not None and m.status == "ended" for m in meetings) and not any(unfinished)

            await wait_for("both meetings ended with their windows done", finished, 240, every_s=0.5)
            for spec, stream_id, report in zip(specs, ids, reports, strict=True):
                # Zoom's side: the meeting ran to its natural end and the bridge came back to it.
                assert report.complete, (spec.name, report.lines_sent, report.lines_total, report.errors)
                assert report.stop_reason == StopReason.MEETING_ENDED, (spec.name, report.stop_reason)
                assert report.signaling_connections >= 2, (spec.name, "was not reconnected")
                # The store's side: each line once, numbered without gaps; all said, nothing twice.
                lines = await store.lines(stream_id)
                assert [line.seq for line in lines] == list(range(1, report.lines_total + 1)), spec.name
                said = Counter((str(u.user_id), u.text) for u in spec.transcript.utterances)
                assert Counter((line.user_id, line.text) for line in lines) == said, spec.name
                meeting = await store.get_meeting(stream_id)
                # Ended by Zoom (stream state 4 on the socket, or the stopped webhook, whichever came first).
                assert meeting is not None and meeting.status == "ended", meeting
                assert meeting.end_cause in ("terminated", "stopped"), meeting.end_cause
                # Every window done, no line sent to a flow twice, the last line windowed, final windows run.
                windows = await store.windows(stream_id)
                assert windows and {w.status for w in windows} == {"done"}, Counter(w.status for w in windows)
                for flow in {w.flow for w in windows}:
                    spans = sorted((w.first_line_seq, w.last_line_seq) for w in windows if w.flow == flow)
                    for (_, end), (start, _) in itertools.pairwise(spans):
                        assert start > end, (spec.name, flow, spans)
                assert max(w.last_line_seq for w in windows) == report.lines_total
                assert any(w.trigger == "final" for w in windows), spec.name
        finally:
            await store.close()
        records = bridge.log_records()
        assert any(r.get("event") == "stream resumed from the store" for r in records)
        assert not any(r.get("outcome") == "unknown_stream" for r in records)
        (workdir / f"{stop.lower()}.json").write_text(json.dumps({
            "stop": stop, "back_s": round(back_s, 1), "lines": sum(r.lines_total for r in reports),
            "redelivered": sum(r.lines_redelivered for r in reports),
            "reconnects": [r.signaling_connections for r in reports]}, indent=2))
    finally:
        bridge.kill()
