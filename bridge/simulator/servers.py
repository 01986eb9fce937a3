"""The simulator's WebSocket servers: a signaling and a media server on loopback, driving `bridge.rtms.server`.

Each accepted socket becomes a `Link`: the protocol core plus the socket. After every input the link does the same
three steps: feed the core, write what it queued, then hand its events to the stream that owns the link. Frames
arrive as text or binary, in any JSON layout; what goes out follows the configured style and opcode. WebSocket
pings are answered by the websockets library; Zoom relies on its own keep-alives, so the server sends no pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Literal, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bridge.logs import get_logger
from bridge.rtms.codec import decode, encode
from bridge.rtms.enums import MessageType
from bridge.rtms.errors import MalformedFrame
from bridge.rtms.messages import RtmsMessage
from bridge.rtms.negotiation import SINGLE_KINDS, url_keys
from bridge.rtms.protocol import HandshakeRejected
from bridge.rtms.server import (
    MediaAccepted,
    MediaServerConnection,
    ServerEvent,
    ServerSettings,
    SignalingAccepted,
    SignalingServerConnection,
    StreamGrant,
)
from bridge.simulator.config import SimulatorConfig

log = get_logger(__name__)

Kind = Literal["signaling", "media"]
Encoder = Callable[[RtmsMessage], "str | bytes"]
DRAIN_TIMEOUT_S = 2.0
CLOSE_TIMEOUT_S = 2.0
ALL_MEDIA_KEYS = url_keys(SINGLE_KINDS)


class LinkOwner(Protocol):
    """The stream a link belongs to once its handshake named it."""

    def attach(self, link: Link) -> None: ...
    async def on_link_event(self, link: Link, event: ServerEvent) -> None: ...
    def link_closed(self, link: Link) -> None: ...
    def record_rejection(self, kind: Kind, event: HandshakeRejected) -> None: ...


class StreamHub(Protocol):
    def lookup(self, pair_index: int, rtms_stream_id: str) -> StreamGrant | None: ...
    def owner(self, rtms_stream_id: str) -> LinkOwner | None: ...
    def moved_away(self, pair_index: int, rtms_stream_id: str) -> bool:
        """The stream failed over from this server site: it answers as a dead server would (not at all)."""
        ...


def make_encoder(style: Literal["compact", "styled"], opcode: Literal["text", "binary"]) -> Encoder:
    def encoder(message: RtmsMessage) -> str | bytes:
        text = encode(message, style)
        return text.encode("utf-8") if opcode == "binary" else text

    return encoder


class Link:
    """One accepted WebSocket and its protocol core."""

    def __init__(
        self,
        ws: ServerConnection,
        core: SignalingServerConnection | MediaServerConnection,
        kind: Kind,
        encoder: Encoder,
        pair_index: int,
    ) -> None:
        self.ws = ws
        self.core = core
        self.kind = kind
        self.pair_index = pair_index
        self.owner: LinkOwner | None = None
        self.deaf_to_keepalives = False
        """Chaos: keep-alive answers from the peer are not heard, as if they never arrived."""
        self.dropped = False
        self._encoder = encoder
        self._send_lock = asyncio.Lock()
        self._gone = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None

    @property
    def signaling(self) -> SignalingServerConnection:
        assert isinstance(self.core, SignalingServerConnection)
        return self.core

    @property
    def media(self) -> MediaServerConnection:
        assert isinstance(self.core, MediaServerConnection)
        return self.core

    @property
    def alive(self) -> bool:
        return not self._gone.is_set() and not self.core.closed

    def __repr__(self) -> str:
        return f"<Link {self.kind} pair={self.pair_index} state={self.core.state.value}>"

    # -- sending ----------------------------------------------------------------------------------------------
    async def flush(self) -> bool:
        """Write everything the core queued, in order; False when the socket is gone."""
        async with self._send_lock:
            for message in self.core.data_to_send():
                if self._gone.is_set():
                    return False
                try:
                    await self.ws.send(self._encoder(message))
                except ConnectionClosed:
                    self._gone.set()
                    return False
        return not self._gone.is_set()

    async def send_media(self, message: RtmsMessage) -> bool:
        if not self.alive or not self.media.streaming:
            return False
        self.media.send_media(message, time.time())
        return await self.flush()

    async def drop(self) -> None:
        """Cut the connection without a close frame (the peer sees 1006), after what was written left."""
        self.dropped = True
        self.core.close()
        transport = self.ws.transport
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_TIMEOUT_S
        async with self._send_lock:
            # asyncio offers no event for "write buffer empty"; poll it, bounded.
            while transport.get_write_buffer_size() and loop.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            self._gone.set()
            transport.abort()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.core.close()
        async with self._send_lock:
            self._gone.set()
        with contextlib.suppress(ConnectionClosed):
            await self.ws.close(code, reason)

    # -- receiving --------------------------------------------------------------------------------------------
    async def serve(self, hub: StreamHub, handshake_timeout_s: float) -> None:
        try:
            while not self.core.closed:
                async with asyncio.timeout(handshake_timeout_s if self.owner is None else None):
                    frame = await self.ws.recv()
                await self._process(frame, hub)
        except TimeoutError:
            log.info("no handshake in time", extra={"socket": self.kind, "timeout_s": handshake_timeout_s})
        except ConnectionClosed:
            pass
        finally:
            self._gone.set()
            if self._timer is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._timer
            if self.core.close_code is not None:
                with contextlib.suppress(ConnectionClosed):
                    await self.ws.close(self.core.close_code)
            if self.owner is not None:
                self.owner.link_closed(self)

    async def _process(self, frame: str | bytes, hub: StreamHub) -> None:
        now = time.time()
        stream_id: str | None = None
        try:
            message = decode(frame)
        except MalformedFrame as exc:
            self.core.receive_malformed(exc, now)
        else:
            stream_id = getattr(message, "rtms_stream_id", None)
            is_handshake = message.msg_type in (MessageType.SIGNALING_HAND_SHAKE_REQ, MessageType.DATA_HAND_SHAKE_REQ)
            if is_handshake and isinstance(stream_id, str) and hub.moved_away(self.pair_index, stream_id):
                log.info("handshake for a stream that failed over: dropped", extra={"socket": self.kind})
                await self.drop()
                return
            if not (self.deaf_to_keepalives and message.msg_type == MessageType.KEEP_ALIVE_RESP):
                self.core.receive_message(message, now)
        events = self.core.events_received()
        for event in events:
            # Claim the stream before anything is awaited, so a concurrent handshake sees this connection.
            if isinstance(event, SignalingAccepted | MediaAccepted):
                owner = hub.owner(event.rtms_stream_id)
                if owner is None:  # the stream ended between lookup and now: cannot happen without an await
                    raise AssertionError("accepted a handshake for a stream nobody owns")
                self.owner = owner
                owner.attach(self)
                self._timer = asyncio.create_task(self._run_timers(), name=f"rtms-{self.kind}-keepalive")
            elif isinstance(event, HandshakeRejected):
                log.info(
                    "handshake refused",
                    extra={"socket": self.kind, "status_code": event.status_code, "reason": event.reason},
                )
                rejected_for = hub.owner(stream_id) if isinstance(stream_id, str) else None
                if rejected_for is not None:
                    rejected_for.record_rejection(self.kind, event)
        await self.flush()
        await self._dispatch(events)

    async def _dispatch(self, events: list[ServerEvent]) -> None:
        if self.owner is None:
            return
        for event in events:
            await self.owner.on_link_event(self, event)

    async def _run_timers(self) -> None:
        """Tick the core at its deadlines (keep-alives); ends when the link is gone, without being cancelled."""
        while not self._gone.is_set():
            deadline = self.core.next_deadline()
            if deadline is None:
                return
            delay = deadline - time.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._gone.wait()
                continue
            self.core.tick(time.time())
            events = self.core.events_received()
            await self.flush()
            await self._dispatch(events)


class ServerPair:
    """A signaling server and a media server: one RTMS server site. The simulator runs two (for failover)."""

    def __init__(self, index: int, hub: StreamHub, config: SimulatorConfig) -> None:
        self.index = index
        self._hub = hub
        self._config = config
        self._settings = ServerSettings(
            keepalive_interval_s=config.keepalive_interval_s,
            keepalive_misses=config.keepalive_misses,
            require_event_subscription=config.require_event_subscription,
        )
        self._encoder = make_encoder(config.frame_style, config.frame_opcode)
        self._servers: list[Server] = []
        self.signaling_port = 0
        self.media_port = 0

    async def start(self, port_signaling: int = 0, port_media: int = 0) -> None:
        host = self._config.host
        signaling = await serve(
            self._serve_signaling, host, port_signaling, ping_interval=None, close_timeout=CLOSE_TIMEOUT_S
        )
        self._servers.append(signaling)
        media = await serve(self._serve_media, host, port_media, ping_interval=None, close_timeout=CLOSE_TIMEOUT_S)
        self._servers.append(media)
        self.signaling_port = next(iter(signaling.sockets)).getsockname()[1]
        self.media_port = next(iter(media.sockets)).getsockname()[1]
        log.info(
            "rtms servers listening",
            extra={"pair": self.index, "signaling_url": self.signaling_url, "media_url": self.media_base_url},
        )

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    @property
    def _url_host(self) -> str:
        host = self._config.host
        if host in ("0.0.0.0", "::", ""):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def signaling_url(self) -> str:
        return f"ws://{self._url_host}:{self.signaling_port}"

    @property
    def media_base_url(self) -> str:
        return f"ws://{self._url_host}:{self.media_port}"

    def media_urls(self) -> dict[str, str]:
        """`media_server.server_urls` for msg 2: one URL for all (unified) or a path per medium (split)."""
        base = self.media_base_url
        if self._config.media_mode == "unified":
            return {key: base for key in ALL_MEDIA_KEYS}
        return {key: f"{base}/{key}" for key in ALL_MEDIA_KEYS}

    async def _serve_signaling(self, ws: ServerConnection) -> None:
        core = SignalingServerConnection(lambda stream_id: self._hub.lookup(self.index, stream_id), self._settings)
        await Link(ws, core, "signaling", self._encoder, self.index).serve(self._hub, self._config.handshake_timeout_s)

    async def _serve_media(self, ws: ServerConnection) -> None:
        core = MediaServerConnection(lambda stream_id: self._hub.lookup(self.index, stream_id), self._settings)
        await Link(ws, core, "media", self._encoder, self.index).serve(self._hub, self._config.handshake_timeout_s)
