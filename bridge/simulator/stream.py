"""One simulated RTMS stream: its connections, participants, replay clock, media buffer, faults and end.

The replay clock starts when the app is first ready (CLIENT_READY_ACK) and runs on regardless of the connections:
a line falls due at its utterance's end (scaled by `speed`) and waits in the buffer while no transcript socket
streams, exactly as Zoom keeps a stream's media while the app reconnects. A stream left without its app longer
than the reconnect window is ended (stop reason 19, or 24 after a keep-alive timeout, or 11 if it never came).

With `redeliver_s` set, a transcript socket lost before the stream's end (whoever cut it) gives back the lines written
to it in its last `redeliver_s` seconds: they return to the head of the buffer in order and go out again, the same
frames, once a transcript socket streams. That is at-least-once delivery across a client crash (lines in flight or
unprocessed when it died), which Zoom does not document; it lets a test check that a client deduplicates.

Transcript timestamps live on the meeting's own timeline (the stream's start plus the utterance offsets), so a
replay at 20x still spans the meeting's real length in its `start_time`/`end_time`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from array import array
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bridge.logs import get_logger
from bridge.rtms.enums import (
    Codec,
    DataOption,
    EventType,
    MediaType,
    Product,
    SessionState,
    StopReason,
    StreamState,
)
from bridge.rtms.messages import (
    AudioData,
    AudioParams,
    Event,
    MediaContent,
    Participant,
    TranscriptContent,
    TranscriptData,
)
from bridge.rtms.protocol import ConnectionState, FrameIgnored, HandshakeRejected
from bridge.rtms.server import (
    ClientReady,
    KeepAliveTimedOut,
    MediaAccepted,
    ServerEvent,
    SignalingServerConnection,
    StreamCloseRequested,
    StreamGrant,
)
from bridge.rtms.webhooks import stream_event_name
from bridge.simulator.audio import AudioSynth, TranscriptAudio, sample_rate_hz
from bridge.simulator.config import MEDIA_BITS, ChaosEvent, MeetingSpec, SimulatorConfig
from bridge.simulator.ids import StreamIds
from bridge.simulator.report import MeetingReport, RejectedHandshake, WebhookRecord
from bridge.simulator.servers import Kind, Link, ServerPair
from bridge.simulator.webhook_sender import Delivery, WebhookSender

log = get_logger(__name__)

CONNECTION_FAULTS = frozenset({"drop_media", "drop_signaling", "failover", "stop", "ignore_keepalives_as_lost"})
AUDIO_TICK_S = 0.01  # audio packets due within this are sent together


class StreamContext(Protocol):
    """What a stream needs from the simulator that runs it."""

    @property
    def config(self) -> SimulatorConfig: ...
    @property
    def webhooks(self) -> WebhookSender: ...
    def pair(self, index: int) -> ServerPair: ...


@dataclass
class _AudioFeed:
    params: AudioParams
    audio: TranscriptAudio
    rate_ms: int
    k: int
    backlog: deque[AudioData]


@dataclass(frozen=True, eq=False)
class _Line:
    """A due transcript line; compared by identity, so a line taken back is the very frame written before."""

    index: int
    frame: TranscriptData


@dataclass(frozen=True)
class _Action:
    at_ms: int
    kind: Literal["join", "speaker", "line"]
    index: int


class Stream:
    def __init__(self, spec: MeetingSpec, ids: StreamIds, context: StreamContext) -> None:
        self.spec = spec
        self.ids = ids
        self.config = context.config
        self._context = context
        self.name = spec.name or spec.transcript.meta.title or ids.rtms_stream_id[:8]
        self.lines = list(spec.transcript.utterances)
        self.scopes = spec.effective_scopes
        self.pair_index = 0
        self.state = StreamState.INACTIVE
        self.session_id = ids.rtms_stream_id[:16] + "-s1"
        self.signaling: Link | None = None
        self.media: list[Link] = []
        self._resumed: set[Link] = set()
        self._loop = asyncio.get_running_loop()

        self._pending: deque[_Line] = deque()
        self._written: dict[Link, deque[tuple[float, _Line]]] = {}
        """Per transcript socket, the lines written to it in the last `redeliver_s` seconds (when > 0)."""
        self._sent: set[int] = set()
        self._pump_lock = asyncio.Lock()
        self._ever_ready = False
        self._ready_event = asyncio.Event()
        self._disconnected_since: float | None = self._loop.time()
        self._lost_reason = int(StopReason.CONNECTION_TIMEOUT)
        self._awaiting_media = MediaType.UNDEFINED
        self._media_lost_at: float | None = None
        self._changed = asyncio.Event()
        self._end_reason: int | None = None
        self._end_requested = asyncio.Event()
        self._ending = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._audio_task: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self.base_ms = 0
        self._present: dict[int, str] = {}
        self._active_speaker: int | None = None
        self._first_packet_sent = False
        self._last_media_at = 0.0

        # what the report tells
        self._webhooks: list[WebhookRecord | None] = []
        self._last_started: Delivery | None = None
        self._delay_next_s = 0.0
        self.lines_sent = 0
        self.lines_discarded = 0
        self.lines_redelivered = 0
        self.audio_packets_sent = 0
        self.signaling_connections = 0
        self.media_connections = 0
        self.reconnects = 0
        self.rejected: list[RejectedHandshake] = []
        self._keepalives_sent = 0
        self._keepalives_answered = 0
        self.chaos_applied: list[str] = []
        self.errors: list[str] = []
        self.stop_reason: int | None = None
        self.report: MeetingReport | None = None

        self._chaos: dict[int, list[ChaosEvent]] = {}
        for event in spec.chaos:
            if event.kind == "delay_webhook" and event.at_line == 0:
                self._delay_next_s += event.delay_s if event.delay_s is not None else 1.0
                self.chaos_applied.append(str(event))
            else:
                self._chaos.setdefault(event.at_line, []).append(event)

    # ------------------------------------------------------------------------------------------------------------
    # Facts for the servers and the handle

    @property
    def ended(self) -> bool:
        return self._ending

    @property
    def server_urls(self) -> str:
        return self._context.pair(self.pair_index).signaling_url

    def started_payload(self) -> dict[str, Any]:
        return self.ids.started_payload(self.server_urls)

    def grant(self, pair_index: int) -> StreamGrant | None:
        if self._ending or pair_index != self.pair_index:
            return None
        live_media = [link for link in self.media if link.alive]
        in_use = MediaType.UNDEFINED
        for link in live_media:
            in_use |= link.media.media_type
        return StreamGrant(
            rtms_stream_id=self.ids.rtms_stream_id,
            instance_id=self.ids.instance_id,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret.get_secret_value(),
            scopes=self.scopes,
            media_urls=self._context.pair(self.pair_index).media_urls(),
            signaling_connected=self.signaling is not None and self.signaling.alive,
            media_in_use=in_use,
            media_all_in_use=any(link.media.all_media for link in live_media),
        )

    @property
    def _ready(self) -> bool:
        link = self.signaling
        return link is not None and link.alive and link.core.state is ConnectionState.READY

    def request_end(self, reason: int) -> None:
        if self._end_reason is None and not self._ending:
            self._end_reason = int(reason)
            self._end_requested.set()

    # ------------------------------------------------------------------------------------------------------------
    # Links (called by the servers)

    def attach(self, link: Link) -> None:
        if link.kind == "signaling":
            if self.signaling is not None:  # a dead one whose handler has not finished yet
                self._detach(self.signaling)
            self.signaling = link
            self.signaling_connections += 1
            if self._ever_ready:
                self.reconnects += 1
        else:
            self.media.append(link)
            self.media_connections += 1
            kinds = link.media.media_type
            if kinds & self._awaiting_media:
                self.reconnects += 1
                self._awaiting_media = MediaType(self._awaiting_media & ~kinds)
                if not self._awaiting_media and self._media_lost_at is not None:
                    self._media_lost_at = None
                    self._resumed.add(link)  # the stream is whole again: say so once the reply is out
            if self._ready:
                link.media.start_streaming()
        log.info(
            "connection accepted",
            extra={"stream": self.ids.rtms_stream_id, "socket": link.kind, "pair": link.pair_index},
        )
        self._notify()

    def record_rejection(self, kind: Kind, event: HandshakeRejected) -> None:
        self.rejected.append(RejectedHandshake(kind, event.status_code, event.reason))

    def link_closed(self, link: Link) -> None:
        """The socket ended; unless we cut it ourselves or the stream is over, that is an interruption."""
        if link.dropped or self._ending or not self._owns(link):
            self._detach(link)
            return
        log.info("connection lost", extra={"stream": self.ids.rtms_stream_id, "socket": link.kind})
        if link.kind == "signaling":
            self._spawn(self._lose_signaling(link, reason=StopReason.AWAIT_RECONNECTION_TIMEOUT, webhook=True))
        else:
            self._spawn(self._lose_media(link))

    async def on_link_event(self, link: Link, event: ServerEvent) -> None:
        try:
            if isinstance(event, ClientReady):
                await self._on_ready(link)
            elif isinstance(event, MediaAccepted):
                if link in self._resumed:
                    self._resumed.discard(link)
                    await self._signal(lambda core, now: core.send_stream_state(StreamState.ACTIVE, now))
                if self._ready:
                    await self._pump()
            elif isinstance(event, KeepAliveTimedOut):
                log.warning(
                    "keep-alive timeout",
                    extra={"stream": self.ids.rtms_stream_id, "socket": link.kind, "misses": event.misses},
                )
                if link.kind == "signaling":
                    await self._lose_signaling(link, reason=StopReason.KEEP_ALIVE_TIMEOUT, webhook=True, drop=True)
                else:
                    await self._lose_media(link, drop=True)
            elif isinstance(event, StreamCloseRequested):
                self.request_end(StopReason.RECEIVER_REQUEST_CLOSE)
            elif isinstance(event, FrameIgnored):
                log.info(
                    "frame ignored",
                    extra={"stream": self.ids.rtms_stream_id, "socket": link.kind, "reason": event.reason},
                )
        except Exception as exc:  # a bug here must not take the server's connection handler down with it
            log.exception("stream failed to handle a connection event", extra={"stream": self.ids.rtms_stream_id})
            self.errors.append(f"handling {type(event).__name__}: {type(exc).__name__}: {exc}")

    def _owns(self, link: Link) -> bool:
        return link is self.signaling or link in self.media

    def _detach(self, link: Link) -> None:
        if link is self.signaling:
            self.signaling = None
        elif link in self.media:
            self.media.remove(link)
            self._take_back(link)
        else:
            return
        self._keepalives_sent += link.core.keepalives_sent
        self._keepalives_answered += link.core.keepalives_answered
        self._notify()

    # ------------------------------------------------------------------------------------------------------------
    # Readiness, interruptions

    async def _on_ready(self, link: Link) -> None:
        if link is not self.signaling:
            return
        first = not self._ever_ready
        self._ever_ready = True
        self._disconnected_since = None
        for media in self.media:
            if media.alive and media.core.state is ConnectionState.OPEN:
                media.media.start_streaming()
        self.state = StreamState.ACTIVE
        log.info("client ready", extra={"stream": self.ids.rtms_stream_id, "first": first})
        await self._signal(lambda core, now: core.send_stream_state(StreamState.ACTIVE, now))
        await self._signal(lambda core, now: core.send_session_state(self.session_id, SessionState.STARTED, now))
        if self._present:  # a reconnected app gets the roster and the current speaker again
            roster = [Participant(user_id=uid, user_name=name) for uid, name in self._present.items()]
            await self._send_event(EventType.PARTICIPANT_JOIN, participants=roster)
            if self._active_speaker is not None:
                await self._send_event(
                    EventType.ACTIVE_SPEAKER_CHANGE,
                    user_id=self._active_speaker,
                    user_name=self._present.get(self._active_speaker),
                )
        self._ready_event.set()
        self._notify()
        await self._pump()

    async def _lose_signaling(self, link: Link, *, reason: int, webhook: bool, drop: bool = False) -> None:
        """Zoom interrupts signaling and media together and waits for the app to come back."""
        if link is not self.signaling or self._ending:
            return
        was_ready = self._ever_ready and self._disconnected_since is None  # streaming until now
        self._detach(link)
        if drop:
            await link.drop()
        await self._interrupt_media()
        if not self._ever_ready:
            return  # never streamed: the first-connect deadline still runs
        if was_ready:
            self._disconnected_since = self._loop.time()
        self._lost_reason = int(reason)
        self.state = StreamState.INTERRUPTED
        self._notify()
        if webhook and was_ready:  # Zoom reports an ongoing stream disrupted, not a half-made reconnect
            self._send_webhook("interrupted", self.ids.interrupted_payload())

    async def _interrupt_media(self) -> None:
        for media in list(self.media):
            if self._ever_ready:
                self._awaiting_media |= media.media.media_type
            self._detach(media)
            await media.drop()

    async def _lose_media(self, link: Link, *, drop: bool = False) -> None:
        if link not in self.media or self._ending:
            return
        self._detach(link)
        if self._ever_ready:  # before any await: lines taken back must wait for the socket, not be discarded
            self._awaiting_media |= link.media.media_type
        if drop:
            await link.drop()
        if not self._ever_ready:
            return
        if self._media_lost_at is None:
            self._media_lost_at = self._loop.time()
        self._notify()
        await self._send_event(EventType.MEDIA_CONNECTION_INTERRUPTED)
        await self._signal(
            lambda core, now: core.send_stream_state(
                StreamState.INTERRUPTED, now, reason=StopReason.DATA_CONNECTION_INTERRUPTED
            )
        )

    def _reconnect_deadline(self) -> tuple[float, int] | None:
        if self._disconnected_since is not None:
            return self._disconnected_since + self.config.signaling_reconnect_window_s, self._lost_reason
        if self._awaiting_media and self._media_lost_at is not None:
            return self._media_lost_at + self.config.media_reconnect_window_s, int(
                StopReason.AWAIT_RECONNECTION_TIMEOUT
            )
        return None

    async def _watchdog(self) -> None:
        while not self._ending:
            due = self._reconnect_deadline()
            remaining = None if due is None else due[0] - self._loop.time()
            if due is not None and remaining is not None and remaining <= 0:
                log.warning("reconnect window over", extra={"stream": self.ids.rtms_stream_id, "reason": due[1]})
                self.request_end(due[1])
                return
            await self._wait_change(remaining)

    # ------------------------------------------------------------------------------------------------------------
    # Sending

    async def _signal(self, action: Callable[[SignalingServerConnection, float], object]) -> bool:
        link = self.signaling
        if link is None or not link.alive or link.core.state is not ConnectionState.READY:
            return False
        action(link.signaling, time.time())
        return await link.flush()

    def meeting_now_ms(self) -> int:
        """Now on the meeting's timeline (the replay compresses time, timestamps do not), or wall time before it."""
        if not self.base_ms:
            return int(time.time() * 1000)
        return self.base_ms + int((self._loop.time() - self._t0) * 1000 * self.config.speed)

    async def _send_event(self, event_type: EventType, *, timestamp: int | None = None, **fields: Any) -> bool:
        when = self.meeting_now_ms() if timestamp is None else timestamp
        event = Event(event_type=event_type, timestamp=when, **fields)
        sent = False

        def queue(core: SignalingServerConnection, now: float) -> None:
            nonlocal sent
            sent = core.send_event(event, now)

        flushed = await self._signal(queue)
        return flushed and sent

    def _media_link(self, kind: MediaType) -> Link | None:
        return next(
            (link for link in self.media if link.alive and link.media.streaming and link.media.carries(kind)), None
        )

    async def _before_media(self, timestamp: int) -> None:
        if not self._first_packet_sent:
            self._first_packet_sent = True
            await self._send_event(EventType.FIRST_PACKET_TIMESTAMP, timestamp=timestamp)

    async def _pump(self) -> None:
        """Write buffered transcript lines while a transcript socket streams; each line counts once written."""
        async with self._pump_lock:
            while self._pending and not self._ending:
                link = self._media_link(MediaType.TRANSCRIPT)
                if link is None:
                    return
                line = self._pending[0]
                await self._before_media(line.frame.content.timestamp or 0)
                if not await link.send_media(line.frame):
                    return
                with contextlib.suppress(ValueError):  # lines taken back meanwhile may now stand before it
                    self._pending.remove(line)
                if line.index in self._sent:
                    self.lines_redelivered += 1
                else:
                    self._sent.add(line.index)
                    self.lines_sent += 1
                self._last_media_at = now = self._loop.time()
                if self.config.redeliver_s > 0:
                    if link in self.media:
                        written = self._written.setdefault(link, deque())
                        written.append((now, line))
                        while written[0][0] < now - self.config.redeliver_s:
                            written.popleft()
                    elif not self._ending:  # lost while it was written: its take-back has already run
                        self._requeue([line])
                self._notify()

    def _take_back(self, link: Link) -> None:
        """A transcript socket is gone before the end: its recent lines go back to the buffer, to be written again."""
        written = self._written.pop(link, None)
        if not written or self._ending:
            return
        cutoff = self._loop.time() - self.config.redeliver_s
        lines = [line for at, line in written if at >= cutoff]
        if not lines:
            return
        self._requeue(lines)
        log.info("lines to redeliver", extra={"stream": self.ids.rtms_stream_id, "lines": len(lines)})
        if self._ready:  # another transcript socket may still stream
            self._spawn(self._pump())

    def _requeue(self, lines: list[_Line]) -> None:
        """Merge lines into the buffer in their original order (each line once)."""
        merged = {line.index: line for line in lines}
        merged.update((line.index, line) for line in self._pending)
        self._pending = deque(merged[index] for index in sorted(merged))

    def _transcript_frame(self, index: int) -> TranscriptData:
        u = self.lines[index]
        start, end = self.base_ms + u.start_ms, self.base_ms + u.end_ms
        if self.ids.product is Product.CONTACT_CENTER:  # Contact Center names the voice channel, not a user id
            content = TranscriptContent(
                channel_id=format(u.user_id, "x"),
                user_name=u.speaker,
                start_time=start,
                end_time=end,
                timestamp=start,
                language=self.spec.language,
                data=u.text,
            )
        else:
            content = TranscriptContent(
                user_id=u.user_id,
                user_name=u.speaker,
                start_time=start,
                end_time=end,
                timestamp=start,
                language=self.spec.language,
                data=u.text,
            )
        return TranscriptData(content=content)

    def _send_webhook(
        self,
        kind: Literal["started", "stopped", "interrupted"],
        payload: dict[str, Any],
        delivery: Delivery | None = None,
        *,
        keep: bool = True,
    ) -> None:
        """`keep=False`: not the stream's `*.rtms_started` (a failover or duplicate does not repeat it)."""
        if delivery is None:
            delivery = self._context.webhooks.prepare(stream_event_name(self.ids.product, kind), payload)
        if kind == "started" and keep:
            self._last_started = delivery
        delay, self._delay_next_s = self._delay_next_s, 0.0
        slot = len(self._webhooks)
        self._webhooks.append(None)

        async def deliver() -> None:
            self._webhooks[slot] = await self._context.webhooks.deliver(delivery, delay_s=delay)

        self._spawn(deliver())

    # ------------------------------------------------------------------------------------------------------------
    # The replay

    def _timeline(self) -> list[_Action]:
        """Joins and speaker changes at an utterance's start, its line at its end (never before an earlier line)."""
        actions: list[_Action] = []
        seen: set[int] = set()
        previous: int | None = None
        sent_at = 0
        for index, u in enumerate(self.lines):
            if u.user_id not in seen:
                seen.add(u.user_id)
                actions.append(_Action(u.start_ms, "join", index))
            if u.user_id != previous:
                actions.append(_Action(u.start_ms, "speaker", index))
            previous = u.user_id
            sent_at = max(sent_at, u.end_ms)  # a line goes out once spoken, and lines keep their order
            actions.append(_Action(sent_at, "line", index))
        return [a for _, a in sorted(enumerate(actions), key=lambda pair: (pair[1].at_ms, pair[0]))]

    async def _sleep_until(self, at_ms: int) -> None:
        delay = self._t0 + at_ms / 1000 / self.config.speed - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _replay(self) -> int:
        await self._ready_event.wait()
        self._t0 = self._loop.time()
        self.base_ms = int(time.time() * 1000)
        if self.spec.audio:
            self._audio_task = asyncio.create_task(self._audio(), name=f"audio-{self.ids.rtms_stream_id[:8]}")
        for action in self._timeline():
            await self._sleep_until(action.at_ms)
            u = self.lines[action.index]
            if action.kind == "join":
                self._present[u.user_id] = u.speaker
                await self._send_event(
                    EventType.PARTICIPANT_JOIN,
                    timestamp=self.base_ms + u.start_ms,
                    participants=[Participant(user_id=u.user_id, user_name=u.speaker)],
                )
            elif action.kind == "speaker":
                self._active_speaker = u.user_id
                await self._send_event(
                    EventType.ACTIVE_SPEAKER_CHANGE,
                    timestamp=self.base_ms + u.start_ms,
                    user_id=u.user_id,
                    user_name=u.speaker,
                )
            else:
                for event in self._chaos.pop(action.index, []):
                    stop = await self._apply_chaos(event)
                    if stop is not None:
                        return stop
                self._pending.append(_Line(action.index, self._transcript_frame(action.index)))
                await self._pump()
        for at_line in sorted(self._chaos):  # faults placed after the last line
            for event in self._chaos.pop(at_line):
                stop = await self._apply_chaos(event)
                if stop is not None:
                    return stop
        await self._until_delivered()
        if self._audio_task is not None:
            await self._audio_task
        return self.spec.stop_reason

    def _transcripts_expected(self) -> bool:
        return bool(self._awaiting_media & MediaType.TRANSCRIPT) or any(
            link.alive and link.media.carries(MediaType.TRANSCRIPT) for link in self.media
        )

    async def _until_delivered(self) -> None:
        """Wait until every due line is written; lines nobody asked for (no transcript socket) are let go."""
        while self._pending:
            if self._ready and not self._transcripts_expected():
                self.lines_discarded += sum(1 for line in self._pending if line.index not in self._sent)
                self._pending.clear()
                return
            await self._pump()
            if self._pending:
                await self._wait_change(None)

    async def _until_written(self) -> None:
        """Before a fault: let the client be whole again and the lines already due reach it (or the reconnect
        window end the stream), so each fault strikes a connected client at a known line."""
        while True:
            await self._pump()
            if self._ready and not self._awaiting_media and not (self._pending and self._transcripts_expected()):
                return
            await self._wait_change(None)

    async def _apply_chaos(self, event: ChaosEvent) -> int | None:
        if event.kind in CONNECTION_FAULTS:
            await self._until_written()
        self.chaos_applied.append(str(event))
        log.info("chaos", extra={"stream": self.ids.rtms_stream_id, "chaos": str(event)})
        if event.kind == "stop":
            return int(StopReason.HOST_TRIGGERED if event.stop_reason is None else event.stop_reason)
        if event.kind == "duplicate_webhook":
            if self._last_started is not None:
                self._send_webhook("started", {}, delivery=self._last_started)
        elif event.kind == "delay_webhook":
            self._delay_next_s += 1.0 if event.delay_s is None else event.delay_s
        elif event.kind == "drop_media":
            kind = MEDIA_BITS[event.media] if event.media else MediaType.TRANSCRIPT
            link = next((m for m in self.media if m.alive and m.media.carries(kind)), None)
            if link is None:
                self.errors.append(f"chaos {event}: no media connection carries {event.media or 'transcript'}")
            else:
                await self._lose_media(link, drop=True)
        elif event.kind == "drop_signaling":
            if self.signaling is None:
                self.errors.append(f"chaos {event}: no signaling connection to drop")
            else:
                await self._lose_signaling(
                    self.signaling, reason=StopReason.AWAIT_RECONNECTION_TIMEOUT, webhook=True, drop=True
                )
        elif event.kind == "failover":
            await self._failover()
        elif event.kind == "ignore_keepalives_as_lost":
            if self.signaling is None:
                self.errors.append(f"chaos {event}: no signaling connection")
            else:
                self.signaling.deaf_to_keepalives = True
        return None

    async def _failover(self) -> None:
        """The RTMS server fails: its sockets die and `*.rtms_started` names the other server pair."""
        self.pair_index = 1 - self.pair_index  # the old servers refuse the stream from now on
        if self.signaling is not None:
            await self._lose_signaling(
                self.signaling, reason=StopReason.AWAIT_RECONNECTION_TIMEOUT, webhook=False, drop=True
            )
        else:
            await self._interrupt_media()
        self._send_webhook("started", self.started_payload())

    # ------------------------------------------------------------------------------------------------------------
    # Audio

    async def _audio(self) -> None:
        """Synthetic L16 audio on the replay clock for the audio socket; kept through drops (up to the window)."""
        feed: _AudioFeed | None = None
        warned = False
        while not self._ending:
            link = self._media_link(MediaType.AUDIO)
            params = link.media.params.audio if link is not None and link.media.params is not None else None
            if params is not None and params.codec != Codec.L16:
                if not warned:
                    warned = True
                    log.info(
                        "audio codec not synthesized, sending no audio",
                        extra={"stream": self.ids.rtms_stream_id, "codec": params.codec},
                    )
                params = None
            if params is not None and (feed is None or feed.params != params):
                feed = self._new_feed(params, feed)
            if feed is None:
                if self._replay_over():
                    return
                await self._wait_change(0.1)
                continue
            count = feed.audio.packet_count
            now = self._loop.time()
            while feed.k < count and self._packet_due_at(feed, feed.k) <= now:
                feed.backlog.extend(self._audio_packets(feed.audio, feed.k, feed.params))
                feed.k += 1
            if link is not None:
                while feed.backlog:
                    packet = feed.backlog[0]
                    await self._before_media(packet.content.timestamp)
                    if not await link.send_media(packet):
                        break
                    feed.backlog.popleft()
                    self.audio_packets_sent += 1
            if feed.k >= count and (not feed.backlog or self._media_link(MediaType.AUDIO) is None):
                return
            wake = self._packet_due_at(feed, feed.k) if feed.k < count else now + AUDIO_TICK_S * 10
            await asyncio.sleep(max(AUDIO_TICK_S, wake - self._loop.time()))

    def _new_feed(self, params: AudioParams, previous: _AudioFeed | None) -> _AudioFeed:
        rate_ms = params.send_rate or 20
        audio = TranscriptAudio(self.lines, AudioSynth(sample_rate_hz(params.sample_rate or 1), rate_ms))
        # Zoom keeps audio from the stream's start: the first feed begins at packet 0 (what is already due goes
        # out at once); one renegotiated on a reconnect keeps its place on the meeting clock.
        k = 0 if previous is None else previous.k * previous.rate_ms // rate_ms
        backlog: deque[AudioData] = deque(maxlen=max(1, int(self.config.media_reconnect_window_s * 1000 // rate_ms)))
        return _AudioFeed(params=params, audio=audio, rate_ms=rate_ms, k=k, backlog=backlog)

    def _packet_due_at(self, feed: _AudioFeed, k: int) -> float:
        return self._t0 + (k + 1) * feed.rate_ms / 1000 / self.config.speed

    def _replay_over(self) -> bool:
        return self._loop.time() - self._t0 > (self.lines[-1].end_ms if self.lines else 0) / 1000 / self.config.speed

    def _audio_packets(self, audio: TranscriptAudio, k: int, params: AudioParams | None) -> list[AudioData]:
        timestamp = self.base_ms + audio.synth.packet_start_ms(k)
        stereo = params is not None and params.channel == 2
        zcc = self.ids.product is Product.CONTACT_CENTER
        out: list[AudioData] = []
        if params is None or params.data_opt != DataOption.AUDIO_MULTI_STREAMS:
            pcm = _stereo(audio.mixed(k)) if stereo else audio.mixed(k)
            content = (
                MediaContent(channel_id="0", data=_b64(pcm), length=len(pcm), timestamp=timestamp)
                if zcc
                else MediaContent(user_id=0, data=_b64(pcm), length=len(pcm), timestamp=timestamp)
            )
            return [AudioData(content=content)]
        for uid in audio.speakers(k):
            voice = audio.speaker(k, uid)
            if voice is None:
                continue
            pcm = _stereo(voice) if stereo else voice
            content = (
                MediaContent(channel_id=format(uid, "x"), data=_b64(pcm), length=len(pcm), timestamp=timestamp)
                if zcc
                else MediaContent(
                    user_id=uid, user_name=self._name_of(uid), data=_b64(pcm), length=len(pcm), timestamp=timestamp
                )
            )
            out.append(AudioData(content=content))
        return out

    def _name_of(self, user_id: int) -> str:
        return next((u.speaker for u in self.lines if u.user_id == user_id), str(user_id))

    # ------------------------------------------------------------------------------------------------------------
    # Lifecycle

    async def run(self) -> MeetingReport:
        started = self._loop.time()
        named = self._context.webhooks.prepare_named(
            self.ids.product, self.ids.instance_id, topic=self.spec.transcript.meta.topic,
            host_id=self.ids.operator_id, numeric_id=self.ids.numeric_id, account_id=self.ids.account_id)
        if named is not None:  # Zoom names the meeting (meeting.started) before its stream starts
            self._send_webhook("started", {}, delivery=named, keep=False)
        self._send_webhook("started", self.started_payload())
        watchdog = asyncio.create_task(self._watchdog(), name=f"watchdog-{self.ids.rtms_stream_id[:8]}")
        replay = asyncio.create_task(self._replay(), name=f"replay-{self.ids.rtms_stream_id[:8]}")
        end_requested = asyncio.create_task(self._end_requested.wait())
        reason: int = int(StopReason.INTERNAL_EXCEPTION)
        try:
            await asyncio.wait({replay, end_requested}, return_when=asyncio.FIRST_COMPLETED)
            if replay.done() and self._end_reason is None:
                if replay.exception() is not None:
                    exc = replay.exception()
                    log.error("replay failed", exc_info=exc, extra={"stream": self.ids.rtms_stream_id})
                    self.errors.append(f"replay: {type(exc).__name__}: {exc}")
                else:
                    reason = replay.result()
            else:
                reason = self._end_reason if self._end_reason is not None else reason
        finally:
            for task in (replay, end_requested, watchdog, self._audio_task):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(
                *(t for t in (replay, end_requested, watchdog, self._audio_task) if t is not None),
                return_exceptions=True,
            )
        await self._terminate(reason)
        self.report = self._make_report(self._loop.time() - started)
        log.info(
            "stream ended",
            extra={
                "stream": self.ids.rtms_stream_id,
                "stop_reason": reason,
                "lines_sent": self.lines_sent,
                "lines_total": len(self.lines),
            },
        )
        return self.report

    async def _terminate(self, reason: int) -> None:
        """Zoom's end: leave events, session stopped, msg 8 state 4, close 1000, then `*.rtms_stopped`."""
        self._ending = True
        self.stop_reason = reason
        self._notify()
        gap = self._last_media_at + self.config.end_gap_s - self._loop.time()
        if self._last_media_at and gap > 0:
            await asyncio.sleep(gap)  # the official SDK loses a line that arrives with msg 8 state 4
        if self._present:
            await self._send_event(
                EventType.PARTICIPANT_LEAVE, participants=[Participant(user_id=uid) for uid in self._present]
            )
        await self._signal(
            lambda core, now: core.send_session_state(self.session_id, SessionState.STOPPED, now, reason=reason)
        )
        await self._signal(lambda core, now: core.send_stream_state(StreamState.TERMINATED, now, reason=reason))
        self.state = StreamState.TERMINATED
        links = [link for link in (self.signaling, *self.media) if link is not None]
        for link in links:
            self._detach(link)
        await asyncio.gather(*(link.close(1000) for link in links), return_exceptions=True)
        self._send_webhook("stopped", self.ids.stopped_payload(reason))
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _make_report(self, duration_s: float) -> MeetingReport:
        webhooks = [record for record in self._webhooks if record is not None]
        return MeetingReport(
            name=self.name,
            product=self.ids.product,
            instance_id=self.ids.instance_id,
            rtms_stream_id=self.ids.rtms_stream_id,
            lines_total=len(self.lines),
            lines_sent=self.lines_sent,
            lines_discarded=self.lines_discarded,
            lines_redelivered=self.lines_redelivered,
            stop_reason=self.stop_reason if self.stop_reason is not None else int(StopReason.UNDEFINED),
            webhooks=webhooks,
            connections=self.signaling_connections + self.media_connections,
            signaling_connections=self.signaling_connections,
            media_connections=self.media_connections,
            reconnects=self.reconnects,
            rejected_handshakes=list(self.rejected),
            keepalives_sent=self._keepalives_sent,
            keepalives_answered=self._keepalives_answered,
            audio_packets_sent=self.audio_packets_sent,
            chaos_applied=list(self.chaos_applied),
            errors=list(self.errors),
            duration_s=round(duration_s, 3),
        )

    # ------------------------------------------------------------------------------------------------------------
    # Plumbing

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("stream task failed", exc_info=exc, extra={"stream": self.ids.rtms_stream_id})
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, within_s: float | None) -> None:
        """Until the stream's connections or buffer change, or `within_s` passed (None: no limit)."""
        changed = self._changed
        # asyncio.timeout, not wait_for: 3.11's wait_for can lose a cancellation that races with the event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await changed.wait()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _stereo(mono: bytes) -> bytes:
    """Both channels the same: each 16-bit sample twice, interleaved."""
    samples = array("h", mono)
    out = array("h", bytes(len(mono) * 2))
    out[0::2] = samples
    out[1::2] = samples
    return out.tobytes()
