"""The read side served for real: a Store on a SQLite file, an EventBus, the API and dashboard routers in a FastAPI
app run by uvicorn on 127.0.0.1 (port 0). Tests fill the store through its own API and publish on the bus."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from bridge.api import StreamTiming, api_router, dashboard_router
from bridge.pipeline.bus import EventBus
from bridge.store import InsightItem, LineRecord, NewWindow, Store
from tests.waiting import until

TOKEN = "api-test-token-5f2c"
FAST = StreamTiming(heartbeat_s=0.3, ended_idle_s=1.0, max_stream_s=30.0, retry_ms=500)


async def wait_until(predicate: Callable[[], bool], *, within_s: float = 5.0, step_s: float = 0.01) -> None:
    """Poll `predicate` until true (bounded in time)."""
    await until(predicate, timeout_s=within_s, poll_s=step_s)


@dataclass
class ApiServer:
    url: str
    store: Store
    bus: EventBus
    info: dict[str, Any] = field(default_factory=dict)

    def client(self, token: str | None = TOKEN) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10.0)


@contextlib.asynccontextmanager
async def serve(app: FastAPI, *, access_log: bool = False) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off",
                                           access_log=access_log, timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started or task.done(), timeout_s=10, what="uvicorn to start")
        if not server.started:
            task.result()
            raise RuntimeError("uvicorn stopped during startup")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await task


@contextlib.asynccontextmanager
async def api_server(tmp_path: Path, *, token: str = TOKEN, timing: StreamTiming = FAST,
                     info: dict[str, Any] | None = None, access_log: bool = False) -> AsyncIterator[ApiServer]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    bus = EventBus(queue_size=64)
    values: dict[str, Any] = {"model": "offline"} if info is None else info
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(api_router(lambda: store, lambda: bus, SecretStr(token), info=lambda: dict(values),
                                  timing=timing))
    app.include_router(dashboard_router())
    try:
        async with serve(app, access_log=access_log) as url:
            try:
                yield ApiServer(url, store, bus, values)
            finally:
                bus.close()  # ends open event streams so uvicorn can stop
    finally:
        await store.close()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with api_server(tmp_path) as server:
        yield server


# ----------------------------------------------------------------------------------------------------------------
# A sample meeting, written through the store's API
# ----------------------------------------------------------------------------------------------------------------

SALES = "stream-sales-0001"
PLANNING = "stream-planning-0002"

SALES_LINES = [
    ("Dana Host", "u-host", "Thanks for joining. Where are you with the evaluation?"),
    ("Sam Buyer", "u-buyer", "Honestly the price is well above what we budgeted this year."),
    ("Sam Buyer", "u-buyer", "And we are already locked into a contract with another vendor."),
    ("Dana Host", "u-host", "Understood. I will send a pricing comparison by Friday."),
]


def now_ms() -> int:
    return int(time.time() * 1000)


def objection(key: str, category: str, quote: str, at_ms: int, confidence: float, reply: str) -> InsightItem:
    payload = {"key": key, "category": category, "quote": quote, "speaker": "Sam Buyer", "at_ms": at_ms,
               "confidence": confidence, "suggested_reply": reply}
    return InsightItem(key=key, payload=payload, at_ms=at_ms, quote=quote)


def ticket(key: str, title: str, at_ms: int, *, url: str | None = None, status: str = "created") -> dict[str, Any]:
    body: dict[str, Any] = {"key": key, "kind": "action_item", "title": title,
                            "description": "Compare our price with the incumbent's contract.", "owner": "Dana Host",
                            "due": "2025-06-06", "priority": "high", "quote": "I will send a pricing comparison",
                            "speaker": "Dana Host", "at_ms": at_ms}
    if url is not None:
        body["external"] = {"system": "github", "id": "42", "url": url, "status": status}
    return body


async def seed_sales(store: Store) -> int:
    """A live sales call: 4 lines, 2 objections, a summary, a ticket, two done windows. Returns its start time."""
    start = now_ms() - 60_000
    await store.upsert_meeting(SALES, instance_id="inst-sales==", product="meeting", topic="Acme renewal call",
                               started_at_ms=start)
    await store.upsert_participant(SALES, "u-host", "Dana Host", "host", joined_at_ms=start)
    await store.upsert_participant(SALES, "u-buyer", "Sam Buyer", joined_at_ms=start)
    for seq, (speaker, user_id, text) in enumerate(SALES_LINES, start=1):
        at = start + seq * 5000
        await store.add_line(SALES, LineRecord(seq=seq, speaker=speaker, user_id=user_id, start_ms=at,
                                               end_ms=at + 3000, text=text, received_at_ms=at + 3100))
    windows = []
    for seq, flow in enumerate(["objection_coach", "meeting_summary"], start=1):
        w = await store.create_window(NewWindow(stream_id=SALES, flow=flow, seq=seq, trigger="turn",
                                                first_line_seq=1, last_line_seq=4, start_ms=start,
                                                end_ms=start + 20_000, payload="{}"))
        await store.mark_window(w.id, "in_flight")
        await store.mark_window(w.id, "done", latency_ms=800.0 + 400 * seq,
                                usage={"model_calls": 1, "input_tokens": 1200, "output_tokens": 300})
        windows.append(w.id)
    await store.save_insights(SALES, "objection_coach", windows[0], "objections", [
        objection("price-budget", "price", SALES_LINES[1][2], start + 10_000, 0.86,
                  "Let's look at the cost of the status quo against this year's budget."),
        objection("incumbent-contract", "competitor", SALES_LINES[2][2], start + 15_000, 0.72,
                  "When does that contract renew? We can plan a switch around it."),
    ])
    await store.save_summary(SALES, "meeting_summary", windows[1], {
        "text": "The buyer finds the price above budget and is tied to another vendor.",
        "key_points": [{"text": "Price is above this year's budget", "quote": SALES_LINES[1][2],
                        "at_ms": start + 10_000, "speaker": "Sam Buyer"}],
        "decisions": [{"text": "Send a pricing comparison", "quote": "I will send a pricing comparison",
                       "at_ms": start + 20_000, "speaker": "Dana Host"}],
        "open_questions": [{"text": "When does the incumbent's contract end?", "quote": SALES_LINES[2][2],
                            "at_ms": start + 15_000}],
    })
    await store.upsert_ticket(SALES, ticket("pricing-comparison", "Send pricing comparison", start + 20_000,
                                            url="https://github.com/acme/sales/issues/42"),
                              flow="ticket_creation")
    return start


async def seed_planning(store: Store) -> None:
    """An ended meeting with nothing but its record."""
    await store.upsert_meeting(PLANNING, instance_id="inst-plan", product="webinar", topic="Q3 planning",
                               started_at_ms=now_ms() - 3_600_000)
    await store.set_meeting_status(PLANNING, "ended", ended_at_ms=now_ms() - 60_000, end_cause="meeting ended")
