"""Meetings and participants."""

from __future__ import annotations

import pytest

from bridge.store import Store
from tests.store.helpers import Clock, meeting


async def test_upsert_meeting_creates_then_updates_without_losing_known_values(store: Store, clock: Clock) -> None:
    await store.upsert_meeting("s1", instance_id="m-uuid", product="webinar", topic="Renewal",
                               started_at_ms=1_000)
    clock.now += 5
    await store.upsert_meeting("s1", instance_id="m-uuid", product="webinar")
    got = await store.get_meeting("s1")
    assert got is not None
    assert (got.stream_id, got.instance_id, got.product, got.topic, got.status) == (
        "s1", "m-uuid", "webinar", "Renewal", "live")
    assert got.started_at_ms == 1_000
    assert got.updated_at_ms == got.created_at_ms + 5
    assert got.participants == [] and got.figures is not None and got.figures.lines == 0
    assert await store.get_meeting("nope") is None


async def test_list_meetings_newest_first_with_paging(store: Store, clock: Clock) -> None:
    for i in range(5):
        clock.now += 1
        await meeting(store, f"s{i}")
    listed = await store.list_meetings()
    assert [m.stream_id for m in listed] == ["s4", "s3", "s2", "s1", "s0"]
    assert all(m.participants == [] and m.figures is None for m in listed)
    assert [m.stream_id for m in await store.list_meetings(limit=2, offset=1)] == ["s3", "s2"]
    assert await store.list_meetings(offset=10) == []
    with pytest.raises(ValueError, match="limit and offset"):
        await store.list_meetings(limit=-1)


async def test_meeting_status(store: Store) -> None:
    await meeting(store)
    await store.set_meeting_status("s1", "reconnecting")
    await store.set_meeting_status("s1", "ended", ended_at_ms=9_000, end_cause="host_ended")
    await store.set_meeting_status("s1", "ended")  # repeated: keeps the end time and cause
    got = await store.get_meeting("s1")
    assert got is not None
    assert (got.status, got.ended_at_ms, got.end_cause) == ("ended", 9_000, "host_ended")
    with pytest.raises(LookupError, match="unknown stream 'zz'"):
        await store.set_meeting_status("zz", "ended")


async def test_bad_values_are_named(store: Store) -> None:
    await meeting(store)
    with pytest.raises(ValueError, match=r"unknown meeting status 'paused' \(expected one of: live, reconnecting"):
        await store.set_meeting_status("s1", "paused")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown product 'zoomrooms'"):
        await store.upsert_meeting("s2", instance_id="x", product="zoomrooms")
    with pytest.raises(ValueError, match="unknown participant role 'owner'"):
        await store.upsert_participant("s1", "u1", "Ana", "owner")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stream_id is empty"):
        await store.upsert_meeting("", instance_id="x", product="meeting")
    assert [m.stream_id for m in await store.list_meetings()] == ["s1"]


async def test_participants_join_rename_leave_and_come_back(store: Store) -> None:
    await meeting(store)
    await store.upsert_participant("s1", "u1", "Ana", "host", joined_at_ms=100)
    await store.upsert_participant("s1", "u2", "Ben", joined_at_ms=110)
    await store.upsert_participant("s1", "u1", "", left_at_ms=500)  # leave events often carry no name or role
    got = await store.get_meeting("s1")
    assert got is not None
    people = {p.user_id: p for p in got.participants}
    assert (people["u1"].name, people["u1"].role, people["u1"].joined_at_ms, people["u1"].left_at_ms) == (
        "Ana", "host", 100, 500)
    assert (people["u2"].name, people["u2"].role) == ("Ben", "participant")
    await store.upsert_participant("s1", "u1", "Ana P.", joined_at_ms=900)
    got = await store.get_meeting("s1")
    assert got is not None
    ana = next(p for p in got.participants if p.user_id == "u1")
    assert (ana.name, ana.role, ana.joined_at_ms, ana.left_at_ms) == ("Ana P.", "host", 900, None)
    assert [p.user_id for p in got.participants] == ["u1", "u2"]


async def test_participant_of_an_unknown_stream(store: Store) -> None:
    with pytest.raises(LookupError, match="unknown stream 'ghost': call upsert_meeting first"):
        await store.upsert_participant("ghost", "u1", "Ana")
