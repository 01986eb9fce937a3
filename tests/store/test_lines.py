"""Transcript lines: idempotent on (stream, seq), ordered reads, many concurrent writers."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from bridge.store import LineRecord, SeqTaken, Store
from tests.store.helpers import line, meeting


async def test_add_line_is_idempotent_and_reads_in_order(store: Store) -> None:
    await meeting(store)
    await meeting(store, "s2")
    for seq in (3, 1, 2):
        assert await store.add_line("s1", line(seq)) is True
    assert await store.add_line("s1", line(2)) is False  # the same line again
    with pytest.raises(SeqTaken):  # another line under a seq already used: the caller's numbering is behind
        await store.add_line("s1", line(2, text="a different text"))
    assert await store.add_line("s2", line(1)) is True
    got = await store.lines("s1")
    assert [(row.seq, row.text) for row in got] == [(1, "line 1"), (2, "line 2"), (3, "line 3")]
    assert got[0] == line(1)
    assert [row.seq for row in await store.lines("s1", after_seq=1)] == [2, 3]
    assert [row.seq for row in await store.lines("s1", after_seq=0, limit=2)] == [1, 2]
    assert await store.last_line_seq("s1") == 3
    assert await store.last_line_seq("nobody") == 0
    assert await store.lines("nobody") == []


async def test_unicode_and_long_text_round_trip(store: Store) -> None:
    await meeting(store)
    text = "Ça coûte 5 000 € — 太贵了 🙂 " * 400
    assert await store.add_line("s1", line(1, speaker="Zoë", text=text))
    assert (await store.lines("s1"))[0].text == text


async def test_line_of_an_unknown_stream(store: Store) -> None:
    with pytest.raises(LookupError, match="unknown stream 'ghost'"):
        await store.add_line("ghost", line(1))


async def test_bad_line_is_rejected_before_the_store(store: Store) -> None:
    with pytest.raises(ValidationError, match="seq"):
        LineRecord(seq=0, speaker="", user_id="", start_ms=0, end_ms=0, text="", received_at_ms=0)
    assert "secret" not in repr(line(1, text="secret words"))  # transcripts stay out of accidental logs


async def test_fifty_concurrent_writers(store: Store) -> None:
    """50 coroutines, each adding 2 lines; half of them repeat another's lines (a resend after a reconnect)."""
    await meeting(store)

    async def writer(n: int) -> list[bool]:
        base = (n % 25) * 2  # writers n and n + 25 write the same seqs
        return [await store.add_line("s1", line(base + i + 1)) for i in range(2)]

    results = await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(50))), 20)
    assert sum(sum(r) for r in results) == 50
    got = await store.lines("s1")
    assert [row.seq for row in got] == list(range(1, 51))
    assert await store.last_line_seq("s1") == 50
