"""The simulator: two RTMS server sites (primary and failover), a webhook sender and any number of streams.

async with Simulator(config) as sim:
    handle = await sim.start_meeting(MeetingSpec(transcript=load_transcript("sales")))
    report = await handle.wait(timeout=60)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import httpx

from bridge.logs import get_logger
from bridge.rtms.enums import Product, StopReason
from bridge.rtms.server import StreamGrant
from bridge.simulator.config import MeetingSpec, SimulatorConfig
from bridge.simulator.errors import SimulatorNotRunning
from bridge.simulator.ids import StreamIds
from bridge.simulator.report import MeetingReport
from bridge.simulator.servers import ServerPair
from bridge.simulator.stream import Stream
from bridge.simulator.webhook_sender import WebhookSender

log = get_logger(__name__)

SHUTDOWN_GRACE_S = 5.0


class MeetingHandle:
    """A running simulated stream: its ids, what Zoom announced, and its report once it ended."""

    def __init__(self, stream: Stream, task: asyncio.Task[MeetingReport]) -> None:
        self._stream = stream
        self._task = task

    @property
    def rtms_stream_id(self) -> str:
        return self._stream.ids.rtms_stream_id

    @property
    def instance_id(self) -> str:
        return self._stream.ids.instance_id

    @property
    def product(self) -> Product:
        return self._stream.ids.product

    @property
    def id_key(self) -> str:
        return self._stream.ids.id_key

    @property
    def server_urls(self) -> str:
        """The signaling URL currently announced (changes on failover)."""
        return self._stream.server_urls

    @property
    def started_payload(self) -> dict[str, Any]:
        """The payload of the latest `*.rtms_started` (what a client joins with)."""
        return self._stream.started_payload()

    @property
    def done(self) -> bool:
        return self._task.done()

    @property
    def report(self) -> MeetingReport | None:
        return self._stream.report

    def stop(self, reason: int = StopReason.HOST_TRIGGERED) -> None:
        """End the stream now, as Zoom would with this stop reason (msg 8 state 4, then `*.rtms_stopped`)."""
        self._stream.request_end(reason)

    async def wait(self, timeout: float | None = None) -> MeetingReport:  # noqa: ASYNC109 - the public API
        """The report once the stream ended and its webhooks were delivered (or given up); TimeoutError after
        `timeout` seconds, leaving the stream running."""
        return await asyncio.wait_for(asyncio.shield(self._task), timeout)


class Simulator:
    def __init__(self, config: SimulatorConfig, *, http_client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._own_http = http_client is None
        self._http = http_client
        self._pairs: list[ServerPair] = []
        self._streams: dict[str, Stream] = {}
        self._handles: list[MeetingHandle] = []
        self._running = False
        self._webhooks: WebhookSender | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------
    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self._running:
            return
        if self._http is None:
            # Loopback webhooks must not go through a proxy from the environment.
            self._http = httpx.AsyncClient(trust_env=False)
        self._webhooks = WebhookSender(
            self._http,
            url=self.config.webhook_url,
            extra_urls=self.config.extra_webhook_urls,
            secret_token=self.config.webhook_secret.get_secret_value(),
            client_id=self.config.client_id,
            timeout_s=self.config.webhook_timeout_s,
            retry_schedule_s=self.config.webhook_retry_schedule_s,
            validate_first=self.config.validate_url_first,
        )
        try:
            primary = ServerPair(0, self, self.config)
            await primary.start(self.config.port_signaling, self.config.port_media)
            self._pairs.append(primary)
            failover = ServerPair(1, self, self.config)
            await failover.start()
            self._pairs.append(failover)
        except BaseException:
            await self._close_servers()
            raise
        self._running = True

    async def close(self) -> None:
        """End every running stream (stop reason 17, exit signal), then stop the servers."""
        was_running, self._running = self._running, False
        pending = [h for h in self._handles if not h.done]
        for handle in pending:
            handle.stop(StopReason.EXIT_SIGNAL)
        for handle in pending:
            try:
                await handle.wait(SHUTDOWN_GRACE_S + self.config.webhook_timeout_s)
            except (TimeoutError, asyncio.CancelledError):
                handle._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await handle._task
        if was_running or self._pairs:
            await self._close_servers()
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _close_servers(self) -> None:
        for pair in self._pairs:
            await pair.close()
        self._pairs.clear()

    # -- what the servers and streams ask -------------------------------------------------------------------------
    @property
    def webhooks(self) -> WebhookSender:
        if self._webhooks is None:
            raise SimulatorNotRunning("the simulator is not started")
        return self._webhooks

    def pair(self, index: int) -> ServerPair:
        return self._pairs[index]

    def lookup(self, pair_index: int, rtms_stream_id: str) -> StreamGrant | None:
        stream = self._streams.get(rtms_stream_id)
        return None if stream is None else stream.grant(pair_index)

    def owner(self, rtms_stream_id: str) -> Stream | None:
        return self._streams.get(rtms_stream_id)

    def moved_away(self, pair_index: int, rtms_stream_id: str) -> bool:
        stream = self._streams.get(rtms_stream_id)
        return stream is not None and not stream.ended and stream.pair_index != pair_index

    @property
    def signaling_url(self) -> str:
        """The primary signaling URL (what `server_urls` says before any failover)."""
        return self.pair(0).signaling_url

    @property
    def failover_signaling_url(self) -> str:
        return self.pair(1).signaling_url

    @property
    def handles(self) -> list[MeetingHandle]:
        return list(self._handles)

    # -- meetings ---------------------------------------------------------------------------------------------------
    async def start_meeting(self, spec: MeetingSpec) -> MeetingHandle:
        """Validate the webhook URLs (once), then start the stream: `*.rtms_started` goes out and the replay waits for
        the app. Raises `UrlValidationFailed` when an endpoint answers the challenge wrongly."""
        if not self._running:
            raise SimulatorNotRunning("start the simulator (async with Simulator(...)) before starting meetings")
        await self.webhooks.ensure_validated()
        ids = StreamIds.new(spec.product, spec.instance_id, spec.rtms_stream_id)
        existing = self._streams.get(ids.rtms_stream_id)
        if existing is not None and not existing.ended:
            raise ValueError(f"rtms_stream_id {ids.rtms_stream_id} is already streaming")
        stream = Stream(spec, ids, self)
        self._streams[ids.rtms_stream_id] = stream
        task = asyncio.create_task(stream.run(), name=f"stream-{ids.rtms_stream_id[:8]}")
        handle = MeetingHandle(stream, task)
        self._handles.append(handle)
        log.info(
            "meeting started",
            extra={
                "stream": ids.rtms_stream_id,
                "product": ids.product.value,
                "lines": len(stream.lines),
                "chaos": [str(c) for c in spec.chaos],
            },
        )
        return handle

    async def start_meetings(self, specs: Iterable[MeetingSpec]) -> list[MeetingHandle]:
        return [await self.start_meeting(spec) for spec in specs]

    async def run_meetings(
        self,
        specs: Iterable[MeetingSpec],
        timeout: float | None = None,  # noqa: ASYNC109 - as MeetingHandle.wait
    ) -> list[MeetingReport]:
        """Start every meeting at once and wait for all their reports."""
        handles = await self.start_meetings(specs)
        async with asyncio.timeout(timeout):
            return list(await asyncio.gather(*(h.wait() for h in handles)))
