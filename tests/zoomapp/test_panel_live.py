"""The panel during simulated meetings: the simulator plays two sample meetings into the bridge (uvicorn on loopback,
`create_app` with a real Langflow 1.13 running the bundled flows on the offline model), and Chromium at 360 px
holds one panel per meeting, each opened with a context sealed as Zoom does with the app's client secret (the
Zoom-side double). Objections appear in the sales call's panel while the call is still live; the support call's
panel never shows any of them. The screenshot in tests/artifacts/ is the one committed as docs/zoomapp-panel.png."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from bridge.simulator import MeetingSpec, Simulator
from bridge.simulator.ids import zoom_uuid
from bridge.simulator.transcripts import load_transcript
from bridge.store import Store
from tests.conftest import ARTIFACTS
from tests.intake.conftest import CLIENT_SECRET, Collector
from tests.intake.live import serve_bridge, simulator_config
from tests.langflow_server import LangflowServer, OfflineLLMProcess
from tests.pipeline.test_live import bridge_settings, store_of
from tests.waiting import until
from tests.zoomapp.browser import CHROMIUM, chromium, open_panel_page, panel_page
from tests.zoomapp.zoom_context import context_payload, encrypt_context

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")]

SPEED = 20.0  # the sales sample lasts ~13 min: ~40 s of replay, time for objections to show while it runs
TOPICS = {"sales_discovery": "Acme discovery call", "support_call": "Globex support escalation"}


async def stored(store: Store, stream_id: str, within_s: float = 60.0) -> None:
    async def found() -> bool:
        return await store.get_meeting(stream_id) is not None

    await until(found, timeout_s=within_s, what=f"meeting {stream_id} to be stored")


async def named(store: Store, stream_id: str, instance_id: str, topic: str) -> str:
    """The topic the panel must show: the one the bridge stored from Zoom's webhooks, or, when this build does not
    store one, a topic written here (as the webhook would have)."""
    meeting = await store.get_meeting(stream_id)
    assert meeting is not None
    if meeting.topic is None:
        await store.upsert_meeting(stream_id, instance_id=instance_id, product=meeting.product, topic=topic)
        return topic
    return meeting.topic


async def objection_quotes(store: Store, stream_id: str) -> set[str]:
    """What was said (the offline model's suggested replies are per category, so two meetings can share one)."""
    return {item.quote for item in await store.insights(stream_id, kind="objections") if item.quote}


def said_at(row: Any) -> int:
    return int(row.payload.get("at_ms") or row.at_ms or row.created_at_ms)


async def test_panel_follows_a_simulated_meeting_and_only_that_one(
        langflow: LangflowServer, offline_llm_process: OfflineLLMProcess, tmp_path: Path) -> None:
    settings = bridge_settings(langflow.base_url, langflow.api_key, offline_llm_process, tmp_path / "bridge.db")
    mids = {name: zoom_uuid() for name in TOPICS}
    contexts = {name: encrypt_context(context_payload(mid, attendrole="host"), CLIENT_SECRET)
                for name, mid in mids.items()}
    async with contextlib.AsyncExitStack() as stack:
        browser = await stack.enter_async_context(chromium())
        live = await stack.enter_async_context(serve_bridge(settings, Collector()))
        sim = await stack.enter_async_context(Simulator(simulator_config(live.webhook_url, speed=SPEED)))
        store = store_of(live)
        sales_page = await stack.enter_async_context(panel_page(browser))
        other_page = await stack.enter_async_context(panel_page(browser))

        handles = {name: await sim.start_meeting(MeetingSpec(transcript=load_transcript(name),
                                                             instance_id=mids[name])) for name in TOPICS}
        streams = {name: h.rtms_stream_id for name, h in handles.items()}
        topics: dict[str, str] = {}
        for name in TOPICS:
            await stored(store, streams[name])
            topics[name] = await named(store, streams[name], mids[name], TOPICS[name])
        sales = handles["sales_discovery"]

        for page, name in ((sales_page, "sales_discovery"), (other_page, "support_call")):
            response = await open_panel_page(page, live.url, contexts[name])
            assert response.status == 200
            for header in ("strict-transport-security", "x-content-type-options", "content-security-policy",
                           "referrer-policy"):
                assert header in response.headers
            await page.wait_for_selector("#conn[data-state=live]")
        assert await sales_page.inner_text("#topic") == topics["sales_discovery"]
        assert await other_page.inner_text("#topic") == topics["support_call"]

        # Objections appear while the sales call is still going on, without a reload.
        await sales_page.evaluate("window.__sameDocument = true")
        await sales_page.wait_for_selector("#objections .objection", timeout=120_000)
        meeting = await store.get_meeting(streams["sales_discovery"])
        assert meeting is not None and meeting.status == "live" and not sales.done, "the call ended first"
        assert await sales_page.inner_text("#status") == "live"
        await sales_page.wait_for_selector("#objections .objection >> nth=1", timeout=120_000)
        ARTIFACTS.mkdir(exist_ok=True)
        await sales_page.screenshot(path=str(ARTIFACTS / "zoomapp-panel-live.png"), full_page=True)
        during = await sales_page.locator("#objections .objection").count()

        for handle in handles.values():
            report = await handle.wait(timeout=300)
            assert report.lines_sent == report.lines_total and report.errors == []
        await sales_page.wait_for_selector("#status:text-is('ended')", timeout=60_000)
        pipeline = live.app.state.bridge.pipeline
        assert await pipeline.wait_idle(240)  # the pages' checks below wait for the last results to reach them

        # The sales panel shows exactly the sales call's objections, newest first, with their replies.
        rows = await store.insights(streams["sales_discovery"], kind="objections")
        assert during >= 2 and len(rows) >= during
        await sales_page.wait_for_function(f"document.querySelectorAll('#objections .objection').length === "
                                           f"{len(rows)}", timeout=30_000)
        keys = await sales_page.eval_on_selector_all("#objections .objection", "els => els.map(e => e.dataset.key)")
        assert keys == [r.key for r in sorted(rows, key=lambda r: (-said_at(r), -r.id))]
        assert await sales_page.evaluate("window.__sameDocument === true")

        # The support call's panel never showed anything of the sales call.
        sales_quotes = await objection_quotes(store, streams["sales_discovery"])
        support_keys = {r.key for r in await store.insights(streams["support_call"], kind="objections")}
        other_keys = set(await other_page.eval_on_selector_all("#objections .objection",
                                                                "els => els.map(e => e.dataset.key)"))
        assert other_keys <= support_keys
        other_body = await other_page.inner_text("body")
        assert topics["sales_discovery"] not in other_body
        assert sales_quotes and not [q for q in sales_quotes if q in other_body]
        assert sales_page.problems == [] and other_page.problems == []
