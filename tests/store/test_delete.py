"""Stop reason 8: a stream's data goes, every table, nothing of other streams."""

from __future__ import annotations

from sqlalchemy import func, select

from bridge.store import Store
from bridge.store.models import Base
from tests.store.helpers import line, meeting, new_window
from tests.store.test_insights import objection, ticket


async def _fill(store: Store, stream_id: str) -> int:
    await meeting(store, stream_id)
    await store.upsert_participant(stream_id, "u1", "Ana", "host")
    await store.upsert_participant(stream_id, "u2", "Ben")
    for seq in (1, 2, 3):
        await store.add_line(stream_id, line(seq))
    w = await store.create_window(new_window(stream_id, seq=1))
    await store.mark_window(w.id, "done")
    await store.save_insights(stream_id, "objections", w.id, "objections", [objection("a"), objection("b")])
    await store.save_summary(stream_id, "summary", w.id, {"text": "..."})
    await store.upsert_ticket(stream_id, ticket(), window_id=w.id)
    return 1 + 2 + 3 + 1 + 3 + 1  # meeting, participants, lines, window, insights, ticket


async def _rows(store: Store, stream_id: str) -> dict[str, int]:
    async with store.engine.connect() as conn:
        return {table.name: (await conn.execute(
            select(func.count()).select_from(table).where(table.c.stream_id == stream_id))).scalar_one()
            for table in Base.metadata.sorted_tables if "stream_id" in table.c}


async def test_delete_stream_removes_every_row_of_that_stream_only(store: Store) -> None:
    rows = await _fill(store, "s1")
    await _fill(store, "s2")
    assert set((await _rows(store, "s1")).values()) != {0}
    assert await store.delete_stream("s1") == rows
    assert set((await _rows(store, "s1")).values()) == {0}
    assert await store.get_meeting("s1") is None
    assert await store.unfinished_windows("s1") == []
    kept = await store.get_meeting("s2")
    assert kept is not None and kept.figures is not None and kept.figures.lines == 3
    assert len(await store.insights("s2")) == 3 and len(await store.tickets("s2")) == 1
    assert await store.delete_stream("s1") == 0
    assert await store.delete_stream("never-seen") == 0
