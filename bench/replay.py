"""Replays a meeting through the bridge's window engine on a virtual clock: what the pipeline would send, and when.

Lines arrive at their end time (as RTMS sends a line once spoken), the engine is ticked every `tick_s`, and each
window's run takes a fixed `latency_ms` of meeting time; its answer (from `answer`, a real model call) is folded
into the flow's next window as the pipeline does. No sleeping: an hour-long meeting replays as fast as the answers
come. Used by `bench.llm_cost` and, to cut real windows, by `bench.langflow_overhead`.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.contracts import (
    ObjectionInsights,
    SummaryInsights,
    TicketInsights,
)
from bridge.pipeline.config import FlowConfig, FlowsConfig, load_flows_config
from bridge.pipeline.consumer import fold_insights
from bridge.pipeline.windowing import FlowWindower, Line, MeetingInfo, WindowDraft
from bridge.simulator.transcripts import Transcript

AnyInsights = SummaryInsights | ObjectionInsights | TicketInsights
Answer = Callable[[str, WindowDraft], Awaitable[AnyInsights | None]]


@dataclass
class SentWindow:
    flow: str
    draft: WindowDraft
    cut_ms: int
    done_ms: int = 0
    insights: AnyInsights | None = None


@dataclass
class Replay:
    windows: list[SentWindow] = field(default_factory=list)

    def by_flow(self, flow: str) -> list[SentWindow]:
        return [w for w in self.windows if w.flow == flow]


async def replay(transcript: Transcript, answer: Answer | None = None, *, latency_ms: int = 800,
                 config: FlowsConfig | None = None, flows: Sequence[str] | None = None,
                 meeting_id: str = "bench-meeting", clock: Callable[[int], Awaitable[None]] | None = None) -> Replay:
    """Every window the engine cuts for `transcript`, for each flow of the bundled flows.toml (or `flows`).

    `clock(now_ms)` is awaited before each answer with the meeting time the window is sent at (e.g. to set the
    model double's clock, on which its prompt cache expires)."""
    config = config or load_flows_config()
    chosen: list[FlowConfig] = [f for name, f in config.flows.items() if flows is None or name in flows]
    tick_ms = int(config.runner.tick_s * 1000)
    meeting = MeetingInfo(instance_id=meeting_id, stream_id=meeting_id, product="meeting",
                          topic=transcript.meta.topic, started_at_ms=0)
    # flows.toml's [meeting] internal marks, as the consumer passes them (issue 12; absent before it)
    marks = tuple(getattr(getattr(config, "meeting", None), "internal", None) or ())
    if marks and hasattr(meeting, "internal_marks"):
        meeting.internal_marks = marks
    host = transcript.host_user_id
    windowers = {f.name: FlowWindower(f, meeting) for f in chosen}
    if host is not None:
        meeting.see(str(host), transcript.meta.host or "")
    out = Replay()
    order = itertools.count()
    events: list[tuple[int, int, str, Any]] = []
    for seq, u in enumerate(transcript.utterances, start=1):
        line = Line(seq=seq, speaker=u.speaker, user_id=str(u.user_id), start_ms=u.start_ms, end_ms=u.end_ms,
                    text=u.text, received_ms=u.end_ms)
        heapq.heappush(events, (u.end_ms, next(order), "line", line))
    end_ms = transcript.duration_ms + 1000
    for t in range(tick_ms, end_ms, tick_ms):
        heapq.heappush(events, (t, next(order), "tick", None))
    heapq.heappush(events, (end_ms, next(order), "end", None))

    async def send(flow: str, draft: WindowDraft | None, now: int) -> None:
        if draft is None:
            return
        sent = SentWindow(flow, draft, now, done_ms=now + latency_ms)
        if clock is not None:
            await clock(now)
        sent.insights = await answer(flow, draft) if answer is not None else None
        out.windows.append(sent)
        heapq.heappush(events, (sent.done_ms, next(order), "done", sent))

    while events:
        now, _, kind, data = heapq.heappop(events)
        if kind == "line":
            meeting.see(data.user_id, data.speaker)
            for name, w in windowers.items():
                await send(name, w.add(data), now)
        elif kind == "tick":
            for name, w in windowers.items():
                await send(name, w.tick(now), now)
        elif kind == "end":
            for name, w in windowers.items():
                await send(name, w.end(now), now)
        else:
            sent: SentWindow = data
            follow = windowers[sent.flow].done(sent.draft.seq, now, **fold_insights(sent.insights))
            await send(sent.flow, follow, now)
    return out


def joined(transcripts: Sequence[Transcript], gap_ms: int = 5000) -> Transcript:
    """One long meeting made of several, back to back (times shifted; user ids made unique per part)."""
    from bridge.simulator.transcripts import TranscriptMeta, Utterance

    utterances: list[Utterance] = []
    offset = 0
    for part, t in enumerate(transcripts):
        for u in t.utterances:
            utterances.append(Utterance(speaker=f"{u.speaker}" if part == 0 else f"{u.speaker} ({part + 1})",
                                        user_id=u.user_id + part * 1_000_000, start_ms=u.start_ms + offset,
                                        end_ms=u.end_ms + offset, text=u.text))
        offset += t.duration_ms + gap_ms
    first = transcripts[0].meta
    meta = TranscriptMeta(title="joined: " + " + ".join(t.meta.title or "?" for t in transcripts),
                          topic=first.topic, host=first.host, language=first.language)
    return Transcript(meta=meta, utterances=utterances)
