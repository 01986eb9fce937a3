"""The window engine, sans I/O: merging, each trigger, single flight and coalescing, state folding, bounds."""

from __future__ import annotations

from typing import Any

from bridge.contracts import RaisedObjection, Summary, TrackedItem, parse_window
from bridge.pipeline.config import FlowConfig, Triggers, TurnTrigger
from bridge.pipeline.windowing import FlowWindower, Line, MeetingInfo, WindowDraft

T0 = 1_760_000_000_000
HOST, GUEST = ("1", "Sam Host"), ("2", "Pat Guest")


def flow(**triggers: Any) -> FlowConfig:
    options = {k: triggers.pop(k) for k in ("context_utterances", "max_pending") if k in triggers}
    return FlowConfig(name="f", kind="objections", timeout_s=5.0,
                      context_utterances=options.get("context_utterances", 2),
                      max_pending=options.get("max_pending", 100), triggers=Triggers(**triggers))


def meeting() -> MeetingInfo:
    info = MeetingInfo(instance_id="inst==", stream_id="s1", product="meeting", topic="t", started_at_ms=T0)
    info.see(*HOST)
    info.see(*GUEST)
    return info


class Feed:
    """Lines with increasing seq and times; wall clock = meeting time (a live meeting)."""

    def __init__(self, windower: FlowWindower) -> None:
        self.w = windower
        self.seq = 0
        self.at = T0

    def say(self, who: tuple[str, str], text: str, *, gap_ms: int = 500, dur_ms: int = 2000) -> WindowDraft | None:
        self.seq += 1
        start = self.at + gap_ms
        self.at = start + dur_ms
        return self.w.add(Line(self.seq, who[1], who[0], start, self.at, text, received_ms=self.at))


def texts(draft: WindowDraft) -> list[str]:
    return [u.text for u in draft.window.utterances]


def test_lines_of_one_speaker_merge_and_a_guest_turn_cuts_a_window() -> None:
    w = FlowWindower(flow(turn=TurnTrigger(min_chars=10)), meeting())
    feed = Feed(w)
    assert feed.say(HOST, "Hello there.") is None
    assert feed.say(GUEST, "The price is") is None
    assert feed.say(GUEST, "too high for us.") is None
    draft = feed.say(HOST, "I see.")  # the guest's turn ended
    assert draft is not None and draft.trigger == "turn" and draft.seq == 0
    assert texts(draft) == ["Hello there.", "The price is too high for us."]
    assert [u.id for u in draft.window.utterances] == ["u-1", "u-2"]
    assert (draft.first_line_seq, draft.last_line_seq) == (1, 3)
    assert draft.window.window.start_ms == T0 + 500
    roles = {p.user_id: p.role for p in draft.window.participants}
    assert roles == {"1": "host", "2": "participant"}
    assert parse_window(draft.payload) == draft.window  # valid against the contract


def test_host_turns_and_short_turns_do_not_trigger() -> None:
    w = FlowWindower(flow(turn=TurnTrigger(min_chars=20)), meeting())
    feed = Feed(w)
    assert feed.say(HOST, "A long monologue by the host, about pricing and more.") is None
    assert feed.say(GUEST, "Yeah.") is None  # host turn ended: not a trigger
    assert feed.say(HOST, "So anyway.") is None  # guest turn too short
    assert len(w.pending) == 3


def test_quiet_gap_ends_a_turn_on_tick() -> None:
    w = FlowWindower(flow(turn=TurnTrigger(min_chars=5, quiet_s=2.0)), meeting())
    feed = Feed(w)
    feed.say(GUEST, "That is too expensive.")
    assert w.tick(feed.at + 1000) is None
    draft = w.tick(feed.at + 2500)
    assert draft is not None and draft.trigger == "turn" and texts(draft) == ["That is too expensive."]


def test_interval_and_count_triggers_use_meeting_time() -> None:
    w = FlowWindower(flow(interval_s=10), meeting())
    feed = Feed(w)
    assert feed.say(HOST, "one", dur_ms=4000) is None
    assert feed.say(GUEST, "two", dur_ms=4000) is None
    draft = feed.say(HOST, "three", dur_ms=4000)  # 13.5 s into the meeting
    assert draft is not None and draft.trigger == "interval" and texts(draft) == ["one", "two", "three"]
    c = FlowWindower(flow(utterances=3), meeting())
    feed = Feed(c)
    assert feed.say(HOST, "a") is None and feed.say(GUEST, "b") is None
    draft = feed.say(HOST, "c")
    assert draft is not None and draft.trigger == "count"


def test_interval_fires_on_tick_during_silence_with_wall_clock_extrapolation() -> None:
    w = FlowWindower(flow(interval_s=60), meeting())
    feed = Feed(w)
    feed.say(HOST, "hello")
    assert w.tick(feed.at + 30_000) is None
    draft = w.tick(feed.at + 60_000)
    assert draft is not None and draft.trigger == "interval"


def test_single_flight_coalesces_and_done_cuts_the_next_window() -> None:
    w = FlowWindower(flow(turn=TurnTrigger(min_chars=1), context_utterances=1), meeting())
    feed = Feed(w)
    feed.say(GUEST, "objection one")
    first = feed.say(HOST, "reply one")
    assert first is not None and w.in_flight is first
    # While the run is out: two more guest turns end; nothing is cut.
    assert feed.say(GUEST, "objection two") is None
    assert feed.say(HOST, "reply two") is None
    assert feed.say(GUEST, "objection three") is None
    assert feed.say(HOST, "reply three") is None
    raised = [RaisedObjection(key="obj-1", category="price", quote="objection one")]
    second = w.done(first.seq, feed.at, raised=raised)
    assert second is not None and second.seq == 1 and second.coalesced == 2
    assert texts(second) == ["reply one", "objection two", "reply two", "objection three", "reply three"]
    assert [u.text for u in second.window.context] == ["objection one"]
    assert second.window.state.raised_objections == raised
    # A stale or repeated done is harmless.
    assert w.done(first.seq, feed.at) is None and w.in_flight is second


