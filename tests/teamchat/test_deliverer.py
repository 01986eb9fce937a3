"""The deliverer's decisions, sweep by sweep, on a real SQLite store and the loopback chatbot double: no target
until the host is known, the summary only once the last windows are done, a passing failure tried again later,
a final one given up, nothing twice."""

from __future__ import annotations

from pathlib import Path

import httpx

from bridge.store import InsightItem, NewWindow, Store
from bridge.teamchat.client import ChatClient
from bridge.teamchat.delivery import ChatDeliverer, ChatTargets
from tests.teamchat.zoom_chat_double import chat_double

CHANNEL = "leads@conference.xmpp.zoom.us"


async def test_sweeps(tmp_path: Path) -> None:
    now = [1_800_000_000_000]
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", clock=lambda: now[0])
    try:
        async with chat_double() as double, httpx.AsyncClient() as http:
            client = ChatClient(http, api_url=f"{double.url}/v2", oauth_url=f"{double.url}/oauth/token",
                                client_id=double.client_id, client_secret=double.client_secret,
                                allowed_hosts=["127.0.0.1"], max_attempts=1, backoff_base_s=0.01)
            deliverer = ChatDeliverer(store, None, client,
                                      ChatTargets(double.robot_jid, double.account_id, "host", CHANNEL),
                                      poll_s=1.0, settle_s=1.0, summary_wait_s=60.0, clock=lambda: now[0])
            await store.upsert_meeting("s1", instance_id="inst-1", product="meeting", started_at_ms=now[0])
            item = InsightItem(key="price", payload={"category": "price", "speaker": "Sam",
                                                     "suggested_reply": "Compare it with the status quo."},
                               at_ms=now[0] + 65_000, quote="It costs too much.")
            await store.save_insights("s1", "objection_coach", None, "objections", [item])
            assert await deliverer.sweep() == 0  # the host is not known yet: nothing claimed
            assert await store.deliveries() == []
            await store.save_meeting_name("inst-1", product="meeting", topic="Acme renewal", host_id="HostXYZ")
            double.script = [("error", 503)]
            assert await deliverer.sweep() == 0  # Zoom down: kept pending
            [row] = await store.deliveries()
            assert (row.status, row.attempts) == ("pending", 1) and "503" in (row.error or "")
            assert await deliverer.sweep() == 0  # too soon to try again
            now[0] += 5_000
            assert await deliverer.sweep() == 1
            assert await deliverer.sweep() == 0  # sent: never again
            [message] = double.messages
            assert message["to_jid"] == "hostxyz@xmpp.zoom.us"
            assert message["content"]["head"] == {"text": "Objection: price", "sub_head": {"text": "Acme renewal"}}
            assert message["content"]["body"][0]["text"] == "“It costs too much.” (Sam at 01:05)"

            # The meeting ends with a window still running: the summary waits for it (or for summary_wait_s).
            window = await store.create_window(NewWindow(stream_id="s1", flow="meeting_summary", seq=1,
                                                         trigger="end", first_line_seq=1, last_line_seq=1,
                                                         start_ms=0, end_ms=1, payload="{}"))
            await store.set_meeting_status("s1", "ended", ended_at_ms=now[0], end_cause="terminated")
            now[0] += 2_000
            assert await deliverer.sweep() == 0
            await store.save_summary("s1", "meeting_summary", window.id, {"text": "They want a lower price.",
                                                                         "key_points": [], "decisions": [],
                                                                         "open_questions": []})
            await store.mark_window(window.id, "done")
            assert await deliverer.sweep() == 1
            assert await deliverer.sweep() == 0
            summary = double.messages[-1]
            assert summary["to_jid"] == CHANNEL and summary["content"]["head"]["text"] == "Summary: Acme renewal"
            assert summary["content"]["body"][0]["text"] == "They want a lower price."

            # A refusal that will not pass (a robot the account does not know) is given up at once.
            await store.upsert_meeting("s2", instance_id="inst-2", product="meeting")
            await store.set_meeting_status("s2", "ended", ended_at_ms=now[0], end_cause="stopped")
            now[0] += 2_000
            bad = ChatDeliverer(store, None, client, ChatTargets("other@xmpp.zoom.us", double.account_id, "",
                                                                 CHANNEL), settle_s=1.0, clock=lambda: now[0])
            assert await bad.sweep() == 0
            [failed] = await store.deliveries(stream_id="s2")
            assert failed.status == "failed" and "7010" in (failed.error or "")
            # A meeting the bridge only stopped following (shutdown) owes no summary yet.
            await store.upsert_meeting("s3", instance_id="inst-3", product="meeting")
            await store.set_meeting_status("s3", "ended", ended_at_ms=now[0], end_cause="shutdown")
            now[0] += 5_000
            assert await deliverer.sweep() == 0
            assert await store.deliveries(stream_id="s3") == []
    finally:
        await store.close()
