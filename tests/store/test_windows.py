"""Windows: idempotent creation, status moves, cursors, and resending what a crash left unfinished."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from pydantic import ValidationError

from bridge.contracts import Usage as ContractUsage
from bridge.store import Store, Usage
from tests.store.conftest import Target
from tests.store.helpers import Clock, meeting, new_window


async def test_create_window_is_idempotent(store: Store, clock: Clock) -> None:
    await meeting(store)
    first = await store.create_window(new_window(seq=1, first=1, last=4, coalesced=2))
    assert (first.status, first.attempts, first.error, first.latency_ms, first.usage) == (
        "pending", 0, None, None, None)
    assert (first.first_line_seq, first.last_line_seq, first.coalesced, first.payload) == (1, 4, 2, '{"window":1}')
    clock.now += 10
    await store.mark_window(first.id, "in_flight")
    retried = await store.create_window(new_window(seq=1, first=1, last=4))
    assert retried.id == first.id and retried.status == "in_flight" and retried.attempts == 1
    other_flow = await store.create_window(new_window(flow="summary", seq=1))
    assert other_flow.id != first.id
    assert [w.id for w in await store.windows("s1")] == [first.id, other_flow.id]
    assert [w.id for w in await store.windows("s1", flow="summary")] == [other_flow.id]
    assert await store.get_window(first.id) == retried
    assert await store.get_window(999_999) is None


async def test_concurrent_create_of_the_same_window_gives_one_row(store: Store) -> None:
    await meeting(store)
    made = await asyncio.gather(*(store.create_window(new_window(seq=7)) for _ in range(20)))
    assert len({w.id for w in made}) == 1
    assert len(await store.windows("s1")) == 1


async def test_mark_window_moves_and_records(store: Store, clock: Clock) -> None:
    await meeting(store)
    w = await store.create_window(new_window())
    await store.mark_window(w.id, "in_flight")
    failed = await store.mark_window(w.id, "failed", error="objections: HTTP 502 from Langflow", latency_ms=30.5)
    assert (failed.status, failed.attempts, failed.error, failed.latency_ms) == (
        "failed", 1, "objections: HTTP 502 from Langflow", 30.5)
    await store.mark_window(w.id, "in_flight")
    clock.now += 100
    done = await store.mark_window(w.id, "done", latency_ms=812.0,
                                   usage={"model_calls": 2, "input_tokens": 900, "output_tokens": 120})
    assert (done.status, done.attempts, done.error, done.latency_ms) == ("done", 2, None, 812.0)
    assert done.usage == Usage(model_calls=2, input_tokens=900, output_tokens=120)
    assert done.updated_at_ms == done.created_at_ms + 100
    assert await store.get_window(w.id) == done
    contract_usage = ContractUsage(model_calls=1, input_tokens=5, output_tokens=6)
    again = await store.mark_window(w.id, "done", usage=contract_usage)
    assert again.usage == Usage(model_calls=1, input_tokens=5, output_tokens=6) and again.latency_ms == 812.0


async def test_mark_window_errors_are_named(store: Store) -> None:
    await meeting(store)
    w = await store.create_window(new_window())
    with pytest.raises(ValueError, match=r"unknown window status 'sent' \(expected one of: pending, in_flight"):
        await store.mark_window(w.id, "sent")  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="unknown window id 424242"):
        await store.mark_window(424242, "done")
    with pytest.raises(ValueError, match=f"window {w.id}: bad usage"):
        await store.mark_window(w.id, "done", usage={"model_calls": -1})
    assert (await store.get_window(w.id)) == w


async def test_window_of_an_unknown_stream_and_bad_windows(store: Store) -> None:
    with pytest.raises(LookupError, match="unknown stream 'ghost'"):
        await store.create_window(new_window(stream_id="ghost"))
    with pytest.raises(ValidationError, match="last_line_seq is before first_line_seq"):
        new_window(first=5, last=2)


async def test_window_cursor(store: Store) -> None:
    await meeting(store)
    assert await store.window_cursor("s1", "objections") == (0, 0)
    await store.create_window(new_window(seq=1, first=1, last=3))
    await store.create_window(new_window(seq=2, first=4, last=9))
    await store.create_window(new_window(flow="summary", seq=5, first=1, last=12))
    assert await store.window_cursor("s1", "objections") == (2, 9)
    assert await store.window_cursor("s1", "summary") == (5, 12)


async def test_unfinished_windows_filters(store: Store) -> None:
    await meeting(store)
    await meeting(store, "s2")
    pending = await store.create_window(new_window(seq=1))
    flying = await store.create_window(new_window(seq=2))
    done = await store.create_window(new_window(seq=3))
    failed = await store.create_window(new_window(seq=4))
    elsewhere = await store.create_window(new_window(stream_id="s2", seq=1))
    await store.mark_window(flying.id, "in_flight")
    await store.mark_window(done.id, "in_flight")
    await store.mark_window(done.id, "done")
    for _ in range(3):
        await store.mark_window(failed.id, "in_flight")
        await store.mark_window(failed.id, "failed", error="boom")
    assert [w.id for w in await store.unfinished_windows()] == [pending.id, flying.id, failed.id, elsewhere.id]
    assert [w.id for w in await store.unfinished_windows("s1")] == [pending.id, flying.id, failed.id]
    assert [w.id for w in await store.unfinished_windows(max_attempts=3)] == [pending.id, flying.id, elsewhere.id]


_CRASHING_BRIDGE = textwrap.dedent("""
    import asyncio, os, sys
    from bridge.store import Store, NewWindow

    async def main(url, schema):
        store = await Store.open(url, schema=schema or None)
        await store.upsert_meeting("s1", instance_id="m", product="meeting")
        ids = []
        for seq in (1, 2, 3, 4):
            w = await store.create_window(NewWindow(stream_id="s1", flow="objections", seq=seq, trigger="turn",
                first_line_seq=seq, last_line_seq=seq, start_ms=0, end_ms=1, payload="{}"))
            ids.append(w.id)
        await store.mark_window(ids[0], "in_flight")
        await store.mark_window(ids[0], "done", latency_ms=5.0)
        await store.mark_window(ids[1], "in_flight")
        await store.mark_window(ids[2], "in_flight")
        await store.mark_window(ids[2], "failed", error="HTTP 503")
        print(",".join(map(str, ids)), flush=True)
        os._exit(17)  # killed mid-run: no close, windows 2 (in flight), 3 (failed) and 4 (pending) unfinished

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


async def test_unfinished_windows_survive_a_crash(target: Target) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CRASHING_BRIDGE, target.url, target.schema or "",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 17, err.decode()
    ids = [int(i) for i in out.decode().strip().split(",")]
    store = await target.open()
    try:
        unfinished = await store.unfinished_windows()
        assert [(w.id, w.status, w.attempts) for w in unfinished] == [
            (ids[1], "in_flight", 1), (ids[2], "failed", 1), (ids[3], "pending", 0)]
        assert unfinished[1].error == "HTTP 503"
        assert unfinished[0].payload == "{}"  # resent verbatim
        resent = await store.mark_window(ids[1], "in_flight")
        assert resent.attempts == 2
    finally:
        await store.close()
