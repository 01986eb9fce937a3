"""End to end: the simulator replays the sample meetings into the bridge (uvicorn on loopback, `create_app` with the
Langflow settings), the bridge runs the three flows in a real Langflow 1.13 (the offline model behind them) and
stores what they find. Then: Langflow down for a while and back, a bridge restart mid-meeting, a slow Langflow."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.contracts import parse_window
from bridge.flows_build import NODE_IDS
from bridge.pipeline.consumer import Pipeline
from bridge.settings import BridgeSettings
from bridge.simulator import MeetingSpec, Simulator
from bridge.simulator.transcripts import Transcript, load_transcript
from bridge.store import Store
from tests.intake.conftest import Collector, make_settings
from tests.intake.live import LiveBridge, serve_bridge, simulator_config
from tests.langflow.meetings import SAMPLES_DIR
from tests.langflow_server import LangflowServer, OfflineLLMProcess
from tests.pipeline.proxy import Proxy

pytestmark = pytest.mark.timeout(600)

SAMPLES = ("sales_discovery", "support_call", "planning_meeting")
FAST_RUNNER = """
[runner]
retries = 2
backoff_base_s = 0.1
backoff_cap_s = 0.5
breaker_failures = 3
breaker_reset_s = 1.0
window_attempts = 200
tick_s = 0.2
"""


def flows_file(tmp_path: Path, runner: str = FAST_RUNNER) -> Path:
    """The bundled flows with a quicker circuit breaker (the tests take Langflow down for seconds, not minutes)."""
    bundled = (Path(__file__).resolve().parents[2] / "bridge" / "pipeline" / "flows.toml").read_text()
    text = re.sub(r"\[runner\].*?(?=\n\[defaults\])", runner.strip(), bundled, flags=re.S)
    path = tmp_path / "flows.toml"
    path.write_text(text)
    return path


def bridge_settings(url: str, api_key: str, llm: OfflineLLMProcess, db: Path, **overrides: Any) -> BridgeSettings:
    return make_settings(langflow_url=url, langflow_api_key=api_key, database_url=f"sqlite+aiosqlite:///{db}",
                         langflow_tweaks={NODE_IDS["model"]: {"base_url": llm.base_url}}, api_token="test-token",
                         **overrides)


def pipeline_of(live: LiveBridge) -> Pipeline:
    pipeline = live.app.state.bridge.pipeline
    assert isinstance(pipeline, Pipeline)
    return pipeline


def store_of(live: LiveBridge) -> Store:
    store = live.app.state.bridge.store
    assert isinstance(store, Store)
    return store


@contextlib.asynccontextmanager
async def simulator(live: LiveBridge, speed: float) -> AsyncIterator[Simulator]:
    async with Simulator(simulator_config(live.webhook_url, speed=speed)) as sim:
        yield sim


def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def quoted(expected: str, found: str) -> bool:
    return norm(expected) in norm(found) or norm(found) in norm(expected)


def expected(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((SAMPLES_DIR / f"{name}.expected.json").read_text())
    return result


async def replay(live: LiveBridge, transcripts: dict[str, Transcript], speed: float) -> dict[str, str]:
    """Replay meetings at once; returns sample name -> stream id once the bridge has handled them all."""
    async with simulator(live, speed) as sim:
        handles = {name: await sim.start_meeting(MeetingSpec(transcript=t)) for name, t in transcripts.items()}
        for handle in handles.values():
            report = await handle.wait(timeout=300)
            assert report.lines_sent == report.lines_total and report.errors == []
            await live.manager.wait_stream(handle.rtms_stream_id, 30)
    return {name: h.rtms_stream_id for name, h in handles.items()}


async def wait_for_lines(store: Store, stream_id: str, count: int) -> None:
    for _ in range(1200):  # 120 s at most
        if await store.last_line_seq(stream_id) >= count:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"fewer than {count} lines stored")


async def check_samples(store: Store, streams: dict[str, str]) -> None:
    """The planted objections, tickets and decisions of each sample are in the store, each once."""
    for name, stream_id in streams.items():
        truth = expected(name)
        objections = await store.insights(stream_id, kind="objections")
        tickets = await store.tickets(stream_id)
        summaries = await store.insights(stream_id, kind="summary")
        windows = await store.windows(stream_id)
        print(f"{name}: windows={len(windows)} objections={len(objections)} tickets={len(tickets)} "
              f"coalesced={sum(w.coalesced for w in windows)}")
        assert {w.status for w in windows} == {"done"}, [(w.flow, w.seq, w.status, w.error) for w in windows]
        assert len({o.key for o in objections}) == len(objections)
        assert len({t.key for t in tickets}) == len(tickets)
        if name == "sales_discovery":
            # Lines of one speaker are merged into one utterance and the flow reports one objection per category
            # and utterance: a planted objection is found when its turn yields one of its category.
            turns = [u.text for w in windows if w.flow == "objection_coach" for u in parse_window(w.payload).utterances]
            for planted in truth["objections"]:
                turn = next(t for t in turns if quoted(planted["quote"], t))
                assert any(o.payload["category"] == planted["category"] and norm(o.quote or "") in norm(turn)
                           for o in objections), planted
        if name == "support_call":
            for planted in truth["tickets"]:
                assert any(quoted(planted["quote"], t.payload["quote"]) for t in tickets), planted
            assert {t.external_status for t in tickets} <= {"dry_run", None}
        if name == "planning_meeting":
            assert len(summaries) == 1
            summary = summaries[0].payload
            decisions = [d["quote"] for d in summary["decisions"]]
            assert sum(any(quoted(d["quote"], q) for q in decisions) for d in truth["decisions"]) >= 3
        # Every line went into a window of every flow: nothing skipped.
        last = await store.last_line_seq(stream_id)
        for flow in ("objection_coach", "meeting_summary", "ticket_creation"):
            spans = sorted((w.first_line_seq, w.last_line_seq) for w in windows if w.flow == flow)
            assert spans[0][0] == 1 and spans[-1][1] == last, (flow, spans)
            assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


async def test_sample_meetings_end_to_end(langflow: LangflowServer, offline_llm_process: OfflineLLMProcess,
                                          tmp_path: Path) -> None:
    settings = bridge_settings(langflow.base_url, langflow.api_key, offline_llm_process, tmp_path / "bridge.db")
    transcripts = {name: load_transcript(name) for name in SAMPLES}
    async with serve_bridge(settings, Collector()) as live:
        streams = await replay(live, transcripts, speed=40.0)
        assert await pipeline_of(live).wait_idle(240)
        await check_samples(store_of(live), streams)
        metrics = live.app.state.bridge.metrics.registry
        assert (metrics.get_sample_value("rtms_pipeline_windows_done_total", {"flow": "objection_coach"}) or 0) > 0
        assert metrics.get_sample_value("rtms_pipeline_langflow_latency_seconds_count",
                                        {"flow": "meeting_summary"})


async def test_langflow_down_for_a_while_then_back(langflow: LangflowServer, offline_llm_process: OfflineLLMProcess,
                                                   tmp_path: Path) -> None:
    proxy = Proxy(langflow.port)
    await proxy.up()
    settings = bridge_settings(proxy.url, langflow.api_key, offline_llm_process, tmp_path / "bridge.db",
                               flows_config=flows_file(tmp_path))
    transcripts = {"sales_discovery": load_transcript("sales_discovery")}
    try:
        async with serve_bridge(settings, Collector()) as live:
            async with simulator(live, speed=120.0) as sim:
                handle = await sim.start_meeting(MeetingSpec(transcript=transcripts["sales_discovery"]))
                await asyncio.sleep(1.0)
                await proxy.down()  # Langflow unreachable for most of the meeting
                report = await handle.wait(timeout=300)
                await live.manager.wait_stream(handle.rtms_stream_id, 30)
            pipeline = pipeline_of(live)
            failed = await store_of(live).windows(handle.rtms_stream_id)
            assert any(w.status == "failed" for w in failed) or pipeline.sending > 0
            await asyncio.sleep(2.0)
            await proxy.up()
            assert await pipeline.wait_idle(240)
            assert pipeline.runner is not None and pipeline.runner.breaker.opened >= 1
            assert report.lines_sent == report.lines_total
            await check_samples(store_of(live), {"sales_discovery": handle.rtms_stream_id})
            windows = await store_of(live).windows(handle.rtms_stream_id)
            assert any(w.attempts > 1 for w in windows)
    finally:
        await proxy.down()


async def test_bridge_restart_mid_meeting_resends_unfinished_windows(
    langflow: LangflowServer, offline_llm_process: OfflineLLMProcess, tmp_path: Path
) -> None:
    proxy = Proxy(langflow.port)  # kept down while the first bridge runs: its windows cannot be answered
    db = tmp_path / "bridge.db"
    settings = bridge_settings(proxy.url, langflow.api_key, offline_llm_process, db, flows_config=flows_file(tmp_path))
    transcript = load_transcript("support_call")
    async with serve_bridge(settings, Collector()) as live, simulator(live, speed=60.0) as sim:
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript))
        await wait_for_lines(store_of(live), handle.rtms_stream_id, 40)
        # The bridge stops mid-meeting (as on SIGTERM): leaving serve_bridge runs the lifespan's shutdown.
    stream_id = handle.rtms_stream_id
    check = await Store.open(f"sqlite+aiosqlite:///{db}")
    try:
        unfinished = await check.unfinished_windows(stream_id)
        lines = await check.last_line_seq(stream_id)
    finally:
        await check.close()
    assert unfinished and lines >= 40
    await proxy.up()
    try:
        async with serve_bridge(settings, Collector()) as live:
            pipeline = pipeline_of(live)
            assert await pipeline.wait_idle(240)
            store = store_of(live)
            windows = await store.windows(stream_id)
            tickets = await store.tickets(stream_id)
    finally:
        await proxy.down()
    print(f"unfinished at stop={len(unfinished)} windows={len(windows)} tickets={len(tickets)} lines={lines}")
    assert {w.status for w in windows} == {"done"}
    assert {w.id for w in unfinished} <= {w.id for w in windows}
    for flow in ("objection_coach", "meeting_summary", "ticket_creation"):  # every stored line was windowed
        spans = sorted((w.first_line_seq, w.last_line_seq) for w in windows if w.flow == flow)
        assert spans and spans[0][0] == 1 and spans[-1][1] == lines, (flow, spans)
    said = [u.text for u in transcript.utterances[:lines]]
    for planted in expected("support_call")["tickets"]:
        if any(quoted(planted["quote"], text) for text in said):
            assert any(quoted(planted["quote"], t.payload["quote"]) for t in tickets), planted


async def test_slow_langflow_coalesces_with_bounded_memory(langflow: LangflowServer, tmp_path: Path) -> None:
    slow_llm = OfflineLLMProcess(tmp_path / "slow-llm", latency_ms=1500).start()
    try:
        settings = bridge_settings(langflow.base_url, langflow.api_key, slow_llm, tmp_path / "bridge.db",
                                   max_concurrent_runs=2)
        async with serve_bridge(settings, Collector()) as live:
            pipeline = pipeline_of(live)
            peak_pending, peak_running = 0.0, 0.0

            async def sample() -> None:
                nonlocal peak_pending, peak_running
                while True:
                    peak_pending = max(peak_pending, pipeline.metrics.pending_utterances._value.get())
                    peak_running = max(peak_running, pipeline.metrics.runs_in_flight._value.get())
                    await asyncio.sleep(0.05)

            sampler = asyncio.create_task(sample())
            try:
                streams = await replay(live, {"sales_discovery": load_transcript("sales_discovery")}, speed=60.0)
                assert await pipeline.wait_idle(240)
            finally:
                sampler.cancel()
            store = store_of(live)
            stream_id = streams["sales_discovery"]
            windows = await store.windows(stream_id)
            lines = await store.last_line_seq(stream_id)
    finally:
        slow_llm.stop()
    coach = [w for w in windows if w.flow == "objection_coach"]
    coalesced = sum(w.coalesced for w in coach)
    print(f"lines={lines} coach windows={len(coach)} coalesced={coalesced} peak pending={peak_pending:g} "
          f"peak running={peak_running:g}")
    assert {w.status for w in windows} == {"done"}
    assert peak_running <= 2
    assert coalesced > 0 and len(coach) < lines / 2
    assert peak_pending <= 3 * 200  # bounded by max_pending per flow, never by the meeting's length
    spans = sorted((w.first_line_seq, w.last_line_seq) for w in coach)
    assert spans[0][0] == 1 and spans[-1][1] == lines
