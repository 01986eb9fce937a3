"""Issue 15 in the store: meeting names per instance, stop reasons, and Team Chat deliveries claimed once."""

from __future__ import annotations

import asyncio

import pytest

from bridge.store import Store
from tests.store.helpers import Clock, meeting


async def test_names_hosts_and_stop_reason(store: Store, clock: Clock) -> None:
    await store.save_meeting_name("inst-s1", product="meeting", topic="Renewal", host_id="H1", numeric_id="812",
                                  start_time_ms=5_000)
    await store.save_meeting_name("inst-s1", product="meeting", topic=None, host_id=None)  # says less: kept
    names = await store.meeting_names(["inst-s1", "inst-none"])
    assert set(names) == {"inst-s1"}
    assert (names["inst-s1"].topic, names["inst-s1"].host_id, names["inst-s1"].start_time_ms) == ("Renewal", "H1",
                                                                                                   5_000)
    with pytest.raises(ValueError, match="product"):
        await store.save_meeting_name("x", product="fax")
    await meeting(store, "s1")
    await store.upsert_participant("s1", "u2", "Sam", "participant")
    await store.upsert_participant("s1", "u1", "Dana", "host")
    assert await store.host_names(["s1", "s2"]) == {"s1": "Dana"}
    await store.set_meeting_status("s1", "ended", end_cause="terminated")
    await store.set_stop_reason("s1", 6)
    got = await store.get_meeting("s1")
    assert got is not None and got.stop_reason == 6
    with pytest.raises(LookupError):
        await store.set_stop_reason("nope", 6)


async def test_a_delivery_is_claimed_once(store: Store, clock: Clock) -> None:
    await meeting(store, "s1")
    claims = await asyncio.gather(*(store.claim_delivery("objection:s1:a", stream_id="s1", kind="objection",
                                                         to_jid="h@xmpp.zoom.us") for _ in range(5)))
    assert sorted(claims) == [False, False, False, False, True]
    [row] = await store.deliveries(stream_id="s1")
    assert (row.status, row.attempts) == ("pending", 0)
    clock.now += 10
    await store.update_delivery("objection:s1:a", "pending", attempts=1, error="HTTP 503")
    [row] = await store.deliveries(status="pending")
    # Two sweepers retry it at once: one wins.
    again = await asyncio.gather(*(store.reclaim_delivery("objection:s1:a", updated_at_ms=row.updated_at_ms)
                                   for _ in range(3)))
    assert sorted(again) == [False, False, True]
    await store.update_delivery("objection:s1:a", "sent", attempts=2, message_id="m1")
    [row] = await store.deliveries()
    assert (row.status, row.message_id, row.error, row.attempts) == ("sent", "m1", None, 2)
    assert not await store.reclaim_delivery("objection:s1:a", updated_at_ms=row.updated_at_ms)
    with pytest.raises(LookupError, match="unknown stream"):
        await store.claim_delivery("objection:zz:a", stream_id="zz", kind="objection", to_jid="x")
    await store.delete_stream("s1")  # stop reason 8: the deliveries go with the meeting
    assert await store.deliveries() == []


async def test_meetings_a_sweep_looks_at(store: Store, clock: Clock) -> None:
    await meeting(store, "old-ended")
    await store.set_meeting_status("old-ended", "ended", end_cause="terminated")
    await meeting(store, "long-live")
    clock.now += 10_000
    await meeting(store, "fresh")
    since = clock.now - 1_000
    assert [m.stream_id for m in await store.meetings_since(since)] == ["fresh"]
    assert {m.stream_id for m in await store.meetings_since(since, live_since_ms=clock.now - 60_000)} == {
        "long-live", "fresh"}