def test_state_folds_summary_and_tracked_items() -> None:
    w = FlowWindower(flow(utterances=1), meeting())
    feed = Feed(w)
    first = feed.say(HOST, "we decided")
    assert first is not None
    summary = Summary(text="So far.")
    item = TrackedItem(key="tkt-1", kind="action_item", title="Send it")
    assert w.done(first.seq, feed.at, summary=summary, tracked=[item]) is None
    second = feed.say(GUEST, "more")
    assert second is not None
    assert second.window.state.summary == summary and second.window.state.tracked_items == [item]


def test_final_window_after_the_run_in_flight_and_only_once() -> None:
    w = FlowWindower(flow(utterances=2, final=True), meeting())
    feed = Feed(w)
    feed.say(HOST, "a")
    first = feed.say(GUEST, "b")
    assert first is not None
    feed.say(HOST, "c")
    assert w.end(feed.at) is None  # a run is out: the final window waits for it
    final = w.done(first.seq, feed.at)
    assert final is not None and final.trigger == "final" and final.window.window.is_final and texts(final) == ["c"]
    assert w.done(final.seq, feed.at) is None and w.end(feed.at) is None
    assert feed.say(HOST, "late line") is None


def test_no_final_without_the_trigger_or_without_utterances() -> None:
    w = FlowWindower(flow(utterances=1, final=False), meeting())
    Feed(w).say(HOST, "x")
    assert w.end(T0 + 10_000) is None
    empty = FlowWindower(flow(final=True), meeting())
    assert empty.end(T0) is None


def test_pending_is_bounded_and_skips_are_counted() -> None:
    w = FlowWindower(flow(utterances=2, max_pending=3), meeting())
    feed = Feed(w)
    feed.say(GUEST, "line 0")
    first = feed.say(HOST, "line 1")
    assert first is not None
    for n in range(10):  # a slow run: ten utterances arrive, three are kept
        feed.say(HOST if n % 2 else GUEST, f"busy {n}")
    assert len(w.pending) == 3
    nxt = w.done(first.seq, feed.at)
    assert nxt is not None and nxt.skipped == 7 and texts(nxt) == ["busy 7", "busy 8", "busy 9"]


def test_flush_cuts_what_waits_even_while_a_run_is_out() -> None:
    w = FlowWindower(flow(utterances=1), meeting())
    feed = Feed(w)
    first = feed.say(HOST, "a")
    assert first is not None
    feed.say(GUEST, "b")
    flushed = w.flush(feed.at)
    assert flushed is not None and flushed.trigger == "manual" and flushed.seq == 1 and texts(flushed) == ["b"]
    assert w.in_flight is first


def test_restart_cursor_skips_lines_already_windowed() -> None:
    w = FlowWindower(flow(utterances=1), meeting(), next_seq=5, covered_seq=2)
    feed = Feed(w)
    assert feed.say(HOST, "old 1") is None and feed.say(GUEST, "old 2") is None
    draft = feed.say(HOST, "new")
    assert draft is not None and draft.seq == 5 and draft.first_line_seq == 3


def test_first_participant_is_the_host_unless_pinned() -> None:
    info = MeetingInfo(instance_id="i", stream_id="s", product="webinar")
    assert info.see("9", "First") and info.see("8", "Second") and not info.see("8", "Second")
    assert info.role("9") == "host" and info.role("8") == "participant"
    info.set_role("8", "host")
    assert info.role("9") == "participant" and info.role("8") == "host"


def test_internal_marks_keep_our_side_out_of_the_customer_turns() -> None:
    info = MeetingInfo(instance_id="i", stream_id="s", product="meeting", internal_marks=("(harborline)",))
    info.see(*HOST)
    info.see("3", "Tom Okafor (Harborline)")
    info.see(*GUEST)
    assert info.internal("1") and info.internal("3") and not info.internal("2")
    w = FlowWindower(flow(turn=TurnTrigger(min_chars=10)), info)
    feed = Feed(w)
    assert feed.say(("3", "Tom Okafor (Harborline)"), "Our pricing is per technician and month.") is None
    assert feed.say(HOST, "Any questions so far?") is None  # our side's turn ended: no window
    assert feed.say(GUEST, "That is more than we expected.") is None
    draft = feed.say(HOST, "Let me explain.")
    assert draft is not None and draft.trigger == "turn"
    sides = {p.name: p.internal for p in draft.window.participants}
    assert sides == {"Sam Host": True, "Tom Okafor (Harborline)": True, "Pat Guest": False}


def test_an_hourly_limit_batches_turns_and_drops_nothing() -> None:
    # Two windows at once (the burst), then one per 6 minutes of meeting time (10 an hour); the turns that came due
    # meanwhile wait and go together, on the tick that finds room.
    w = FlowWindower(flow(turn=TurnTrigger(min_chars=10, max_per_hour=10, burst=2)), meeting())
    feed = Feed(w)
    cut = []
    for n in range(4):
        feed.say(GUEST, f"Objection number {n}, said at some length.")
        draft = feed.say(HOST, "I see.")
        if draft is not None:
            cut.append(texts(draft))
            w.done(draft.seq, feed.at)
    assert len(cut) == 2
    assert w.tick(feed.at + 60_000) is None  # a minute later: still no room
    late = w.tick(feed.at + 6 * 60_000)
    assert late is not None and late.trigger == "turn"
    assert texts(late) == ["I see.", "Objection number 2, said at some length.", "I see.",
                           "Objection number 3, said at some length.", "I see."]
