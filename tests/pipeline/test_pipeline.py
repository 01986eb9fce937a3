"""The pipeline with a real store (SQLite file) and the scripted Langflow on loopback, fed intake events directly:
storage order, windows and their status, dedupe, Langflow down then back, restart resend, revoke, slow runs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.intake.events import (
    MeetingEnded,
    ParticipantJoined,
    StreamRevoked,
    Utterance,
)
from bridge.pipeline.bus import EventBus, LiveEvent
from bridge.pipeline.config import FlowsConfig, parse_flows_config
from bridge.pipeline.consumer import Pipeline
from bridge.pipeline.langflow_runner import LangflowRunner
from bridge.rtms.enums import Product
from bridge.store import Store
from tests.langflow.ticket_systems import ServedApp
from tests.pipeline.fake_langflow import FakeLangflow, Step
from tests.waiting import until

T0 = 1_760_000_000_000
FLOWS = """
[runner]
backoff_base_s = 0.01
backoff_cap_s = 0.05
breaker_failures = 2
breaker_reset_s = 0.3
window_attempts = 50
tick_s = 0.05
[defaults]
timeout_s = 5
[flows.objection_coach]
kind = "objections"
triggers = { turn = { min_chars = 5, quiet_s = 1.0 }, final = true }
[flows.meeting_summary]
kind = "summary"
triggers = { utterances = 4, final = true }
"""


def config(text: str = FLOWS) -> FlowsConfig:
    return parse_flows_config(text, "test-flows.toml")


@dataclass
class Rig:
    store: Store
    bus: EventBus
    pipeline: Pipeline
    fake: FakeLangflow


@contextlib.asynccontextmanager
async def rig(db: Path, fake: FakeLangflow, *, url: str | None = None, concurrent: int = 4,
              flows: str = FLOWS) -> AsyncIterator[Rig]:
    async with contextlib.AsyncExitStack() as stack:
        served = url or await stack.enter_async_context(ServedApp(fake.app()))
        store = await Store.open(f"sqlite+aiosqlite:///{db}")
        stack.push_async_callback(store.close)
        bus = EventBus()
        cfg = config(flows)
        pipeline = Pipeline(store, bus, cfg, LangflowRunner(served, "k", cfg.runner), max_concurrent_runs=concurrent)
        await pipeline.start()
        stack.push_async_callback(pipeline.close)
        yield Rig(store, bus, pipeline, fake)


class Meeting:
    def __init__(self, stream_id: str = "stream-a") -> None:
        self.stream_id = stream_id
        self.seq = 0
        self.at = T0
        self.common = {"stream_id": stream_id, "instance_id": f"inst-{stream_id}", "product": Product.MEETING}

    def joined(self, user_id: str, name: str) -> ParticipantJoined:
        return ParticipantJoined(**self.common, user_id=user_id, name=name, timestamp_ms=self.at)

    def line(self, user_id: str, name: str, text: str) -> Utterance:
        self.seq += 1
        start = self.at + 300
        self.at = start + 2000
        return Utterance(**self.common, speaker=name, user_id=user_id, start_ms=start, end_ms=self.at, text=text,
                         seq=self.seq)

    def ended(self, cause: str = "stopped") -> MeetingEnded:
        return MeetingEnded(**self.common, cause=cause, reason=6)  # type: ignore[arg-type]

    def revoked(self) -> StreamRevoked:
        return StreamRevoked(**self.common)


HOST, GUEST = ("100", "Sam Host"), ("200", "Pat Guest")
SCRIPT = [
    (GUEST, "Honestly the price is too high."),
    (HOST, "Let me explain the value."),
    (GUEST, "We also use a competitor."),
    (HOST, "Understood."),
    (GUEST, "And I need my boss to sign off."),
    (HOST, "Of course."),
]


async def play(pipeline: Pipeline, m: Meeting, lines: list[tuple[tuple[str, str], str]], *,
               end: bool = True) -> None:
    await pipeline.handle(m.joined(*HOST))
    await pipeline.handle(m.joined(*GUEST))
    for who, text in lines:
        await pipeline.handle(m.line(who[0], who[1], text))
    if end:
        await pipeline.handle(m.ended())


async def test_lines_windows_insights_and_events(tmp_path: Path) -> None:
    fake = FakeLangflow()
    async with rig(tmp_path / "db.sqlite", fake) as r:
        events: list[LiveEvent] = []

        async def listen() -> None:
            async with r.bus.subscribe("stream-a") as sub:
                async for event in sub:
                    events.append(event)

        listener = asyncio.create_task(listen())
        await until(lambda: r.bus.subscribers > 0, what="the listener to subscribe")
        m = Meeting()
        await play(r.pipeline, m, SCRIPT)
        assert await r.pipeline.wait_idle(20)
        lines = await r.store.lines("stream-a")
        windows = await r.store.windows("stream-a")
        objections = await r.store.insights("stream-a", kind="objections")
        summary = await r.store.insights("stream-a", kind="summary")
        meeting = await r.store.get_meeting("stream-a")
        listener.cancel()
    assert [line.seq for line in lines] == [1, 2, 3, 4, 5, 6]
    assert {w.status for w in windows} == {"done"}
    coach = [w for w in windows if w.flow == "objection_coach"]
    assert [w.seq for w in coach] == list(range(len(coach))) and coach[0].trigger == "turn"
    assert [w.trigger for w in windows if w.flow == "meeting_summary"] == ["count", "final"]
    # Every line went into exactly one window of each flow.
    for name in ("objection_coach", "meeting_summary"):
        spans = sorted((w.first_line_seq, w.last_line_seq) for w in windows if w.flow == name)
        assert spans[0][0] == 1 and spans[-1][1] == 6
        assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))
    # The fake raises one objection per window (its first utterance): one record each, keys unique.
    assert len(objections) == len(coach) and len({o.key for o in objections}) == len(objections)
    assert len(summary) == 1 and summary[0].payload["text"] == "2 utterances"
    assert meeting is not None and meeting.status == "ended" and meeting.end_cause == "stopped"
    assert {p.user_id: p.role for p in meeting.participants} == {"100": "host", "200": "participant"}
    assert meeting.figures is not None and meeting.figures.windows_done == len(windows)
    # The second summary window carried the first summary.
    assert '"summary":{"text":"4 utterances"' in [w for w in windows if w.flow == "meeting_summary"][1].payload
    types = [e.type for e in events]
    assert types.count("line") == 6 and "window" in types and "insight" in types and "summary" in types
    assert r.pipeline.meetings == {}  # forgotten once ended and idle
    session_ids = {req["body"]["session_id"] for req in fake.requests}
    assert session_ids == {"stream-a:objection_coach", "stream-a:meeting_summary"}


async def test_langflow_down_then_back_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    fake = FakeLangflow(script=[Step(503)] * 12)
    async with rig(tmp_path / "db.sqlite", fake) as r:
        await play(r.pipeline, Meeting(), SCRIPT)
        assert await r.pipeline.wait_idle(30)
        windows = await r.store.windows("stream-a")
        objections = await r.store.insights("stream-a", kind="objections")
        opened = r.pipeline.runner.breaker.opened if r.pipeline.runner else 0
    assert fake.script == [] and opened >= 1
    assert {w.status for w in windows} == {"done"} and any(w.attempts > 1 for w in windows)
    assert len(objections) == len([w for w in windows if w.flow == "objection_coach"])


async def test_a_window_is_given_up_at_its_deadline_and_marked_failed(tmp_path: Path) -> None:
    """One loop, one deadline: Langflow answering 503 for ever costs a window `window_deadline_s`, not
    attempts x retries; the window is marked failed (resent by the next start), never left in flight."""
    fake = FakeLangflow(script=[Step(503)] * 10_000)
    flows = FLOWS.replace("window_attempts = 50", "window_attempts = 1000\nwindow_deadline_s = 1.5")
    async with rig(tmp_path / "db.sqlite", fake, flows=flows) as r:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await play(r.pipeline, Meeting(), SCRIPT[:2])
        assert await r.pipeline.wait_idle(20)
        took = loop.time() - started
        windows = await r.store.windows("stream-a")
        unfinished = await r.store.unfinished_windows("stream-a")
        final = r.pipeline.metrics.windows_failed.labels(flow="objection_coach", final="true")._value.get()
    assert windows and {w.status for w in windows} == {"failed"}
    assert {w.id for w in unfinished} == {w.id for w in windows}  # resent by the next start
    assert all(w.attempts >= 1 and w.error for w in windows)
    assert final >= 1
    assert took < 15  # each window's sends end at its deadline (1.5 s), however many were allowed


async def test_restart_resends_unfinished_windows(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    slow = FakeLangflow(delay_s=2)
    m = Meeting()
    async with rig(db, slow) as r:
        await play(r.pipeline, m, SCRIPT[:4], end=False)
        await until(lambda: all_sent(r.store, slow), what="the windows cut so far to be out at Langflow")
        before = await r.store.windows("stream-a")
        assert {w.status for w in before} == {"in_flight"}
        await r.pipeline.handle(m.ended("shutdown"))  # the bridge stops: waiting lines become stored windows
        after_flush = await r.store.windows("stream-a")
    assert len(after_flush) > len(before) and {w.status for w in after_flush} <= {"in_flight", "pending"}
    fake = FakeLangflow()
    async with rig(db, fake) as r:
        assert await r.pipeline.wait_idle(20)
        windows = await r.store.windows("stream-a")
        objections = await r.store.insights("stream-a", kind="objections")
        resent = list(fake.requests)
        # The meeting goes on in the new process, whose intake numbers lines from 1 again: the store's
        # numbering continues after what it holds.
        m.seq = 0
        await play(r.pipeline, m, SCRIPT[4:])
        assert await r.pipeline.wait_idle(20)
        later = await r.store.windows("stream-a")
        lines = await r.store.lines("stream-a")
    assert {w.status for w in windows} == {"done"} and [w.id for w in windows] == [w.id for w in after_flush]
    assert len(resent) == len(after_flush)
    assert sorted(x["body"]["input_value"] for x in resent) == sorted(w.payload for w in after_flush)
    assert objections
    assert [line.seq for line in lines] == [1, 2, 3, 4, 5, 6]
    coach = sorted((w.seq, w.first_line_seq, w.last_line_seq) for w in later if w.flow == "objection_coach")
    assert [w[0] for w in coach] == list(range(len(coach)))  # window numbering continues too
    assert [w[1] for w in coach] == [1] + [w[2] + 1 for w in coach[:-1]] and coach[-1][2] == 6


async def test_revoke_deletes_everything_and_cancels_runs(tmp_path: Path) -> None:
    fake = FakeLangflow(delay_s=2)
    async with rig(tmp_path / "db.sqlite", fake) as r:
        m = Meeting()
        await play(r.pipeline, m, SCRIPT, end=False)
        await until(lambda: bool(fake.requests), what="a run to be out at Langflow")
        assert r.pipeline.sending > 0
        await r.pipeline.handle(m.ended())
        await r.pipeline.handle(m.revoked())
        assert r.pipeline.sending == 0
        assert await r.store.get_meeting("stream-a") is None
        assert await r.store.lines("stream-a") == [] and await r.store.windows("stream-a") == []
        await r.pipeline.handle(m.line(*HOST, "after the revoke"))
        assert await r.store.get_meeting("stream-a") is None


async def test_slow_langflow_coalesces_and_bounds_concurrency(tmp_path: Path) -> None:
    fake = FakeLangflow(delay_s=0.5)
    async with rig(tmp_path / "db.sqlite", fake, concurrent=2) as r:
        meetings = [Meeting(f"stream-{n}") for n in range(4)]
        for m in meetings:
            await r.pipeline.handle(m.joined(*HOST))
        peak = 0
        for _ in range(6):
            for m in meetings:
                for who, text in SCRIPT:
                    await r.pipeline.handle(m.line(who[0], who[1], text))
            # Langflow is busy: the runs allowed at once are out (and lines of the next round come meanwhile)
            await until(lambda: r.pipeline.metrics.runs_in_flight._value.get() >= 2, what="two runs in flight")
            peak = max(peak, int(r.pipeline.metrics.runs_in_flight._value.get()))
        for m in meetings:
            await r.pipeline.handle(m.ended())
        assert await r.pipeline.wait_idle(60)
        windows = [w for m in meetings for w in await r.store.windows(m.stream_id)]
        coalesced = sum(w.coalesced for w in windows)
        pending = r.pipeline.metrics.pending_utterances._value.get()
    assert peak <= 2
    assert {w.status for w in windows} == {"done"}
    coach = [w for w in windows if w.flow == "objection_coach"]
    # 18 guest turns per meeting, but a run takes longer than the meeting: far fewer windows, none lost.
    assert len(coach) < 4 * 18 and coalesced > 0
    for m in meetings:
        spans = sorted((w.first_line_seq, w.last_line_seq) for w in coach if w.stream_id == m.stream_id)
        assert spans[0][0] == 1 and spans[-1][1] == 36
    assert pending == 0


async def test_an_event_delivered_again_after_a_failure_past_its_line_write_is_still_windowed(
        tmp_path: Path) -> None:
    """The dispatcher delivers an event again when the pipeline failed on it. A failure after the line was stored
    (here: its speaker's participant row) must not leave the line stored but never windowed."""
    fake = FakeLangflow()
    m = Meeting()
    async with rig(tmp_path / "db.sqlite", fake) as r:
        real = r.store.upsert_participant
        failures = [OSError("database is locked")]

        async def flaky(*args: Any, **kwargs: Any) -> None:
            if failures:
                raise failures.pop()
            await real(*args, **kwargs)

        r.store.upsert_participant = flaky  # type: ignore[method-assign]
        failures.clear()
        await r.pipeline.handle(m.joined(*HOST))
        failures.append(OSError("database is locked"))  # the guest's first line stores its participant row
        first = m.line(GUEST[0], GUEST[1], SCRIPT[0][1])
        with contextlib.suppress(OSError):
            await r.pipeline.handle(first)
        await r.pipeline.handle(first)  # what the dispatcher does after a failure
        for who, text in SCRIPT[1:]:
            await r.pipeline.handle(m.line(who[0], who[1], text))
        await r.pipeline.handle(m.ended())
        assert await r.pipeline.wait_idle(20)
        lines = await r.store.lines("stream-a")
        windows = await r.store.windows("stream-a")
    assert [line.seq for line in lines] == [1, 2, 3, 4, 5, 6]
    for flow in ("objection_coach", "meeting_summary"):
        spans = sorted((w.first_line_seq, w.last_line_seq) for w in windows if w.flow == flow)
        assert spans[0][0] == 1 and spans[-1][1] == 6, (flow, spans)


async def all_sent(store: Store, fake: FakeLangflow, stream_id: str = "stream-a", before: int = 0) -> bool:
    """Every stored window not yet answered is in flight, and Langflow has received each of them (besides the
    `before` requests it had already)."""
    left = [w for w in await store.windows(stream_id) if w.status != "done"]
    return bool(left) and all(w.status == "in_flight" for w in left) and len(fake.requests) - before >= len(left)
