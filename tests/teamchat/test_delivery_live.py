"""Team Chat delivery end to end: the simulator replays the bundled sales call into the real bridge (webhooks, RTMS
sockets, pipeline, store), whose flows run on the scripted Langflow stand-in of tests/pipeline (one objection per
objection-coach window, a summary, a ticket); delivery is on and posts to the loopback double of Zoom's chatbot
API. The bridge is stopped mid-meeting and a new one started on the same address (the test re-delivers the
stream's rtms_started to it, as Zoom does on a fail-over): every objection reaches the host's chat exactly once,
and the summary reaches the channel once, after the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bridge.app import create_app
from bridge.contracts import parse_window
from bridge.settings import BridgeSettings
from bridge.simulator import MeetingSpec, Simulator
from bridge.simulator.transcripts import load_transcript
from bridge.store import Store
from bridge.teamchat.wire import user_jid
from tests.api.conftest import serve
from tests.intake.conftest import Collector, make_settings
from tests.intake.live import simulator_config
from tests.pipeline.fake_langflow import FakeLangflow
from tests.teamchat.zoom_chat_double import chat_double
from tests.waiting import until as wait_until

pytestmark = pytest.mark.timeout(180)

CHANNEL = "sales-leads@conference.xmpp.zoom.us"
FAST_RUNNER = """
[runner]
retries = 2
backoff_base_s = 0.1
backoff_cap_s = 0.5
breaker_failures = 3
breaker_reset_s = 1.0
window_attempts = 50
tick_s = 0.2
"""


class TicketingLangflow(FakeLangflow):
    """The stand-in, with one ticket per ticket-creation window."""

    def insights_for(self, window_json: str) -> str:
        doc: dict[str, Any] = json.loads(super().insights_for(window_json))
        if doc["kind"] == "tickets":
            first = parse_window(window_json).utterances[0]
            doc["tickets"] = [{"key": f"t-{first.id}", "kind": "action_item", "title": f"Follow up on {first.id}",
                               "description": "From the call.", "quote": first.text, "speaker": first.speaker,
                               "at_ms": first.start_ms}]
        return json.dumps(doc)


def flows_file(tmp_path: Path) -> Path:
    bundled = (Path(__file__).resolve().parents[2] / "bridge" / "pipeline" / "flows.toml").read_text()
    path = tmp_path / "flows.toml"
    path.write_text(re.sub(r"\[runner\].*?(?=\n\[defaults\])", FAST_RUNNER.strip(), bundled, flags=re.S))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def bridge_on(settings: BridgeSettings) -> AsyncIterator[Any]:
    """The bridge served by uvicorn on `settings.port`, its lifespan run (start-up, then shutdown on exit)."""
    app = create_app(settings, Collector())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_config=None,
                                           lifespan="on", access_log=False, timeout_graceful_shutdown=10))
    task = asyncio.create_task(server.serve())
    try:
        def up() -> bool:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped during startup")
            return bool(server.started)

        await wait_until(up, timeout_s=15, what="the bridge to start")
        yield app
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task


async def until(predicate: Any, within_s: float, what: str) -> None:
    await wait_until(predicate, timeout_s=within_s, what=what)


async def test_each_objection_once_and_one_summary_across_a_restart(tmp_path: Path) -> None:
    fake = TicketingLangflow()
    db = tmp_path / "bridge.db"
    transcript = load_transcript("sales").sliced(240_000)
    restart_at = len(transcript.utterances) // 3
    async with serve(fake.app()) as langflow_url, chat_double() as double:
        settings = make_settings(
            port=free_port(), database_url=f"sqlite+aiosqlite:///{db}", api_token="t",
            langflow_url=langflow_url, langflow_api_key="k", flows_config=flows_file(tmp_path),
            chat_enabled=True, chat_client_id=double.client_id, chat_client_secret=double.client_secret,
            chat_robot_jid=double.robot_jid, chat_account_id=double.account_id, chat_objections_to="host",
            chat_summary_to=CHANNEL, chat_api_url=f"{double.url}/v2", chat_oauth_url=f"{double.url}/oauth/token",
            chat_allowed_hosts=["127.0.0.1"], chat_poll_s=0.2, chat_summary_wait_s=30)
        webhook = f"http://127.0.0.1:{settings.port}/webhook"
        check = await Store.open(f"sqlite+aiosqlite:///{db}")
        try:
            async with Simulator(simulator_config(webhook, speed=25.0, signaling_reconnect_window_s=40.0,
                                                  media_reconnect_window_s=40.0,
                                                  webhook_retry_schedule_s=(1.0, 2.0, 4.0, 8.0, 8.0))) as sim:
                async with bridge_on(settings):
                    handle = await sim.start_meeting(MeetingSpec(transcript=transcript))
                    stream = handle.rtms_stream_id

                    async def objections_posted() -> bool:
                        return len(double.messages) >= 2 and await check.last_line_seq(stream) >= restart_at

                    await until(objections_posted, 60, "two objections posted before the restart")
                    double.script = [("rate_limit", 0.5)]  # Zoom's per-second limit, once
                # Bridge stopped mid-meeting (its lifespan's shutdown ran); a new one on the same address.
                before = len(double.messages)
                lines_before = await check.last_line_seq(stream)
                async with bridge_on(settings):
                    # Zoom names the stream to the new bridge again (as it re-sends rtms_started on a fail-over);
                    # the new bridge dials it while Zoom still waits for the app to come back.
                    again = sim.webhooks.prepare("meeting.rtms_started", handle.started_payload)
                    assert (await sim.webhooks.deliver(again)).delivered
                    report = await handle.wait(timeout=120)

                    async def summary_posted() -> bool:
                        return any(m["to_jid"] == CHANNEL for m in double.messages)

                    try:
                        await until(summary_posted, 60, "the summary posted after the end")
                    except AssertionError:
                        m = await check.get_meeting(stream)
                        print("DEBUG", report.lines_sent, report.lines_total, report.errors, report.webhooks,
                              m.status if m else None, m.end_cause if m else None,
                              [(d.key, d.status, d.error) for d in await check.deliveries(stream_id=stream)],
                              [(w.flow, w.status) for w in await check.windows(stream)][-6:],
                              len(double.messages), double.answers)
                        raise
                    await asyncio.sleep(1.0)  # a few more sweeps: nothing more may go out
            objections = await check.insights(stream, kind="objections")
            deliveries = await check.deliveries(stream_id=stream)
            meeting = await check.get_meeting(stream)
            names = await check.meeting_names([handle.instance_id])
            tickets = await check.tickets(stream)
        finally:
            await check.close()

    host_jid = user_jid(names[handle.instance_id].host_id or "")
    to_host = [m for m in double.messages if m["to_jid"] == host_jid]
    to_channel = [m for m in double.messages if m["to_jid"] == CHANNEL]
    print(f"lines={report.lines_sent} objections={len(objections)} posted={len(double.messages)} "
          f"before_restart={before} lines_before={lines_before} answers={double.answers}")
    assert report.lines_sent == report.lines_total and meeting is not None and meeting.status == "ended"
    assert 0 < lines_before < report.lines_total  # the restart came mid-meeting
    assert 2 <= before < len(to_host)  # objections were posted by both bridges
    assert len(objections) >= 4
    assert len(to_host) == len(objections)  # one message per objection: none lost, none twice
    quotes = [m["content"]["body"][0]["text"] for m in to_host]
    assert len(set(quotes)) == len(quotes)
    assert all(m["content"]["head"]["text"] == "Objection: price" for m in to_host)
    assert all(m["content"]["head"]["sub_head"]["text"] == transcript.meta.topic for m in to_host)
    assert all(any("Suggested reply" in b["text"] for b in m["content"]["body"]) for m in to_host)
    assert len(to_channel) == 1
    summary = to_channel[0]["content"]
    assert summary["head"]["text"] == f"Summary: {transcript.meta.topic}"
    assert tickets and all(t.title in json.dumps(summary) for t in tickets)
    assert {d.status for d in deliveries} == {"sent"} and len(deliveries) == len(objections) + 1
    assert 429 in double.answers and double.early == 0  # the rate limit was met and honoured
    assert all(a in (200, 429) for a in double.answers)
