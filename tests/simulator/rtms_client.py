"""A small, test-only RTMS app: a webhook endpoint plus a WebSocket client per stream (plain websockets + the core).

It behaves as a correct client should (rtms-protocol.md section 11): it joins on `*.rtms_started`, answers
keep-alives on both sockets, reconnects a dropped media socket alone, rejoins everything after a signaling drop or
`*.rtms_interrupted`, follows a failover `*.rtms_started` (new URL) and ignores a duplicate one (same URL), and
stops at msg 8 state 4 or `*.rtms_stopped`. It records everything it receives so tests can check what arrived.
It never imports the bridge's own client: it is the simulator's counterpart, written only for these tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from bridge.rtms.codec import decode, encode
from bridge.rtms.enums import EventType, MediaType, StreamState
from bridge.rtms.messages import (
    ClientReadyAck,
    DataHandshakeRequest,
    DataHandshakeResponse,
    Event,
    EventSubscription,
    EventSubscriptionItem,
    EventUpdate,
    KeepAliveRequest,
    KeepAliveResponse,
    MediaContent,
    MediaParams,
    RtmsMessage,
    SessionStateUpdate,
    SignalingHandshakeRequest,
    SignalingHandshakeResponse,
    StreamCloseRequest,
    StreamStateUpdate,
    TranscriptContent,
    TranscriptData,
)
from bridge.rtms.signatures import handshake_signature, url_validation_response, verify_webhook_signature
from bridge.rtms.webhooks import RtmsInterrupted, RtmsStarted, RtmsStopped, UrlValidation, parse_webhook
from tests.simulator.webhook_receiver import Request, Response, WebhookReceiver

KEY_OF = {
    MediaType.AUDIO: "audio",
    MediaType.VIDEO: "video",
    MediaType.DESKSHARE: "deskshare",
    MediaType.TRANSCRIPT: "transcript",
    MediaType.CHAT: "chat",
    MediaType.ALL: "all",
}
RETRY_DELAY_S = 0.05


async def retry_pause() -> None:
    """The pause of a client before it tries a refused or broken connection again: time is the thing here (a
    client that retried at once would hammer a server that has just refused it)."""
    await asyncio.sleep(RETRY_DELAY_S)
MAX_ATTEMPTS = 100
RECV_TIMEOUT_S = 5.0


class HandshakeRefused(Exception):
    def __init__(self, stage: str, status: int | None, reason: str | None) -> None:
        self.stage, self.status, self.reason = stage, status, reason
        super().__init__(f"{stage} refused: {status} {reason}")


@dataclass
class ClientOptions:
    client_id: str
    client_secret: str
    media_types: tuple[int, ...] = (int(MediaType.TRANSCRIPT),)
    """One media socket per entry (8 = transcript, 1 = audio, 32 = all in one socket)."""
    media_params: MediaParams | None = None
    answer_keepalives: bool = True
    send_ready: bool = True
    subscribe: tuple[int, ...] | None = None
    binary_styled: bool = False
    """Send binary frames of styled JSON, like the official SDK."""
    id_key: str | None = None
    """Override the id key in handshakes (the SDK always says meeting_uuid)."""
    reconnect: bool = True
    """Rejoin / reconnect after a drop (False: give up, to let a reconnect window run out)."""


def _key(media_type: int) -> str:
    return KEY_OF.get(MediaType(media_type), "all") if media_type in (1, 2, 4, 8, 16, 32) else "all"


@dataclass
class StreamLog:
    """What one stream's client received."""

    transcripts: list[TranscriptContent] = field(default_factory=list)
    audio: list[MediaContent] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    stream_states: list[StreamStateUpdate] = field(default_factory=list)
    session_states: list[SessionStateUpdate] = field(default_factory=list)
    keepalives: list[tuple[str, KeepAliveRequest]] = field(default_factory=list)
    signaling_replies: list[SignalingHandshakeResponse] = field(default_factory=list)
    media_replies: list[DataHandshakeResponse] = field(default_factory=list)
    media_before_ready: int = 0
    raw_frames: list[str | bytes] = field(default_factory=list)
    joins: int = 0
    closes: list[tuple[str, int | None]] = field(default_factory=list)
    timeline: list[tuple[float, str, int]] = field(default_factory=list)
    """(loop time, socket, msg_type) of every frame received."""

    @property
    def texts(self) -> list[str]:
        return [t.data for t in self.transcripts]


