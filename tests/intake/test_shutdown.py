"""Graceful shutdown: every stream closed with code 1000, its events delivered, no task left behind; in process
(what uvicorn does on SIGTERM) and as a real `rtms-langflow serve` process receiving SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from typing import Any

import httpx
import pytest

from bridge.intake.events import MeetingEnded
from bridge.simulator import MeetingSpec, Simulator
from bridge.simulator.transcripts import load_transcript
from tests.intake.conftest import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET, Collector, make_settings
from tests.intake.live import serve_bridge, simulator_config
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)


def sim_links(handle: Any) -> list[Any]:
    """The simulator's server-side sockets of a stream (its private state: only tests look there)."""
    stream = handle._stream
    return [link for link in (stream.signaling, *stream.media) if link is not None]


async def wait_for(predicate: Any, limit_s: float = 20.0) -> None:
    await until(predicate, timeout_s=limit_s)


async def test_shutdown_closes_every_stream_cleanly(collector: Collector) -> None:
    transcript = load_transcript("sales")
    async with contextlib.AsyncExitStack() as stack:
        live = await stack.enter_async_context(serve_bridge(make_settings(), collector))
        sim = await stack.enter_async_context(Simulator(simulator_config(
            live.webhook_url, speed=10.0, webhook_retry_schedule_s=(0.1,), webhook_timeout_s=1.0)))
        handles = [await sim.start_meeting(MeetingSpec(transcript=transcript)) for _ in range(5)]
        await wait_for(lambda: all(len(collector.of(h.rtms_stream_id, "utterance")) >= 2 for h in handles))
        links = [link for h in handles for link in sim_links(h)]
        assert len(links) == 10
        streams = list(live.manager.streams.values())

        live.server.should_exit = True  # what uvicorn's SIGTERM handler does
        await wait_for(lambda: all(s.task is not None and s.task.done() for s in streams))
        await wait_for(lambda: all(s.dispatcher.done for s in streams))

        codes = [link.ws.close_code for link in links]
        print(f"streams={len(streams)} close codes={codes}")
        assert codes == [1000] * len(links)
        for h in handles:
            events = collector.of(h.rtms_stream_id)
            assert isinstance(events[-1], MeetingEnded) and events[-1].cause == "shutdown"
            print(f"{h.rtms_stream_id[:8]}: sent={h._stream.lines_sent} "
                  f"received={len(collector.of(h.rtms_stream_id, 'utterance'))}")
            assert len(collector.of(h.rtms_stream_id, "utterance")) == h._stream.lines_sent
        assert live.metric("rtms_active_streams") == 0
        leftover = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("rtms-")]
        assert leftover == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_sigterm_to_the_serve_command(tmp_path: Any) -> None:
    env = {**os.environ, "ZOOM_WEBHOOK_SECRET_TOKEN": WEBHOOK_SECRET, "ZOOM_CLIENT_ID": CLIENT_ID,
           "ZOOM_CLIENT_SECRET": CLIENT_SECRET, "BRIDGE_ALLOWED_HOSTS": "127.0.0.1", "BRIDGE_ALLOW_INSECURE_WS": "1",
           "BRIDGE_SHUTDOWN_TIMEOUT_S": "5",
           # its own store: a bridge resumes at start what its store says is live (left so by this shutdown)
           "BRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", "serve", "--port", "0", "--env-file", os.devnull,
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    log_lines: list[dict[str, Any]] = []

    async def read_logs() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            with contextlib.suppress(ValueError):
                log_lines.append(json.loads(raw))

    reader = asyncio.create_task(read_logs())
    try:
        await wait_for(lambda: any("Uvicorn running on" in e.get("event", "") for e in log_lines), 30)
        banner = next(e["event"] for e in log_lines if "Uvicorn running on" in e.get("event", ""))
        match = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        url = f"http://127.0.0.1:{match.group(1)}"
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(url + "/ready")).status_code == 200
        async with Simulator(simulator_config(url + "/webhook", speed=10.0, webhook_retry_schedule_s=(0.1,),
                                              webhook_timeout_s=1.0)) as sim:
            handle = await sim.start_meeting(MeetingSpec(transcript=load_transcript("support")))
            await wait_for(lambda: handle._stream.lines_sent >= 2)
            links = sim_links(handle)
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                code = await proc.wait()
            await reader
            print(f"exit={code} close codes={[link.ws.close_code for link in links]}")
            assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it shut down cleanly
            assert [link.ws.close_code for link in links] == [1000, 1000]
        ended = [e for e in log_lines if e.get("event") == "stream ended"]
        assert [e["cause"] for e in ended] == ["shutdown"]
        assert any(e.get("event") == "intake shut down" and e.get("streams") == 1 for e in log_lines)
        assert not [e for e in log_lines if e.get("level") in ("error", "critical")]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
