"""Replicas of the pipeline sharing one store (one SQLite file, one `Store` each, as two processes would): a line
sent twice is stored once; a stream handed over keeps its meeting live and the next holder sends what was left;
a killed holder's unwindowed lines are caught up by the next one; a replica that lost its lease writes nothing;
`adopt` under an older lease token is refused. The scripted Langflow of `test_pipeline` answers every run."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from bridge.contracts import parse_window
from bridge.intake.events import LinkState, StreamStateChanged, Utterance
from bridge.pipeline.bus import EventBus
from bridge.pipeline.config import FlowsConfig, parse_flows_config
from bridge.pipeline.consumer import Pipeline
from bridge.pipeline.langflow_runner import LangflowRunner
from bridge.rtms.enums import Product
from bridge.store import Fenced, Store, WindowRecord
from bridge.store.models import Meeting as MeetingRow
from tests.langflow.ticket_systems import ServedApp
from tests.pipeline.fake_langflow import FakeLangflow
from tests.pipeline.test_pipeline import FLOWS as FLOWS_TOML
from tests.pipeline.test_pipeline import GUEST, HOST, SCRIPT, Meeting, all_sent
from tests.waiting import until

STREAM = "stream-a"
FLOWS = ("objection_coach", "meeting_summary")
WAIT_S = 20


def config() -> FlowsConfig:
    """`test_pipeline`'s flows, but a turn ends only when another speaker starts (no quiet-gap cut on a clock tick),
    so which lines each window takes does not depend on how fast a test runs."""
    toml = FLOWS_TOML.replace("quiet_s = 1.0", "quiet_s = 600.0")
    assert toml != FLOWS_TOML
    return parse_flows_config(toml, "handover-flows.toml")


@dataclasses.dataclass
class Replica:
    name: str
    store: Store
    pipeline: Pipeline

    async def adopt(self, fence: int) -> int:
        return await self.pipeline.adopt(STREAM, fence, instance_id=f"inst-{STREAM}", product="meeting")

    async def hand_over(self, m: Meeting) -> None:
        """What the coordinator does when it gives the stream away: the intake ends the stream with cause
        `handoff`, then the pipeline releases it."""
        await self.pipeline.handle(m.ended("handoff"))
        await self.pipeline.release(STREAM, fenced=False, timeout_s=WAIT_S)

    async def kill(self) -> None:
        """The process dies: what its windowers hold is not flushed, sends in progress are cut off."""
        self.pipeline.meetings.clear()
        await self.pipeline.close()


@dataclasses.dataclass
class SlowWindows(FakeLangflow):
    """The scripted Langflow, but the runs of the windows named in `slow` ((flow, window seq) -> seconds) take that
    long, so a test can choose which of two runs answers last."""

    slow: dict[tuple[str, int], float] = dataclasses.field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/v1/run/{endpoint}")
        async def run(endpoint: str, request: Request) -> Response:
            body = await request.json()
            self.requests.append({"endpoint": endpoint, "body": body})
            window = parse_window(body["input_value"]).window
            await asyncio.sleep(self.slow.get((window.flow, window.seq), 0.0))  # a slow run: time is the thing
            text = self.insights_for(body["input_value"])
            return JSONResponse({"session_id": body.get("session_id"), "outputs": [
                {"inputs": {}, "outputs": [{"results": {"message": {"text": text}}}]}]})

        return app


class Cluster:
    """Replicas on one SQLite file and one scripted Langflow; everything is closed on exit."""

    def __init__(self, db: Path, url: str, stack: contextlib.AsyncExitStack) -> None:
        self.db, self.url, self.stack = db, url, stack

    async def replica(self, name: str) -> Replica:
        store = await Store.open(f"sqlite+aiosqlite:///{self.db}")
        self.stack.push_async_callback(store.close)
        cfg = config()
        pipeline = Pipeline(store, EventBus(), cfg, LangflowRunner(self.url, "k", cfg.runner), max_concurrent_runs=4)
        await pipeline.start(resend=False)  # replicas resend per stream, as they adopt it
        self.stack.push_async_callback(_close_once, pipeline)
        return Replica(name, store, pipeline)


async def _close_once(pipeline: Pipeline) -> None:
    if not pipeline._closing:  # a killed replica is closed already
        await pipeline.close()


@contextlib.asynccontextmanager
async def cluster(db: Path, fake: FakeLangflow) -> AsyncIterator[Cluster]:
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(ServedApp(fake.app()))
        yield Cluster(db, url, stack)


async def idle(*replicas: Replica) -> None:
    for r in replicas:
        assert await r.pipeline.wait_idle(WAIT_S), f"{r.name} still sending"


async def host_and_guest_join(r: Replica, m: Meeting) -> None:
    await r.pipeline.handle(m.joined(*HOST))
    await r.pipeline.handle(m.joined(*GUEST))


async def play(r: Replica, m: Meeting, script: list[tuple[tuple[str, str], str]], *, settle: bool = True) -> None:
    """Lines one by one; with `settle`, each window a line makes due is answered before the next line comes."""
    for who, text in script:
        await r.pipeline.handle(m.line(who[0], who[1], text))
        if settle:
            await idle(r)


def sent(fake: FakeLangflow, start: int = 0) -> collections.Counter[tuple[str, int]]:
    """(flow, window seq) of every run Langflow received (from request `start` on)."""
    windows = (parse_window(r["body"]["input_value"]).window for r in fake.requests[start:])
    return collections.Counter((w.flow, w.seq) for w in windows)


async def check_each_line_once(store: Store, texts: list[str]) -> list[WindowRecord]:
    """Lines 1..N stored once each, in order; each flow's windows, in window order, cover them once each and carry
    their words once each. Returns the stream's windows."""
    lines = await store.lines(STREAM)
    assert [line.seq for line in lines] == list(range(1, len(texts) + 1))
    assert [line.text for line in lines] == texts
    windows = await store.windows(STREAM)
    for flow in FLOWS:
        mine = sorted((w for w in windows if w.flow == flow), key=lambda w: w.seq)
        assert [w.seq for w in mine] == list(range(len(mine))), flow
        covered = [seq for w in mine for seq in range(w.first_line_seq, w.last_line_seq + 1)]
        assert covered == list(range(1, len(texts) + 1)), (flow, [(w.first_line_seq, w.last_line_seq) for w in mine])
        words = " ".join(u.text for w in mine for u in parse_window(w.payload).utterances)
        assert words == " ".join(texts), flow
    return windows


