"""Builders shared by the store tests."""

from __future__ import annotations

from typing import Any

from bridge.store import LineRecord, NewWindow, Store


class Clock:
    """The store's clock in tests: epoch ms that only move when told to."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now



def line(seq: int, *, speaker: str = "Ana", user_id: str = "u1", text: str | None = None,
         start_ms: int | None = None) -> LineRecord:
    start = 1_700_000_000_000 + seq * 1000 if start_ms is None else start_ms
    return LineRecord(seq=seq, speaker=speaker, user_id=user_id, start_ms=start, end_ms=start + 800,
                      text=text if text is not None else f"line {seq}", received_at_ms=start + 900)


def new_window(stream_id: str = "s1", flow: str = "objections", seq: int = 1, *, first: int = 1, last: int = 1,
               coalesced: int = 0) -> NewWindow:
    return NewWindow(stream_id=stream_id, flow=flow, seq=seq, trigger="turn", first_line_seq=first,
                     last_line_seq=last, start_ms=1_700_000_000_000 + first * 1000,
                     end_ms=1_700_000_000_000 + last * 1000 + 800, payload=f'{{"window":{seq}}}',
                     coalesced=coalesced)


async def meeting(store: Store, stream_id: str = "s1", **kwargs: Any) -> str:
    kwargs.setdefault("instance_id", f"inst-{stream_id}")
    kwargs.setdefault("product", "meeting")
    await store.upsert_meeting(stream_id, **kwargs)
    return stream_id
