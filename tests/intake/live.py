"""The bridge served by uvicorn on 127.0.0.1 (port 0) next to a real simulator, for the integration tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from bridge.app import create_app
from bridge.intake.events import MeetingEventConsumer, Utterance
from bridge.intake.manager import StreamManager
from bridge.settings import BridgeSettings
from bridge.simulator import MeetingReport, Simulator, SimulatorConfig
from tests.intake.conftest import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET, Collector
from tests.waiting import until


@dataclass
class LiveBridge:
    url: str
    app: FastAPI
    server: uvicorn.Server

    @property
    def webhook_url(self) -> str:
        return self.url + self.app.state.bridge.settings.webhook_path

    @property
    def manager(self) -> StreamManager:
        manager = self.app.state.bridge.manager
        assert isinstance(manager, StreamManager)
        return manager

    def metric(self, name: str, **labels: str) -> float:
        value = self.app.state.bridge.metrics.registry.get_sample_value(name, labels or None)
        return 0.0 if value is None else float(value)


@contextlib.asynccontextmanager
async def serve_bridge(settings: BridgeSettings, consumer: MeetingEventConsumer) -> AsyncIterator[LiveBridge]:
    app = create_app(settings, consumer)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on", access_log=False,
                            timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started or task.done(), timeout_s=10, what="uvicorn to start")
        if not server.started:
            task.result()
            raise RuntimeError("uvicorn stopped during startup")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield LiveBridge(f"http://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task


def simulator_config(webhook_url: str, **overrides: Any) -> SimulatorConfig:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET,
        "webhook_url": webhook_url, "speed": 200.0, "keepalive_interval_s": 1.0,
        "signaling_reconnect_window_s": 10.0, "media_reconnect_window_s": 10.0,
        "webhook_timeout_s": 3.0, "webhook_retry_schedule_s": (0.4, 0.8, 1.2),
    }
    values.update(overrides)
    return SimulatorConfig(**values)


@contextlib.asynccontextmanager
async def bridge_and_simulator(settings: BridgeSettings, collector: Collector,
                               **sim_overrides: Any) -> AsyncIterator[tuple[LiveBridge, Simulator]]:
    async with contextlib.AsyncExitStack() as stack:
        live = await stack.enter_async_context(serve_bridge(settings, collector))
        sim = await stack.enter_async_context(Simulator(simulator_config(live.webhook_url, **sim_overrides)))
        yield live, sim


def received_lines(collector: Collector, stream_id: str) -> list[Utterance]:
    return [e for e in collector.of(stream_id, "utterance") if isinstance(e, Utterance)]


def check_delivery(collector: Collector, report: MeetingReport, expected_texts: list[str]) -> list[Utterance]:
    """Every line the simulator wrote reached the consumer once, in order, numbered 1..N without gaps."""
    lines = received_lines(collector, report.rtms_stream_id)
    print(f"sent={report.lines_sent} received={len(lines)} total={report.lines_total} "
          f"reconnects={report.reconnects} connections={report.connections}")
    assert [u.seq for u in lines] == list(range(1, len(lines) + 1))
    assert len(lines) == report.lines_sent
    assert [u.text for u in lines] == expected_texts[: report.lines_sent]
    return lines