async def stored_fence(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(MeetingRow.fence).where(MeetingRow.stream_id == STREAM)))


def texts_of(script: list[tuple[tuple[str, str], str]]) -> list[str]:
    return [text for _, text in script]


# -- 1. a line sent twice ---------------------------------------------------------------------------------------------


async def test_a_line_sent_twice_is_stored_and_windowed_once(tmp_path: Path) -> None:
    fake = FakeLangflow()
    async with cluster(tmp_path / "db.sqlite", fake) as c:
        a = await c.replica("a")
        await a.adopt(1)
        m = Meeting(STREAM)
        await host_and_guest_join(a, m)
        played: list[Utterance] = []
        for index, (who, text) in enumerate(SCRIPT):
            event = m.line(who[0], who[1], text)
            played.append(event)
            await a.pipeline.handle(event)
            if index == 1:  # the same line again at once
                await a.pipeline.handle(event)
            if index == 3:  # a reconnect: the intake delivers the last lines again, numbered on from its count
                for again in played[-2:]:
                    m.seq += 1
                    await a.pipeline.handle(dataclasses.replace(again, seq=m.seq))
        await a.pipeline.handle(m.ended())
        await idle(a)
        windows = await check_each_line_once(a.store, texts_of(SCRIPT))
        meeting = await a.store.get_meeting(STREAM)
        repeated = a.pipeline.metrics.lines_repeated._value.get()
        stored = a.pipeline.metrics.lines._value.get()
    assert repeated == 3 and stored == len(SCRIPT)
    assert {w.status for w in windows} == {"done"}
    assert sent(fake) == collections.Counter({(w.flow, w.seq): 1 for w in windows})  # each window sent once
    assert meeting is not None and meeting.status == "ended" and meeting.figures is not None
    assert meeting.figures.lines == len(SCRIPT)


# -- 2. a handover between two replicas -------------------------------------------------------------------------------


