"""The window engine: per meeting and flow, turns transcript lines into the windows a flow is sent. Sans-I/O.

`FlowWindower` is fed lines (`add`), clock ticks (`tick`), the meeting's end (`end`) and the end of each run
(`done`), and answers each with the next window to send, or None. It never does I/O and never reads a clock:
meeting time comes from the lines (Zoom's timestamps) and, for silences, from the wall-clock `now_ms` the caller
passes, extrapolated from the moment the last line arrived. So tests are deterministic and a replay at 200x speed
windows exactly like the live meeting would.

Rules:
* Consecutive lines of one speaker merge into one utterance (id `u-<first line seq>`), until a window takes it.
* A window is due on the first trigger of its flow (`config.Triggers`): the end of a turn (another speaker starts,
  or `quiet_s` of silence) by a non-host speaker of at least `min_chars`; `interval_s` of meeting time since the
  last window; `utterances` new utterances waiting; the meeting's end (`final`).
* A turn trigger's `max_per_hour` caps its windows per hour of meeting time (a token bucket of `burst`): a turn due
  beyond it waits, and what the customer says meanwhile goes into that same window when the bucket has room.
* Single flight: while a window is out (between the cut and `done`), nothing is cut; what arrives meanwhile and
  what came due meanwhile (counted in `coalesced`) goes into the next window. So a slow Langflow makes windows
  bigger, never a backlog. At most `max_pending` utterances wait; older ones are skipped (counted in `skipped`).
* Each window carries the flow's state, folded from the previous answers (`done`): the last summary, the items
  already tracked and the objections already raised, plus `context_utterances` earlier utterances.
* The host is not named by RTMS: the first participant seen in the stream counts as the host (it is the one who
  started the meeting and, in a sales call, the seller); `MeetingInfo.set_role` overrides it. Names carrying one of
  `MeetingInfo.internal_marks` (flows.toml's [meeting] internal) are on the host's side too: `non_host` turn
  triggers skip them, and windows mark them `internal` for the components.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Literal

from bridge.contracts import (
    MeetingRef,
    Participant,
    RaisedObjection,
    Summary,
    TrackedItem,
    Trigger,
    Window,
    WindowInfo,
    WindowState,
)
from bridge.contracts import Product as ContractProduct
from bridge.contracts import Utterance as WindowUtterance
from bridge.pipeline.config import FlowConfig

__all__ = ["FlowWindower", "Line", "MeetingInfo", "MergedUtterance", "WindowDraft"]

Role = Literal["host", "participant"]
MAX_STATE_ITEMS = 300  # tracked items / raised objections carried in a window, newest kept
MAX_PARTICIPANTS = 500


@dataclass(frozen=True, slots=True)
class Line:
    """One stored transcript line. `received_ms` is the wall clock when the bridge got it."""

    seq: int
    speaker: str
    user_id: str
    start_ms: int
    end_ms: int
    text: str
    received_ms: int


@dataclass(slots=True)
class MergedUtterance:
    first_seq: int
    last_seq: int
    speaker: str
    user_id: str
    start_ms: int
    end_ms: int
    text: str
    received_ms: int

    @property
    def id(self) -> str:
        return f"u-{self.first_seq}"

    def extend(self, line: Line) -> None:
        self.last_seq = line.seq
        self.end_ms = max(self.end_ms, line.end_ms)
        self.text = f"{self.text} {line.text}".strip() if self.text else line.text
        self.received_ms = line.received_ms

    def to_contract(self) -> WindowUtterance:
        return WindowUtterance(id=self.id, speaker=self.speaker, user_id=self.user_id, start_ms=self.start_ms,
                               end_ms=max(self.end_ms, self.start_ms), text=self.text)

    @classmethod
    def of(cls, line: Line) -> MergedUtterance:
        return cls(line.seq, line.seq, line.speaker, line.user_id, line.start_ms, line.end_ms, line.text,
                   line.received_ms)


@dataclass
class MeetingInfo:
    """What every flow's windows say about the meeting; shared by the meeting's windowers."""

    instance_id: str
    stream_id: str
    product: ContractProduct
    topic: str | None = None
    started_at_ms: int | None = None
    participants: dict[str, tuple[str, Role]] = field(default_factory=dict)
    internal_marks: tuple[str, ...] = ()
    """Names or parts of names of our side besides the host (flows.toml's [meeting] internal)."""
    _host_pinned: bool = False

    def see(self, user_id: str, name: str) -> bool:
        """Remember a participant (the first one is the host); True when new or renamed."""
        if not user_id and not name:
            return False
        key = user_id or name
        known = self.participants.get(key)
        if known is not None:
            if name and known[0] != name:
                self.participants[key] = (name, known[1])
                return True
            return False
        if len(self.participants) >= MAX_PARTICIPANTS:
            return False
        role: Role = "participant" if self.participants or self._host_pinned else "host"
        self.participants[key] = (name, role)
        return True

    def set_role(self, user_id: str, role: Role) -> None:
        name = self.participants.get(user_id, ("", "participant"))[0]
        if role == "host":
            self._host_pinned = True
            self.participants = {k: (n, "participant") for k, (n, _) in self.participants.items()}
        self.participants[user_id] = (name, role)

    def role(self, user_id: str) -> Role:
        return self.participants.get(user_id, ("", "participant"))[1]

    def internal(self, user_id: str) -> bool:
        """The host, or someone whose name carries one of the internal marks: never the customer."""
        name, role = self.participants.get(user_id, ("", "participant"))
        return role == "host" or any(mark.lower() in name.lower() for mark in self.internal_marks)

    def ref(self) -> MeetingRef:
        return MeetingRef(id=self.instance_id, stream_id=self.stream_id, product=self.product, topic=self.topic,
                          started_at_ms=self.started_at_ms)

    def participant_list(self) -> list[Participant]:
        return [Participant(user_id=uid, name=name, role=role, internal=self.internal(uid))
                for uid, (name, role) in self.participants.items()]


@dataclass(frozen=True)
class WindowDraft:
    """A window cut and ready to be stored, then sent."""

    flow: str
    seq: int
    trigger: Trigger
    window: Window
    utterances: tuple[MergedUtterance, ...]
    coalesced: int
    """Windows that came due while the previous run was out and were folded into this one."""
    skipped: int
    """Utterances dropped since the previous window because more than `max_pending` were waiting."""

    @property
    def first_line_seq(self) -> int:
        return self.utterances[0].first_seq

    @property
    def last_line_seq(self) -> int:
        return self.utterances[-1].last_seq

    @property
    def start_ms(self) -> int:
        return self.window.window.start_ms

    @property
    def end_ms(self) -> int:
        return self.window.window.end_ms

    @property
    def payload(self) -> str:
        return self.window.to_json()


class FlowWindower:
    """One meeting x one flow. See the module docstring for the rules."""

    def __init__(self, flow: FlowConfig, meeting: MeetingInfo, *, next_seq: int = 0, covered_seq: int = 0) -> None:
        self.flow = flow
        self.meeting = meeting
        self.next_seq = next_seq
        self.covered_seq = covered_seq
        """Lines up to this seq are in a window already (after a restart: from the store's window cursor)."""
        self.pending: collections.deque[MergedUtterance] = collections.deque()
        self.recent: collections.deque[MergedUtterance] = collections.deque(maxlen=flow.context_utterances or None)
        self.in_flight: WindowDraft | None = None
        self.held = False  # an earlier holder's windows are being sent again: they are this flow's run for now
        self.summary: Summary | None = None
        self.tracked: dict[str, TrackedItem] = {}
        self.raised: dict[str, RaisedObjection] = {}
        self.ended = False
        self.final_sent = False
        self.skipped = 0
        self._coalesced = 0
        self._busy_due = False  # an interval/count trigger came due during the current run (counted once)
        self._turn_due = False
        self._turn_user: str | None = None
        self._turn_chars = 0
        self._last_end_ms: int | None = None
        self._last_received_ms = 0
        self._last_cut_ms: int | None = None
        self._open = False  # the last pending utterance may still grow
        self._budget: float | None = None  # turn windows the hourly limit still allows now (token bucket)
        self._budget_ms = 0

    # -- inputs ---------------------------------------------------------------------------------------------------

    def add(self, line: Line) -> WindowDraft | None:
        """A new transcript line (in seq order). Returns a window to send when one is due."""
        if line.seq <= self.covered_seq or self.ended:
            return None
        draft = None
        if self._turn_user is not None and line.user_id != self._turn_user:
            self._close_turn()
            if self._turn_due and not self.busy:
                draft = self._cut("turn", line.received_ms)
        self._append(line)
        if draft is None and not self.busy:
            due = self._due_by_volume(self._meeting_now(line.received_ms))
            if due is not None:
                draft = self._cut(due, line.received_ms)
        elif draft is None:
            self._note_busy_due(line.received_ms)
        return draft

    def tick(self, now_ms: int) -> WindowDraft | None:
        """The wall clock moved on (no line for a while): quiet-gap turn ends and intervals."""
        if self.ended or self._last_end_ms is None:
            return None
        turn = self.flow.triggers.turn
        quiet = turn is not None and self._meeting_now(now_ms) - self._last_end_ms >= turn.quiet_s * 1000
        if quiet and self._turn_user is not None and self.pending:
            self._close_turn()
            self._turn_user = None  # the same speaker going on after the silence starts a new turn
        if self.busy:
            self._note_busy_due(now_ms)
            return None
        if self._turn_due and (draft := self._cut("turn", now_ms)) is not None:
            return draft
        due = self._due_by_volume(self._meeting_now(now_ms))
        return self._cut(due, now_ms) if due is not None else None

    def end(self, now_ms: int) -> WindowDraft | None:
        """The meeting ended: a final window with what is left (if the flow has `final`), once no run is out."""
        self.ended = True
        if not self.busy:
            return self._final(now_ms)
        return None

    def flush(self, now_ms: int) -> WindowDraft | None:
        """The bridge is stopping: cut what is waiting (the final window of an ended meeting) so it is stored and sent
        after a restart. Works even while a run is out (that run is resent too); the state is then one answer
        behind."""
        if not self.pending:
            return None
        in_flight, self.in_flight = self.in_flight, None
        final = self.ended and self.flow.triggers.final and not self.final_sent
        self.final_sent = self.final_sent or final
        draft = self._cut("final" if final else "manual", now_ms, final=final)
        if in_flight is not None:
            self.in_flight = in_flight
        return draft

    def done(self, seq: int, now_ms: int, *, summary: Summary | None = None, tracked: list[TrackedItem] | None = None,
             raised: list[RaisedObjection] | None = None) -> WindowDraft | None:
        """The run of window `seq` is over (answered, or given up): fold its answer, then cut the next window if one
        came due meanwhile."""
        if self.in_flight is None or self.in_flight.seq != seq:
            self.fold(summary=summary, tracked=tracked, raised=raised)
            return None
        self.in_flight = None
        self._busy_due = False
        self.fold(summary=summary, tracked=tracked, raised=raised)
        return self._next(now_ms)

    @property
    def busy(self) -> bool:
        return self.in_flight is not None or self.held

    def hold(self) -> None:
        """Windows an earlier holder of the stream left unfinished are being sent again (a takeover): they count as
        this flow's run, so no new window is cut until `unhold`, and their answers reach the next window."""
        self.held = True

    def unhold(self, now_ms: int, *, summary: Summary | None = None, tracked: list[TrackedItem] | None = None,
               raised: list[RaisedObjection] | None = None) -> WindowDraft | None:
        """The resent windows are over: fold the last answer, then cut the next window if one came due."""
        self.held = False
        self.fold(summary=summary, tracked=tracked, raised=raised)
        if self.in_flight is not None:
            return None
        self._busy_due = False
        return self._next(now_ms)

    def _next(self, now_ms: int) -> WindowDraft | None:
        if self.held:
            return None
        if self.ended:
            return self._final(now_ms)
        if self._turn_due and (draft := self._cut("turn", now_ms)) is not None:
            return draft
        due = self._due_by_volume(self._meeting_now(now_ms))
        return self._cut(due, now_ms) if due is not None else None

    def fold(self, *, summary: Summary | None = None, tracked: list[TrackedItem] | None = None,
             raised: list[RaisedObjection] | None = None) -> None:
        """Carry a flow's answer (or, after a restart, what the store kept) into the next window's state."""
        if summary is not None:
            self.summary = summary
        for item in tracked or ():
            self.tracked.pop(item.key, None)
            self.tracked[item.key] = item
        for objection in raised or ():
            self.raised.pop(objection.key, None)
            self.raised[objection.key] = objection
        for items in (self.tracked, self.raised):
            while len(items) > MAX_STATE_ITEMS:
                items.pop(next(iter(items)))

    # -- internals ------------------------------------------------------------------------------------------------

    def _meeting_now(self, now_ms: int) -> int:
        """Meeting time: the last line's end, plus the wall time since it arrived."""
        if self._last_end_ms is None:
            return 0
        return self._last_end_ms + max(0, now_ms - self._last_received_ms)

    def _append(self, line: Line) -> None:
        if self._last_cut_ms is None:
            self._last_cut_ms = line.start_ms
        last = self.pending[-1] if self.pending else None
        if self._open and last is not None and last.user_id == line.user_id:
            last.extend(line)
        else:
            self.pending.append(MergedUtterance.of(line))
            self._open = True
            while len(self.pending) > self.flow.max_pending:
                self.pending.popleft()
                self.skipped += 1
        if self._turn_user != line.user_id:
            self._turn_user, self._turn_chars = line.user_id, 0
        self._turn_chars += len(line.text)
        self._last_end_ms = max(self._last_end_ms or 0, line.end_ms)
        self._last_received_ms = line.received_ms

    def _close_turn(self) -> None:
        """The current turn ended: due for the turn trigger if it was a long enough non-host turn."""
        self._open = False
        turn = self.flow.triggers.turn
        user = self._turn_user
        if turn is None or user is None or not self.pending:
            return
        if turn.non_host and self.meeting.internal(user):
            return
        if self._turn_chars < turn.min_chars:
            return
        if self.busy:
            self._coalesced += 1
        self._turn_due = True

    def _due_by_volume(self, meeting_now: int) -> Trigger | None:
        if not self.pending:
            return None
        triggers = self.flow.triggers
        if triggers.utterances is not None and len(self.pending) >= triggers.utterances:
            return "count"
        if (triggers.interval_s is not None and self._last_cut_ms is not None
                and meeting_now - self._last_cut_ms >= triggers.interval_s * 1000):
            return "interval"
        return None

    def _note_busy_due(self, now_ms: int) -> None:
        if not self._busy_due and self._due_by_volume(self._meeting_now(now_ms)) is not None:
            self._busy_due = True
            self._coalesced += 1

    def _turn_allowed(self, now_ms: int) -> bool:
        """The turn trigger's hourly limit (`max_per_hour`, a bucket of `burst`) has room for one more window now;
        takes it when so. Meeting time refills it, so a replay at any speed cuts the same windows."""
        turn = self.flow.triggers.turn
        if turn is None or turn.max_per_hour is None:
            return True
        now = self._meeting_now(now_ms)
        if self._budget is None:
            self._budget = float(turn.burst)
        else:
            refill = max(0, now - self._budget_ms) * turn.max_per_hour / 3_600_000
            self._budget = min(float(turn.burst), self._budget + refill)
        self._budget_ms = now
        if self._budget < 1:
            return False
        self._budget -= 1
        return True

    def _final(self, now_ms: int) -> WindowDraft | None:
        if not self.flow.triggers.final or self.final_sent or not self.pending:
            return None
        self.final_sent = True
        return self._cut("final", now_ms, final=True)

    def _cut(self, trigger: Trigger, now_ms: int, *, final: bool = False) -> WindowDraft | None:
        if not self.pending:
            self._turn_due = False
            return None
        if trigger == "turn" and not self._turn_allowed(now_ms):
            return None  # still due: cut when the hourly limit has room again (tick, next line or run's end)
        taken = tuple(self.pending)
        self.pending.clear()
        self._open = False
        self._turn_due = False
        window = Window(
            meeting=self.meeting.ref(),
            window=WindowInfo(seq=self.next_seq, flow=self.flow.name, trigger=trigger, start_ms=taken[0].start_ms,
                              end_ms=max(u.end_ms for u in taken), is_final=final),
            utterances=[u.to_contract() for u in taken],
            context=[u.to_contract() for u in self.recent] if self.flow.context_utterances else [],
            participants=self.meeting.participant_list(),
            state=WindowState(summary=self.summary, tracked_items=list(self.tracked.values()),
                              raised_objections=list(self.raised.values())),
        )
        draft = WindowDraft(flow=self.flow.name, seq=self.next_seq, trigger=trigger, window=window,
                            utterances=taken, coalesced=self._coalesced, skipped=self.skipped)
        self.next_seq += 1
        self.covered_seq = taken[-1].last_seq
        self._coalesced = 0
        self.skipped = 0
        if self.flow.context_utterances:
            self.recent.extend(taken)
        self._last_cut_ms = self._meeting_now(now_ms)
        self.in_flight = draft
        return draft
