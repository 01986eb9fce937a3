"""Zoom's webhook delivery: signed compact JSON, the URL-validation challenge first, 3 s to answer, retries.

Zoom signs `v0:{x-zm-request-timestamp in seconds}:{raw body}` with the webhook secret token and retries an event
that got no 2xx within 3 s after 5, 20 and 60 minutes (rtms-protocol.md 3.1); the schedule and the timeout are
settings so tests can compress them. A retry repeats the body and the tracking id; only the signing timestamp is
new, since receivers refuse timestamps older than 5 minutes.

Zoom posts to one URL. Extra URLs stand in for the account's load balancer in front of bridge replicas: each
attempt goes to the next URL in turn (round-robin), and a URL that takes no request (refused, reset or closed
before answering, no connection within the timeout) is passed over for the next one at once, each at most once
per attempt, as a load balancer with health checks would. Only when no URL took the request, or one answered
non-2xx or too late, does the attempt fail and Zoom's retry schedule apply. The URL-validation challenge goes to
every URL, since each replica must be able to answer it.

Before a stream's `*.rtms_started`, a meeting, webinar or Video SDK session whose transcript names a topic also
gets its `meeting.started` / `webinar.started` / `session.started` (`prepare_named`), the only webhook that tells
the bridge what the meeting is called.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.logs import get_logger
from bridge.rtms.enums import Product
from bridge.rtms.signatures import url_validation_token, webhook_signature
from bridge.rtms.webhooks import INSTANCE_STARTED, URL_VALIDATION, encode_webhook, instance_started_payload
from bridge.simulator.errors import UrlValidationFailed
from bridge.simulator.report import WebhookRecord

log = get_logger(__name__)

USER_AGENT = "Zoom Marketplace/1.0a"


@dataclass(frozen=True)
class Delivery:
    """One event as Zoom would post it: the exact bytes to sign and send, and its tracking id."""

    event: str
    body: bytes
    tracking_id: str


def new_tracking_id() -> str:
    return f"v=2.0;clid=sim;rid=WEB_{uuid.uuid4().hex}"


class _Unreachable(Exception):
    """The URL took no request: a load balancer would try the next one, so it does not count as an attempt."""


class _Progress:
    """How far one request got, from httpcore's trace: only a request that was sent can fail as an attempt."""

    def __init__(self) -> None:
        self.sent = False
        self.answered = False

    async def trace(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith(".send_request_headers.started"):
            self.sent = True
        elif name.endswith(".receive_response_headers.complete"):
            self.answered = True


class WebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        extra_urls: Sequence[str] = (),
        secret_token: str,
        client_id: str,
        timeout_s: float = 3.0,
        retry_schedule_s: Sequence[float] = (300.0, 1200.0, 3600.0),
        validate_first: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.url = url
        self.urls = (url, *extra_urls)
        self._turn = 0
        self._secret = secret_token
        self._client_id = client_id
        self.timeout_s = timeout_s
        self.retry_schedule_s = tuple(retry_schedule_s)
        self._validate_first = validate_first
        self._clock = clock
        self._validated = False
        self._validation_lock = asyncio.Lock()

    def prepare(self, event: str, payload: dict[str, Any]) -> Delivery:
        body = encode_webhook(event, payload, int(self._clock() * 1000))
        return Delivery(event=event, body=body, tracking_id=new_tracking_id())

    def prepare_named(self, product: Product, instance_id: str, *, topic: str | None, host_id: str,
                      numeric_id: int, account_id: str) -> Delivery | None:
        """`{product}.started` naming the instance, or None (no topic known, or a product without that event)."""
        event = f"{product.value}.started"
        if not topic or event not in INSTANCE_STARTED:
            return None
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._clock()))
        payload = instance_started_payload(product, instance_id, topic=topic, host_id=host_id,
                                           numeric_id=numeric_id, account_id=account_id, start_time=start)
        return self.prepare(event, payload)

    def headers(self, delivery: Delivery) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        return {
            "content-type": "application/json; charset=utf-8",
            "user-agent": USER_AGENT,
            "clientid": self._client_id,
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": webhook_signature(self._secret, timestamp, delivery.body),
            "x-zm-trackingid": delivery.tracking_id,
        }

    async def ensure_validated(self) -> None:
        """Run the URL-validation challenge once per URL (if configured); raise `UrlValidationFailed` on the first
        URL that answers wrongly or not at all."""
        if not self._validate_first or self._validated:
            return
        async with self._validation_lock:
            if not self._validated:
                for url in self.urls:
                    await self.validate(url)
                self._validated = True

    async def validate(self, url: str | None = None) -> None:
        """Challenge one URL (default: the main one)."""
        url = self.url if url is None else url
        plain = secrets.token_urlsafe(16)
        body = json.dumps(
            {"event": URL_VALIDATION, "payload": {"plainToken": plain}, "event_ts": int(self._clock() * 1000)},
            separators=(",", ":"),
        ).encode()
        delivery = Delivery(event=URL_VALIDATION, body=body, tracking_id=new_tracking_id())
        try:
            response = await self._post(url, delivery)
        except _Unreachable as exc:
            raise UrlValidationFailed(url, f"unreachable ({exc})") from None
        except (httpx.HTTPError, TimeoutError) as exc:
            raise UrlValidationFailed(url, f"no answer within {self.timeout_s:g} s ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise UrlValidationFailed(url, f"HTTP {response.status_code}, expected 200")
        try:
            answer = response.json()
        except ValueError:
            raise UrlValidationFailed(url, "the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise UrlValidationFailed(url, "the answer is not a JSON object")
        if answer.get("plainToken") != plain:
            raise UrlValidationFailed(url, "plainToken does not echo the challenge")
        if answer.get("encryptedToken") != url_validation_token(self._secret, plain):
            raise UrlValidationFailed(url, "encryptedToken is not HMAC-SHA256(secret token, plainToken)")
        log.info("webhook url validated", extra={"url": url})

    async def deliver(self, delivery: Delivery, *, delay_s: float = 0.0) -> WebhookRecord:
        """Post until a 2xx arrives or the retry schedule is used up; return what happened."""
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        status: int | None = None
        attempts = 0
        for attempt, wait_s in enumerate((0.0, *self.retry_schedule_s)):
            if attempt:
                await asyncio.sleep(wait_s)
            attempts += 1
            status = await self._attempt(delivery, attempts)
            if status is not None and 200 <= status < 300:
                break
            if status is not None:
                log.warning(
                    "webhook refused", extra={"webhook_event": delivery.event, "attempt": attempts, "status": status}
                )
        record = WebhookRecord(delivery.event, status, attempts)
        log.info(
            "webhook delivered" if record.delivered else "webhook given up",
            extra={"webhook_event": delivery.event, "status": status, "attempts": attempts},
        )
        return record

    async def _attempt(self, delivery: Delivery, attempt: int) -> int | None:
        """One attempt through the load balancer: the URL whose turn it is, then the others while none takes the
        request. The status of the one that took it, or None (nobody took it, or no answer in time)."""
        first = self._turn % len(self.urls)
        self._turn += 1
        for offset in range(len(self.urls)):
            url = self.urls[(first + offset) % len(self.urls)]
            try:
                response = await self._post(url, delivery)
            except _Unreachable as exc:
                log.warning(
                    "webhook url unreachable",
                    extra={"webhook_event": delivery.event, "attempt": attempt, "url": url, "error": str(exc)},
                )
                continue
            except (httpx.HTTPError, TimeoutError) as exc:
                error = type(exc).__name__
                log.warning(
                    "webhook attempt failed",
                    extra={"webhook_event": delivery.event, "attempt": attempt, "url": url, "error": error},
                )
                return None
            return response.status_code
        return None

    async def _post(self, url: str, delivery: Delivery) -> httpx.Response:
        """Post once; `_Unreachable` when the request never reached a server that could answer it."""
        progress = _Progress()
        try:
            # The whole exchange must fit in the timeout, as Zoom counts it (httpx's timeouts are per phase).
            async with asyncio.timeout(self.timeout_s):
                return await self._client.post(
                    url, content=delivery.body, headers=self.headers(delivery), extensions={"trace": progress.trace}
                )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Unreachable(type(exc).__name__) from exc
        except httpx.TimeoutException:
            raise  # a read, write or pool timeout: the request was under way
        except httpx.TransportError as exc:
            if progress.answered:
                raise
            raise _Unreachable(type(exc).__name__) from exc  # reset or closed before any answer
        except TimeoutError as exc:
            if progress.sent:
                raise
            raise _Unreachable(type(exc).__name__) from exc  # still connecting when the time was up