async def test_handover_keeps_the_meeting_live_and_the_next_holder_goes_on(tmp_path: Path) -> None:
    fake = FakeLangflow()
    async with cluster(tmp_path / "db.sqlite", fake) as c:
        a, b = await c.replica("a"), await c.replica("b")
        m = Meeting(STREAM)
        assert await a.adopt(1) == 0
        await host_and_guest_join(a, m)
        await play(a, m, SCRIPT[:3])
        await a.hand_over(m)

        meeting = await a.store.get_meeting(STREAM)
        assert meeting is not None and meeting.status == "live"
        assert meeting.ended_at_ms is None and meeting.end_cause is None
        assert STREAM not in a.pipeline.meetings and STREAM not in a.pipeline.fences and a.pipeline.sending == 0
        left = [w for w in await a.store.windows(STREAM) if w.status != "done"]
        # The summary flow cuts a window every 4 utterances: the 3 lines were waiting, now a stored window.
        assert [(w.flow, w.first_line_seq, w.last_line_seq) for w in left if w.flow == "meeting_summary"] == [
            ("meeting_summary", 1, 3)]
        assert {w.status for w in left} == {"pending"} and {w.trigger for w in left} == {"manual"}
        before_b = len(fake.requests)

        await a.pipeline.handle(m.line(*HOST, "Anyone still here on replica A?"))  # late: not A's any more
        assert len(await a.store.lines(STREAM)) == 3

        assert await b.adopt(2) == len(left)
        await idle(b)
        resent = sent(fake, before_b)
        assert resent == collections.Counter({(w.flow, w.seq): 1 for w in left})
        m.seq = 0  # a new process: the intake numbers lines from 1 again; the pipeline numbers on from the store
        await play(b, m, SCRIPT[3:])
        await b.pipeline.handle(m.ended())
        await idle(b)

        windows = await check_each_line_once(b.store, texts_of(SCRIPT))
        meeting = await b.store.get_meeting(STREAM)
        assert await stored_fence(b.store) == 2
    assert {w.status for w in windows} == {"done"}
    assert sent(fake) == collections.Counter({(w.flow, w.seq): 1 for w in windows})
    assert meeting is not None and meeting.status == "ended" and meeting.end_cause == "stopped"
    assert {p.user_id: p.role for p in meeting.participants} == {"100": "host", "200": "participant"}


async def test_handover_while_a_run_is_out_leaves_it_to_the_next_holder(tmp_path: Path) -> None:
    fake = FakeLangflow(delay_s=1.0)
    async with cluster(tmp_path / "db.sqlite", fake) as c:
        a, b = await c.replica("a"), await c.replica("b")
        m = Meeting(STREAM)
        await a.adopt(1)
        await host_and_guest_join(a, m)
        await play(a, m, SCRIPT[:4], settle=False)
        await until(lambda: all_sent(a.store, fake, STREAM), what="A's runs to be out at Langflow")
        assert a.pipeline.sending > 0
        await a.pipeline.handle(m.ended("handoff"))
        await a.pipeline.release(STREAM, fenced=False, timeout_s=0.05)  # too short: the runs are cut off
        assert a.pipeline.sending == 0
        left = [w for w in await a.store.windows(STREAM) if w.status != "done"]
        assert "in_flight" in {w.status for w in left}
        meeting = await a.store.get_meeting(STREAM)
        assert meeting is not None and meeting.status == "live"

        fake.delay_s = 0.0
        assert await b.adopt(2) == len(left)
        m.seq = 0
        await play(b, m, SCRIPT[4:])
        await b.pipeline.handle(m.ended())
        await idle(b)
        windows = await check_each_line_once(b.store, texts_of(SCRIPT))
        meeting = await b.store.get_meeting(STREAM)
    assert {w.status for w in windows} == {"done"}
    assert meeting is not None and meeting.status == "ended"


# -- 3. a killed holder -----------------------------------------------------------------------------------------------


