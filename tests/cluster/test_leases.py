"""Leases on a real Redis: one holder at a time, fencing tokens that only grow, and a holder that lost its lease
(paused past the TTL) cannot renew or release the lease another replica has taken since."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from bridge.cluster.leases import FENCE_MEMORY_MS, Lease, parse_holder
from tests.cluster.conftest import LeasesFactory
from tests.waiting import until


async def test_acquire_gives_token_1_then_none_while_held(leases: LeasesFactory, redis: Redis) -> None:
    a, b = leases("replica-a"), leases("replica-b")
    got = await a.acquire("s1")
    assert got == Lease("s1", "replica-a", 1)
    assert got.value == "replica-a:1"
    assert await b.acquire("s1") is None
    assert await a.acquire("s1") is None  # the holder itself does not get a second token
    assert await redis.get(a.key("s1")) == "replica-a:1"
    assert 0 < await redis.pttl(a.key("s1")) <= 5000
    assert 0 < await redis.pttl(f"{a.prefix}fence:s1") <= FENCE_MEMORY_MS
    assert await b.acquire("s2") == Lease("s2", "replica-b", 1)  # a token counter per stream


async def test_release_lets_another_replica_take_it_with_a_larger_token(leases: LeasesFactory) -> None:
    a, b, c = leases("replica-a"), leases("replica-b"), leases("replica-c")
    first = await a.acquire("s1")
    assert first is not None
    assert await a.release(first) is True
    assert await a.release(first) is False  # already gone
    second = await b.acquire("s1")
    assert second == Lease("s1", "replica-b", 2)
    assert await b.release(second) is True
    third = await c.acquire("s1")
    assert third is not None and third.token == 3
    assert first.token < second.token < third.token


async def test_release_by_a_non_holder_leaves_the_lease(leases: LeasesFactory, redis: Redis) -> None:
    a, b = leases("replica-a"), leases("replica-b")
    held = await a.acquire("s1")
    assert held is not None
    assert await b.release(Lease("s1", "replica-b", 1)) is False  # same token, other replica
    assert await b.release(Lease("s1", "replica-a", 7)) is False  # same replica name, other token
    assert await b.release(Lease("s1", "replica-b", 2)) is False
    assert await redis.get(a.key("s1")) == "replica-a:1"
    assert await b.holders(["s1"]) == {"s1": ("replica-a", 1)}
    assert await a.renew([held]) == [True]


async def test_renew_extends_only_the_holders_lease(leases: LeasesFactory, redis: Redis) -> None:
    a = leases("replica-a", ttl_s=0.2)
    held = await a.acquire("s1")
    assert held is not None
    await redis.pexpire(a.key("s1"), 50)  # as if most of the TTL had gone by
    assert await a.renew([held]) == [True]
    assert 100 < await redis.pttl(a.key("s1")) <= 200
    assert await a.renew([]) == []


async def test_renew_after_expiry_and_takeover_neither_extends_nor_steals(leases: LeasesFactory,
                                                                          redis: Redis) -> None:
    old = leases("replica-a", ttl_s=0.2)
    new = leases("replica-b", ttl_s=5.0)
    stale = await old.acquire("s1")
    other = await old.acquire("s2")
    assert stale is not None and other is not None
    for key in (old.key("s1"), old.key("s2")):  # replica-a paused past its TTL: both its leases expire
        await redis.pexpire(key, 1)
    await until(lambda: _gone(redis, old.key("s1"), old.key("s2")), what="replica-a's leases to expire")
    assert await old.holders(["s1", "s2"]) == {"s1": None, "s2": None}
    taken = await new.acquire("s1")
    assert taken == Lease("s1", "replica-b", 2)
    assert await old.renew([stale, other]) == [False, False]
    assert await redis.get(new.key("s1")) == "replica-b:2"
    assert await redis.get(new.key("s2")) is None  # not re-created by the renew either
    assert 4000 < await redis.pttl(new.key("s1")) <= 5000  # its own TTL, not replica-a's 200 ms
    assert await old.release(stale) is False
    assert await old.holders(["s1"]) == {"s1": ("replica-b", 2)}
    assert await old.acquire("s1") is None


async def test_renew_reports_each_lease(leases: LeasesFactory) -> None:
    a, b = leases("replica-a"), leases("replica-b")
    mine = [await a.acquire(s) for s in ("s1", "s2", "s3")]
    assert all(mine)
    lost = mine[1]
    assert lost is not None and await a.release(lost)
    assert await b.acquire("s2") is not None
    assert await a.renew([m for m in mine if m is not None]) == [True, False, True]


async def test_holders(leases: LeasesFactory) -> None:
    a, b = leases("replica-a"), leases("pod:zone-1:b")
    assert await a.holders([]) == {}
    assert await a.acquire("s1") is not None
    assert await b.acquire("s2") is not None
    assert await a.holders(["s1", "s2", "s3"]) == {
        "s1": ("replica-a", 1), "s2": ("pod:zone-1:b", 1), "s3": None}


async def test_concurrent_acquire_has_one_winner(leases: LeasesFactory) -> None:
    replicas = [leases(f"replica-{n}") for n in range(10)]
    got = await asyncio.wait_for(asyncio.gather(*(r.acquire("s1") for r in replicas)), 5)
    winners = [g for g in got if g is not None]
    assert len(winners) == 1 and winners[0].token == 1


@pytest.mark.parametrize(("value", "expected"), [
    ("replica-a:1", ("replica-a", 1)),
    ("pod:zone-1:b:42", ("pod:zone-1:b", 42)),
    ("a::7", ("a:", 7)),
    ("10.0.0.5:8080:3", ("10.0.0.5:8080", 3)),
    (None, None),
    ("", None),
    ("replica-a", None),  # no token
    ("replica-a:", None),
    (":5", None),  # no replica
    ("replica-a:x", None),
    ("replica-a:-1", None),
    ("replica-a:1.5", None),
    ("replica-a: 1", None),
])
def test_parse_holder(value: str | None, expected: tuple[str, int] | None) -> None:
    assert parse_holder(value) == expected


def test_parse_holder_superscript_digit_is_not_a_token() -> None:
    assert parse_holder("replica-a:²") is None


async def _gone(redis: Redis, *keys: str) -> bool:
    return not await redis.exists(*keys)
