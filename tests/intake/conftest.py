"""Shared helpers for the intake tests: settings, signed webhooks, an app with its lifespan running."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.intake.events import MeetingEvent
from bridge.rtms.signatures import webhook_signature
from bridge.rtms.webhooks import encode_webhook
from bridge.settings import BridgeSettings

WEBHOOK_SECRET = "whsecret"
CLIENT_ID = "cid"
CLIENT_SECRET = "csecret"


def make_settings(**overrides: Any) -> BridgeSettings:
    """Settings for tests: loopback allowed, fast backoff and short windows; no .env, no environment."""
    values: dict[str, Any] = {
        "zoom_webhook_secret_token": WEBHOOK_SECRET, "zoom_client_id": CLIENT_ID,
        "zoom_client_secret": CLIENT_SECRET, "allowed_hosts": ["127.0.0.1"], "allow_insecure_ws": True,
        "backoff_base_s": 0.05, "backoff_cap_s": 0.4, "signaling_reconnect_window_s": 5.0,
        "media_reconnect_window_s": 5.0, "watchdog_timeout_s": 5.0, "connect_timeout_s": 3.0,
        "drain_timeout_s": 0.5, "shutdown_timeout_s": 5.0,
        "database_url": "sqlite+aiosqlite://",  # the app always opens its store: in memory, not a file in the cwd
    }
    values.update(overrides)
    return BridgeSettings(_env_file=None, **values)


def signed(event: str, payload: dict[str, Any], *, event_ts: int | None = None, ts: int | None = None,
           secret: str = WEBHOOK_SECRET, tracking: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A webhook exactly as Zoom posts it: compact body, seconds timestamp, v0 signature, tracking id."""
    body = encode_webhook(event, payload, event_ts if event_ts is not None else int(time.time() * 1000))
    stamp = str(ts if ts is not None else int(time.time()))
    headers = {
        "content-type": "application/json; charset=utf-8",
        "x-zm-request-timestamp": stamp,
        "x-zm-signature": webhook_signature(secret, stamp, body),
        "x-zm-trackingid": tracking or f"v=2.0;rid={uuid.uuid4().hex}",
    }
    return body, headers


class Collector:
    """A consumer that keeps every event, for assertions."""

    def __init__(self) -> None:
        self.events: list[MeetingEvent] = []
        self.changed = asyncio.Event()

    async def handle(self, event: MeetingEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def of(self, stream_id: str, kind: str | None = None) -> list[MeetingEvent]:
        return [e for e in self.events if e.stream_id == stream_id and (kind is None or e.kind == kind)]


@pytest.fixture
async def collector() -> Collector:
    return Collector()


@pytest.fixture
async def bridge_app(collector: Collector) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with its lifespan running, reached in-process through httpx's ASGI transport."""
    app = create_app(make_settings(), collector)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            yield app, client