async def test_lines_a_killed_holder_never_windowed_are_caught_up(tmp_path: Path) -> None:
    fake = FakeLangflow()
    async with cluster(tmp_path / "db.sqlite", fake) as c:
        a, b = await c.replica("a"), await c.replica("b")
        m = Meeting(STREAM)
        await a.adopt(1)
        await host_and_guest_join(a, m)
        await play(a, m, SCRIPT)
        by_a = await a.store.windows(STREAM)
        assert {w.status for w in by_a} == {"done"}
        covered = {flow: max((w.last_line_seq for w in by_a if w.flow == flow), default=0) for flow in FLOWS}
        assert covered["meeting_summary"] == 4  # lines 5 and 6 wait in A's summary windower
        assert all(seq < len(SCRIPT) for seq in covered.values())  # and the last line in every flow's
        await a.kill()

        assert await b.adopt(2) == 0  # nothing unfinished in the store: A died between windows
        later = [(HOST, "One more thing from me.")]
        m.seq = 0
        await play(b, m, later)
        await b.pipeline.handle(m.ended())
        await idle(b)
        windows = await check_each_line_once(b.store, texts_of(SCRIPT + later))
    assert {w.status for w in windows} == {"done"}
    assert sent(fake) == collections.Counter({(w.flow, w.seq): 1 for w in windows})
    first_by_b = max(w.id for w in by_a)
    for flow in FLOWS:  # what A left in its windowers is in B's windows
        mine = [w for w in windows if w.flow == flow and w.id > first_by_b]
        assert mine and min(w.first_line_seq for w in mine) == covered[flow] + 1


async def test_a_holder_killed_mid_run_is_resent_and_caught_up(tmp_path: Path) -> None:
    fake = FakeLangflow()
    async with cluster(tmp_path / "db.sqlite", fake) as c:
        a, b = await c.replica("a"), await c.replica("b")
        m = Meeting(STREAM)
        await a.adopt(1)
        await host_and_guest_join(a, m)
        await play(a, m, SCRIPT[:3])
        fake.delay_s = 1.0  # from here Langflow is slow: A dies while runs are out
        before = len(fake.requests)
        await play(a, m, SCRIPT[3:], settle=False)
        await until(lambda: all_sent(a.store, fake, STREAM, before), what="A's runs to be out at Langflow")
        assert a.pipeline.sending > 0
        await a.kill()
        left = [w for w in await a.store.windows(STREAM) if w.status != "done"]
        assert left and {w.status for w in left} == {"in_flight"}

        fake.delay_s = 0.0
        assert await b.adopt(2) == len(left)
        later = [(GUEST, "So what is the discount then?")]
        m.seq = 0
        await play(b, m, later)
        await b.pipeline.handle(m.ended())
        await idle(b)
        windows = await check_each_line_once(b.store, texts_of(SCRIPT + later))
    assert {w.status for w in windows} == {"done"}
    assert set(sent(fake)) == {(w.flow, w.seq) for w in windows}


# -- 4. fencing -------------------------------------------------------------------------------------------------------


async def test_a_holder_that_lost_its_lease_writes_nothing(tmp_path: Path) -> None:
    fake = FakeLangflow()
    async with cluster(tmp_path / "db.sqlite", fake) as c:
        a, b = await c.replica("a"), await c.replica("b")
        m = Meeting(STREAM)
        await a.adopt(1)
        await host_and_guest_join(a, m)
        await play(a, m, SCRIPT[:3])
        assert STREAM in a.pipeline.meetings and a.pipeline.fences[STREAM] == 1

        await b.adopt(2)  # A does not know yet: it still holds token 1 in memory
        lines = await a.store.lines(STREAM)
        windows = await a.store.windows(STREAM)
        requests = len(fake.requests)
        who, text = SCRIPT[3]
        refused = m.line(who[0], who[1], text)
        await a.pipeline.handle(refused)
        assert await a.store.lines(STREAM) == lines
        assert await a.store.windows(STREAM) == windows
        assert STREAM not in a.pipeline.meetings and STREAM not in a.pipeline.fences  # released as fenced
        assert a.pipeline.sending == 0

        # Later events of the stream on A are not for A any more.
        await a.pipeline.handle(m.joined("300", "Late Joiner"))
        await a.pipeline.handle(StreamStateChanged(stream_id=STREAM, instance_id=f"inst-{STREAM}",
                                                   product=Product.MEETING, state=LinkState.RECONNECTING))
        await a.pipeline.handle(m.line(*GUEST, "Still talking to replica A."))
        await a.pipeline.handle(m.ended())
        await idle(a)
        assert STREAM not in a.pipeline.meetings
        assert await a.store.lines(STREAM) == lines and await a.store.windows(STREAM) == windows
        meeting = await a.store.get_meeting(STREAM)
        assert meeting is not None and meeting.status == "live" and meeting.end_cause is None
        assert {p.user_id for p in meeting.participants} == {"100", "200"}
        assert len(fake.requests) == requests
        assert await stored_fence(a.store) == 2

        # B goes on with the line A could not store: it is line 4, and A's waiting lines are caught up.
        await b.pipeline.handle(dataclasses.replace(refused, seq=1))
        await b.pipeline.handle(m.ended())
        await idle(b)
        done = await check_each_line_once(b.store, texts_of(SCRIPT[:4]))
    assert {w.status for w in done} == {"done"}


