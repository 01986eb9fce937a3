"""Purges: a revoked stream leaves no row in any table and, on SQLite, no byte in the database file or its WAL; an
account purge takes every stream of the account and nothing else; a purge whose Langflow cannot be reached stays
recorded, with its failure, until it can be done."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import String, cast, func, or_, select

from bridge.langflow_purge import LangflowPurgeClient
from bridge.store import Store
from bridge.store.models import Base, PendingPurge
from bridge.store.purge import PurgeMetrics, Purger
from tests.langflow_server import free_port
from tests.store.helpers import Clock, line, meeting, new_window

MARKER = "periwinkle-aardvark-7731"


async def tables_holding(store: Store, marker: str) -> dict[str, int]:
    """Rows of every table of ours whose any column, as text, contains `marker`."""
    found: dict[str, int] = {}
    async with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            hit = or_(*(cast(column, String).contains(marker) for column in table.c))
            count = (await conn.execute(select(func.count()).select_from(table).where(hit))).scalar_one()
            if count:
                found[table.name] = count
    return found


def files_holding(directory: Path, marker: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file() and marker.encode() in p.read_bytes())


async def _meeting_with(store: Store, stream_id: str, text: str) -> None:
    await meeting(store, stream_id)
    await store.upsert_participant(stream_id, "u1", "Ana", "host")
    for seq in range(1, 30):
        await store.add_line(stream_id, line(seq, text=f"{text} {seq} " + "filler " * 40))
    window = await store.create_window(new_window(stream_id, flow="meeting_summary", seq=1))
    await store.save_summary(stream_id, "meeting_summary", window.id, {"text": text})


async def _pending(store: Store) -> list[PendingPurge]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(select(PendingPurge).order_by(PendingPurge.id))).all())  # type: ignore[arg-type]


async def test_revoke_leaves_the_words_in_no_table_and_no_file(store: Store, tmp_path: Path) -> None:
    await _meeting_with(store, "s1", MARKER)
    await _meeting_with(store, "s2", "kept words")
    assert await tables_holding(store, MARKER)
    purger = Purger(store, settle_s=0)
    await purger.revoked("s1")
    pending = await _pending(store)
    assert [(p.kind, p.target, json.loads(p.flows)) for p in pending] == [("stream", "s1", ["meeting_summary"])]
    assert await purger.wait_done(30)
    assert await tables_holding(store, MARKER) == {}
    assert await tables_holding(store, "kept words")
    if store.engine.dialect.name == "sqlite":  # PostgreSQL: rows only (dead tuples remain until VACUUM; README)
        assert files_holding(tmp_path, MARKER) == []
        assert files_holding(tmp_path, "kept words")


async def test_account_purge_takes_every_stream_of_that_account_only(store: Store, clock: Clock) -> None:
    for stream_id in ("a1", "a2", "b1"):
        await _meeting_with(store, stream_id, f"{MARKER} {stream_id}")
    deleted: list[str] = []

    async def delete_stream(stream_id: str) -> None:
        deleted.append(stream_id)
        await store.delete_stream(stream_id)

    purger = Purger(store, settle_s=0, delete_stream=delete_stream)
    for stream_id, account in (("a1", "acct-A"), ("a2", "acct-A"), ("b1", "acct-B"), ("a3", "acct-A")):
        await purger.remember_account(stream_id, account)
    await purger.deauthorize("acct-A")
    assert [(p.kind, p.target) for p in await _pending(store)] == [("account", "acct-A")]
    assert await purger.wait_done(30)
    assert sorted(deleted) == ["a1", "a2", "a3"]  # a3 started but stored nothing yet: its sessions go too
    assert set(await tables_holding(store, MARKER)) and await store.get_meeting("b1") is not None
    for gone in ("a1", "a2"):
        assert await store.get_meeting(gone) is None
    assert await tables_holding(store, f"{MARKER} a") == {}


async def test_a_purge_langflow_cannot_take_stays_recorded_and_is_retried(store: Store, clock: Clock) -> None:
    await _meeting_with(store, "s1", MARKER)
    metrics = PurgeMetrics()
    unreachable = LangflowPurgeClient(f"http://127.0.0.1:{free_port()}", "key", timeout_s=2)
    purger = Purger(store, langflow=unreachable, flows=["objection_coach"], settle_s=0, metrics=metrics, clock=clock)
    try:
        await purger.revoked("s1")
        wait_s = await purger.run_due()
        assert await tables_holding(store, MARKER) == {}  # our rows went at once
        [row] = await _pending(store)
        assert row.failures == 1 and row.last_error and "cannot reach Langflow" in row.last_error
        assert row.next_at_ms > clock.now and 0 <= wait_s <= 30
        assert metrics.failures.labels(stage="langflow")._value.get() == 1
        clock.now = row.next_at_ms  # due again: fails again, still recorded, backoff grows no longer than its cap
        await purger.run_due()
        [row] = await _pending(store)
        assert row.failures == 2
        reopened = await _reopen(store)
        try:  # a restart forgets nothing: the row is read from the store
            [again] = await _pending(reopened)
            assert again.target == "s1" and again.failures == 2
        finally:
            await reopened.close()
    finally:
        await purger.close()


async def _reopen(store: Store) -> Store:
    url = store.engine.url.render_as_string(hide_password=False)
    schema = None
    if store.engine.dialect.name == "postgresql":
        async with store.engine.connect() as conn:
            schema = (await conn.exec_driver_sql("SELECT current_schema()")).scalar_one()
    return await Store.open(url, schema=schema)
