"""Fencing tokens and line keys: a replica that lost its stream to another cannot write under its old lease token,
and a line sent again (a reconnect, a takeover) is stored once whatever its seq."""

from __future__ import annotations

import asyncio
import random

import pytest

from bridge.store import Fenced, Store, line_key
from tests.store.helpers import Clock, line, meeting, new_window


async def test_claim_stream_creates_the_meeting_and_refuses_an_older_token(store: Store) -> None:
    assert await store.get_meeting("s1") is None
    assert await store.claim_stream("s1", 1, instance_id="inst-s1", product="meeting") is True
    created = await store.get_meeting("s1")
    assert created is not None
    assert (created.instance_id, created.product, created.status) == ("inst-s1", "meeting", "live")
    assert await store.claim_stream("s1", 2, instance_id="inst-s1", product="meeting") is True
    assert await store.claim_stream("s1", 1, instance_id="inst-s1", product="meeting") is False
    assert await store.claim_stream("s1", 2, instance_id="inst-s1", product="meeting") is True  # same holder again
    with pytest.raises(Fenced):
        await store.add_line("s1", line(1), fence=1)  # the refused claim did not lower the fence


async def test_claim_stream_of_an_existing_meeting(store: Store) -> None:
    await meeting(store, topic="Pricing call")
    assert await store.add_line("s1", line(1)) is True
    assert await store.claim_stream("s1", 1, instance_id="inst-s1", product="meeting") is True
    got = await store.get_meeting("s1")
    assert got is not None and got.topic == "Pricing call" and got.status == "live"
    assert [row.seq for row in await store.lines("s1")] == [1]


async def test_claim_stream_rejects_an_unknown_product(store: Store) -> None:
    with pytest.raises(ValueError, match="product"):
        await store.claim_stream("s1", 1, instance_id="inst-s1", product="fax")
    assert await store.get_meeting("s1") is None


async def test_add_line_under_an_older_fence_is_refused(store: Store) -> None:
    assert await store.claim_stream("s1", 1, instance_id="inst-s1", product="meeting")
    assert await store.add_line("s1", line(1), fence=1) is True
    assert await store.claim_stream("s1", 2, instance_id="inst-s1", product="meeting")
    with pytest.raises(Fenced, match=r"'s1'.*token 2.*has 1"):
        await store.add_line("s1", line(2), fence=1)
    assert [row.seq for row in await store.lines("s1")] == [1]  # nothing stored
    assert await store.last_line_seq("s1") == 1
    assert await store.add_line("s1", line(2), fence=2) is True
    assert await store.add_line("s1", line(3)) is True  # fence=None: single-process mode, never fenced
    assert [row.seq for row in await store.lines("s1")] == [1, 2, 3]


async def test_fenced_is_checked_before_the_duplicate(store: Store) -> None:
    """A stale writer resending a stored line learns it was fenced off, not that the line is a duplicate."""
    assert await store.claim_stream("s1", 2, instance_id="inst-s1", product="meeting")
    assert await store.add_line("s1", line(1), fence=2) is True
    with pytest.raises(Fenced):
        await store.add_line("s1", line(1), fence=1)
    assert isinstance(Fenced("x"), RuntimeError)


async def test_fence_on_an_unclaimed_or_unknown_stream(store: Store) -> None:
    await meeting(store)  # never claimed: its fence is 0
    assert await store.add_line("s1", line(1), fence=1) is True
    assert (await store.create_window(new_window(), fence=1)).stream_id == "s1"
    with pytest.raises(LookupError, match="unknown stream 'ghost'"):  # unknown, not fenced
        await store.add_line("ghost", line(1), fence=1)
    with pytest.raises(LookupError, match="unknown stream 'ghost'"):
        await store.create_window(new_window(stream_id="ghost"), fence=1)


async def test_create_window_under_an_older_fence_is_refused(store: Store) -> None:
    assert await store.claim_stream("s1", 1, instance_id="inst-s1", product="meeting")
    assert await store.claim_stream("s1", 2, instance_id="inst-s1", product="meeting")
    with pytest.raises(Fenced):
        await store.create_window(new_window(seq=1), fence=1)
    assert await store.windows("s1") == []
    made = await store.create_window(new_window(seq=1), fence=2)
    assert made.status == "pending"
    with pytest.raises(Fenced):  # a retry of an existing window under the old token is refused too
        await store.create_window(new_window(seq=1), fence=1)
    assert (await store.create_window(new_window(seq=2))).seq == 2  # fence=None
    assert [w.seq for w in await store.windows("s1")] == [1, 2]


async def test_concurrent_claims_leave_the_highest_token(store: Store) -> None:
    tokens = list(range(1, 11))
    random.Random(7).shuffle(tokens)
    await asyncio.wait_for(asyncio.gather(
        *(store.claim_stream("s1", t, instance_id="inst-s1", product="meeting") for t in tokens)), 10)
    with pytest.raises(Fenced):
        await store.add_line("s1", line(1), fence=9)
    assert await store.add_line("s1", line(1), fence=10) is True
    assert await store.claim_stream("s1", 9, instance_id="inst-s1", product="meeting") is False


async def test_the_same_line_with_another_seq_is_stored_once(store: Store) -> None:
    await meeting(store)
    first = line(1, start_ms=1_700_000_005_000, text="We need the discount by Friday.")
    resent = line(7, start_ms=1_700_000_005_000, text="We need the discount by Friday.")
    assert line_key(first) == line_key(resent)
    assert await store.add_line("s1", first) is True
    assert await store.add_line("s1", resent) is False
    assert await store.add_line("s1", resent, fence=None) is False
    assert await store.lines("s1") == [first]
    assert await store.last_line_seq("s1") == 1
    reworded = line(7, start_ms=1_700_000_005_000, text="We need the discount by Monday.")
    assert line_key(reworded) != line_key(first)
    assert await store.add_line("s1", reworded) is True
    assert [row.seq for row in await store.lines("s1")] == [1, 7]
    await meeting(store, "s2")
    assert await store.add_line("s2", resent) is True  # the key is unique per stream only


def test_line_key() -> None:
    base = line(1, start_ms=1_700_000_001_000, text="Ça coûte 5 000 €")
    assert line_key(base) == line_key(line(99, speaker="Someone else", start_ms=1_700_000_001_000,
                                           text="Ça coûte 5 000 €"))
    assert line_key(base) == line_key(base.model_copy(update={"received_at_ms": 1}))
    assert line_key(base) != line_key(line(1, start_ms=1_700_000_001_000, text="Ça coûte 5 000 $"))
    assert line_key(base) != line_key(line(1, user_id="u2", start_ms=1_700_000_001_000, text="Ça coûte 5 000 €"))
    assert line_key(base) != line_key(line(1, start_ms=1_700_000_001_001, text="Ça coûte 5 000 €"))
    assert line_key(base) != line_key(base.model_copy(update={"end_ms": base.end_ms + 1}))
    assert "coûte" not in line_key(base)  # a digest, not the words
    assert line_key(base).startswith("u1:1700000001000:1700000001800:")


async def test_a_refused_claim_leaves_the_meeting_alone(store: Store, clock: Clock) -> None:
    assert await store.claim_stream("s1", 2, instance_id="inst-s1", product="meeting")
    before = await store.get_meeting("s1")
    clock.now += 1000
    assert await store.claim_stream("s1", 1, instance_id="inst-other", product="webinar") is False
    assert await store.get_meeting("s1") == before
