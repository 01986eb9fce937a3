"""Two Langflow workers behind the bridge, as a deployment with many meetings runs them: Langflow 1.13 with
`LANGFLOW_WORKERS=2` (gunicorn), a PostgreSQL database of its own (created for the test, dropped after it) and Redis
for its job queue and cache (`bridge.langflow_process.SharedBackends`). The simulator replays the three sample
meetings into the bridge; mid-meeting one worker process is SIGKILLed (gunicorn starts a new one) and the bridge's
runner retries what it had in flight. Then every window is done once, every line windowed, each planted finding
stored once, and each meeting's answers are its own (its windows, quotes said in it; Langflow's shared message
table, where its flows store messages, keeps each window in its meeting's session).

`heavy`: a Langflow of its own with two workers, migrated then started: the whole test took 105 s on a quiet
2-core machine and 5-8 min under load (on top of the suite's own server).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections import Counter
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from bridge.contracts import parse_window
from bridge.langflow_process import SharedBackends, scratch_postgres
from bridge.simulator import MeetingSpec
from bridge.simulator.transcripts import load_transcript
from tests.conftest import OFFLINE_KEY
from tests.intake.conftest import Collector
from tests.intake.live import serve_bridge
from tests.langflow_server import REPO, STARTUP_TIMEOUT_S, LangflowServer, OfflineLLMProcess
from tests.pipeline.test_live import (
    SAMPLES,
    bridge_settings,
    check_samples,
    flows_file,
    norm,
    pipeline_of,
    simulator,
    store_of,
)
from tests.waiting import until

pytestmark = [pytest.mark.heavy, pytest.mark.timeout(1200)]

PG_ADMIN = os.environ.get("WORKERS_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_QUEUE_DB, REDIS_CACHE_DB = 12, 13  # Redis databases of this test alone (the cluster tests use 0 with prefixes)
SPEED = 20.0  # each sample lasts ~13 min: ~40 s of replay, time for a kill mid-meeting


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sessions_in(database_url: str) -> list[tuple[str, str]]:
    """(session_id, text) of the windows Langflow stored as user messages in its shared database."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT session_id, text FROM message WHERE sender = 'User'")
    finally:
        await conn.close()
    return [(r["session_id"], r["text"]) for r in rows]


async def test_two_workers_answer_every_window_once_through_a_worker_kill(
    offline_llm_process: OfflineLLMProcess, tmp_path: Path
) -> None:
    async with scratch_postgres(PG_ADMIN, prefix="lf_workers") as database_url:
        server = LangflowServer(
            workdir=tmp_path / "langflow",
            backend_only=True,
            workers=2,
            shared=SharedBackends(database_url, queue_db=REDIS_QUEUE_DB, cache_db=REDIS_CACHE_DB),
            env_overrides={
                "LANGFLOW_LOAD_FLOWS_PATH": str(REPO / "flows"),
                "LANGFLOW_SSRF_ALLOWED_HOSTS": "127.0.0.1",
                "LANGFLOW_PROVIDER_CREDENTIAL_ALLOWED_HOSTS": "http://127.0.0.1",
                "ANTHROPIC_API_KEY": OFFLINE_KEY,
            },
        )
        try:
            await asyncio.to_thread(server.migrate)
            await asyncio.to_thread(server.start)
            # gunicorn forks its workers around the first answer
            await until(lambda: len(server.worker_pids()) == 2, timeout_s=STARTUP_TIMEOUT_S, what="two workers",
                        poll_s=0.5)
            workers = server.worker_pids()
            assert len(workers) == 2, workers
            await run_meetings(server, workers, offline_llm_process, tmp_path, database_url)
        finally:
            server.stop()
            assert server.shared is not None
            await server.shared.flush_redis()


