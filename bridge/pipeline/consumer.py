"""`Pipeline`: the intake's consumer. Stores what happens in each meeting, windows it, runs the flows, stores and
publishes what they answer.

Per event (in order per stream, from the intake's worker):
* every transcript line is stored before anything else looks at it, then published (`line`) and fed to each
  flow's `FlowWindower`;
* a window that comes due is stored (status `pending`, with the exact JSON to send) before it is sent; its send
  runs in a task of its own: one run at a time per meeting and flow (the windower's single flight), at most
  `max_concurrent_runs` at once overall (a semaphore), in one retry loop (`_send`: jittered backoff, the
  circuit breaker's pause, at most `window_attempts` sends within `window_deadline_s`, then marked `failed`);
* the answer is stored, deduplicated by the store (objections and summary as insights, tickets as tickets),
  published (`insight`, `summary`, `ticket`) and folded into the flow's next window;
* at the meeting's end each flow gets its final window; when the bridge stops (`shutdown`) what is waiting is cut
  into stored windows instead, windows in flight stay `in_flight` and the meeting stays live: the next process
  resumes it (`adopt`, see `bridge.cluster.solo`) and sends every unfinished window again, per meeting and flow
  in order;
* `StreamRevoked` (stop reason 8) cancels the stream's runs and deletes all it stored.

Replicas (`bridge.cluster`): a replica that takes a stream over `adopt`s it with its lease token, which its line,
window, status and participant writes carry (the store refuses a write under an older token: `Fenced`), and sends
again what the stream's previous holder left unfinished (as each flow's run, before its next window); lines the
previous holder stored but had not yet windowed are windowed here. A line is stored once whatever sends it twice
(`line_key`), so it gets one seq and one window. A replica that hands a stream over (`MeetingEnded` with cause
`handoff`, then `release`) stores what waits as windows and leaves the meeting live; one that lost its lease is
`release`d with `fenced=True` and writes nothing more.

Without a Langflow URL (`runner=None`) meetings, participants and lines are still stored and published.
A stream seen again by a new process (after a restart) continues its line numbering and window sequence from the
store. The pipeline never blocks the intake for a run: `handle` only awaits short store writes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bridge.contracts import (
    ObjectionInsights,
    RaisedObjection,
    SummaryInsights,
    TicketInsights,
    TrackedItem,
)
from bridge.intake.events import (
    LinkState,
    MeetingEnded,
    MeetingEvent,
    ParticipantJoined,
    ParticipantLeft,
    SpeakerChanged,
    StreamRevoked,
    StreamStateChanged,
    Utterance,
)
from bridge.logs import get_logger
from bridge.pipeline.bus import EventBus, LiveEvent, now_ms
from bridge.pipeline.config import FlowConfig, FlowsConfig, Tweaks
from bridge.pipeline.langflow_runner import CircuitOpen, LangflowRunner, RunError, RunResult
from bridge.pipeline.metrics import PipelineMetrics
from bridge.pipeline.windowing import FlowWindower, Line, MeetingInfo, WindowDraft
from bridge.store import Fenced, InsightItem, LineRecord, NewWindow, SeqTaken, Store, WindowRecord

__all__ = ["Pipeline"]

log = get_logger(__name__)

MAX_REVOKED_REMEMBERED = 1000


@dataclass
class _Meeting:
    info: MeetingInfo
    windowers: dict[str, FlowWindower]
    next_seq: int
    windowed_seq: int = 0  # the last line given to the windowers (lines stored up to it need no windowing here)
    ended: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Pipeline:
    def __init__(self, store: Store, bus: EventBus, config: FlowsConfig, runner: LangflowRunner | None, *,
                 max_concurrent_runs: int = 16, extra_tweaks: Tweaks | None = None,
                 metrics: PipelineMetrics | None = None, clock: Callable[[], int] = now_ms) -> None:
        self.store = store
        self.bus = bus
        self.config = config
        self.runner = runner
        self.extra_tweaks = extra_tweaks or {}
        self.metrics = metrics or PipelineMetrics()
        self.clock = clock
        self.slots = asyncio.Semaphore(max_concurrent_runs)
        self.meetings: dict[str, _Meeting] = {}
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}  # stream_id -> sends (live and resent)
        self._revoked: dict[str, None] = {}
        self.fences: dict[str, int] = {}  # stream_id -> lease token, for streams this replica adopted
        self._releasing: set[asyncio.Task[None]] = set()
        self._released: dict[str, None] = {}  # streams handed over: their late events are not for this replica
        self._tick_task: asyncio.Task[None] | None = None
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.metrics.watch(
            pending=lambda: float(sum(len(w.pending) for m in self.meetings.values() for w in m.windowers.values())),
            bus_depth=lambda: float(self.bus.depth()),
            circuit_open=lambda: float(self.runner is not None and self.runner.breaker.state != "closed"),
            meetings=lambda: float(len(self.meetings)),
        )

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self, *, resend: bool = True) -> int:
        """Send again every window left unfinished by an earlier process (unless `resend` is False: replicas
        resend per stream as they adopt it); start the clock tick. Returns how many windows are being resent."""
        resent = 0
        if self.runner is not None:
            if resend:
                resent = self._resend_all(await self.store.unfinished_windows())
            self._tick_task = asyncio.create_task(self._ticker(), name="pipeline-tick")
        return resent

    async def resend_unfinished(self, *, exclude: set[str] | frozenset[str] = frozenset()) -> int:
        """Send again the unfinished windows of every stream but `exclude` (streams being resumed or ended through
        `adopt`, which resends theirs). Returns how many."""
        if self.runner is None:
            return 0
        return self._resend_all([w for w in await self.store.unfinished_windows() if w.stream_id not in exclude])

    def _in_order(self, unfinished: list[WindowRecord]) -> dict[tuple[str, str], list[WindowRecord]]:
        """Unfinished windows per (stream, flow), in seq order (each group is sent one after another); counted."""
        groups: dict[tuple[str, str], list[WindowRecord]] = {}
        for record in sorted(unfinished, key=lambda r: r.seq):
            groups.setdefault((record.stream_id, record.flow), []).append(record)
        for (_, flow), records in groups.items():
            self.metrics.windows_resent.labels(flow=flow).inc(len(records))
        return groups

    def _resend_all(self, unfinished: list[WindowRecord]) -> int:
        groups = self._in_order(unfinished)
        for (stream_id, flow), records in groups.items():
            self._spawn(stream_id, self._resend(stream_id, flow, records), f"resend-{flow}")
        if unfinished:
            log.info("resending unfinished windows", extra={"windows": len(unfinished), "groups": len(groups)})
        return len(unfinished)

    # -- replicas -------------------------------------------------------------------------------------------------

    async def adopt(self, stream_id: str, fence: int, *, instance_id: str, product: str) -> int:
        """This replica now holds `stream_id` under lease token `fence`: raise the stored fence, send again the
        windows its previous holder left unfinished. Returns how many; `Fenced` if a newer token holds it."""
        if not await self.store.claim_stream(stream_id, fence, instance_id=instance_id, product=product):
            raise Fenced(f"stream {stream_id!r} is already held under a newer lease token than {fence}")
        stale = list(self._tasks.get(stream_id, ()))  # from an earlier time this replica held the stream
        for task in stale:
            task.cancel()
        if stale:
            await asyncio.wait(stale, timeout=10)
        self.meetings.pop(stream_id, None)
        self.fences[stream_id] = fence
        self._revoked.pop(stream_id, None)
        self._released.pop(stream_id, None)
        if self.runner is None:
            return 0
        meeting = await self._load_meeting(stream_id, instance_id, product, None, catch_up=False)
        groups = self._in_order(await self.store.unfinished_windows(stream_id))
        for (_, flow_name), records in groups.items():
            windower = meeting.windowers.get(flow_name)
            if windower is None:
                self._spawn(stream_id, self._resend(stream_id, flow_name, records), f"resend-{flow_name}")
                continue
            windower.hold()
            self._spawn(stream_id, self._resume(meeting, windower, records), f"resume-{flow_name}")
        await self._catch_up(meeting)
        resent = sum(len(r) for r in groups.values())
        if resent:
            log.info("resending the previous holder's unfinished windows",
                     extra={"stream_id": stream_id, "windows": resent})
        return resent

    async def _resume(self, meeting: _Meeting, windower: FlowWindower, records: list[WindowRecord]) -> None:
        """Send an earlier holder's unfinished windows of one flow in order, as that flow's run: their answers
        go into the next window, which is cut once they are over."""
        try:
            for record in records:
                windower.fold(**_fold(await self._send(record, windower.flow, None)))
        finally:
            if not asyncio.current_task().cancelling():  # type: ignore[union-attr]
                follow = windower.unhold(self.clock())
                if follow is not None and not self._closing and meeting.info.stream_id not in self._released:
                    await self._launch(meeting, windower, follow)
                self._forget_if_done(meeting)

    async def release(self, stream_id: str, *, fenced: bool = False, timeout_s: float = 10.0) -> None:
        """Forget a stream this replica gives up. Handing over (`fenced` False): what waits is stored as windows
        and sends in progress get `timeout_s` to finish (the rest stay unfinished for the next holder). Lease
        lost (`fenced` True): sends are cancelled at once and nothing more is written."""
        meeting = self.meetings.get(stream_id)
        if meeting is not None and not fenced:
            now = self.clock()
            for windower in meeting.windowers.values():
                try:
                    draft = windower.flush(now)
                    if draft is not None:
                        await self._store_window(meeting, draft)
                except Fenced:
                    break  # another replica holds the stream now: what waits here is no longer ours to store
                except Exception:
                    # Its lines are stored; no window covers them, so the next holder windows them again
                    # (`_catch_up`). Nothing is lost, but say so.
                    self.metrics.handler_errors.labels(stage="handoff").inc()
                    log.exception("could not store a waiting window at handoff; the next holder windows its "
                                  "lines from the store", extra={"stream_id": stream_id, "flow": windower.flow.name})
                windower.ended = True
        tasks = list(self._tasks.get(stream_id, ()))
        if tasks and not fenced:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            tasks = list(pending)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        if self.meetings.get(stream_id) is meeting:
            self.meetings.pop(stream_id, None)
        self.fences.pop(stream_id, None)
        self._released[stream_id] = None
        while len(self._released) > MAX_REVOKED_REMEMBERED:
            self._released.pop(next(iter(self._released)))

    async def wait_stream(self, stream_id: str, timeout_s: float) -> bool:
        """True once no send of `stream_id` is in progress (a replica releases an ended stream after this)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            tasks = list(self._tasks.get(stream_id, ()))
            if not tasks:
                return True
            await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
        return not self._tasks.get(stream_id)

    async def close(self) -> None:
        """Stop: cancel sends in progress (their windows stay unfinished in the store and are resent by the next
        `start`), stop the tick, close the runner."""
        self._closing = True
        await self._flush_all()
        tasks = [t for group in self._tasks.values() for t in group]
        if self._tick_task is not None:
            tasks.append(self._tick_task)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        if self.runner is not None:
            await self.runner.aclose()

    async def _flush_all(self) -> None:
        """Store what waits in every windower (even behind a run in flight) as windows for the next process."""
        now = self.clock()
        for meeting in list(self.meetings.values()):
            for windower in meeting.windowers.values():
                try:
                    draft = windower.flush(now)
                    if draft is not None:
                        await self._store_window(meeting, draft)
                except Fenced:
                    break  # another replica holds the stream now; what waits here is no longer ours to store
                except Exception:
                    self.metrics.handler_errors.labels(stage="flush").inc()
                    log.exception("could not store a window at shutdown", extra={"stream_id": meeting.info.stream_id})
                windower.ended = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once no send is in progress (tests, and a graceful drain)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    @property
    def sending(self) -> int:
        return sum(len(group) for group in self._tasks.values())

    # -- events ---------------------------------------------------------------------------------------------------

    async def handle(self, event: MeetingEvent) -> None:
        if isinstance(event, StreamRevoked):
            await self.purge(event.stream_id)
            return
        if event.stream_id in self._revoked or event.stream_id in self._released or self._closing:
            return
        try:
            await self._handle(event)
        except Fenced as exc:
            log.warning("write refused: another replica holds the stream",
                        extra={"stream_id": event.stream_id, "error": str(exc)})
            await self.release(event.stream_id, fenced=True)

    async def _handle(self, event: MeetingEvent) -> None:
        meeting = await self._meeting(event)
        if isinstance(event, Utterance):
            await self._line(meeting, event)
        elif isinstance(event, ParticipantJoined):
            await self._participant(meeting, event.user_id, event.name, joined_at_ms=event.timestamp_ms)
        elif isinstance(event, ParticipantLeft):
            await self._participant(meeting, event.user_id, event.name, left_at_ms=event.timestamp_ms)
        elif isinstance(event, SpeakerChanged):
            if meeting.info.see(event.user_id, event.speaker):
                await self._participant(meeting, event.user_id, event.speaker, joined_at_ms=event.timestamp_ms)
        elif isinstance(event, StreamStateChanged):
            status = {LinkState.ACTIVE: "live", LinkState.RECONNECTING: "reconnecting",
                      LinkState.MEDIA_RECONNECTING: "reconnecting"}.get(event.state)
            if status is not None and not meeting.ended:
                await self.store.set_meeting_status(event.stream_id, status,  # type: ignore[arg-type]
                                                    fence=self.fences.get(event.stream_id))
                self._publish(event.stream_id, "meeting", {"status": status})
        elif isinstance(event, MeetingEnded):
            await self._ended(meeting, event)

    async def purge(self, stream_id: str) -> None:
        """Stop reason 8: cancel the stream's sends and delete everything stored for it. Idempotent."""
        self._revoked[stream_id] = None
        while len(self._revoked) > MAX_REVOKED_REMEMBERED:
            self._revoked.pop(next(iter(self._revoked)))
        self.meetings.pop(stream_id, None)
        tasks = list(self._tasks.get(stream_id, ()))
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        rows = await self.store.delete_stream(stream_id)
        self._publish(stream_id, "meeting", {"deleted": True})
        log.info("stream purged", extra={"stream_id": stream_id, "rows": rows})

    async def _meeting(self, event: MeetingEvent) -> _Meeting:
        meeting = self.meetings.get(event.stream_id)
        if meeting is not None:
            return meeting
        handoff = isinstance(event, MeetingEnded) and event.cause == "handoff"
        return await self._load_meeting(event.stream_id, event.instance_id, str(event.product.value),
                                        _event_time(event), catch_up=not handoff)

    async def _load_meeting(self, stream_id: str, instance_id: str, product: str, started: int | None, *,
                            catch_up: bool) -> _Meeting:
        """The meeting as the store has it: numbering, each flow's window cursor and state (after a restart or a
        takeover), and with `catch_up` the stored lines no window has covered yet."""
        await self.store.upsert_meeting(stream_id, instance_id=instance_id, product=product, started_at_ms=started)
        offset = await self.store.last_line_seq(stream_id)
        earlier = await self.store.windows(stream_id) if offset and self.runner is not None else []
        info = MeetingInfo(instance_id=instance_id, stream_id=stream_id, product=product,  # type: ignore[arg-type]
                           started_at_ms=started, internal_marks=tuple(self.config.meeting.internal))
        windowers: dict[str, FlowWindower] = {}
        if self.runner is not None:
            for name, flow in self.config.flows.items():
                mine = [w for w in earlier if w.flow == name]
                windower = FlowWindower(flow, info, next_seq=max((w.seq for w in mine), default=-1) + 1,
                                        covered_seq=max((w.last_line_seq for w in mine), default=0))
                windowers[name] = windower
            if offset:
                await self._restore(stream_id, info, windowers)
        meeting = _Meeting(info=info, windowers=windowers, next_seq=offset + 1, windowed_seq=offset)
        self.meetings[stream_id] = meeting
        if offset:
            log.info("stream continues after a restart or a takeover",
                     extra={"stream_id": stream_id, "lines_stored": offset})
            if catch_up:
                await self._catch_up(meeting)
        return meeting

    async def _catch_up(self, meeting: _Meeting) -> None:
        """Lines stored by an earlier holder but not yet in any window (it died before they were windowed or
        flushed) go to each flow's windower now, in order."""
        stream_id = meeting.info.stream_id
        covered = min((w.covered_seq for w in meeting.windowers.values()), default=meeting.next_seq - 1)
        if covered >= meeting.next_seq - 1:
            return
        for record in await self.store.lines(stream_id, after_seq=covered):
            line = Line(seq=record.seq, speaker=record.speaker, user_id=record.user_id, start_ms=record.start_ms,
                        end_ms=record.end_ms, text=record.text, received_ms=record.received_at_ms)
            for windower in meeting.windowers.values():
                await self._launch(meeting, windower, windower.add(line))

    async def _restore(self, stream_id: str, info: MeetingInfo, windowers: dict[str, FlowWindower]) -> None:
        """A stream seen again after a restart: participants and each flow's state come back from the store."""
        record = await self.store.get_meeting(stream_id)
        for p in record.participants if record else ():
            info.see(p.user_id, p.name)
            if p.role == "host":
                info.set_role(p.user_id, "host")
        for insight in await self.store.insights(stream_id):
            windower = windowers.get(insight.flow)
            if windower is None:
                continue
            with contextlib.suppress(ValidationError):
                if insight.kind == "summary":
                    windower.fold(summary=SummaryInsights.model_validate(
                        {"meeting_id": "x", "window_seq": 0, "summary": insight.payload}).summary)
                elif insight.kind == "objections":
                    windower.fold(raised=[RaisedObjection(key=insight.key, category=str(insight.payload["category"]),
                                                          quote=insight.quote or "")])
        for ticket in await self.store.tickets(stream_id):
            windower = windowers.get(ticket.flow or "")
            if windower is not None and ticket.kind in ("ticket", "action_item", "bug"):
                windower.fold(tracked=[TrackedItem(key=ticket.key, kind=ticket.kind,  # type: ignore[arg-type]
                                                   title=ticket.title, external_url=ticket.external_url)])

    async def _line(self, meeting: _Meeting, event: Utterance) -> None:
        received = self.clock()
        seq = meeting.next_seq
        record = LineRecord(seq=seq, speaker=event.speaker, user_id=event.user_id, start_ms=max(0, event.start_ms),
                            end_ms=max(0, event.end_ms, event.start_ms), text=event.text, received_at_ms=received)
        try:
            stored = await self.store.add_line(event.stream_id, record, fence=self.fences.get(event.stream_id))
        except SeqTaken:  # another holder numbered lines meanwhile: continue after the store's last one
            meeting.next_seq = await self.store.last_line_seq(event.stream_id) + 1
            record = record.model_copy(update={"seq": meeting.next_seq})
            stored = await self.store.add_line(event.stream_id, record, fence=self.fences.get(event.stream_id))
        seq = record.seq
        if not stored:
            last = await self.store.last_line_seq(event.stream_id)
            if last <= meeting.windowed_seq:
                self.metrics.lines_repeated.inc()
                log.info("line already stored (sent again)", extra={"stream_id": event.stream_id})
                return
            # Stored, never windowed: an earlier try of this same event stored the line and then failed (the
            # dispatcher delivers an event again after a failure). It goes on to its windows now, under its seq.
            seq = last
            record = record.model_copy(update={"seq": seq})
        meeting.next_seq = seq + 1
        self.metrics.lines.inc()
        self._publish(event.stream_id, "line", record.model_dump(exclude={"received_at_ms"}))
        if meeting.info.started_at_ms is None:
            meeting.info.started_at_ms = record.start_ms
            await self.store.upsert_meeting(event.stream_id, instance_id=event.instance_id,
                                           product=str(event.product.value), started_at_ms=record.start_ms)
        if meeting.info.see(event.user_id, event.speaker):
            await self._store_participant(meeting, event.user_id, event.speaker, joined_at_ms=record.start_ms)
        line = Line(seq=seq, speaker=event.speaker, user_id=event.user_id, start_ms=record.start_ms,
                    end_ms=record.end_ms, text=event.text, received_ms=received)
        meeting.windowed_seq = seq
        for windower in meeting.windowers.values():
            await self._launch(meeting, windower, windower.add(line))

    async def _participant(self, meeting: _Meeting, user_id: str, name: str, *, joined_at_ms: int | None = None,
                           left_at_ms: int | None = None) -> None:
        meeting.info.see(user_id, name)
        await self._store_participant(meeting, user_id, name, joined_at_ms=joined_at_ms, left_at_ms=left_at_ms)

    async def _store_participant(self, meeting: _Meeting, user_id: str, name: str, *,
                                 joined_at_ms: int | None = None, left_at_ms: int | None = None) -> None:
        role = meeting.info.role(user_id)
        await self.store.upsert_participant(meeting.info.stream_id, user_id, name, role,
                                            fence=self.fences.get(meeting.info.stream_id),
                                            joined_at_ms=joined_at_ms, left_at_ms=left_at_ms)
        self._publish(meeting.info.stream_id, "meeting", {"participant": {
            "user_id": user_id, "name": name, "role": role, "joined_at_ms": joined_at_ms,
            "left_at_ms": left_at_ms}})

    async def _ended(self, meeting: _Meeting, event: MeetingEnded) -> None:
        if meeting.ended:
            return
        meeting.ended = True
        now = self.clock()
        if event.cause in ("handoff", "shutdown"):
            # The meeting goes on: at another replica (handoff) or at the next process (shutdown), which resumes
            # it from the store. Keep what waits for it; the meeting stays live.
            await self._store_waiting(meeting, now)
            self._forget_if_done(meeting)
            return
        await self.store.set_meeting_status(event.stream_id, "ended", ended_at_ms=now, end_cause=event.cause,
                                            fence=self.fences.get(event.stream_id))
        if event.reason is not None:  # tells a normal end (meeting ended) from an error on the dashboard
            await self.store.set_stop_reason(event.stream_id, event.reason, fence=self.fences.get(event.stream_id))
        self._publish(event.stream_id, "meeting", {"status": "ended", "end_cause": event.cause})
        for windower in meeting.windowers.values():
            await self._launch(meeting, windower, windower.end(now))
        self._forget_if_done(meeting)

    async def _store_waiting(self, meeting: _Meeting, now: int) -> None:
        """Cut what waits in each flow into a stored window for whoever sends it next; no new window after."""
        for windower in meeting.windowers.values():
            draft = windower.flush(now)
            windower.ended = True
            if draft is not None:
                await self._store_window(meeting, draft)

    def _forget_if_done(self, meeting: _Meeting) -> None:
        idle = all(not w.busy for w in meeting.windowers.values())
        if meeting.ended and idle and self.meetings.get(meeting.info.stream_id) is meeting:
            del self.meetings[meeting.info.stream_id]

    # -- windows --------------------------------------------------------------------------------------------------

    async def _store_window(self, meeting: _Meeting, draft: WindowDraft) -> WindowRecord:
        record = await self.store.create_window(NewWindow(
            stream_id=meeting.info.stream_id, flow=draft.flow, seq=draft.seq, trigger=draft.trigger,
            first_line_seq=draft.first_line_seq, last_line_seq=draft.last_line_seq, start_ms=draft.start_ms,
            end_ms=draft.end_ms, payload=draft.payload, coalesced=draft.coalesced),
            fence=self.fences.get(meeting.info.stream_id))
        self.metrics.windows.labels(flow=draft.flow, trigger=draft.trigger).inc()
        if draft.coalesced:
            self.metrics.windows_coalesced.labels(flow=draft.flow).inc(draft.coalesced)
        if draft.skipped:
            self.metrics.utterances_skipped.labels(flow=draft.flow).inc(draft.skipped)
            log.warning("utterances skipped: too many waiting for one window",
                        extra={"stream_id": meeting.info.stream_id, "flow": draft.flow, "skipped": draft.skipped})
        self._publish_window(record)
        return record

    async def _launch(self, meeting: _Meeting, windower: FlowWindower, draft: WindowDraft | None) -> None:
        """Store a window that came due, then send it in a task of its own."""
        if draft is None:
            return
        try:
            record = await self._store_window(meeting, draft)
        except BaseException:
            windower.done(draft.seq, self.clock())  # not stored: let the flow go on with the next window
            raise
        self._spawn(meeting.info.stream_id, self._send_live(meeting, windower, draft, record),
                    f"send-{draft.flow}-{draft.seq}")

    def _spawn_release(self, stream_id: str) -> None:
        """A send task found the stream fenced off: release it from a task of its own (release cancels sends)."""
        task = asyncio.create_task(self.release(stream_id, fenced=True), name=f"release-{stream_id}")
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def _spawn(self, stream_id: str, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        group = self._tasks.setdefault(stream_id, set())
        group.add(task)
        self._idle.clear()
        task.add_done_callback(lambda t: self._task_done(stream_id, t))

    def _task_done(self, stream_id: str, task: asyncio.Task[None]) -> None:
        group = self._tasks.get(stream_id)
        if group is not None:
            group.discard(task)
            if not group:
                del self._tasks[stream_id]
        if not self._tasks:
            self._idle.set()
        if not task.cancelled() and task.exception() is not None:
            self.metrics.handler_errors.labels(stage="send").inc()
            log.error("window send task failed", exc_info=task.exception(), extra={"stream_id": stream_id})

    async def _send_live(self, meeting: _Meeting, windower: FlowWindower, draft: WindowDraft,
                         record: WindowRecord) -> None:
        answer: RunResult | None = None
        try:
            answer = await self._send(record, windower.flow, draft)
        finally:
            if not asyncio.current_task().cancelling():  # type: ignore[union-attr]
                fold = _fold(answer)
                follow = windower.done(draft.seq, self.clock(), **fold)
                stream_id = meeting.info.stream_id
                if follow is not None and stream_id not in self._revoked and stream_id not in self._released \
                        and not self._closing:
                    try:
                        await self._launch(meeting, windower, follow)
                    except Fenced:
                        self._spawn_release(stream_id)
                self._forget_if_done(meeting)

    async def _resend(self, stream_id: str, flow_name: str, records: list[WindowRecord]) -> None:
        flow = self.config.flows.get(flow_name)
        for record in records:
            if flow is None:
                await self.store.mark_window(record.id, "failed", error=f"flow {flow_name!r} is no longer configured")
                continue
            await self._send(record, flow, None)

    async def _send(self, record: WindowRecord, flow: FlowConfig, draft: WindowDraft | None) -> RunResult | None:
        """The one retry loop for a window: send it until it is answered, fails for good, or runs out.

        Worst case, in one place: `window_attempts` sends or `window_deadline_s` after this call, whichever comes
        first (the runner itself never retries). Each send is limited by the flow's `timeout_s` and by the time
        left; between failed sends a full-jitter pause (`runner.backoff`), at least until the circuit breaker lets
        a trial through; waiting for an open breaker costs time, not sends. A window given up is marked `failed`
        (counted, logged) and sent again by the next start."""
        assert self.runner is not None
        runner = self.runner
        attempts_allowed = self.config.runner.window_attempts
        tweaks = self.config.tweaks_for(flow.name, self.extra_tweaks)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.runner.window_deadline_s
        sends = 0
        while sends < attempts_allowed and (left := deadline - loop.time()) > 0:
            if not runner.breaker.ready():
                await asyncio.sleep(min(left, max(0.25, runner.breaker.retry_in()) + runner.rng.uniform(0, 0.25)))
                continue
            self.metrics.runs_waiting.inc()
            try:
                await self.slots.acquire()
            finally:
                self.metrics.runs_waiting.dec()
            pause = 0.0
            try:
                self.metrics.runs_in_flight.inc()
                record = await self.store.mark_window(record.id, "in_flight")
                self._publish_window(record)
                timeout_s = max(0.05, min(flow.timeout_s, deadline - loop.time()))
                try:
                    result = await runner.run(flow.name, record.payload, stream_id=record.stream_id,
                                              timeout_s=timeout_s, tweaks=tweaks)
                except CircuitOpen:
                    continue  # another window took the trial run: wait for its outcome
                except RunError as exc:
                    sends += 1
                    self.metrics.attempts.labels(flow=flow.name, outcome="failed").inc()
                    last = sends >= attempts_allowed or not exc.retryable or loop.time() >= deadline
                    self.metrics.windows_failed.labels(flow=flow.name, final=str(last).lower()).inc()
                    record = await self.store.mark_window(record.id, "failed", error=str(exc)[:2000])
                    self._publish_window(record)
                    log.warning("window send failed", extra={
                        "stream_id": record.stream_id, "flow": flow.name, "seq": record.seq, "send": sends,
                        "retryable": exc.retryable, "giving_up": last, "error": exc.reason[:300]})
                    if last:
                        return None
                    pause = min(max(0.0, deadline - loop.time()),
                                max(runner.breaker.retry_in(), runner.backoff(sends - 1)))
                    continue
            finally:
                self.metrics.runs_in_flight.dec()
                self.slots.release()
                if pause:
                    await asyncio.sleep(pause)
            self.metrics.attempts.labels(flow=flow.name, outcome="ok").inc()
            self.metrics.latency.labels(flow=flow.name).observe(result.latency_ms / 1000)
            await self._save(record, flow, result, draft)
            return result
        self.metrics.windows_failed.labels(flow=flow.name, final="true").inc()
        error = (f"given up after {sends} sends in {self.config.runner.window_deadline_s:g} s "
                 f"(window_attempts {attempts_allowed}, window_deadline_s)")
        record = await self.store.mark_window(record.id, "failed", error=error)
        self._publish_window(record)
        log.warning("window given up: marked failed, sent again at the next start", extra={
            "stream_id": record.stream_id, "flow": flow.name, "seq": record.seq, "sends": sends})
        return None

    async def _save(self, record: WindowRecord, flow: FlowConfig, result: RunResult, draft: WindowDraft | None) -> None:
        doc = result.insights
        stream_id = record.stream_id
        now = self.clock()
        received = {u.start_ms: u.received_ms for u in draft.utterances} if draft is not None else {}
        if doc.kind != flow.kind:
            log.warning("flow answered another kind than configured",
                        extra={"stream_id": stream_id, "flow": flow.name, "kind": doc.kind, "configured": flow.kind})
        if doc.errors:
            self.metrics.insight_errors.labels(flow=flow.name).inc(len(doc.errors))
            log.warning("flow reported errors", extra={"stream_id": stream_id, "flow": flow.name, "seq": record.seq,
                                                       "stages": sorted({e.stage for e in doc.errors})})
        if isinstance(doc, ObjectionInsights):
            items = [InsightItem(key=o.key, payload=o.model_dump(mode="json"), at_ms=o.at_ms, quote=o.quote)
                     for o in doc.objections]
            for insight in await self.store.save_insights(stream_id, flow.name, record.id, "objections", items):
                self.metrics.insights.labels(kind="objections").inc()
                self._observe_delay(flow.name, received, insight.at_ms, now)
                self._publish(stream_id, "insight", insight.model_dump(mode="json"))
        elif isinstance(doc, TicketInsights):
            for ticket in doc.tickets:
                stored, changed = await self.store.upsert_ticket(stream_id, ticket, flow=flow.name,
                                                                 window_id=record.id)
                if changed:
                    self.metrics.insights.labels(kind="tickets").inc()
                    self._observe_delay(flow.name, received, ticket.at_ms, now)
                    self._publish(stream_id, "ticket", {**stored.model_dump(mode="json"),
                                                        "new": stored.created_at_ms == stored.updated_at_ms})
        elif isinstance(doc, SummaryInsights) and doc.summary is not None:
            summary = doc.summary.model_dump(mode="json")
            insight = await self.store.save_summary(stream_id, flow.name, record.id, summary)
            self.metrics.insights.labels(kind="summary").inc()
            self._publish(stream_id, "summary", insight.model_dump(mode="json"))
        usage = doc.usage.model_dump() if doc.usage is not None else None
        done = await self.store.mark_window(record.id, "done", latency_ms=result.latency_ms, usage=usage)
        self.metrics.windows_done.labels(flow=flow.name).inc()
        self._publish_window(done)

    def _observe_delay(self, flow: str, received: dict[int, int], at_ms: int | None, now: int) -> None:
        if at_ms is not None and at_ms in received:
            self.metrics.insight_delay.labels(flow=flow).observe(max(0, now - received[at_ms]) / 1000)

    # -- the clock ------------------------------------------------------------------------------------------------

    async def _ticker(self) -> None:
        """Interval and quiet-gap triggers when no line arrives (a silent meeting, the end of a replay)."""
        while not self._closing:
            await asyncio.sleep(self.config.runner.tick_s)
            await self.tick()

    async def tick(self) -> None:
        now = self.clock()
        for meeting in list(self.meetings.values()):
            if meeting.ended:
                continue
            for windower in meeting.windowers.values():
                try:
                    await self._launch(meeting, windower, windower.tick(now))
                except Fenced:
                    await self.release(meeting.info.stream_id, fenced=True)
                    break
                except Exception:
                    self.metrics.handler_errors.labels(stage="tick").inc()
                    log.exception("tick failed", extra={"stream_id": meeting.info.stream_id})

    # -- publishing -----------------------------------------------------------------------------------------------

    def _publish(self, stream_id: str, kind: Any, data: dict[str, Any]) -> None:
        self.bus.publish(stream_id, LiveEvent(type=kind, stream_id=stream_id, data=data, at_ms=self.clock()))

    def _publish_window(self, record: WindowRecord) -> None:
        self._publish(record.stream_id, "window", record.model_dump(mode="json", exclude={"payload"}))


def _event_time(event: MeetingEvent) -> int | None:
    if isinstance(event, Utterance):
        return max(0, event.start_ms)
    stamp = getattr(event, "timestamp_ms", None)
    return stamp if isinstance(stamp, int) and stamp >= 0 else None


def _fold(answer: RunResult | None) -> dict[str, Any]:
    return fold_insights(answer.insights if answer is not None else None)


def fold_insights(doc: SummaryInsights | ObjectionInsights | TicketInsights | None) -> dict[str, Any]:
    """What an answer adds to its flow's next window (see docs/contracts.md)."""
    if doc is None:
        return {}
    if isinstance(doc, SummaryInsights):
        return {"summary": doc.summary}
    if isinstance(doc, ObjectionInsights):
        return {"raised": [RaisedObjection(key=o.key, category=o.category, quote=o.quote) for o in doc.objections]}
    return {"tracked": [TrackedItem(key=t.key, kind=t.kind, title=t.title,
                                    external_url=t.external.url if t.external else None) for t in doc.tickets]}