class StreamClient:
    """One stream: joins, stays joined through faults, ends at termination."""

    def __init__(self, payload: dict[str, Any], started: RtmsStarted, options: ClientOptions) -> None:
        self.options = options
        self.stream_id = started.rtms_stream_id
        self.instance_id = started.instance_id
        self.id_key = options.id_key or started.id_key
        self.url = started.urls[0]
        self.log = StreamLog()
        self.done = asyncio.Event()
        self.terminated_reason: int | None = None
        self._commands: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._generation = 0
        self._signaling: ClientConnection | None = None
        self._media: dict[int, ClientConnection] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._ready_sent = False
        self._urls: dict[str, str] = {}
        self._joined_url = ""
        self.failovers = 0
        self.interruptions = 0
        self.gave_up = False
        self._task = asyncio.create_task(self._supervise())

    # -- webhooks -------------------------------------------------------------------------------------------------
    def on_started_again(self, started: RtmsStarted) -> None:
        new_url = started.urls[0]
        if new_url != self.url:  # failover: same stream, new server; the same URL is a duplicate delivery
            self.url = new_url
            self.failovers += 1
            self._commands.put_nowait(("moved", new_url))

    def on_interrupted(self) -> None:
        self.interruptions += 1
        self._commands.put_nowait(("interrupted", None))

    def on_stopped(self, reason: int | None) -> None:
        if self.terminated_reason is None:
            self.terminated_reason = reason
        self._commands.put_nowait(("done", None))

    # -- the lifecycle ---------------------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        try:
            attempts = 0
            while not self.done.is_set():
                try:
                    await self._join()
                except (HandshakeRefused, OSError, ConnectionClosed, TimeoutError):
                    attempts += 1
                    await self._teardown()
                    if attempts >= MAX_ATTEMPTS or self._stopped_meanwhile():
                        return
                    await retry_pause()
                    continue
                attempts = 0
                if await self._follow():
                    return
        finally:
            await self._teardown()
            self.done.set()

    def _stopped_meanwhile(self) -> bool:
        while not self._commands.empty():
            if self._commands.get_nowait()[0] == "done":
                return True
        return False

    async def _follow(self) -> bool:
        """React to commands until the stream ends (True) or a full rejoin is needed (False)."""
        while True:
            command, arg = await self._commands.get()
            if command == "done":
                return True
            if not self.options.reconnect:  # lost sockets stay lost; the signaling socket, if alive, stays up
                if command == "media_lost":
                    self.gave_up = True
                    continue
                if command == "rejoin" and arg == self._generation:
                    self.gave_up = True
                    await self._teardown()
                    return True
            if command == "rejoin" and arg == self._generation:
                await self._teardown()
                return False
            if command == "moved" and arg != self._joined_url:
                await self._teardown()
                return False
            if command == "interrupted" and not self._signaling_open():
                await self._teardown()
                return False
            if command == "media_lost" and arg[0] == self._generation and not await self._reconnect_media(arg[1]):
                await self._teardown()
                return False

    async def _join(self) -> None:
        self._generation += 1
        self._ready_sent = False
        generation = self._generation
        self.log.joins += 1
        self._joined_url = self.url
        sig = await connect(self.url, ping_interval=None, open_timeout=RECV_TIMEOUT_S)
        self._signaling = sig
        await self._send(
            sig,
            SignalingHandshakeRequest(
                instance_id=self.instance_id,
                id_key=self.id_key,
                rtms_stream_id=self.stream_id,
                sequence=1,
                signature=self._signature(),
                buffer_data=False,
            ),
        )
        reply = await self._recv(sig)
        assert isinstance(reply, SignalingHandshakeResponse), reply
        self.log.signaling_replies.append(reply)
        if not reply.ok:
            raise HandshakeRefused("signaling", reply.status_code, reply.reason)
        assert reply.media_server is not None
        urls = reply.media_server.server_urls
        self._readers.append(asyncio.create_task(self._read_signaling(sig, generation)))
        if self.options.subscribe is not None:
            await self._send(
                sig, EventSubscription(events=[EventSubscriptionItem(event_type=e) for e in self.options.subscribe])
            )
        for media_type in self.options.media_types:
            await self._open_media(urls, media_type, generation)
        if self.options.send_ready:
            await self._send(sig, ClientReadyAck(rtms_stream_id=self.stream_id))
            self._ready_sent = True
        self._urls = urls

    async def _open_media(self, urls: dict[str, str], media_type: int, generation: int) -> None:
        url = urls.get(_key(media_type)) or urls["all"]
        ws = await connect(url, ping_interval=None, open_timeout=RECV_TIMEOUT_S)
        self._media[media_type] = ws
        await self._send(
            ws,
            DataHandshakeRequest(
                instance_id=self.instance_id,
                id_key=self.id_key,
                rtms_stream_id=self.stream_id,
                sequence=2,
                signature=self._signature(),
                media_type=media_type,
                media_params=self.options.media_params,
            ),
        )
        reply = await self._recv(ws)
        assert isinstance(reply, DataHandshakeResponse), reply
        self.log.media_replies.append(reply)
        if not reply.ok:
            raise HandshakeRefused("media", reply.status_code, reply.reason)
        self._readers.append(asyncio.create_task(self._read_media(ws, media_type, generation)))

    async def _reconnect_media(self, media_type: int) -> bool:
        """Reconnect one media socket; False (rejoin everything) once the signaling socket is gone too."""
        for _ in range(MAX_ATTEMPTS):
            if not self._signaling_open():
                return False
            try:
                await self._open_media(self._urls, media_type, self._generation)
            except HandshakeRefused as refused:
                if refused.status == 2:  # the stream has no signaling connection (any more)
                    return False
                await retry_pause()
                continue
            except (OSError, ConnectionClosed, TimeoutError):
                await retry_pause()
                continue
            if self._signaling is not None and self.options.send_ready:
                with contextlib.suppress(ConnectionClosed):
                    await self._send(self._signaling, ClientReadyAck(rtms_stream_id=self.stream_id))
            return True
        return False

    async def close_stream(self) -> None:
        """Ask Zoom to end the stream (msg 21)."""
        assert self._signaling is not None
        await self._send(self._signaling, StreamCloseRequest(rtms_stream_id=self.stream_id))

    def crash(self, *, media_only: bool = False) -> None:
        """Reset the sockets without a close frame, as a dying process would; the client then recovers as usual."""
        sockets = list(self._media.values()) if media_only else [self._signaling, *self._media.values()]
        for ws in sockets:
            if ws is not None:
                ws.transport.abort()

    def _signaling_open(self) -> bool:
        return self._signaling is not None and self._signaling.state is State.OPEN

    async def _teardown(self) -> None:
        sockets = [s for s in (self._signaling, *self._media.values()) if s is not None]
        self._signaling, self._media = None, {}
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        readers, self._readers = self._readers, []
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    # -- reading ---------------------------------------------------------------------------------------------------
    async def _read_signaling(self, ws: ClientConnection, generation: int) -> None:
        try:
            async for frame in ws:
                message = decode(frame)
                self.log.raw_frames.append(frame)
                self.log.timeline.append((asyncio.get_running_loop().time(), "signaling", int(message.msg_type)))
                if isinstance(message, KeepAliveRequest):
                    self.log.keepalives.append(("signaling", message))
                    await self._answer(ws, message)
                elif isinstance(message, EventUpdate):
                    self.log.events.append(message.event)
                elif isinstance(message, SessionStateUpdate):
                    self.log.session_states.append(message)
                elif isinstance(message, StreamStateUpdate):
                    self.log.stream_states.append(message)
                    if message.state == StreamState.TERMINATED:
                        if self.terminated_reason is None:
                            self.terminated_reason = message.reason
                        self._commands.put_nowait(("done", None))
        except ConnectionClosed:
            pass
        self.log.closes.append(("signaling", ws.close_code))
        self._commands.put_nowait(("rejoin", generation))

    async def _read_media(self, ws: ClientConnection, media_type: int, generation: int) -> None:
        try:
            async for frame in ws:
                message = decode(frame)
                self.log.raw_frames.append(frame)
                self.log.timeline.append(
                    (asyncio.get_running_loop().time(), f"media:{media_type}", int(message.msg_type))
                )
                if isinstance(message, KeepAliveRequest):
                    self.log.keepalives.append(("media", message))
                    await self._answer(ws, message)
                    continue
                if not self._ready_sent:
                    self.log.media_before_ready += 1
                if isinstance(message, TranscriptData):
                    self.log.transcripts.append(message.content)
                elif message.msg_type == 14:
                    self.log.audio.append(message.content)  # type: ignore[attr-defined]
        except ConnectionClosed:
            pass
        self.log.closes.append((f"media:{media_type}", ws.close_code))
        if ws.close_code != 1000:
            self._commands.put_nowait(("media_lost", (generation, media_type)))

    async def _answer(self, ws: ClientConnection, request: KeepAliveRequest) -> None:
        if self.options.answer_keepalives:
            with contextlib.suppress(ConnectionClosed):
                await self._send(ws, KeepAliveResponse(timestamp=request.timestamp, sequence=request.sequence))

    # -- wire -----------------------------------------------------------------------------------------------------
    def _signature(self) -> str:
        return handshake_signature(self.options.client_id, self.options.client_secret, self.instance_id, self.stream_id)

    async def _send(self, ws: ClientConnection, message: RtmsMessage) -> None:
        if self.options.binary_styled:
            await ws.send(encode(message, "styled").encode())
        else:
            await ws.send(encode(message))

    @staticmethod
    async def _recv(ws: ClientConnection) -> RtmsMessage:
        async with asyncio.timeout(RECV_TIMEOUT_S):
            return decode(await ws.recv())

    async def wait(self, within_s: float) -> StreamLog:
        async with asyncio.timeout(within_s):
            await self.done.wait()
        return self.log


