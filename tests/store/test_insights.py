"""Insights, the rolling summary and tickets: deduplicated, with only new or changed rows reported."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridge.contracts import External, Summary, Ticket
from bridge.store import InsightItem, Store
from tests.store.helpers import Clock, meeting, new_window


def objection(key: str, reply: str = "Offer the annual plan", at_ms: int | None = 1_700_000_001_000) -> InsightItem:
    return InsightItem(key=key, payload={"category": "price", "suggested_reply": reply}, at_ms=at_ms,
                       quote="it's too expensive")


def ticket(key: str = "t-1", **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"key": key, "kind": "action_item", "title": "Send the quote", "description": "by Friday",
                             "quote": "I'll send the quote", "speaker": "Ana", "at_ms": 1_700_000_002_000}
    value.update(overrides)
    return value


async def test_save_insights_dedupes_and_reports_only_new_or_changed(store: Store, clock: Clock) -> None:
    await meeting(store)
    w1 = await store.create_window(new_window(seq=1))
    w2 = await store.create_window(new_window(seq=2))
    first = await store.save_insights("s1", "objections", w1.id, "objections", [objection("price"), objection("time")])
    assert [(r.key, r.window_id, r.kind, r.flow) for r in first] == [
        ("price", w1.id, "objections", "objections"), ("time", w1.id, "objections", "objections")]
    assert first[0].payload == {"category": "price", "suggested_reply": "Offer the annual plan"}
    clock.now += 1000
    again = await store.save_insights("s1", "objections", w2.id, "objections", [objection("price")])
    assert again == []
    stored = {r.key: r for r in await store.insights("s1")}
    assert stored["price"].updated_at_ms == first[0].created_at_ms + 1000
    assert stored["price"].window_id == w1.id  # unchanged: still the window that produced it
    clock.now += 1000
    changed = await store.save_insights("s1", "objections", w2.id, "objections",
                                        [objection("price", reply="Offer a pilot", at_ms=1_700_000_009_000),
                                         objection("time")])
    assert [(r.id, r.key, r.window_id) for r in changed] == [(first[0].id, "price", w2.id)]
    assert changed[0].payload["suggested_reply"] == "Offer a pilot"
    assert changed[0].created_at_ms == first[0].created_at_ms
    assert changed[0].at_ms == 1_700_000_001_000  # first mention kept for the delay figure
    assert len(await store.insights("s1")) == 2


async def test_same_key_twice_in_one_batch_and_per_kind(store: Store) -> None:
    await meeting(store)
    got = await store.save_insights("s1", "f", None, "objections", [objection("k"), objection("k", reply="other")])
    assert [(r.key, r.payload["suggested_reply"]) for r in got] == [("k", "other")]
    other_kind = await store.save_insights("s1", "f", None, "key_points", [objection("k")])
    assert len(other_kind) == 1 and other_kind[0].id != got[0].id
    assert [r.kind for r in await store.insights("s1", kind="key_points")] == ["key_points"]
    assert await store.save_insights("s1", "f", None, "objections", []) == []


async def test_concurrent_saves_of_one_item_make_one_row(store: Store) -> None:
    await meeting(store)
    results = await asyncio.gather(*(
        store.save_insights("s1", "objections", None, "objections", [objection("price")]) for _ in range(20)))
    assert sum(len(r) for r in results) == 1
    assert len(await store.insights("s1")) == 1


async def test_concurrent_batches_in_opposite_orders_do_not_deadlock(store: Store) -> None:
    await meeting(store)
    keys = [f"k{i:02d}" for i in range(8)]

    async def batch(order: list[str], reply: str) -> int:
        return len(await store.save_insights("s1", "f", None, "objections", [objection(k, reply) for k in order]))

    rounds = [batch(keys if n % 2 else keys[::-1], f"reply {n}") for n in range(6)]
    changed = await asyncio.wait_for(asyncio.gather(*rounds), 20)
    assert sum(changed) >= len(keys)
    assert sorted(r.key for r in await store.insights("s1")) == keys


async def test_insight_errors_are_named(store: Store) -> None:
    await meeting(store)
    with pytest.raises(ValueError, match="insight kind is empty"):
        await store.save_insights("s1", "f", None, "", [objection("k")])
    with pytest.raises(ValueError, match="use save_summary"):
        await store.save_insights("s1", "f", None, "summary", [objection("k")])
    with pytest.raises(LookupError, match="unknown stream 'ghost'"):
        await store.save_insights("ghost", "f", None, "objections", [objection("k")])
    with pytest.raises(LookupError, match="unknown stream 'ghost'"):
        await store.save_summary("ghost", "f", None, {"text": ""})
    with pytest.raises(LookupError, match="unknown window id 31337"):
        await store.save_insights("s1", "f", 31337, "objections", [objection("k")])
    with pytest.raises(LookupError, match="unknown window id 31337"):
        await store.upsert_ticket("s1", ticket(), window_id=31337)
    assert await store.insights("s1") == [] and await store.tickets("s1") == []


async def test_rolling_summary_is_one_row_per_flow(store: Store) -> None:
    await meeting(store)
    w1 = await store.create_window(new_window(flow="summary", seq=1))
    w2 = await store.create_window(new_window(flow="summary", seq=2))
    one = await store.save_summary("s1", "summary", w1.id, Summary(text="They discussed pricing."))
    assert one.payload == {"text": "They discussed pricing.", "key_points": [], "decisions": [], "open_questions": []}
    two = await store.save_summary("s1", "summary", w2.id, {"text": "Pricing, then a pilot.", "decisions": []})
    assert one.id == two.id and (two.kind, two.key, two.window_id) == ("summary", "summary", w2.id)
    assert two.payload["text"] == "Pricing, then a pilot."
    assert [r.payload["text"] for r in await store.insights("s1", kind="summary")] == ["Pricing, then a pilot."]


async def test_tickets_dedupe_and_keep_their_external_link(store: Store) -> None:
    await meeting(store)
    w = await store.create_window(new_window(flow="tickets", seq=1))
    created, changed = await store.upsert_ticket("s1", ticket(), flow="tickets", window_id=w.id)
    assert changed and (created.key, created.kind, created.title, created.flow, created.window_id) == (
        "t-1", "action_item", "Send the quote", "tickets", w.id)
    assert created.external_system is None and created.payload["description"] == "by Friday"
    same, changed = await store.upsert_ticket("s1", ticket())
    assert not changed and same.id == created.id
    linked = Ticket.model_validate(ticket(external=External(system="jira", id="SALES-12",
                                                            url="https://jira.example/SALES-12", status="created")))
    with_link, changed = await store.upsert_ticket("s1", linked)
    assert changed and (with_link.external_system, with_link.external_id, with_link.external_url,
                        with_link.external_status) == ("jira", "SALES-12", "https://jira.example/SALES-12", "created")
    again, changed = await store.upsert_ticket("s1", ticket())  # the model re-reports it without the link
    assert not changed and again.external_id == "SALES-12"
    retitled, changed = await store.upsert_ticket("s1", ticket(title="Send the revised quote"))
    assert changed and retitled.title == "Send the revised quote" and retitled.external_id == "SALES-12"
    await store.upsert_ticket("s1", ticket("t-2"))
    assert [t.key for t in await store.tickets("s1")] == ["t-1", "t-2"]


async def test_bad_ticket_names_the_field(store: Store) -> None:
    await meeting(store)
    with pytest.raises(ValueError, match="title"):
        await store.upsert_ticket("s1", ticket(title=""))
    with pytest.raises(LookupError, match="unknown stream 'ghost'"):
        await store.upsert_ticket("ghost", ticket())
    assert await store.tickets("s1") == []
