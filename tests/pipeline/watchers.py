"""Readers of the bridge's read side during a live end-to-end run: a meeting's Server-Sent Events followed over real
HTTP from the moment its record exists, and the dashboard in headless Chromium (Debian's /usr/bin/chromium through
Playwright). Each records what it saw and when (before or after the meeting ended) for the tests to judge."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.api.sse_client import SseReader
from tests.waiting import until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


async def wait_stored(client: httpx.AsyncClient, stream_id: str, within_s: float = 30.0) -> None:
    """Poll `GET /api/meetings/{id}` until the bridge has the meeting's record (the events route 404s before)."""

    async def stored() -> bool:
        response = await client.get(f"/api/meetings/{stream_id}")
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200

    await until(stored, timeout_s=within_s, what=f"meeting {stream_id} to be stored")


@dataclass
class Received:
    event: str
    body: dict[str, Any]
    during_meeting: bool  # received before the stream said the meeting ended


@dataclass
class EventWatch:
    """One meeting's `/api/meetings/{id}/events`: the first snapshot, then every event in arrival order."""

    stream_id: str
    snapshot: dict[str, Any] | None = None
    events: list[Received] = field(default_factory=list)
    snapshots: int = 0
    ended: bool = False
    end: dict[str, Any] | None = None

    async def follow(self, client: httpx.AsyncClient) -> None:
        await wait_stored(client, self.stream_id)
        timeout = httpx.Timeout(10.0, read=40.0)  # a keep-alive comes every 15 s
        async with client.stream("GET", f"/api/meetings/{self.stream_id}/events", timeout=timeout) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = SseReader(response)
            for _ in range(100_000):
                frame = await reader.next_event(within_s=120.0)  # `end` comes ~30-45 s after the last event
                if frame is None:
                    return
                body = frame.json()
                if frame.event == "snapshot":
                    self.snapshots += 1
                    self.snapshot = self.snapshot or body
                    continue
                if frame.event == "end":
                    self.end = body
                    return
                self.events.append(Received(frame.event, body, not self.ended))
                if frame.event == "meeting" and body["data"].get("status") == "ended":
                    self.ended = True

    def live(self, *kinds: str) -> list[Received]:
        return [r for r in self.events if r.event in kinds]

    def state(self) -> dict[str, Any]:
        """What a client knows after applying the snapshot and the events: lines by seq, insights by (kind, key),
        tickets by key, the latest summary (the shapes of the REST API)."""
        snap = self.snapshot or {"lines": [], "insights": [], "tickets": [], "summary": None}
        lines = {line["seq"]: line for line in snap["lines"]}
        insights = {(i["kind"], i["key"]): i for i in snap["insights"]}
        tickets = {t["key"]: t for t in snap["tickets"]}
        summary = snap["summary"]
        for received in self.events:
            data = received.body["data"]
            if received.event == "line":
                lines[data["seq"]] = data
            elif received.event == "insight":
                insights[(data["kind"], data["key"])] = data
            elif received.event == "ticket":
                tickets[data["key"]] = data
            elif received.event == "summary" and (summary is None or newer(data, summary)):
                summary = data
        return {"lines": [lines[seq] for seq in sorted(lines)], "insights": insights, "tickets": tickets,
                "summary": summary}


def newer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["updated_at_ms"], a["id"]) >= (b["updated_at_ms"], b["id"])


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class DashboardWatch:
    """The dashboard opened on one meeting while it runs: what appeared live, and whether the meeting was still
    going on at that moment (`meeting_ended()` is the event stream's view)."""

    url: str
    stream_id: str
    meeting_ended: Callable[[], bool]
    context: Any = None
    page: Any = None
    problems: list[str] = field(default_factory=list)
    seen_live: dict[str, bool] = field(default_factory=dict)  # what appeared -> while the meeting ran
    line_counts: list[int] = field(default_factory=list)
    opened_s: float = 0.0

    async def follow(self, browser: Any, client: httpx.AsyncClient, token: str) -> None:
        await wait_stored(client, self.stream_id)
        context = self.context = await browser.new_context(viewport={"width": 1440, "height": 1000})
        page = self.page = await context.new_page()
        page.set_default_timeout(60_000)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: self.problems.append(f"console: {msg.text}") if msg.type == "error" else None)
        started = time.monotonic()
        await page.goto(f"{self.url}/#token={token}&meeting={self.stream_id}")
        await page.wait_for_selector("#conn[data-state=live]")
        self.opened_s = time.monotonic() - started
        await page.evaluate("window.__sameDocument = true")  # a reload would drop it
        self.line_counts.append(int(await page.inner_text("#line-count")))
        waits = {
            "lines": page.wait_for_function(
                "n => Number(document.getElementById('line-count').textContent) >= n + 10",
                arg=self.line_counts[0]),
            "objection": page.wait_for_selector("#objections .objection .reply"),
            "summary": page.wait_for_selector("#summary .summary-text"),
            "ticket": page.wait_for_selector("#tickets .ticket"),
        }

        async def note(name: str, wait: Any) -> None:
            await wait
            self.seen_live[name] = not self.meeting_ended()
            if name == "lines":
                self.line_counts.append(int(await page.inner_text("#line-count")))

        await asyncio.gather(*(note(name, wait) for name, wait in waits.items()))

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()
