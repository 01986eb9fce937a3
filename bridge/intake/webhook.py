"""The Zoom event-notification endpoint: `POST {webhook_path}`.

Order of checks, cheapest and safest first: body size (413) and read time (408), `x-zm-signature` over the raw
bytes with the timestamp window (401: missing, stale or wrong, nothing started), exact replay of a signed request
(409), JSON and payload shape (400; integers beyond 64 bits included), event known (unknown: 200, logged and
ignored). The URL-validation challenge is answered only
when signed: answering unsigned ones would hand anyone an HMAC oracle under the webhook secret, which is exactly
what a forged `x-zm-signature` needs.

Zoom wants a 2xx within 3 s and re-delivers after 5, 20 and 60 minutes otherwise. The handler does no network work:
`StreamManager.handle` only starts or signals stream tasks. Re-deliveries are recognised by `x-zm-trackingid` or by
(event, stream, event_ts) and answered 200 without acting again.

With replicas a `Cluster` (`bridge.cluster.Coordinator`) takes the verified event instead of the manager: delivery
keys are remembered in Redis for every replica (a re-delivery may reach another one), and the event is recorded
there before the 200, so a replica that dies right after answering loses nothing Zoom told it.

`meeting.started` / `webinar.started` / `session.started` start nothing: they name the meeting (topic, host), which
goes to the store (shared by every replica; the write is idempotent, so a re-delivery is harmless). The answer waits
for the write up to `NAME_WRITE_WAIT_S`; a slower or failing store gets the write retried in the background (a few
times over ~10 s, then an error is logged) while Zoom has its 200 in time: a 503 would not bring the name sooner,
Zoom re-delivers only after 5 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect

from bridge.intake.manager import StreamManager
from bridge.intake.metrics import IntakeMetrics
from bridge.logs import get_logger
from bridge.rtms.errors import MalformedWebhook, MissingSignature, SignatureError, StaleTimestamp, UnknownWebhookEvent
from bridge.rtms.signatures import url_validation_response, verify_webhook_signature
from bridge.rtms.webhooks import InstanceStarted, RtmsStarted, UrlValidation, WebhookEvent, parse_webhook
from bridge.settings import BridgeSettings
from bridge.store import Store
from bridge.store.purge import Purger

log = get_logger(__name__)

_MAX_REMEMBERED = 100_000
NAME_WRITE_WAIT_S = 1.0
NAME_WRITE_RETRIES_S = (0.5, 1.0, 2.0, 4.0)


class Cluster(Protocol):
    async def first_delivery(self, keys: list[str], ttl_s: float) -> bool: ...

    async def forget_delivery(self, keys: list[str]) -> None: ...

    async def handle(self, event: WebhookEvent, body: bytes) -> str: ...


APP_DEAUTHORIZED = "app_deauthorized"


class AppDeauthorized(BaseModel):
    """Zoom's `app_deauthorized` payload: the app was uninstalled from `account_id` (by `user_id`); the account's
    data is to be deleted (Zoom allows ten days; `user_data_retention` "true" would allow keeping it: the bridge
    deletes it anyway). `signature` is for Zoom's Data Compliance call, which the bridge does not make."""

    model_config = ConfigDict(extra="allow", frozen=True)
    account_id: str = Field(min_length=1, max_length=200)
    user_id: str | None = None
    client_id: str | None = None
    deauthorization_time: str | None = None
    user_data_retention: str | bool | None = None


