"""Cluster fixtures: a real Redis (`REDIS_TEST_URL`, default redis://127.0.0.1:6379/0), each test under its own key
prefix, every key under that prefix deleted afterwards. Redis runs on the development machine and in CI, so an
unreachable server fails the tests (saying where it looked) rather than skipping them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bridge.cluster.leases import Leases
from bridge.cluster.registry import Registry
from tests.cluster.replicas import delete_prefixed

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)
    try:
        await asyncio.wait_for(client.ping(), 2)
    except (TimeoutError, OSError, RedisError) as exc:
        await client.aclose()
        pytest.fail(f"Redis not reachable at {REDIS_URL} ({type(exc).__name__}: {exc})")
    try:
        yield client
    finally:
        try:
            await delete_prefixed(client, prefix)
        finally:
            await client.aclose()


LeasesFactory = Callable[..., Leases]


@pytest.fixture
def leases(redis: Redis, prefix: str) -> LeasesFactory:
    """`leases("replica-a", ttl_s=5.0)`: one replica's view of the leases, all replicas on the same prefix."""

    def make(replica: str, ttl_s: float = 5.0) -> Leases:
        return Leases(redis, prefix=prefix, replica=replica, ttl_s=ttl_s)

    return make


@pytest.fixture
def registry(redis: Redis, prefix: str) -> Registry:
    return Registry(redis, prefix=prefix)