async def run_meetings(server: LangflowServer, workers: list[int], llm: OfflineLLMProcess, tmp_path: Path,
                       database_url: str) -> None:
    settings = bridge_settings(server.base_url, server.api_key, llm, tmp_path / "bridge.db",
                               flows_config=flows_file(tmp_path))
    cpu_before = {pid: cpu_s(pid) for pid in workers}
    async with serve_bridge(settings, Collector()) as live:
        pipeline, store = pipeline_of(live), store_of(live)
        async with simulator(live, SPEED) as sim:
            handles = {name: await sim.start_meeting(MeetingSpec(transcript=load_transcript(name)))
                       for name in SAMPLES}
            metrics = live.app.state.bridge.metrics.registry
            def windows_done() -> float:
                return sum(metrics.get_sample_value("rtms_pipeline_windows_done_total", {"flow": flow}) or 0
                           for flow in ("objection_coach", "meeting_summary", "ticket_creation"))

            await until(lambda: windows_done() >= 3, timeout_s=120, what="three windows answered before the kill")
            done = windows_done()
            served = {pid: cpu_s(pid) - cpu_before[pid] for pid in workers}
            victim = workers[0]
            in_flight = pipeline.metrics.runs_in_flight._value.get()
            os.kill(victim, signal.SIGKILL)
            running = [name for name, handle in handles.items() if not handle.done]
            print(f"killed worker {victim} with {in_flight:g} runs in flight, {done:g} windows done; worker CPU "
                  f"so far {served}; meetings running: {running}")
            assert running, "the meetings ended before the kill: replay slower"
            for handle in handles.values():
                report = await handle.wait(timeout=600)
                assert report.lines_sent == report.lines_total and report.errors == []
                await live.manager.wait_stream(handle.rtms_stream_id, 30)
        assert await pipeline.wait_idle(600)
        streams = {name: h.rtms_stream_id for name, h in handles.items()}
        # Every window done, every line windowed by every flow, each planted finding stored once.
        await check_samples(store, streams)
        windows = {name: await store.windows(stream) for name, stream in streams.items()}
        found_quotes = {name: [i.quote for i in await store.insights(stream, kind="objections")]
                        + [t.payload["quote"] for t in await store.tickets(stream)] for name, stream in streams.items()}
    for name, ws in windows.items():
        keys = Counter((w.flow, w.seq) for w in ws)
        assert max(keys.values()) == 1, (name, keys.most_common(3))
    retried = sum(w.attempts > 1 for ws in windows.values() for w in ws)
    # gunicorn replaced the killed worker: two workers again, the survivor kept.
    await until(lambda: len(server.worker_pids()) == 2, timeout_s=STARTUP_TIMEOUT_S,
                what="gunicorn to replace the killed worker", poll_s=0.5)
    now = server.worker_pids()
    print(f"windows={sum(len(ws) for ws in windows.values())} retried={retried} workers before={workers} "
          f"after={now}")
    assert victim not in now and workers[1] in now and len(now) == 2
    # Both workers had answered runs before the kill (gunicorn shares the socket; neither stayed idle).
    assert all(seconds > 0.2 for seconds in served.values()), served
    # Sessions stay per meeting: whichever worker ran a window, its answer landed in that meeting. Every stored window
    # is the meeting's own, and every objection and ticket quote is something said in that meeting.
    for name, stream in streams.items():
        said = norm(" ".join(u.text for u in load_transcript(name).utterances))
        assert all(parse_window(w.payload).meeting.stream_id == stream for w in windows[name])
        quotes = [q for q in found_quotes[name] if q]
        assert quotes and all(norm(q) in said for q in quotes), (name, [q for q in quotes if norm(q) not in said])
    # Langflow's own record, where its flows store messages (the shared PostgreSQL, whichever worker wrote them):
    # each window sits in its meeting's session.
    stored = await sessions_in(database_url)
    print(f"messages stored by Langflow: {len(stored)}")
    for session_id, text in stored:
        stream, _, flow = session_id.rpartition(":")
        with contextlib.suppress(ValueError):
            window = json.loads(text)
            assert window["meeting"]["stream_id"] == stream and window["window"]["flow"] == flow, session_id