# -- 5. adopting under an older token ---------------------------------------------------------------------------------


async def test_adopt_under_an_older_token_is_refused(tmp_path: Path) -> None:
    fake = FakeLangflow()
    async with cluster(tmp_path / "db.sqlite", fake) as c:
        a, b = await c.replica("a"), await c.replica("b")
        m = Meeting(STREAM)
        await a.adopt(3)
        await a.pipeline.handle(m.line(*GUEST, "The price is too high."))
        await a.pipeline.handle(m.line(*HOST, "Let me explain."))
        await idle(a)
        requests = len(fake.requests)
        with pytest.raises(Fenced):
            await b.adopt(2)
        assert STREAM not in b.pipeline.fences and b.pipeline.sending == 0
        assert await stored_fence(b.store) == 3
        assert len(fake.requests) == requests
        assert await a.adopt(3) == 0  # the holder adopting again under its own token is fine
        with pytest.raises(Fenced):
            await a.adopt(1)
        assert a.pipeline.fences[STREAM] == 3


# -- regressions: a stream taken back, and answers of resent windows arriving late ------------------------------------


async def test_taking_a_stream_back_numbers_on_from_the_store(tmp_path: Path) -> None:
    fake = FakeLangflow()
    async with cluster(tmp_path / "db.sqlite", fake) as c:
        a, b = await c.replica("a"), await c.replica("b")
        m = Meeting(STREAM)
        await a.adopt(1)
        await play(a, m, SCRIPT[:3])
        await b.adopt(2)  # A is not told (it gets no event of the stream meanwhile)
        await play(b, m, SCRIPT[3:5])
        await a.adopt(3)  # the stream comes back to A
        await play(a, m, SCRIPT[5:])
        await a.pipeline.handle(m.ended())
        await idle(a, b)
        lines = await a.store.lines(STREAM)
    assert [line.text for line in lines] == texts_of(SCRIPT)


async def test_after_a_handover_the_summary_is_the_last_windows(tmp_path: Path) -> None:
    fake = SlowWindows()
    async with cluster(tmp_path / "db.sqlite", fake) as c:
        a, b = await c.replica("a"), await c.replica("b")
        m = Meeting(STREAM)
        await a.adopt(1)
        await host_and_guest_join(a, m)
        await play(a, m, SCRIPT[:2])
        await a.hand_over(m)  # the summary flow's lines 1-2 are left as a pending window
        fake.slow[("meeting_summary", 0)] = 0.8  # its resend answers after B's next summary window
        await b.adopt(2)
        m.seq = 0
        await play(b, m, SCRIPT[2:], settle=False)  # 4 more utterances: B cuts the summary window of lines 3-6
        await b.pipeline.handle(m.ended())
        await idle(b)
        windows = await check_each_line_once(b.store, texts_of(SCRIPT))
        summaries = await b.store.insights(STREAM, kind="summary")
    last = max((w for w in windows if w.flow == "meeting_summary"), key=lambda w: w.seq)
    assert (last.first_line_seq, last.last_line_seq) == (3, len(SCRIPT))
    # The fake's summary says how many utterances its window had: the last window's 4, not window 0's 2.
    assert len(summaries) == 1 and summaries[0].payload["text"] == "4 utterances"
    assert summaries[0].window_id == last.id
