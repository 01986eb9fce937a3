"""Follows one meeting in the store for the demo's terminal: what is new since the last look, and when it is over.

The store is the record; the pipeline's event bus (when the app has one) only says when to look again, so a missed
or dropped event never loses an insight here, and the demo works the same against any pipeline that fills the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.store import InsightRecord, Store, TicketRecord

CHANGE_EVENTS = frozenset({"insight", "summary", "ticket", "meeting", "window", "resync"})


class _Subscription(Protocol):
    async def get(self, timeout_s: float) -> Any: ...


class _Bus(Protocol):
    def subscribe(self, stream_id: str | None = None) -> contextlib.AbstractAsyncContextManager[_Subscription]: ...


@dataclass
class Fresh:
    insights: list[InsightRecord] = field(default_factory=list)
    tickets: list[TicketRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.insights or self.tickets)


@dataclass
class MeetingWatch:
    """New objections (and other items), changed summaries and new tickets of `stream_id`, each reported once."""

    store: Store
    stream_id: str
    _seen_items: set[tuple[str, str]] = field(default_factory=set)
    _summary_at: dict[str, int] = field(default_factory=dict)
    _tickets: set[str] = field(default_factory=set)

    async def fresh(self) -> Fresh:
        out = Fresh()
        for record in await self.store.insights(self.stream_id):
            if record.kind == "summary":
                if self._summary_at.get(record.key) != record.updated_at_ms:
                    self._summary_at[record.key] = record.updated_at_ms
                    out.insights.append(record)
            elif (record.kind, record.key) not in self._seen_items:
                self._seen_items.add((record.kind, record.key))
                out.insights.append(record)
        for ticket in await self.store.tickets(self.stream_id):
            if ticket.key not in self._tickets:
                self._tickets.add(ticket.key)
                out.tickets.append(ticket)
        out.insights.sort(key=lambda r: (r.at_ms or 0, r.id))
        return out

    async def ended(self, timeout_s: float, poll_s: float = 0.25) -> bool:
        """Wait until the store marks the meeting ended (the pipeline cuts the final windows then)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            meeting = await self.store.get_meeting(self.stream_id)
            if meeting is not None and meeting.status == "ended":
                return True
            await asyncio.sleep(poll_s)
        return False

    async def unfinished(self, max_attempts: int | None) -> int:
        """Windows of the meeting pending, in flight, or failed but still to be retried."""
        return len(await self.store.unfinished_windows(self.stream_id, max_attempts=max_attempts))

    async def settled(self, quiet_s: float, timeout_s: float, *, max_attempts: int | None = None,
                      poll_s: float = 0.5) -> bool:
        """Wait until the meeting has had no unfinished window for `quiet_s` in a row; False if that did not happen
        within `timeout_s`. Failed windows count while the pipeline will still resend them (`max_attempts`)."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            busy = await self.unfinished(max_attempts)
            now = time.monotonic()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= quiet_s:
                return True
            await asyncio.sleep(poll_s)
        return False


async def changes(bus: _Bus | None, stream_id: str, every_s: float) -> AsyncGenerator[None, None]:
    """Yields whenever the meeting may have something new: on a bus event for it, and at least every `every_s`."""
    if bus is None:
        while True:
            await asyncio.sleep(every_s)
            yield None
    async with bus.subscribe(stream_id) as sub:
        while True:
            asked = time.monotonic()
            event = await sub.get(every_s)
            if event is None and time.monotonic() - asked < every_s / 2:
                await asyncio.sleep(every_s)  # the bus closed: get() no longer waits
            if event is None or getattr(event, "type", None) in CHANGE_EVENTS:
                yield None
