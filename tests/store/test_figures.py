"""The dashboard's figures: window counts, flow latency, model usage, utterance-to-insight delay."""

from __future__ import annotations

import pytest

from bridge.store import FlowFigures, MeetingFigures, Store
from bridge.store.figures import percentile
from tests.store.helpers import Clock, line, meeting, new_window
from tests.store.test_insights import objection, ticket


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(range(1, 101), 95) == pytest.approx(95.05)
    with pytest.raises(ValueError, match=r"outside 0\.\.100"):
        percentile([1], 101)


async def test_meeting_figures(store: Store, clock: Clock) -> None:
    await meeting(store)
    for seq in range(1, 5):
        await store.add_line("s1", line(seq))
    latencies = [100.0, 200.0, 300.0, 400.0]
    for seq, latency in enumerate(latencies, start=1):
        w = await store.create_window(new_window(seq=seq, coalesced=1 if seq == 2 else 0))
        await store.mark_window(w.id, "in_flight")
        await store.mark_window(w.id, "done", latency_ms=latency,
                                usage={"model_calls": 1, "input_tokens": 100, "output_tokens": 10})
    failed = await store.create_window(new_window(seq=5))
    await store.mark_window(failed.id, "in_flight")
    await store.mark_window(failed.id, "failed", error="timeout", latency_ms=30_000.0)
    await store.mark_window(failed.id, "in_flight")
    await store.mark_window(failed.id, "failed", error="timeout")
    await store.create_window(new_window(flow="summary", seq=1))
    at = line(1).start_ms  # the items quote line 1, which reached the bridge 900 ms after it started
    arrived = line(1).received_at_ms
    for n, delay in enumerate([1000, 2000, 3000]):
        clock.now = arrived + delay
        await store.save_insights("s1", "objections", None, "objections", [objection(f"k{n}", at_ms=at)])
    clock.now = arrived + 4000
    await store.upsert_ticket("s1", ticket(at_ms=at))
    await store.save_summary("s1", "summary", None, {"text": "..."})  # no at_ms: not in the delay figure
    clock.now = at + 60_000
    await store.save_insights("s1", "objections", None, "objections", [objection("k0", at_ms=at)])  # re-seen

    figures = await store.meeting_figures("s1")
    assert figures.latency_p95_ms == pytest.approx(385.0)
    assert figures.insight_delay_p95_ms == pytest.approx(3850.0)
    assert figures.per_flow["objections"].latency_p95_ms == pytest.approx(385.0)
    exact = figures.model_copy(update={
        "latency_p95_ms": None, "insight_delay_p95_ms": None,
        "per_flow": {**figures.per_flow, "objections": figures.per_flow["objections"].model_copy(
            update={"latency_p95_ms": None})}})
    assert exact == MeetingFigures(
        lines=4, windows=6, windows_done=4, windows_failed=1, windows_pending=1, windows_coalesced=1, attempts=6,
        latency_p50_ms=250.0, model_calls=4, input_tokens=400, output_tokens=40, insights=4, tickets=1,
        insight_delay_p50_ms=2500.0,
        per_flow={"objections": FlowFigures(windows=5, done=4, failed=1, latency_p50_ms=250.0),
                  "summary": FlowFigures(windows=1)})
    got = await store.get_meeting("s1")
    assert got is not None and got.figures == figures


async def test_figures_of_an_unknown_or_empty_meeting(store: Store) -> None:
    assert await store.meeting_figures("nobody") == MeetingFigures()
    await meeting(store)
    assert await store.meeting_figures("s1") == MeetingFigures()