class RtmsTestApp:
    """The app side: verifies and answers webhooks, runs a `StreamClient` per stream."""

    def __init__(
        self,
        webhook_secret: str,
        options: ClientOptions,
        *,
        validation_answer: str | None = None,
        statuses: list[int] | None = None,
        answer_delay_s: float = 0.0,
    ) -> None:
        self.secret = webhook_secret
        self.options = options
        self.validation_answer = validation_answer
        self.statuses = list(statuses or [])
        """Statuses to answer in turn (then 200): e.g. [500] makes the first delivery fail."""
        self.answer_delay_s = answer_delay_s
        self.clients: dict[str, StreamClient] = {}
        self.signature_errors: list[str] = []
        self.receiver = WebhookReceiver(self._respond)
        self.new_stream = asyncio.Event()

    async def __aenter__(self) -> RtmsTestApp:
        await self.receiver.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients.values():
            client._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await client._task
        await self.receiver.__aexit__(*exc)

    @property
    def url(self) -> str:
        return self.receiver.url

    async def _respond(self, request: Request) -> Response:
        try:
            verify_webhook_signature(
                self.secret,
                timestamp=request.headers.get("x-zm-request-timestamp"),
                signature=request.headers.get("x-zm-signature"),
                body=request.body,
                now_s=time.time(),
            )
        except Exception as exc:
            self.signature_errors.append(f"{type(exc).__name__}: {exc}")
            return Response(401)
        event = parse_webhook(request.body)
        if isinstance(event, UrlValidation):
            answer = url_validation_response(self.secret, event.plain_token)
            if self.validation_answer is not None:
                answer["encryptedToken"] = self.validation_answer
            return Response(200, json.dumps(answer).encode())
        if self.statuses:
            return Response(self.statuses.pop(0), delay_s=self.answer_delay_s)
        if isinstance(event, RtmsStarted):
            client = self.clients.get(event.rtms_stream_id)
            if client is None:
                self.clients[event.rtms_stream_id] = StreamClient(
                    json.loads(request.body)["payload"], event, self.options
                )
                self.new_stream.set()
            else:
                client.on_started_again(event)
        elif isinstance(event, RtmsInterrupted) and event.rtms_stream_id in self.clients:
            self.clients[event.rtms_stream_id].on_interrupted()
        elif isinstance(event, RtmsStopped) and event.rtms_stream_id in self.clients:
            self.clients[event.rtms_stream_id].on_stopped(event.stop_reason)
        return Response(200, delay_s=self.answer_delay_s)

    async def client(self, stream_id: str, within_s: float = 5.0) -> StreamClient:
        async with asyncio.timeout(within_s):
            while stream_id not in self.clients:
                self.new_stream.clear()
                await self.new_stream.wait()
        return self.clients[stream_id]


def event_types(log: StreamLog) -> list[int]:
    return [e.event_type for e in log.events]


__all__ = ["ClientOptions", "EventType", "HandshakeRefused", "RtmsTestApp", "StreamClient", "StreamLog", "event_types"]
