"""One RTMS stream: its signaling and media WebSockets, reconnects, watchdog, and events out.

A stream is one task (`run`) that loops over sessions. A session dials signaling, then one media socket per medium
(transcript always), sends CLIENT_READY_ACK and the event subscription, then watches every socket until something
ends it: Zoom terminates the stream, a socket is lost or silent for too long, or the manager sends a control
(stop, fail-over, interrupted). `reconnect.next_delay` decides what follows a loss. A lost media socket alone is
redone inside the session (scenario 3) without touching signaling.

Every socket read follows the sans-I/O order: feed the core, write what it queued (keep-alive answers), then act on
its events. Events for the consumer go to the stream's `EventDispatcher` (bounded queue, own worker task).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as _ws_connect
from websockets.exceptions import ConnectionClosed

from bridge.intake.dispatch import EventDispatcher
from bridge.intake.events import EndCause, LinkState, MeetingEnded, MeetingEvent, StreamRevoked, StreamStateChanged
from bridge.intake.metrics import IntakeMetrics
from bridge.intake.reconnect import Backoff, Scenario, is_permanent, next_delay
from bridge.intake.ssrf import RefusedUrl, UrlGuard
from bridge.intake.translate import EventTranslator, StreamRef
from bridge.logs import get_logger
from bridge.rtms.client import (
    MEDIA_URL_KEYS,
    BaseClientConnection,
    ClientCredentials,
    ClientEvent,
    HandshakeDone,
    MediaConnection,
    MediaInterrupted,
    Received,
    SignalingConnection,
    StreamIdentity,
    StreamTerminated,
    is_duplicate,
)
from bridge.rtms.codec import encode
from bridge.rtms.enums import MediaType, Product, StopReason
from bridge.rtms.errors import HandshakeFailed, ProtocolError
from bridge.rtms.messages import (
    AudioParams,
    ChatParams,
    EventUpdate,
    MediaParams,
    StreamStateUpdate,
    TranscriptData,
    TranscriptParams,
    VideoParams,
)
from bridge.rtms.protocol import ConnectionState, FrameIgnored, HandshakeRejected, KeepAliveAnswered

log = get_logger(__name__)

MAX_FRAME_BYTES = 16 * 1024 * 1024
CLOSE_TIMEOUT_S = 2.0


# ------------------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class StreamSpec:
    """What a `*.rtms_started` webhook says about a stream."""

    product: Product
    instance_id: str
    rtms_stream_id: str
    server_urls: tuple[str, ...]
    id_key: str = "meeting_uuid"


@dataclass(frozen=True)
class StreamConfig:
    credentials: ClientCredentials
    media: MediaType = MediaType.TRANSCRIPT
    transcript_language: int | None = None
    backoff: Backoff = field(default_factory=Backoff)
    signaling_window_s: float = 60.0
    media_window_s: float = 65.0
    watchdog_s: float = 65.0
    connect_timeout_s: float = 10.0
    drain_timeout_s: float = 2.0
    dedupe_size: int = 5000
    ssl_context: ssl.SSLContext | None = None  # for wss://; None means the system's default verification

    def media_params(self, medium: MediaType) -> MediaParams | None:
        """Params for one split media socket; the transcript sends none unless a language hint is set."""
        if medium is MediaType.TRANSCRIPT:
            if self.transcript_language is None:
                return None
            return MediaParams(transcript=TranscriptParams(content_type=5, src_language=self.transcript_language,
                                                           enable_lid=False))
        if medium is MediaType.AUDIO:  # the WebSocket defaults, spelled out: L16 16 kHz mono mixed, 100 ms
            return MediaParams(audio=AudioParams(content_type=2, sample_rate=1, channel=1, codec=1, data_opt=1,
                                                 send_rate=100))
        if medium is MediaType.VIDEO:
            return MediaParams(video=VideoParams(content_type=3, codec=5, resolution=2, data_opt=3, fps=5))
        if medium is MediaType.CHAT:
            return MediaParams(chat=ChatParams(content_type=5))
        return None

    def media_list(self) -> list[MediaType]:
        order = (MediaType.TRANSCRIPT, MediaType.AUDIO, MediaType.VIDEO, MediaType.CHAT)
        return [m for m in order if m in (self.media | MediaType.TRANSCRIPT)]


def make_ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Certificate and host-name verification on, TLS 1.2 or newer; `ca_bundle` replaces the system store."""
    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _NoRedirectConnect(_ws_connect):
    """A redirect would lead the bridge to a URL the guard never saw: refuse it."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        result = super().process_redirect(exc)
        if isinstance(result, str):
            return RefusedUrl("redirect", "the server answered with a redirect")
        return result


# ------------------------------------------------------------------------------------------------------------
# Outcomes of a session and controls from the manager


@dataclass(frozen=True)
class _Ended:
    cause: EndCause
    reason: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Lost:
    scenario: Scenario
    error: BaseException
    established: bool  # the session had been fully up (resets the backoff)


@dataclass(frozen=True)
class _Failover:
    urls: tuple[str, ...]


_Outcome = _Ended | _Lost | _Failover


@dataclass(frozen=True)
class _Stop:
    cause: EndCause
    reason: int | None = None


@dataclass(frozen=True)
class _Interrupted:
    event_ts_ms: int | None


_Control = _Stop | _Failover | _Interrupted


class SocketSilent(ProtocolError):
    """The watchdog fired: no frame at all on a socket for the configured time."""


@dataclass
class _Link:
    medium: MediaType | None  # None: the signaling socket
    url: str
    ws: ClientConnection
    conn: BaseClientConnection
    since_wall_ms: int
    timeout: asyncio.Timeout | None = None  # the running read's timer, so an interruption can shorten it
    expires_at: float | None = None  # Zoom said this socket is gone: read what is in flight until then
    closing: asyncio.Task[None] | None = None  # our close handshake, once started

    @property
    def label(self) -> str:
        return "signaling" if self.medium is None else f"media:{MEDIA_URL_KEYS[self.medium]}"


# ------------------------------------------------------------------------------------------------------------


class RtmsStream:
    def __init__(
        self,
        spec: StreamSpec,
        config: StreamConfig,
        guard: UrlGuard,
        dispatcher: EventDispatcher,
        metrics: IntakeMetrics,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.config = config
        self.guard = guard
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.identity = StreamIdentity(spec.instance_id, spec.rtms_stream_id, spec.id_key)
        self.translator = EventTranslator(StreamRef(spec.rtms_stream_id, spec.instance_id, spec.product),
                                          dedupe_size=config.dedupe_size)
        self.urls = spec.server_urls
        self.link_state: LinkState | None = None
        self.ended: MeetingEnded | None = None
        self.revoked = False
        self.sessions = 0
        self.was_connected = False
        self._wall = wall
        self._controls: collections.deque[_Control] = collections.deque()
        self._control_event = asyncio.Event()
        self._sequence = 0
        self._draining = False
        self._signaling: _Link | None = None
        self._media: dict[MediaType, _Link] = {}
        self.task: asyncio.Task[MeetingEnded] | None = None

    @property
    def stream_id(self) -> str:
        return self.spec.rtms_stream_id

    def start(self) -> asyncio.Task[MeetingEnded]:
        self.task = asyncio.create_task(self.run(), name=f"rtms-stream-{self.stream_id}")
        return self.task

    # -- controls (called by the manager; never block) --------------------------------------------------------

    def stop(self, cause: EndCause, reason: int | None = None) -> None:
        self._push(_Stop(cause, reason))

    def close_at_zoom(self) -> None:
        """End the stream at Zoom too (STREAM_CLOSE_REQ, stop reason 20): an operator's deliberate act. Every other
        stop (shutdown, handoff) only closes our sockets, so Zoom keeps the stream for whoever dials it next."""
        self._push(_Stop("closed"))

    def failover(self, urls: tuple[str, ...]) -> None:
        self._push(_Failover(urls))

    def interrupted(self, event_ts_ms: int | None) -> None:
        self._push(_Interrupted(event_ts_ms))

    def _push(self, control: _Control) -> None:
        self._controls.append(control)
        self._control_event.set()

    def _pop_control(self) -> _Control | None:
        control = self._controls.popleft() if self._controls else None
        if not self._controls:
            self._control_event.clear()
        return control

    # -- the stream's task ---------------------------------------------------------------------------------------

    async def run(self) -> MeetingEnded:
        loop = asyncio.get_running_loop()
        attempt = 0
        lost_since = loop.time()
        end: _Ended | None = None
        try:
            await self._set_state(LinkState.CONNECTING)
            while end is None:
                try:
                    outcome = await self._session()
                except Exception as exc:  # a bug must end in a retry or a clean end, never a dead task
                    log.exception("stream session failed", extra={"stream_id": self.stream_id})
                    outcome = _Lost(Scenario.SIGNALING, exc, established=False)
                if isinstance(outcome, _Ended):
                    end = outcome
                    break
                wait_s = 0.0
                if isinstance(outcome, _Failover):
                    self.urls, attempt, lost_since, scenario = outcome.urls, 0, loop.time(), Scenario.FAILOVER
                else:
                    scenario = outcome.scenario
                    if outcome.established:
                        attempt, lost_since = 0, loop.time()
                    delay = next_delay(outcome.error, attempt=attempt, lost_for_s=loop.time() - lost_since,
                                       window_s=self.config.signaling_window_s, backoff=self.config.backoff,
                                       was_connected=self.was_connected)
                    attempt += 1
                    if delay is None:
                        permanent = is_permanent(outcome.error, was_connected=self.was_connected)
                        cause: EndCause = "refused" if permanent else "gave_up"
                        end = _Ended(cause, None, _describe(outcome.error))
                        break
                    wait_s = delay
                    log.info("stream lost, reconnecting", extra={"stream_id": self.stream_id,
                                                                 "scenario": scenario.value, "delay_s": delay,
                                                                 "error": _describe(outcome.error)})
                await self._set_state(LinkState.RECONNECTING, detail=scenario.value)
                control = await self._wait_control(wait_s)
                if isinstance(control, _Stop):
                    end = _Ended(control.cause, control.reason)
                    break
                if isinstance(control, _Failover):
                    self.urls, attempt, lost_since, scenario = control.urls, 0, loop.time(), Scenario.FAILOVER
                self.metrics.reconnects.labels(scenario.value).inc()
        except asyncio.CancelledError:
            await self._finish(_Ended("shutdown", None, "cancelled"), cancelled=True)
            raise
        return await self._finish(end)

    async def _wait_control(self, delay: float) -> _Control | None:
        """Sleep `delay` seconds unless a control arrives first. An `interrupted` control just ends the wait."""
        if not self._controls:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._control_event.wait(), delay)
        return self._pop_control()

    async def _finish(self, end: _Ended, *, cancelled: bool = False) -> MeetingEnded:
        self._draining = True
        ref = self.translator.ref
        self.ended = MeetingEnded(stream_id=ref.stream_id, instance_id=ref.instance_id, product=ref.product,
                                  cause=end.cause, reason=end.reason, detail=end.detail)
        self.metrics.stream_ends.labels(end.cause).inc()
        self.link_state = LinkState.ENDED
        log.info("stream ended", extra={"stream_id": self.stream_id, "cause": end.cause, "reason": end.reason,
                                        "lines": self.translator.delivered,
                                        "duplicates": self.translator.duplicates})
        if cancelled:
            self.dispatcher.close_nowait()
            return self.ended
        if end.reason == StopReason.STREAM_REVOKED:
            # Revoked: what is not yet delivered must not be; the consumer deletes what it already has.
            self.revoked = True
            self.translator.forget()
            self.dispatcher.purge()
            await self._emit(self.ended)
            await self._emit(StreamRevoked(stream_id=ref.stream_id, instance_id=ref.instance_id,
                                           product=ref.product))
        else:
            await self._emit(StreamStateChanged(stream_id=ref.stream_id, instance_id=ref.instance_id,
                                                product=ref.product, state=LinkState.ENDED, detail=end.cause))
            await self._emit(self.ended)
        await self.dispatcher.close()
        return self.ended

    # -- one session -------------------------------------------------------------------------------------------

    async def _session(self) -> _Outcome:
        self.sessions += 1
        self._draining = False
        setup = asyncio.create_task(self._open_all())
        try:
            while not setup.done():
                control_wait = asyncio.create_task(self._control_event.wait())
                await asyncio.wait({control_wait, setup}, return_when=asyncio.FIRST_COMPLETED)
                control_wait.cancel()
                if setup.done():
                    break
                outcome = self._control_outcome(self._pop_control(), during_setup=True)
                if outcome is not None:  # stop or fail-over: abandon the setup
                    setup.cancel()
                    await asyncio.gather(setup, return_exceptions=True)
                    return outcome
            error = setup.exception()
            if isinstance(error, _EndedError):
                return error.outcome
            if error is not None:
                self._count_refusal(error)
                return _Lost(Scenario.SIGNALING, error, established=False)
            self.was_connected = True
            await self._set_state(LinkState.ACTIVE)
            return await self._supervise()
        finally:
            if not setup.done():
                setup.cancel()
                await asyncio.gather(setup, return_exceptions=True)
            await self._close_all()

    async def _open_all(self) -> None:
        self._signaling = await self._open(None, self._pick_signaling_url())
        media_urls = self._signaling.conn.media_urls if isinstance(self._signaling.conn, SignalingConnection) \
            else {}
        for medium in self.config.media_list():
            # Zoom lists only the media the app has scopes for; `all` stands in for the transcript alone.
            url = media_urls.get(MEDIA_URL_KEYS[medium])
            if medium is MediaType.TRANSCRIPT:
                url = url or media_urls.get("all")
                if not url:
                    raise HandshakeFailed("signaling", None, "the reply lists no transcript media server "
                                                             "(does the app have the transcript scope?)")
                self._media[medium] = await self._open(medium, url)
                continue
            if not url:
                log.warning("configured medium not offered (scope missing?): skipped",
                            extra={"stream_id": self.stream_id, "medium": MEDIA_URL_KEYS[medium]})
                continue
            try:
                self._media[medium] = await self._open(medium, url)
            except HandshakeFailed as exc:
                if is_duplicate(exc):
                    raise
                log.warning("optional medium refused: skipped", extra={
                    "stream_id": self.stream_id, "medium": MEDIA_URL_KEYS[medium], "status": exc.status_code})
        signaling = self._signaling.conn
        assert isinstance(signaling, SignalingConnection)
        signaling.ready()
        signaling.subscribe()
        await self._flush(self._signaling)

    def _pick_signaling_url(self) -> str:
        refused: RefusedUrl | None = None
        for url in self.urls:
            try:
                return self.guard.check(url)
            except RefusedUrl as exc:
                refused = exc
        raise refused or RefusedUrl("empty", "no server URL")

    async def _open(self, medium: MediaType | None, url: str) -> _Link:
        """Dial one socket and complete its handshake; raises on any failure (the socket is closed then)."""
        url = self.guard.check(url)
        ws = await _NoRedirectConnect(
            url, ssl=(self.config.ssl_context or True) if url.lower().startswith("wss:") else None, proxy=None,
            open_timeout=self.config.connect_timeout_s, close_timeout=CLOSE_TIMEOUT_S, max_size=MAX_FRAME_BYTES,
            user_agent_header="rtms-langflow-bridge",
        )
        self._sequence += 1
        conn: BaseClientConnection
        if medium is None:
            conn = SignalingConnection(self.identity, self.config.credentials)
            conn.start_handshake(self._sequence)
        else:
            conn = MediaConnection(self.identity, self.config.credentials, medium, self.config.media_params(medium))
            conn.start_handshake(self._sequence)
        loop = asyncio.get_running_loop()
        conn.mark_connected(loop.time())
        link = _Link(medium, url, ws, conn, int(self._wall() * 1000))
        try:
            await self._flush(link)
            async with asyncio.timeout(self.config.connect_timeout_s):
                while True:
                    frame = await ws.recv()
                    for event in await self._feed(link, frame):
                        if isinstance(event, HandshakeDone):
                            return link
                        if isinstance(event, HandshakeRejected):
                            conn.raise_for_handshake()
                        if isinstance(event, _EndedMarker):
                            raise _EndedError(event.outcome)
        except BaseException:
            await _close_ws(ws, abort=True)
            raise

    # -- reading -----------------------------------------------------------------------------------------------

    async def _feed(self, link: _Link, frame: str | bytes) -> list[ClientEvent | _EndedMarker]:
        """Sans-I/O order: feed the core, write its answers, then act on its events."""
        loop = asyncio.get_running_loop()
        link.conn.receive_frame(frame, loop.time())
        events = link.conn.events_received()
        await self._flush(link)
        out: list[ClientEvent | _EndedMarker] = []
        for event in events:
            marker = await self._act(link, event)
            out.append(marker or event)
        return out

    async def _flush(self, link: _Link) -> None:
        for message in link.conn.data_to_send():
            try:
                await link.ws.send(encode(message))
            except ConnectionClosed:
                return  # the reader finds out and decides

    async def _act(self, link: _Link, event: ClientEvent) -> _EndedMarker | None:
        if isinstance(event, KeepAliveAnswered):
            self.metrics.keepalives.labels("signaling" if link.medium is None else "media").inc()
        elif isinstance(event, FrameIgnored):
            self.metrics.bad_frames.labels("signaling" if link.medium is None else "media").inc()
            log.warning("bad frame from Zoom", extra={"stream_id": self.stream_id, "socket": link.label,
                                                      "error": event.reason})
        elif isinstance(event, StreamTerminated):
            return _EndedMarker(_Ended("terminated", event.reason, event.reason_text or ""))
        elif isinstance(event, MediaInterrupted):
            self._media_interrupted(event.timestamp, event.media_type)
        elif isinstance(event, Received):
            message = event.message
            if isinstance(message, TranscriptData):
                utterance = self.translator.transcript(message.content, int(self._wall() * 1000))
                if utterance is None:
                    self.metrics.duplicate_lines.inc()
                else:
                    await self._emit(utterance)
            elif isinstance(message, EventUpdate):
                for meeting_event in self.translator.event(message.event):
                    await self._emit(meeting_event)
            elif isinstance(message, StreamStateUpdate):
                ref = self.translator.ref
                await self._emit(StreamStateChanged(
                    stream_id=ref.stream_id, instance_id=ref.instance_id, product=ref.product,
                    state=self.link_state or LinkState.CONNECTING, zoom_state=message.state,
                    zoom_reason=message.reason))
        return None

    def _media_interrupted(self, timestamp_ms: int | None, media_type: int | None) -> None:
        """Zoom says a media socket dropped. Sockets of that medium (all, when it does not say) that we opened
        before that moment are stale: their reader gets `drain_timeout_s` to read what is still in flight, then
        gives them up and redoes them (scenario 3). Ones opened after the moment are the reconnection already."""
        loop = asyncio.get_running_loop()
        for medium, link in self._media.items():
            if media_type is not None and not (media_type & int(medium) or media_type & MediaType.ALL):
                continue
            if link.expires_at is None and (timestamp_ms is None or link.since_wall_ms <= timestamp_ms):
                log.info("media interrupted by Zoom", extra={"stream_id": self.stream_id, "socket": link.label})
                link.expires_at = loop.time() + self.config.drain_timeout_s
                if link.timeout is not None and not link.timeout.expired():
                    link.timeout.reschedule(min(link.expires_at, link.timeout.when() or link.expires_at))

    async def _read_until_lost(self, link: _Link) -> _Ended | BaseException:
        """Read one socket until Zoom ends the stream (returns `_Ended`) or the socket is gone (the error).

        A socket is never abandoned with data in flight: when it falls silent (watchdog) or Zoom says it is
        interrupted, the close handshake starts and reading goes on until it completes, so every line Zoom wrote
        before seeing our close is still delivered.
        """
        loop = asyncio.get_running_loop()
        gone: BaseException | None = None
        while True:
            if gone is None:
                deadline = loop.time() + self.config.watchdog_s
                if link.expires_at is not None:
                    deadline = min(deadline, link.expires_at)
            else:
                deadline = loop.time() + CLOSE_TIMEOUT_S + 0.5
            try:
                async with asyncio.timeout_at(deadline) as link.timeout:
                    frame = await link.ws.recv()
            except TimeoutError:
                if gone is not None:  # the peer never finished the close handshake
                    link.ws.transport.abort()
                    return gone
                interrupted = link.expires_at is not None and loop.time() >= link.expires_at
                gone = SocketSilent(f"{link.label} interrupted by Zoom" if interrupted
                                    else f"{link.label} silent for {self.config.watchdog_s:g} s")
                self._start_close(link)
                continue
            except ConnectionClosed as exc:
                if link.closing is not None:
                    await asyncio.gather(link.closing, return_exceptions=True)
                return gone or exc
            finally:
                link.timeout = None
            for event in await self._feed(link, frame):
                if isinstance(event, _EndedMarker):
                    return event.outcome

    def _start_close(self, link: _Link) -> None:
        """Begin the close handshake (code 1000) without waiting; the link's reader sees it complete."""
        if link.closing is None:
            link.conn.close()
            link.closing = asyncio.create_task(_close_ws(link.ws), name=f"rtms-close-{self.stream_id}")

    # -- supervising a live session ----------------------------------------------------------------------------

    async def _supervise(self) -> _Outcome:
        assert self._signaling is not None
        signaling = asyncio.create_task(self._read_signaling(self._signaling))
        media = {asyncio.create_task(self._media_loop(medium)) for medium in list(self._media)}
        waiting: set[asyncio.Task[_Outcome | None]] = {signaling, *media}
        control = asyncio.create_task(self._control_event.wait())
        outcome: _Outcome | None = None
        try:
            while outcome is None:
                done, _ = await asyncio.wait({*waiting, control}, return_when=asyncio.FIRST_COMPLETED)
                if control in done:
                    outcome = self._control_outcome(self._pop_control(), during_setup=False)
                    if outcome is None:
                        control = asyncio.create_task(self._control_event.wait())
                for task in done - {control}:
                    waiting.discard(task)
                    result = task.result()
                    if outcome is None and isinstance(result, (_Ended, _Lost, _Failover)):
                        outcome = result
            if isinstance(outcome, _Ended) and outcome.cause == "closed":
                await self._request_close()
            await self._wind_down(outcome, signaling, {t for t in waiting if t is not signaling})
            return outcome
        finally:
            control.cancel()
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)

    async def _request_close(self) -> None:
        link = self._signaling
        conn = link.conn if link is not None else None
        if link is None or not isinstance(conn, SignalingConnection) or conn.state is not ConnectionState.OPEN:
            log.warning("stream close not requested: signaling is not open", extra={"stream_id": self.stream_id})
            return
        conn.request_close()
        try:
            await self._flush(link)
            log.info("stream close requested at Zoom", extra={"stream_id": self.stream_id})
        except Exception as exc:
            log.warning("stream close request not sent", extra={"stream_id": self.stream_id,
                                                                 "error": _describe(exc)})

    def _control_outcome(self, control: _Control | None, *, during_setup: bool) -> _Outcome | None:
        if isinstance(control, _Stop):
            return _Ended(control.cause, control.reason)
        if isinstance(control, _Failover):
            return control
        if isinstance(control, _Interrupted):
            # The webhook is about the connection Zoom saw break. Ignore it when ours is newer than the event.
            since = self._signaling.since_wall_ms if self._signaling is not None else None
            if during_setup or since is None or (control.event_ts_ms is not None and since > control.event_ts_ms):
                return None
            return _Lost(Scenario.SIGNALING, ProtocolError("Zoom reported the stream interrupted"),
                         established=True)
        return None

    async def _wind_down(self, outcome: _Outcome, signaling: asyncio.Task[_Outcome | None],
                         media_tasks: set[asyncio.Task[_Outcome | None]]) -> None:
        """End the session without losing what Zoom already wrote: readers keep reading until their socket is
        closed. When Zoom ended the stream it closes the sockets itself shortly (wait up to `drain_timeout_s`);
        then every socket still open goes through its close handshake while still being read.

        Readers end on their own once their socket closes (a close handshake that hangs is aborted), so they are
        awaited without a limit here: the one thing that can hold them is a consumer queue that is full, and an
        event already read is not thrown away for that (shutdown has its own limit)."""
        self._draining = True  # media readers stop at the close instead of reconnecting
        pending = {t for t in media_tasks if not t.done()}
        if pending and isinstance(outcome, _Ended) and outcome.cause in ("stopped", "terminated", "closed"):
            _, pending = await asyncio.wait(pending, timeout=self.config.drain_timeout_s)
        for link in (self._signaling, *self._media.values()):
            if link is not None:
                self._start_close(link)
        readers = {t for t in (signaling, *pending) if not t.done()}
        if readers:
            await asyncio.wait(readers)

    async def _read_signaling(self, link: _Link) -> _Outcome:
        result = await self._read_until_lost(link)
        if isinstance(result, _Ended):
            return result
        return _Lost(Scenario.SIGNALING, result, established=True)

    async def _media_loop(self, medium: MediaType) -> _Outcome | None:
        """Read one media socket; when it is lost, redo only it (scenario 3) within the media window."""
        loop = asyncio.get_running_loop()
        while True:
            link = self._media[medium]
            result = await self._read_until_lost(link)
            if isinstance(result, _Ended):
                return result
            if self._draining:
                return None
            error: BaseException = result
            lost_since = loop.time()
            attempt = 0
            await self._set_state(LinkState.MEDIA_RECONNECTING, detail=link.label)
            log.info("media socket lost", extra={"stream_id": self.stream_id, "socket": link.label,
                                                 "error": _describe(error)})
            while True:
                delay = next_delay(error, attempt=attempt, lost_for_s=loop.time() - lost_since,
                                   window_s=self.config.media_window_s, backoff=self.config.backoff,
                                   was_connected=True)
                if delay is None:
                    # Media could not be redone alone: start over with signaling (counts as scenario 2).
                    return _Lost(Scenario.SIGNALING, error, established=True)
                await asyncio.sleep(delay)
                if self._draining:
                    return None
                self.metrics.reconnects.labels(Scenario.MEDIA.value).inc()
                try:
                    self._media[medium] = await self._open(medium, link.url)
                    if self._draining:  # the session ended while this socket was being redone
                        self._start_close(self._media[medium])
                    break
                except _EndedError as exc:
                    return exc.outcome
                except Exception as exc:
                    self._count_refusal(exc)
                    error = exc
                    attempt += 1
            signaling = self._signaling
            if signaling is not None and isinstance(signaling.conn, SignalingConnection) \
                    and signaling.conn.state is ConnectionState.OPEN:
                signaling.conn.ready()  # Zoom may wait for a new CLIENT_READY_ACK before sending data again
                await self._flush(signaling)
            await self._set_state(LinkState.ACTIVE, detail=link.label)

    # -- helpers -----------------------------------------------------------------------------------------------

    async def _close_all(self) -> None:
        links = [link for link in (self._signaling, *self._media.values()) if link is not None]
        self._signaling = None
        self._media = {}
        for link in links:
            self._start_close(link)
        await asyncio.gather(*(link.closing for link in links if link.closing is not None), return_exceptions=True)

    def _count_refusal(self, error: BaseException) -> None:
        if isinstance(error, RefusedUrl):
            self.metrics.refused_urls.labels(error.reason).inc()
            log.warning("refused to dial a URL", extra={"stream_id": self.stream_id, "reason": error.reason})

    async def _emit(self, event: MeetingEvent) -> None:
        await self.dispatcher.put(event)

    async def _set_state(self, state: LinkState, *, detail: str = "") -> None:
        if state is self.link_state:
            return
        self.link_state = state
        ref = self.translator.ref
        await self._emit(StreamStateChanged(stream_id=ref.stream_id, instance_id=ref.instance_id,
                                            product=ref.product, state=state, detail=detail))


@dataclass(frozen=True)
class _EndedMarker:
    outcome: _Ended


class _EndedError(Exception):
    """Zoom terminated the stream while a socket was still handshaking."""

    def __init__(self, outcome: _Ended) -> None:
        super().__init__(outcome.cause)
        self.outcome = outcome


async def _close_ws(ws: ClientConnection, *, abort: bool = False) -> None:
    if abort:
        ws.transport.abort()
    with contextlib.suppress(Exception):
        await ws.close()


def _describe(error: BaseException) -> str:
    """A short, payload-free description for logs."""
    if isinstance(error, ConnectionClosed):
        code = error.rcvd.code if error.rcvd is not None else None
        return f"connection closed (code {code})"
    return f"{type(error).__name__}: {error}"[:200]