def parse_deauthorized(body: bytes) -> AppDeauthorized:
    """The verified body of an `app_deauthorized` event; `MalformedWebhook` names what is wrong."""
    try:
        envelope = json.loads(body)
        return AppDeauthorized.model_validate(envelope["payload"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        where = "payload"
        if isinstance(exc, ValidationError):
            where += "." + ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise MalformedWebhook("missing or invalid", field=where, event=APP_DEAUTHORIZED) from None


class SeenKeys:
    """Keys remembered until they expire (or, past `maxsize`, oldest first). Pure: time is passed in."""

    def __init__(self, maxsize: int = _MAX_REMEMBERED) -> None:
        self.maxsize = maxsize
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def seen(self, key: str, now: float) -> bool:
        expiry = self._expiry.get(key)
        return expiry is not None and expiry > now

    def add(self, key: str, now: float, ttl: float) -> None:
        self._expiry[key] = now + ttl
        self._expiry.move_to_end(key)
        while self._expiry:
            oldest_key, oldest_expiry = next(iter(self._expiry.items()))
            if oldest_expiry > now and len(self._expiry) <= self.maxsize:
                break
            del self._expiry[oldest_key]

    def __len__(self) -> int:
        return len(self._expiry)


def _event_key(event: WebhookEvent) -> str | None:
    """(event, stream, event_ts): the same event re-delivered. Without `event_ts` there is no telling."""
    if event.event_ts is None:
        return None
    stream_id = getattr(event, "rtms_stream_id", "")
    return f"evt:{event.event}:{stream_id}:{event.event_ts}"


def webhook_router(settings: BridgeSettings, manager: StreamManager, metrics: IntakeMetrics,
                   *, clock: Callable[[], float] = time.time, cluster: Callable[[], Cluster | None] = lambda: None,
                   store: Callable[[], Store | None] = lambda: None,
                   purger: Callable[[], Purger | None] = lambda: None) -> APIRouter:
    """`cluster()` returns the replica's coordinator while one runs (replicas), else None; `store()` the store
    while the app runs (where meeting names go); `purger()` the app's purger while it runs (`app_deauthorized`,
    and each stream's account from `*.rtms_started`)."""
    router = APIRouter()
    secret = settings.zoom_webhook_secret_token.get_secret_value()
    cap = settings.max_body_bytes
    window = settings.signature_window_s
    body_timeout = settings.body_timeout_s
    seen = SeenKeys()

    def outcome(label: str, status: int, body: dict[str, str]) -> JSONResponse:
        metrics.webhooks.labels(label).inc()
        return JSONResponse(body, status_code=status)

    @router.post(settings.webhook_path, include_in_schema=False)
    async def zoom_webhook(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > cap):
            return outcome("too_large", 413, {"error": f"body larger than {cap} bytes"})
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(body_timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > cap:
                        return outcome("too_large", 413, {"error": f"body larger than {cap} bytes"})
                    chunks.append(chunk)
        except ClientDisconnect:  # the sender gave up (Zoom waits 3 s); it will deliver again
            log.info("webhook sender disconnected before the body arrived")
            return outcome("disconnected", 400, {"error": "incomplete body"})
        except TimeoutError:
            log.warning("webhook body too slow", extra={"received_bytes": size, "timeout_s": body_timeout,
                                                        "client": request.client.host if request.client else None})
            response = outcome("body_timeout", 408, {"error": f"body not received within {body_timeout:g} s"})
            response.headers["Connection"] = "close"
            return response
        body = b"".join(chunks)

        now = clock()
        signature = request.headers.get("x-zm-signature")
        try:
            if not secret:
                raise MissingSignature("the bridge has no webhook secret configured")
            verify_webhook_signature(secret, timestamp=request.headers.get("x-zm-request-timestamp"),
                                     signature=signature, body=body, now_s=now, tolerance_s=window)
        except SignatureError as exc:
            label = ("unsigned" if isinstance(exc, MissingSignature)
                     else "stale" if isinstance(exc, StaleTimestamp) else "bad_signature")
            log.warning("webhook refused", extra={"outcome": label, "error": str(exc),
                                                  "client": request.client.host if request.client else None})
            return outcome(label, 401, {"error": f"invalid or missing signature: {exc}"})
        assert signature is not None
        replay_key = f"sig:{signature.strip()}"
        if seen.seen(replay_key, now):
            log.warning("replayed webhook refused", extra={"outcome": "replayed"})
            return outcome("replayed", 409, {"error": "this signed request was already received"})

        try:
            event = parse_webhook(body)
        except UnknownWebhookEvent as exc:
            if exc.event == APP_DEAUTHORIZED:
                return await deauthorized(body, replay_key, now)
            seen.add(replay_key, now, 2 * window)
            log.info("unknown webhook event ignored", extra={"webhook_event": exc.event})
            return outcome("unknown_event", 200, {"status": "ignored"})
        except MalformedWebhook as exc:
            log.warning("malformed webhook", extra={"error": str(exc)})
            return outcome("malformed", 400, {"error": str(exc)})

        if isinstance(event, UrlValidation):
            seen.add(replay_key, now, 2 * window)
            metrics.webhooks.labels("url_validation").inc()
            return JSONResponse(url_validation_response(secret, event.plain_token))

        if isinstance(event, InstanceStarted):
            return await named(event, replay_key, now)

        if isinstance(event, RtmsStarted):
            await remember_account(event)
        tracking = request.headers.get("x-zm-trackingid")
        keys = [key for key in (_event_key(event), f"trk:{tracking}" if tracking else None) if key]
        coordinator = cluster()
        if coordinator is not None:
            return await _clustered(coordinator, event, body, keys, replay_key, now)
        if any(seen.seen(key, now) for key in keys):
            return duplicate(event, replay_key, now)

        result = manager.handle(event)
        if result == "not_accepting":
            # Shutting down: let Zoom re-deliver (to this bridge once restarted, or to another one).
            return outcome(result, 503, {"error": "shutting down"})
        for key in keys:
            seen.add(key, now, settings.webhook_dedupe_ttl_s)
        return acted(event, result, replay_key, now)

    writes: set[asyncio.Task[None]] = set()

    async def write_name(target: Store, event: InstanceStarted) -> None:
        for attempt, pause in enumerate((0.0, *NAME_WRITE_RETRIES_S)):
            await asyncio.sleep(pause)
            try:
                await target.save_meeting_name(event.instance_id, product=event.product.value, topic=event.topic,
                                               host_id=event.host_id, numeric_id=event.numeric_id,
                                               start_time_ms=event.start_time_ms)
                return
            except Exception as exc:  # the store is down or busy: try again, then say so
                error = str(exc) or type(exc).__name__
                if attempt == len(NAME_WRITE_RETRIES_S):
                    log.error("meeting name not stored", extra={"webhook_event": event.event, "error": error})
                else:
                    log.warning("meeting name not stored yet", extra={"webhook_event": event.event, "error": error})

    async def named(event: InstanceStarted, replay_key: str, now: float) -> JSONResponse:
        target = store()
        if target is None:
            return outcome("not_accepting", 503, {"error": "starting or shutting down"})
        task = asyncio.create_task(write_name(target, event), name="webhook-meeting-name")
        writes.add(task)
        task.add_done_callback(writes.discard)
        with contextlib.suppress(TimeoutError):  # Zoom wants its answer within 3 s: the write goes on meanwhile
            await asyncio.wait_for(asyncio.shield(task), NAME_WRITE_WAIT_S)
        seen.add(replay_key, now, 2 * window)
        log.info("webhook", extra={"webhook_event": event.event, "outcome": "named",
                                   "has_topic": event.topic is not None})
        return outcome("named", 200, {"status": "named"})

    async def remember_account(event: RtmsStarted) -> None:
        """The stream's account, for a later `app_deauthorized`. A store failure does not refuse the stream: it is
        logged and counted (that stream would then be missed by an account purge, not by a revoke)."""
        account_id = event.payload.get("account_id")
        keeper = purger()
        if keeper is None or not isinstance(account_id, str) or not account_id:
            return
        try:
            await keeper.remember_account(event.rtms_stream_id, account_id)
        except Exception:
            metrics.webhooks.labels("account_not_stored").inc()
            log.exception("stream's account not stored", extra={"stream_id": event.rtms_stream_id})

    async def deauthorized(body: bytes, replay_key: str, now: float) -> JSONResponse:
        """Record the account purge before answering: once Zoom has its 200 nothing re-sends it. A store that
        cannot record it gets a 503, and Zoom delivers again."""
        try:
            event = parse_deauthorized(body)
        except MalformedWebhook as exc:
            log.warning("malformed webhook", extra={"error": str(exc)})
            return outcome("malformed", 400, {"error": str(exc)})
        keeper = purger()
        if keeper is None:
            return outcome("not_accepting", 503, {"error": "starting or shutting down"})
        try:
            await keeper.deauthorize(event.account_id)
        except Exception:
            log.exception("account purge not recorded", extra={"account_id": event.account_id})
            return outcome("store_unavailable", 503, {"error": "could not record the purge, retry later"})
        seen.add(replay_key, now, 2 * window)
        log.info("webhook", extra={"event": APP_DEAUTHORIZED, "outcome": "deauthorized",
                                   "account_id": event.account_id})
        return outcome("deauthorized", 200, {"status": "deauthorized"})

    def duplicate(event: WebhookEvent, replay_key: str, now: float) -> JSONResponse:
        seen.add(replay_key, now, 2 * window)
        log.info("re-delivered webhook ignored", extra={"webhook_event": event.event, "outcome": "duplicate"})
        return outcome("duplicate", 200, {"status": "duplicate"})

    def acted(event: WebhookEvent, result: str, replay_key: str, now: float) -> JSONResponse:
        seen.add(replay_key, now, 2 * window)
        log.info("webhook", extra={"webhook_event": event.event, "outcome": result,
                                   "stream_id": getattr(event, "rtms_stream_id", None)})
        return outcome(result, 200, {"status": result})

    async def _clustered(coordinator: Cluster, event: WebhookEvent, body: bytes, keys: list[str],
                         replay_key: str, now: float) -> Response:
        try:
            if not await coordinator.first_delivery(keys, settings.webhook_dedupe_ttl_s):
                return duplicate(event, replay_key, now)
            try:
                result = await coordinator.handle(event, body)
            except BaseException:
                await coordinator.forget_delivery(keys)  # not acted on: let Zoom's retry act on it
                raise
            if result == "not_accepting":  # shutting down: let Zoom re-deliver it (to the next process)
                await coordinator.forget_delivery(keys)
                return outcome(result, 503, {"error": "shutting down"})
        except (RedisError, OSError) as exc:
            log.error("webhook not taken: Redis unavailable", extra={"webhook_event": event.event, "error": str(exc)})
            return outcome("redis_unavailable", 503, {"error": "coordination store unavailable, retry later"})
        return acted(event, result, replay_key, now)

    return router
