"""One replica's part in sharing the streams: webhooks routed to a stream's holder, leases held and renewed,
streams taken over from replicas that died, handed over when this one drains.

Any replica may receive any webhook. A new stream is recorded in the registry (Redis) before Zoom gets its 200,
then placed on the least-loaded live, non-draining replica (ties broken by rendezvous rank); the chosen replica
acquires the stream's lease (Redis, with a fencing token) and only then dials it. Webhooks for a held stream go to
its holder through its inbox (pub/sub); the registry keeps what they changed (new `server_urls`, `stopping`), so a
message lost with a dead replica is not a change lost.

Every replica renews its leases every third of the TTL and sweeps the registry every `cluster_sweep_s` for streams
nobody holds (their holder died, was cut off, or handed them over). The best-placed live replica takes such a stream
at once, the others after a grace period in case it cannot. Taking over means: a new lease token, the store's fence
raised to it (`Pipeline.adopt`: writes under older tokens are refused from then on), the windows the previous
holder left unfinished sent again, and the stream dialled from its stored `server_urls` within Zoom's reconnect
window (`bridge.cluster.resume`, the same path a single bridge takes after a restart); Zoom sends what was said
meanwhile, and lines sent twice are stored once (`line_key`).

A replica that cannot renew a lease (another replica holds it, or Redis was out of reach for most of a TTL, or the
process was paused) stands down: it closes that stream's sockets and writes nothing more for it. Draining (SIGTERM)
marks the replica as draining, then hands every stream over: sockets closed, waiting lines stored as windows, sends
given time to finish, lease released and the stream announced as orphaned so another replica dials it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bridge.cluster.leases import Lease, Leases
from bridge.cluster.live import LiveRelay
from bridge.cluster.placement import pick, rank
from bridge.cluster.registry import Envelope, Registry, ReplicaInfo, StreamRecord, now_ms
from bridge.cluster.resume import take_stream
from bridge.intake.events import MeetingEnded
from bridge.intake.manager import StreamManager
from bridge.intake.metrics import IntakeMetrics
from bridge.intake.stream import RtmsStream, StreamSpec
from bridge.logs import get_logger
from bridge.pipeline.bus import EventBus
from bridge.pipeline.consumer import Pipeline
from bridge.rtms.enums import StopReason
from bridge.rtms.errors import MalformedWebhook, UnknownWebhookEvent
from bridge.rtms.webhooks import RtmsInterrupted, RtmsStarted, RtmsStopped, WebhookEvent, parse_webhook
from bridge.settings import BridgeSettings
from bridge.store import Fenced

log = get_logger(__name__)

MAX_HOPS = 2
FINISH_LIMIT_S = 900.0  # an ended meeting's last windows: how long its holder waits before letting go anyway


def default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class Held:
    lease: Lease
    adopted_at_ms: int
    finishing: bool = False  # its sockets are closed; its last windows are being sent


class ClusterMetrics:
    def __init__(self, metrics: IntakeMetrics) -> None:
        r = metrics.registry
        self.held = Gauge("rtms_cluster_streams_held", "Stream leases this replica holds.", registry=r)
        self.takeovers = Counter("rtms_cluster_takeovers", "Streams taken over from another replica.", registry=r)
        self.claims = Counter("rtms_cluster_claims", "Stream leases acquired (new streams and takeovers).",
                              registry=r)
        self.lost = Counter("rtms_cluster_leases_lost", "Leases this replica could not renew (stood down).",
                            registry=r)
        self.handed_over = Counter("rtms_cluster_handed_over", "Streams handed over while draining.", registry=r)
        self.forwarded = Counter("rtms_cluster_forwarded", "Webhooks forwarded to a stream's holder.", registry=r)


class Coordinator:
    def __init__(self, settings: BridgeSettings, manager: StreamManager, pipeline: Pipeline | None, redis: Redis,
                 metrics: IntakeMetrics, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.manager = manager
        self.pipeline = pipeline
        self.redis = redis
        self.replica = settings.replica_id or default_replica_id()
        self.ttl_s = settings.lease_ttl_s
        self.sweep_s = settings.cluster_sweep_s
        self.grace_s = max(3 * self.sweep_s, 2.0)
        self.leases = Leases(redis, prefix=settings.redis_prefix, replica=self.replica, ttl_s=self.ttl_s)
        self.registry = Registry(redis, prefix=settings.redis_prefix)
        self.metrics = ClusterMetrics(metrics)
        self.held: dict[str, Held] = {}
        self.metrics.held.set_function(lambda: len(self.held))
        self.draining = False
        self._claiming: set[str] = set()
        self._orphan_since: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._last_renewed = time.monotonic()
        self._pubsub: Any = None
        self.live = LiveRelay(redis, bus, prefix=settings.redis_prefix, replica=self.replica) if bus else None
        manager.on_end(self._stream_ended)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(self.registry.inbox(self.replica), self.registry.orphans_channel)
        await self._beat()
        if self.live is not None:
            await self.live.start()
        self._last_renewed = time.monotonic()
        self._loops = [asyncio.create_task(self._listen(), name="cluster-listen"),
                       asyncio.create_task(self._renew_loop(), name="cluster-renew"),
                       asyncio.create_task(self._sweep_loop(), name="cluster-sweep")]
        log.info("replica joined", extra={"replica": self.replica, "lease_ttl_s": self.ttl_s})

    async def drain(self, limit_s: float | None = None) -> int:
        """Hand every held stream to the other replicas. Returns how many were handed over."""
        self.draining = True
        limit = self.settings.shutdown_timeout_s if limit_s is None else limit_s
        with contextlib.suppress(RedisError):
            await self._beat()
        slots = asyncio.Semaphore(32)

        async def hand_over(stream_id: str) -> None:
            async with slots:
                await self._hand_over(stream_id, limit)

        handed = list(self.held)
        await asyncio.gather(*(hand_over(s) for s in handed), return_exceptions=True)
        log.info("replica drained", extra={"replica": self.replica, "streams": len(handed)})
        return len(handed)

    async def close(self) -> None:
        for task in self._loops:
            task.cancel()
        tasks = [*self._loops, *self._tasks]
        for task in self._tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        if self.live is not None:
            await self.live.close()
        with contextlib.suppress(RedisError, OSError):
            if self._pubsub is not None:
                await self._pubsub.aclose()
            await self.registry.leave(self.replica)
        await self.redis.aclose()

    # -- webhooks ------------------------------------------------------------------------------------------------

    async def first_delivery(self, keys: list[str], ttl_s: float) -> bool:
        """False when another replica (or this one) already took a delivery with one of these keys."""
        return await self.registry.mark_seen(keys, ttl_s)

    async def forget_delivery(self, keys: list[str]) -> None:
        await self.registry.forget_seen(keys)

    async def handle(self, event: WebhookEvent, body: bytes) -> str:
        """Act on a verified webhook: record it, then start, route or ignore. Returns the outcome label."""
        if isinstance(event, RtmsStarted):
            return await self._started(event, body)
        if isinstance(event, RtmsStopped):
            return await self._stopped(event, body)
        if isinstance(event, RtmsInterrupted):
            return await self._to_holder(event.rtms_stream_id, event, body, "interrupted")
        return self.manager.handle(event)

    async def _started(self, event: RtmsStarted, body: bytes) -> str:
        stream_id = event.rtms_stream_id
        urls = tuple(event.urls)
        if not self.manager.allowed(urls, stream_id):
            return "refused_url"
        record = StreamRecord(stream_id=stream_id, product=event.product, instance_id=event.instance_id,
                              server_urls=urls, id_key=event.id_key)
        existing = await self.registry.get(stream_id)
        if existing is None:
            if await self.registry.create(record):
                await self._keep_join_spec(record)
                await self._place(stream_id)
                return "started"
            existing = await self.registry.get(stream_id)
            if existing is None:
                log.info("rtms_started for a stream that already ended ignored", extra={"stream_id": stream_id})
                return "ended_stream"
        if existing.state != "live":
            return "ended_stream"
        if existing.server_urls == urls:
            return "duplicate_started"
        if not await self.registry.update(existing.model_copy(update={"server_urls": urls, "updated_ms": now_ms()}),
                                          when=("live",)):
            return "ended_stream"
        await self._keep_join_spec(record)
        return await self._to_holder(stream_id, event, body, "failover")

    async def _keep_join_spec(self, record: StreamRecord) -> None:
        """The store keeps the join spec too (Redis is the replicas' record), so a deployment that goes back to
        one process resumes these streams as well. A failure is logged and counted, not fatal here."""
        if self.pipeline is None:
            return
        try:
            await self.pipeline.store.save_join_spec(record.stream_id, instance_id=record.instance_id,
                                                     product=record.product.value, server_urls=record.server_urls,
                                                     id_key=record.id_key)
        except Exception:
            self.manager.metrics.store_errors.labels("join_spec").inc()
            log.exception("join spec not stored (the registry has it)", extra={"stream_id": record.stream_id})

    async def _stopped(self, event: RtmsStopped, body: bytes) -> str:
        stream_id = event.rtms_stream_id
        record = await self.registry.get(stream_id)
        if record is None:  # not live anywhere: a late stop, or a revoke of a finished meeting
            return self.manager.handle(event)
        if record.state == "live":
            await self.registry.update(record.model_copy(update={
                "state": "stopping", "stop_reason": event.stop_reason, "updated_ms": now_ms()}), when=("live",))
        elif event.stop_reason == StopReason.STREAM_REVOKED and record.stop_reason != event.stop_reason:
            await self.registry.update(record.model_copy(update={"stop_reason": event.stop_reason}),
                                       when=("stopping", "ended"))
        return await self._to_holder(stream_id, event, body, "stopped")

    async def _to_holder(self, stream_id: str, event: WebhookEvent, body: bytes, label: str, hops: int = 0) -> str:
        """Deliver a stream's webhook to the replica holding it (here or through its inbox). With no holder the
        registry already says what changed, and whoever takes the stream next acts on it."""
        if stream_id in self.held:
            return self._local(event)
        holder = (await self.leases.holders([stream_id]))[stream_id]
        if holder is None:
            if isinstance(event, RtmsStopped):
                await self.registry.announce_orphan(stream_id)
            return f"{label}_unheld"
        if holder[0] == self.replica:  # a claim in progress here
            return self._local(event)
        received = await self.registry.send(holder[0], Envelope(
            type="webhook", stream_id=stream_id, body=body.decode("utf-8"), hops=hops + 1))
        self.metrics.forwarded.inc()
        if not received:
            log.warning("holder not listening; its lease will lapse", extra={"stream_id": stream_id,
                                                                              "holder": holder[0]})
        return f"{label}_forwarded"

    def _local(self, event: WebhookEvent) -> str:
        held = self.held.get(getattr(event, "rtms_stream_id", ""))
        if (isinstance(event, RtmsInterrupted) and held is not None and event.event_ts is not None
                and event.event_ts < held.adopted_at_ms):
            return "stale_interrupted"  # about the previous holder's connection, before this one dialled
        result = self.manager.handle(event)
        if isinstance(event, RtmsStopped) and result != "stopped" and held is not None and not held.finishing:
            self._spawn(self._finish_unconnected(event.rtms_stream_id))  # held but not dialled: end it here
        return result

    # -- placement and claims -------------------------------------------------------------------------------------

    async def _live_replicas(self) -> list[str]:
        replicas = [r.replica for r in await self.registry.replicas() if not r.draining]
        if not self.draining and self.replica not in replicas:
            replicas.append(self.replica)
        return replicas

    async def _place(self, stream_id: str) -> None:
        target = await self.registry.place(rank(stream_id, await self._live_replicas()))
        if target is None or target == self.replica:
            self._spawn(self._claim(stream_id))
            return
        if not await self.registry.send(target, Envelope(type="claim", stream_id=stream_id)):
            log.warning("chosen replica not listening; claiming here", extra={"stream_id": stream_id,
                                                                               "replica": target})
            self._spawn(self._claim(stream_id))

    async def _claim(self, stream_id: str) -> None:
        if stream_id in self.held or stream_id in self._claiming or self.draining:
            return
        self._claiming.add(stream_id)
        try:
            record = await self.registry.get(stream_id)
            if record is None:
                return
            lease = await self.leases.acquire(stream_id)
            if lease is None:
                return
            self.held[stream_id] = Held(lease, now_ms())
            self._orphan_since.pop(stream_id, None)
            self.metrics.claims.inc()
            takeover = lease.token > 1
            spec = StreamSpec(record.product, record.instance_id, stream_id, record.server_urls, record.id_key)
            try:
                result = await take_stream(self.manager, self.pipeline, spec, lease.token,
                                           dial=record.state == "live", resumed=takeover)
            except Fenced:
                log.warning("a newer holder is recorded in the store; letting go", extra={"stream_id": stream_id})
                await self._let_go(stream_id)
                return
            if takeover:
                self.metrics.takeovers.inc()
            log.info("stream claimed", extra={"stream_id": stream_id, "replica": self.replica, "token": lease.token,
                                              "takeover": takeover, "state": record.state})
            if result == "refused_url":
                await self.registry.update(record.model_copy(update={"state": "ended"}), when=("live",))
                self._spawn(self._finish(stream_id))
            elif result == "not_dialled":
                self._spawn(self._finish_unconnected(stream_id))
            elif result not in ("adopted", "already_held"):
                await self._let_go(stream_id)
        except Exception:
            log.exception("claim failed", extra={"stream_id": stream_id})
            if stream_id in self.held:
                await self._let_go(stream_id)
        finally:
            self._claiming.discard(stream_id)

    async def _let_go(self, stream_id: str) -> None:
        held = self.held.pop(stream_id, None)
        if held is not None:
            with contextlib.suppress(RedisError):
                await self.leases.release(held.lease)

    # -- ends -----------------------------------------------------------------------------------------------------

    def _stream_ended(self, stream: RtmsStream) -> None:
        """The manager's end hook: a stream this replica held has ended (not handed over)."""
        if stream.ended is None or stream.ended.cause == "handoff" or stream.stream_id not in self.held:
            return
        self.held[stream.stream_id].finishing = True
        self._spawn(self._after_end(stream))

    async def _after_end(self, stream: RtmsStream) -> None:
        await stream.dispatcher.wait(self.settings.shutdown_timeout_s)  # the pipeline has seen the end
        record = await self.registry.get(stream.stream_id)
        if record is not None and record.state != "ended":
            await self.registry.update(record.model_copy(update={"state": "ended", "updated_ms": now_ms()}),
                                       when=("live", "stopping"))
        await self._finish(stream.stream_id)

    async def _finish_unconnected(self, stream_id: str) -> None:
        """A stream Zoom stopped while no replica held its sockets: end the meeting from the stored state."""
        record = await self.registry.get(stream_id)
        if record is None or stream_id in self.manager.streams:
            return
        if stream_id in self.held:
            self.held[stream_id].finishing = True
        if record.state == "stopping":
            if record.stop_reason == StopReason.STREAM_REVOKED:
                await self.manager.revoke_stored(stream_id)
            elif self.pipeline is not None:
                await self.pipeline.handle(MeetingEnded(
                    stream_id=stream_id, instance_id=record.instance_id, product=record.product, cause="stopped",
                    reason=record.stop_reason, detail="stopped while no replica held the stream"))
            await self.registry.update(record.model_copy(update={"state": "ended", "updated_ms": now_ms()}),
                                       when=("stopping",))
        await self._finish(stream_id)

    async def _finish(self, stream_id: str) -> None:
        """After the end: let the meeting's last windows finish, then forget the stream everywhere."""
        held = self.held.get(stream_id)
        if held is None:
            return
        if self.pipeline is not None:
            await self.pipeline.wait_stream(stream_id, FINISH_LIMIT_S)
        if self.held.get(stream_id) is not held:
            return  # handed over (with its unfinished windows) or stood down meanwhile
        if self.pipeline is not None:
            await self.pipeline.release(stream_id)
        await self.registry.remove(stream_id)
        await self._let_go(stream_id)
        log.info("stream finished", extra={"stream_id": stream_id})

    # -- standing down and handing over ----------------------------------------------------------------------------

    async def _stand_down(self, stream_id: str) -> None:
        """This replica no longer holds the lease: close the sockets, write nothing more for the stream."""
        held = self.held.pop(stream_id, None)
        if held is None:
            return
        self.metrics.lost.inc()
        log.warning("lease lost: standing down", extra={"stream_id": stream_id, "token": held.lease.token})
        stream = self.manager.streams.get(stream_id)
        if stream is not None:
            stream.stop("handoff")
        if self.pipeline is not None:
            await self.pipeline.release(stream_id, fenced=True)
        await self.manager.release(stream_id)

    async def _hand_over(self, stream_id: str, limit_s: float) -> None:
        held = self.held.get(stream_id)
        if held is None:
            return
        try:
            await self.manager.release(stream_id, limit_s)
            if self.pipeline is not None:
                await self.pipeline.release(stream_id, fenced=False, timeout_s=limit_s)
        finally:
            self.held.pop(stream_id, None)
            with contextlib.suppress(RedisError):
                await self.leases.release(held.lease)
                await self.registry.announce_orphan(stream_id)
            self.metrics.handed_over.inc()
            log.info("stream handed over", extra={"stream_id": stream_id})

    # -- loops ----------------------------------------------------------------------------------------------------

    async def _beat(self) -> None:
        await self.registry.heartbeat(ReplicaInfo(replica=self.replica, streams=len(self.held),
                                                  draining=self.draining), ttl_s=self.ttl_s)

    async def _renew_loop(self) -> None:
        interval = self.ttl_s / 3
        while True:
            await asyncio.sleep(interval)
            started = time.monotonic()
            if started - self._last_renewed > self.ttl_s * 0.8:
                # Paused or cut off for most of a TTL: another replica may already hold these streams.
                log.error("leases not renewed in time: standing down every stream",
                          extra={"replica": self.replica, "since_s": round(started - self._last_renewed, 1)})
                for stream_id in list(self.held):
                    self._spawn(self._stand_down(stream_id))
                self._last_renewed = started
                continue
            held = [(s, h) for s, h in self.held.items()]
            try:
                results = await asyncio.wait_for(self.leases.renew([h.lease for _, h in held]), interval)
                await asyncio.wait_for(self._beat(), interval)
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("lease renewal failed", extra={"replica": self.replica, "error": str(exc)})
                continue
            self._last_renewed = started
            for (stream_id, held_now), ok in zip(held, results, strict=True):
                if not ok and self.held.get(stream_id) is held_now:
                    self._spawn(self._stand_down(stream_id))

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            if self.draining:
                continue
            try:
                await self.sweep()
            except (RedisError, OSError) as exc:
                log.warning("sweep failed", extra={"replica": self.replica, "error": str(exc)})

    async def sweep(self) -> int:
        """Claim the streams nobody holds that this replica is best placed for (or that waited past the grace
        period). Returns how many claims were started."""
        stream_ids = await self.registry.stream_ids()
        holders = await self.leases.holders(stream_ids)
        live = await self._live_replicas()
        now = time.monotonic()
        started = 0
        for stream_id, holder in holders.items():
            if holder is not None:
                self._orphan_since.pop(stream_id, None)
                continue
            first = self._orphan_since.setdefault(stream_id, now)
            if pick(stream_id, live) == self.replica or now - first >= self.grace_s:
                self._spawn(self._claim(stream_id))
                started += 1
        for stream_id in [s for s in self._orphan_since if s not in holders]:
            del self._orphan_since[stream_id]
        return started

    async def _listen(self) -> None:
        inbox = self.registry.inbox(self.replica)
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (RedisError, OSError) as exc:
                log.warning("inbox read failed", extra={"replica": self.replica, "error": str(exc)})
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            channel, data = str(message["channel"]), str(message["data"])
            if channel == self.registry.orphans_channel:
                self._spawn(self._orphaned(data))
            elif channel == inbox:
                self._spawn(self._envelope(data))

    async def _orphaned(self, stream_id: str) -> None:
        if self.draining or stream_id in self.held:
            return
        if pick(stream_id, await self._live_replicas()) == self.replica:
            await self._claim(stream_id)

    async def _envelope(self, data: str) -> None:
        try:
            envelope = Envelope.model_validate_json(data)
        except ValueError as exc:
            log.warning("bad inbox message dropped", extra={"error": str(exc)[:200]})
            return
        if envelope.type == "claim":
            await self._claim(envelope.stream_id)
            return
        try:
            event = parse_webhook((envelope.body or "").encode("utf-8"))
        except (MalformedWebhook, UnknownWebhookEvent) as exc:
            log.warning("bad forwarded webhook dropped", extra={"stream_id": envelope.stream_id, "error": str(exc)})
            return
        if envelope.stream_id in self.held:
            self._local(event)
        elif envelope.hops < MAX_HOPS:
            await self._to_holder(envelope.stream_id, event, (envelope.body or "").encode("utf-8"), "rerouted",
                                  envelope.hops)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cluster task failed", exc_info=task.exception())
