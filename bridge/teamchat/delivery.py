"""`ChatDeliverer`: which Team Chat messages a meeting owes, sent once each.

The store is the record: a sweep (every `poll_s`, and at once when the bus says an insight or a meeting changed)
reads the recent meetings, their objections and, once a meeting has ended and its last flow runs are done, its
summary and tickets. Each message has an idempotency key (`objection:{stream}:{insight key}`,
`summary:{stream}`) claimed in `chat_deliveries` before it is posted, so a restarted bridge, or a second replica
sweeping the same store, never posts it again. A message whose post failed for a reason that may pass (a rate
limit, Zoom down) stays `pending` and is tried again on a later sweep, up to `max_tries`; one refused for good is
`failed`. The one gap: a process killed between Zoom's accepting a post and the store recording it leaves the row
`pending`, and after `stale_s` it is posted again (Zoom's chatbot API has no idempotency key of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.logs import get_logger
from bridge.pipeline.bus import EventBus
from bridge.store import ChatDeliveryRecord, InsightRecord, MeetingNameRecord, MeetingRecord, Store, TicketRecord
from bridge.teamchat import wire
from bridge.teamchat.client import ChatClient, ChatSendError

log = get_logger(__name__)

_NOT_ENDED_HERE = ("shutdown", "handoff")  # the bridge stopped, not the meeting: another process goes on
LIVE_LOOKBACK_MS = 24 * 3600 * 1000  # a meeting still on is swept for a day, however long ago its row changed


@dataclass(frozen=True)
class ChatTargets:
    robot_jid: str
    account_id: str
    objections_to: str = "host"
    """`host` (the meeting's host, from its `*.started` webhook), a user or channel JID, or empty (none sent)."""
    summary_to: str = ""
    """A channel (or user) JID for the end-of-meeting summary and tickets; empty: none sent."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _offset(at_ms: int | None, start_ms: int | None) -> str:
    if at_ms is None:
        return ""
    if start_ms is None or at_ms < start_ms:
        return time.strftime("%H:%M", time.gmtime(at_ms / 1000)) + " UTC"
    seconds = (at_ms - start_ms) // 1000
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _title(meeting: MeetingRecord, name: MeetingNameRecord | None) -> str:
    return meeting.topic or (name.topic if name else None) or f"a {meeting.product.replace('_', ' ')}"


def objection_content(meeting: MeetingRecord, name: MeetingNameRecord | None, insight: InsightRecord
                      ) -> wire.ChatContent:
    p = insight.payload
    category = str(p.get("category") or "objection").replace("_", " ")
    at = _offset(insight.at_ms if insight.at_ms is not None else p.get("at_ms"), meeting.started_at_ms)
    who = " at ".join(x for x in (str(p.get("speaker") or ""), at) if x)
    body: list[dict[str, Any]] = []
    quote = insight.quote or p.get("quote")
    if isinstance(quote, str) and quote.strip():
        body.append({"type": "message", "text": wire.clip(f"“{quote.strip()}”" + (f" ({who})" if who else ""))})
    reply = p.get("suggested_reply")
    if isinstance(reply, str) and reply.strip():
        body.append({"type": "message", "text": wire.clip(f"Suggested reply: {reply.strip()}")})
    return wire.ChatContent(head={"text": wire.clip(f"Objection: {category}", 120),
                                  "sub_head": {"text": wire.clip(_title(meeting, name), 200)}}, body=body)


def _points(title: str, items: Any) -> str | None:
    lines = []
    for item in items if isinstance(items, list) else []:
        text = item.get("text") if isinstance(item, dict) else item
        if isinstance(text, str) and text.strip():
            lines.append(f"• {text.strip()}")
    return f"{title}:\n" + "\n".join(lines) if lines else None


def summary_content(meeting: MeetingRecord, name: MeetingNameRecord | None, summary: InsightRecord | None,
                    tickets: list[TicketRecord]) -> wire.ChatContent:
    s = summary.payload if summary is not None else {}
    parts: list[str | None] = [
        s.get("text") if isinstance(s.get("text"), str) else None,
        _points("Key points", s.get("key_points")),
        _points("Decisions", s.get("decisions")),
        _points("Open questions", s.get("open_questions")),
    ]
    if tickets:
        rows = []
        for t in tickets:
            where = f" ({t.external_url})" if t.external_url else ""
            rows.append(f"• {t.title}{where} [{t.external_status or 'tracked'}]")
        parts.append("Tickets:\n" + "\n".join(rows))
    body = [{"type": "message", "text": wire.clip(p)} for p in parts if p and p.strip()]
    if not body:
        body = [{"type": "message", "text": "No summary or tickets came out of this meeting."}]
    return wire.ChatContent(head={"text": wire.clip(f"Summary: {_title(meeting, name)}", 200)}, body=body)


class ChatDeliverer:
    def __init__(self, store: Store, bus: EventBus | None, client: ChatClient, targets: ChatTargets, *,
                 poll_s: float = 2.0, settle_s: float = 2.0, summary_wait_s: float = 120.0,
                 lookback_s: float = 7200.0, stale_s: float = 120.0, max_tries: int = 10,
                 clock: Callable[[], int] = _now_ms) -> None:
        self.store = store
        self.bus = bus
        self.client = client
        self.targets = targets
        self.poll_s = poll_s
        self.settle_s = settle_s
        self.summary_wait_s = summary_wait_s
        self.lookback_s = lookback_s
        self.stale_s = stale_s
        self.max_tries = max_tries
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.sent = 0

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._loop(), name="teamchat-sweep"))
        if self.bus is not None:
            self._tasks.append(asyncio.create_task(self._listen(self.bus), name="teamchat-listen"))
        log.info("team chat delivery on", extra={"objections_to": self.targets.objections_to or None,
                                                 "summary": bool(self.targets.summary_to)})

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop after the message being posted (if any) is recorded, so a restart does not post it again."""
        self._stopping = True
        self._wake.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _listen(self, bus: EventBus) -> None:
        async with bus.subscribe(None) as subscription:
            async for event in subscription:
                if event.type in ("insight", "summary", "ticket", "meeting", "window", "resync"):
                    self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.sweep()
            except Exception:
                log.exception("team chat sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    # -- one sweep ------------------------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Post what is owed now; returns how many messages went out."""
        now = self.clock()
        meetings = await self.store.meetings_since(now - int(self.lookback_s * 1000),
                                                   live_since_ms=now - LIVE_LOOKBACK_MS)
        names = await self.store.meeting_names([m.instance_id for m in meetings])
        sent = 0
        for meeting in meetings:
            if self._stopping:
                break
            name = names.get(meeting.instance_id)
            known = {d.key: d for d in await self.store.deliveries(stream_id=meeting.stream_id)}
            sent += await self._objections(meeting, name, known)
            if not self._stopping:
                sent += await self._summary(meeting, name, known, now)
        return sent

    def _objection_jid(self, name: MeetingNameRecord | None) -> str | None:
        target = self.targets.objections_to.strip()
        if not target:
            return None
        if target == "host":
            return wire.user_jid(name.host_id) if name is not None and name.host_id else None
        return target

    async def _objections(self, meeting: MeetingRecord, name: MeetingNameRecord | None,
                          known: dict[str, ChatDeliveryRecord]) -> int:
        to_jid = self._objection_jid(name)
        if to_jid is None:
            return 0  # no target (yet: the host may become known when meeting.started arrives)
        sent = 0
        for insight in await self.store.insights(meeting.stream_id):
            if self._stopping:
                break
            if not insight.kind.startswith("objection"):
                continue
            key = f"objection:{meeting.stream_id}:{insight.key}"
            content = objection_content(meeting, name, insight)
            sent += await self._deliver(key, meeting.stream_id, "objection", to_jid, content, known.get(key))
        return sent

    async def _summary(self, meeting: MeetingRecord, name: MeetingNameRecord | None,
                       known: dict[str, ChatDeliveryRecord], now: int) -> int:
        to_jid = self.targets.summary_to.strip()
        if not to_jid or meeting.status != "ended" or meeting.end_cause in _NOT_ENDED_HERE:
            return 0
        key = f"summary:{meeting.stream_id}"
        record = known.get(key)
        if record is not None and record.status != "pending":
            return 0
        ended = meeting.ended_at_ms or meeting.updated_at_ms
        if now - ended < self.settle_s * 1000:
            return 0  # the final windows are being cut
        if now - ended < self.summary_wait_s * 1000 and await self.store.has_unfinished_windows(meeting.stream_id):
            return 0  # the last flow runs may still change the summary and add tickets
        summaries = await self.store.insights(meeting.stream_id, kind="summary")
        latest = max(summaries, key=lambda r: (r.updated_at_ms, r.id), default=None)
        content = summary_content(meeting, name, latest, await self.store.tickets(meeting.stream_id))
        return await self._deliver(key, meeting.stream_id, "summary", to_jid, content, record)

    async def _deliver(self, key: str, stream_id: str, kind: str, to_jid: str, content: wire.ChatContent,
                       record: ChatDeliveryRecord | None) -> int:
        if record is None:
            claimed = await self.store.claim_delivery(key, stream_id=stream_id, kind=kind, to_jid=to_jid)
            tries = 0
        elif record.status == "pending" and self.clock() - record.updated_at_ms >= self._retry_after_ms(record):
            claimed = await self.store.reclaim_delivery(key, updated_at_ms=record.updated_at_ms)
            tries = record.attempts
        else:
            return 0
        if not claimed:
            return 0
        tries += 1
        message = wire.ChatMessage(robot_jid=self.targets.robot_jid, to_jid=to_jid,
                                   account_id=self.targets.account_id, content=content)
        try:
            message_id = await self.client.send(message)
        except ChatSendError as exc:
            final = not exc.retryable or tries >= self.max_tries
            await self.store.update_delivery(key, "failed" if final else "pending", attempts=tries, error=str(exc))
            log.warning("team chat message not sent", extra={"kind": kind, "stream_id": stream_id, "tries": tries,
                                                            "final": final, "error": str(exc)})
            return 0
        await self.store.update_delivery(key, "sent", attempts=tries, message_id=message_id)
        self.sent += 1
        log.info("team chat message sent", extra={"kind": kind, "stream_id": stream_id, "tries": tries})
        return 1

    def _retry_after_ms(self, record: ChatDeliveryRecord) -> int:
        """A pending row with an error waits a backoff before its next try; one without (a claim whose process
        died mid-post) waits `stale_s`, long enough that no live process is still posting it."""
        if record.error is None:
            return int(self.stale_s * 1000)
        return int(min(self.stale_s, self.poll_s * 2 ** min(record.attempts, 6)) * 1000)
