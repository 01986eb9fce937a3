"""Zoom's webhook delivery: signed compact JSON, the URL-validation challenge first, 3 s to answer, retries.

Zoom signs `v0:{x-zm-request-timestamp in seconds}:{raw body}` with the webhook secret token and retries an event
that got no 2xx within 3 s after 5, 20 and 60 minutes (rtms-protocol.md 3.1); the schedule and the timeout are
settings so tests can compress them. A retry repeats the body and the tracking id; only the signing timestamp is
new, since receivers refuse timestamps older than 5 minutes.
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
from bridge.rtms.signatures import url_validation_token, webhook_signature
from bridge.rtms.webhooks import URL_VALIDATION, encode_webhook
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


class WebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        secret_token: str,
        client_id: str,
        timeout_s: float = 3.0,
        retry_schedule_s: Sequence[float] = (300.0, 1200.0, 3600.0),
        validate_first: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.url = url
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
        """Run the URL-validation challenge once (if configured); raise `UrlValidationFailed` on a wrong answer."""
        if not self._validate_first or self._validated:
            return
        async with self._validation_lock:
            if not self._validated:
                await self.validate()
                self._validated = True

    async def validate(self) -> None:
        plain = secrets.token_urlsafe(16)
        body = json.dumps(
            {"event": URL_VALIDATION, "payload": {"plainToken": plain}, "event_ts": int(self._clock() * 1000)},
            separators=(",", ":"),
        ).encode()
        delivery = Delivery(event=URL_VALIDATION, body=body, tracking_id=new_tracking_id())
        try:
            response = await self._post(delivery)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise UrlValidationFailed(
                self.url, f"no answer within {self.timeout_s:g} s ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise UrlValidationFailed(self.url, f"HTTP {response.status_code}, expected 200")
        try:
            answer = response.json()
        except ValueError:
            raise UrlValidationFailed(self.url, "the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise UrlValidationFailed(self.url, "the answer is not a JSON object")
        if answer.get("plainToken") != plain:
            raise UrlValidationFailed(self.url, "plainToken does not echo the challenge")
        if answer.get("encryptedToken") != url_validation_token(self._secret, plain):
            raise UrlValidationFailed(self.url, "encryptedToken is not HMAC-SHA256(secret token, plainToken)")
        log.info("webhook url validated", extra={"url": self.url})

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
            try:
                response = await self._post(delivery)
                status = response.status_code
            except (httpx.HTTPError, TimeoutError) as exc:
                status = None
                log.warning(
                    "webhook attempt failed",
                    extra={"webhook_event": delivery.event, "attempt": attempts, "error": type(exc).__name__},
                )
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

    async def _post(self, delivery: Delivery) -> httpx.Response:
        # The whole exchange must fit in the timeout, as Zoom counts it (httpx's timeouts are per phase).
        async with asyncio.timeout(self.timeout_s):
            return await self._client.post(self.url, content=delivery.body, headers=self.headers(delivery))
