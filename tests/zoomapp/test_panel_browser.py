"""The panel in headless Chromium at 360 px against the real routes and a seeded store: it draws the meeting from the
context it was opened with, follows it live without a reload, copies a reply in one tap, and shows nothing when the
context is missing, forged or expired. (The panel during a simulated meeting run by the pipeline and a real Langflow
is `test_panel_live.py`.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bridge.pipeline.bus import LiveEvent
from tests.api.conftest import SALES, now_ms, objection, seed_sales, ticket
from tests.conftest import ARTIFACTS
from tests.zoomapp import web_client
from tests.zoomapp.browser import CHROMIUM, chromium, framing_chromium, open_panel_page, panel_page
from tests.zoomapp.conftest import PanelServer, panel_server
from tests.zoomapp.test_routes import OTHER, OTHER_QUOTE, SALES_MID, seed_other
from tests.zoomapp.zoom_context import context_payload, encrypt_context

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
    pytest.mark.asyncio(loop_scope="module"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture(loop_scope="module")
async def panel(tmp_path: Path) -> AsyncIterator[PanelServer]:
    async with panel_server(tmp_path) as server:
        yield server


async def no_horizontal_scroll(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide"


async def test_panel_draws_the_meeting_and_follows_it(panel: PanelServer, browser: Any) -> None:
    start = await seed_sales(panel.store)
    await seed_other(panel.store)
    async with panel_page(browser) as page:
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=panel.url)
        response = await open_panel_page(page, panel.url, panel.context(SALES_MID))
        assert response.status == 200
        assert response.headers["strict-transport-security"].startswith("max-age=")
        await page.wait_for_selector("#conn[data-state=live]")
        await page.wait_for_selector("#objections .objection >> nth=1")
        assert await page.inner_text("#topic") == "Acme renewal call"
        assert await page.inner_text("#status") == "live"
        assert page.url.endswith("/zoomapp/")  # nothing in the address: the session lives in the page
        cards = await page.locator("#objections .objection").all_inner_texts()
        assert "incumbent" in cards[0].lower() or "contract" in cards[0].lower()  # newest (at +15 s) first
        assert "status quo" in cards[1]
        assert OTHER_QUOTE not in await page.inner_text("body")
        summary = await page.inner_text("#summary")
        assert "The buyer finds the price above budget" in summary and "Send a pricing comparison" in summary
        assert "Send pricing comparison" in await page.inner_text("#tickets")
        await no_horizontal_scroll(page)

        # One tap copies the suggested reply.
        await page.click("#objections .objection >> nth=1 >> button.copy")
        await page.wait_for_selector("#objections .objection >> nth=1 >> button.copy:text-is('Copied')")
        assert await page.evaluate("navigator.clipboard.readText()") == (
            "Let's look at the cost of the status quo against this year's budget.")

        # Live, without a reload: a new objection goes on top, a new ticket is marked new, the summary changes.
        await page.evaluate("window.__sameDocument = true")
        [record] = await panel.store.save_insights(SALES, "objection_coach", None, "objections", [
            objection("security-review", "timing", "Our security review alone takes a full quarter.",
                      start + 40_000, 0.64, "Offer to start the security review in parallel with the pilot.")])
        panel.bus.publish(SALES, LiveEvent(type="insight", stream_id=SALES, data=record.model_dump()))
        new_ticket, _ = await panel.store.upsert_ticket(
            SALES, ticket("security-docs", "Send the security questionnaire", start + 40_000))
        panel.bus.publish(SALES, LiveEvent(type="ticket", stream_id=SALES, data=new_ticket.model_dump()))
        summary_record = await panel.store.save_summary(SALES, "meeting_summary", None, {
            "text": "Price, an incumbent contract and a long security review stand in the way.",
            "key_points": [], "decisions": [], "open_questions": []})
        panel.bus.publish(SALES, LiveEvent(type="summary", stream_id=SALES, data=summary_record.model_dump()))
        # Another meeting's news never reaches this panel.
        [theirs] = await panel.store.save_insights(OTHER, "objection_coach", None, "objections", [
            objection("other-timeline", "timing", "Go-live in May is tight.", now_ms(), 0.7, "Phase it.")])
        panel.bus.publish(OTHER, LiveEvent(type="insight", stream_id=OTHER, data=theirs.model_dump()))

        await page.wait_for_selector("#objections .objection >> nth=2")
        newest = await page.inner_text("#objections .objection >> nth=0")
        assert "in parallel with the pilot" in newest
        await page.wait_for_selector("#tickets .ticket:has-text('Send the security questionnaire') .new")
        await page.wait_for_selector("#summary:has-text('long security review')")
        assert await page.locator("#objections .objection").count() == 3
        assert "Go-live in May" not in await page.inner_text("body")
        assert await page.evaluate("window.__sameDocument === true")
        await no_horizontal_scroll(page)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "zoomapp-panel-seeded.png"), full_page=True)

        await panel.store.set_meeting_status(SALES, "ended", ended_at_ms=now_ms(), end_cause="meeting ended")
        panel.bus.publish(SALES, LiveEvent(type="meeting", stream_id=SALES, data={"status": "ended"}))
        await page.wait_for_selector("#status:text-is('ended')")
        assert page.problems == []


async def test_panel_renews_its_session_and_stays_live(browser: Any, tmp_path: Path) -> None:
    """Sessions of 3 s: the page renews before each expires and reconnects with the new one; news still arrives."""
    async with panel_server(tmp_path, session_ttl_s=3.0) as short:
        start = await seed_sales(short.store)
        async with panel_page(browser) as page:
            await open_panel_page(page, short.url, short.context(SALES_MID))
            await page.wait_for_selector("#objections .objection >> nth=1")
            await page.wait_for_timeout(7000)  # two lifetimes
            [record] = await short.store.save_insights(SALES, "objection_coach", None, "objections", [
                objection("late", "timing", "We cannot decide before the board meets.", start + 50_000, 0.7,
                          "Ask when the board meets and what it needs to see.")])
            short.bus.publish(SALES, LiveEvent(type="insight", stream_id=SALES, data=record.model_dump()))
            await page.wait_for_selector("#objections .objection:has-text('before the board meets')")
            assert await page.is_hidden("#notice")  # a reconnect with an expired session would say so and stop
            assert page.problems == []


@pytest.mark.parametrize("forged", [False, True])
async def test_web_client_without_header_gets_the_context_from_the_sdk(panel: PanelServer, forged: bool) -> None:
    """Zoom's web client frames the Home URL and sends no header: the page asks the bundled SDK for the context
    (answered by the web-client double) and trades it for a session; a forged one is refused with the reason."""
    await seed_sales(panel.store)
    context = (encrypt_context(context_payload(SALES_MID), "not-this-apps-secret") if forged
               else panel.context(SALES_MID))
    async with framing_chromium() as browser, panel_page(browser) as page:
        async def zoom_page(route: Any) -> None:
            await route.fulfill(status=200, content_type="text/html",
                                body=web_client.host_page(f"{panel.url}/zoomapp/", context))

        await page.route(web_client.URL, zoom_page)
        await page.goto(web_client.URL)
        frame = page.frame_locator("#app")
        if forged:
            await frame.locator("#notice:has-text('was not issued for this app')").wait_for()
            assert await frame.locator(".objection").count() == 0
            assert "Acme" not in await frame.locator("body").inner_text()
        else:
            await frame.locator("#objections .objection >> nth=1").wait_for()
            assert await frame.locator("#topic").inner_text() == "Acme renewal call"
        assert await page.evaluate("window.__calls") == ["config", "getAppContext"]
        # The framed Home URL itself got no context (401), a forged one is refused (403): nothing else is logged.
        assert [p for p in page.problems if "status of 401" not in p and "status of 403" not in p] == []


@pytest.mark.parametrize("case", ["missing", "forged", "expired"])
async def test_refused_context_shows_why_and_no_data(panel: PanelServer, browser: Any, case: str) -> None:
    await seed_sales(panel.store)
    contexts = {
        "missing": None,
        "forged": encrypt_context(context_payload(SALES_MID), "not-this-apps-secret"),
        "expired": panel.context(SALES_MID, ts=now_ms() - 3_600_000),
    }
    messages = {"missing": "Open this app from the Apps panel", "forged": "was not issued for this app",
                "expired": "has expired"}
    async with panel_page(browser) as page:
        response = await open_panel_page(page, panel.url, contexts[case])
        assert response.status in (401, 403)
        assert messages[case] in await page.inner_text("#notice")
        assert await page.is_hidden("#panel")
        if case == "missing":  # the page asks the SDK for a context; outside Zoom nothing answers
            await page.wait_for_timeout(1000)
        body = await page.inner_text("body")
        assert "Acme" not in body and "status quo" not in body
        assert await page.locator(".objection").count() == 0
        # What the browser logs is the refused page's own status, nothing else (no CSP violation, no script error).
        assert [p for p in page.problems if "status of 40" not in p] == []
