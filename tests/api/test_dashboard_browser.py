"""The dashboard in headless Chromium (Debian's /usr/bin/chromium through Playwright; nothing downloaded) against
the real API: it renders a meeting from the store and follows live events without a reload. A screenshot is kept
in tests/artifacts/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bridge.pipeline.bus import LiveEvent
from bridge.store import LineRecord
from tests.api.conftest import (
    PLANNING,
    SALES,
    TOKEN,
    ApiServer,
    api_server,
    now_ms,
    objection,
    seed_planning,
    seed_sales,
    ticket,
)
from tests.waiting import until

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

# One Chromium for the module (its start is most of these tests' time), so everything runs in the module's loop.
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (./dev test installs "
                                                      "Debian's chromium when run as root)"),
    pytest.mark.asyncio(loop_scope="module"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS,
                                                    headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def api(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with api_server(tmp_path) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # CSP violations and failed loads show up as console errors.
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.problems = problems
    try:
        yield page
    finally:
        await context.close()


async def test_dashboard_renders_a_meeting_and_follows_it_live(api: ApiServer, page: Any) -> None:
    start = await seed_sales(api.store)
    await seed_planning(api.store)

    await page.goto(f"{api.url}/#token={TOKEN}")
    await page.wait_for_selector("#meetings li >> nth=1")
    assert TOKEN not in page.url  # taken out of the address bar, kept in sessionStorage
    assert await page.evaluate("sessionStorage.getItem('rtms-langflow.token')") == TOKEN
    assert await page.is_visible("#offline-banner")
    assert await page.inner_text("#model-badge") == "model: offline"
    rows = await page.locator("#meetings li").all_inner_texts()
    assert any("Acme renewal call" in r and "LIVE" in r.upper() for r in rows)
    assert any("Q3 planning" in r and "ENDED" in r.upper() for r in rows)

    await page.click("#meetings li:has-text('Acme renewal call') a")
    await page.wait_for_selector("#conn[data-state=live]")
    await page.wait_for_selector(".objection >> nth=1")
    assert SALES in page.url and await page.inner_text("#m-title") == "Acme renewal call"
    assert await page.text_content("#m-status") == "live"
    people = await page.inner_text("#m-people")
    assert "Dana Host (host)" in people and "Sam Buyer" in people

    # Transcript: 4 lines, the two consecutive ones of Sam Buyer in one turn.
    turns = page.locator("#transcript .turn")
    assert await turns.count() == 3
    assert await page.inner_text("#line-count") == "4"
    sam = await turns.nth(1).inner_text()
    assert "Sam Buyer" in sam and "above what we budgeted" in sam and "locked into a contract" in sam

    summary = await page.inner_text("#summary")
    assert "The buyer finds the price above budget" in summary
    assert "Price is above this year's budget" in summary
    assert "Send a pricing comparison" in summary
    assert "When does the incumbent's contract end?" in summary

    cards = page.locator("#objections .objection")
    assert await cards.count() == 2
    texts = " ".join(await cards.all_inner_texts())
    for expected in ("price", "competitor", "86%", "72%", "Sam Buyer", "above what we budgeted",
                     "Let's look at the cost of the status quo", "Suggested reply"):
        assert expected.lower() in texts.lower(), expected

    link = page.locator("#tickets .ticket a")
    assert await link.inner_text() == "Send pricing comparison"
    assert await link.get_attribute("href") == "https://github.com/acme/sales/issues/42"
    assert await link.get_attribute("rel") == "noopener noreferrer"
    ticket_text = (await page.inner_text("#tickets")).lower()
    assert "created" in ticket_text and "high priority" in ticket_text and "owner: dana host" in ticket_text

    figures = {await f.get_attribute("data-figure"): await f.inner_text()
               for f in await page.locator("#figures .figure").all()}
    assert "2" in figures["windows"] and "none failed" in figures["windows"]
    assert re.search(r"\d", figures["latency_p50"]) and re.search(r"\d", figures["latency_p95"])
    assert "2" in figures["model_calls"]
    assert "2,400 / 600" in figures["tokens"]
    assert re.search(r"\d+(\.\d+)? (s|ms|min)", figures["insight_delay"])

    # Live: the page must not reload, so a marker set now survives.
    await page.evaluate("window.__sameDocument = true")
    line = LineRecord(seq=5, speaker="Sam Buyer", user_id="u-buyer", start_ms=start + 30_000,
                      end_ms=start + 33_000, text="Our security review alone takes a full quarter.",
                      received_at_ms=now_ms())
    await api.store.add_line(SALES, line)
    api.bus.publish(SALES, LiveEvent(type="line", stream_id=SALES, data=line.model_dump()))
    [record] = await api.store.save_insights(SALES, "objection_coach", None, "objections", [
        objection("security-review", "timing", line.text, line.start_ms, 0.64,
                  "Offer to start the security review in parallel with the pilot.")])
    api.bus.publish(SALES, LiveEvent(type="insight", stream_id=SALES, data=record.model_dump()))
    new_ticket, _ = await api.store.upsert_ticket(
        SALES, ticket("security-docs", "Send the security questionnaire", line.start_ms,
                      url="https://tickets.example/T-9", status="dry_run"))
    api.bus.publish(SALES, LiveEvent(type="ticket", stream_id=SALES, data=new_ticket.model_dump() | {"new": True}))
    summary_record = await api.store.save_summary(SALES, "meeting_summary", None, {
        "text": "Price, an incumbent contract and a long security review stand in the way.",
        "key_points": [], "decisions": [], "open_questions": []})
    api.bus.publish(SALES, LiveEvent(type="summary", stream_id=SALES, data=summary_record.model_dump()))
    api.bus.publish(SALES, LiveEvent(type="window", stream_id=SALES, data={"id": 99, "status": "done"}))

    await page.wait_for_selector("#transcript .turn:has-text('security review alone')")
    await page.wait_for_selector("#objections .objection >> nth=2")
    await page.wait_for_selector("#tickets a:has-text('Send the security questionnaire')")
    await page.wait_for_selector("#summary:has-text('long security review')")
    assert await page.inner_text("#line-count") == "5"
    assert await turns.count() == 4  # a new turn: the line before is Dana Host's
    assert "security review alone" in await turns.nth(3).inner_text()
    newest = (await page.inner_text("#objections .objection >> nth=0")).lower()
    assert "timing" in newest and "64%" in newest and "in parallel with the pilot" in newest
    assert "dry run" in (await page.inner_text("#tickets")).lower()
    assert await page.evaluate("window.__sameDocument === true")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # The meeting ends: the status follows and the page says the stream is over.
    await api.store.set_meeting_status(SALES, "ended", ended_at_ms=now_ms(), end_cause="meeting ended")
    api.bus.publish(SALES, LiveEvent(type="meeting", stream_id=SALES, data={"status": "ended"}))
    await page.wait_for_selector("#m-status:text-is('ended')")
    await page.wait_for_selector("#conn[data-state=idle]:has-text('updates done')")
    assert await page.evaluate("window.__sameDocument === true")
    assert page.problems == []


async def test_wrong_token_asks_for_one(api: ApiServer, page: Any) -> None:
    await seed_planning(api.store)
    await page.goto(f"{api.url}/#token=not-the-token&meeting={PLANNING}")
    await page.wait_for_selector("#token-panel:not([hidden])")
    assert "not accepted" in await page.inner_text("#error-banner")
    assert await page.is_hidden("#app")
    assert await page.evaluate("sessionStorage.getItem('rtms-langflow.token')") is None
    # Pasting the right token opens the meeting named in the fragment.
    await page.fill("#token-input", TOKEN)
    await page.click("#token-form button[type=submit]")
    await page.wait_for_selector("#meetings li:has-text('Q3 planning')")
    await page.wait_for_selector("#m-title:text-is('Q3 planning')")
    assert await page.is_hidden("#error-banner")
    assert [p for p in page.problems if "401" not in p] == []  # the rejected token's 401 is logged by Chromium


async def test_deleted_meeting_leaves_the_page(api: ApiServer, page: Any) -> None:
    """Stop reason 8: the meeting's data is deleted while it is shown; the page says so and drops it."""
    await seed_sales(api.store)
    await seed_planning(api.store)
    await page.goto(f"{api.url}/#token={TOKEN}&meeting={SALES}")
    await page.wait_for_selector("#conn[data-state=live]")
    await page.wait_for_selector("#transcript .turn")
    await api.store.delete_stream(SALES)
    api.bus.publish(SALES, LiveEvent(type="meeting", stream_id=SALES, data={"deleted": True}))
    await page.wait_for_selector("#detail-empty-title:text-is('Meeting unavailable')")
    assert await page.is_hidden("#detail-body")
    assert "deleted" in await page.inner_text("#detail-empty-text")
    await page.wait_for_function("document.querySelectorAll('#meetings li').length === 1")
    assert "Q3 planning" in await page.inner_text("#meetings")
    assert await page.text_content("#transcript") == ""  # nothing of it left on the page
    assert page.problems == []


async def _insight_tops(page: Any) -> dict[str, float]:
    """Top edge (viewport px) of each insight card's first item, or of its empty note."""
    return await page.evaluate("""() => Object.fromEntries(["objections", "summary", "tickets"].map((id) => {
        const box = document.getElementById(id);
        const first = box.firstElementChild || box.parentElement;
        return [id, first.getBoundingClientRect().top];
    }))""")


async def test_insights_sit_above_the_fold_and_the_transcript_folds(api: ApiServer, browser: Any) -> None:
    """A long call (600 lines, a dozen objections): objections, summary and tickets are on the first screen, the
    page is not thousands of pixels tall, and the transcript folds away."""
    start = await seed_sales(api.store)
    for seq in range(5, 605):
        at = start + seq * 4000
        await api.store.add_line(SALES, LineRecord(
            seq=seq, speaker="Sam Buyer" if seq % 2 else "Dana Host", user_id="u-buyer" if seq % 2 else "u-host",
            start_ms=at, end_ms=at + 3000, text=f"We keep talking about line {seq} of this call.",
            received_at_ms=at + 3100))
    await api.store.save_insights(SALES, "objection_coach", None, "objections", [
        objection(f"extra-{i}", "timing", f"Objection number {i} about timing.", start + 20_000 + i * 1000, 0.5,
                  "A reply that takes a line or two to say, so the cards have some height to them.")
        for i in range(10)])
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    try:
        await page.goto(f"{api.url}/#token={TOKEN}&meeting={SALES}")
        await page.wait_for_selector("#objections .objection >> nth=11")
        await page.wait_for_function("document.querySelectorAll('#transcript .turn').length > 100")
        tops = await _insight_tops(page)
        assert all(0 < top < 900 - 40 for top in tops.values()), tops
        for card in ("#objections", "#summary", "#tickets .ticket"):
            assert await page.locator(f"{card} >> nth=0").is_visible()
        height = await page.evaluate("document.documentElement.scrollHeight")
        assert height < 2400, height  # the sales call's page was ~9,700 px before the insights moved up
        transcript_top = await page.evaluate("document.getElementById('transcript-box').getBoundingClientRect().top")
        assert transcript_top > min(tops.values())  # the transcript comes after the insights
        await page.click("#transcript-box > summary")
        assert await page.is_hidden("#transcript")
        assert await page.evaluate("document.documentElement.scrollHeight") < height
        ARTIFACTS.mkdir(exist_ok=True)
        await page.click("#transcript-box > summary")  # open again for the picture
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(ARTIFACTS / "dashboard-long-call.png"))
    finally:
        await context.close()


async def test_every_bundled_sample_shows_its_topic_and_an_honest_state(tmp_path: Path, browser: Any) -> None:
    """The real bridge (webhooks, RTMS sockets, the pipeline's store writes) fed by the simulator with each bundled
    sample: the list and the detail page name each meeting by the topic of its `meeting.started` webhook and no
    ended meeting reads "live"."""
    from bridge.pipeline.bus import EventBus
    from bridge.pipeline.config import load_flows_config
    from bridge.pipeline.consumer import Pipeline
    from bridge.rtms.enums import Product
    from bridge.simulator import MeetingSpec, Simulator
    from bridge.simulator.transcripts import load_transcript, sample_names
    from bridge.store import Store
    from tests.intake.conftest import make_settings
    from tests.intake.live import serve_bridge, simulator_config

    url = f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}"
    store = await Store.open(url)
    pipeline = Pipeline(store, EventBus(), load_flows_config(None), None)  # no Langflow: meetings and lines only
    samples = {name: load_transcript(name) for name in sample_names()}
    products = [Product.MEETING, Product.WEBINAR, Product.SESSION]
    settings = make_settings(database_url=url, api_token=TOKEN)
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    try:
        async with serve_bridge(settings, pipeline) as live:
            async with Simulator(simulator_config(live.webhook_url, speed=300.0)) as sim:
                reports = await sim.run_meetings(
                    [MeetingSpec(transcript=t.sliced(60_000), product=products[i % len(products)])
                     for i, t in enumerate(samples.values())], timeout=60)
            assert all(r.errors == [] for r in reports)
            async def all_ended() -> bool:  # the pipeline marks each meeting ended once its stream is over
                meetings = await store.list_meetings()
                return len(meetings) == len(samples) and all(m.status == "ended" for m in meetings)

            await until(all_ended, timeout_s=30, what="every meeting to be marked ended")
            await page.goto(f"{live.url}/#token={TOKEN}")
            await page.wait_for_selector(f"#meetings li >> nth={len(samples) - 1}")
            rows = await page.locator("#meetings li").all_inner_texts()
            for name, transcript in samples.items():
                topic = transcript.meta.topic
                assert topic, name
                row = next((r for r in rows if topic[:40] in r), None)
                assert row is not None, (name, rows)
                assert "live" not in row.lower() and "ended" in row.lower(), row
                assert "==" not in row  # never the base64 meeting id
            for state in await page.locator("#meetings li .status").all_inner_texts():
                assert state.strip().lower() == "ended"
            for name, transcript in samples.items():
                await page.click(f"#meetings li:has-text({transcript.meta.topic[:40]!r}) a")
                await page.wait_for_selector(f"#m-title:text-is({transcript.meta.topic!r})")
                await page.wait_for_selector("#transcript .turn")
                assert (await page.text_content("#m-status") or "").strip() == "ended", name
                meta = await page.inner_text("#m-meta")
                assert "terminated" not in meta and "host" in meta, meta
    finally:
        await context.close()
        await pipeline.close()
        await store.close()
    assert problems == []


async def test_pills_say_what_each_meeting_is_doing(api: ApiServer, page: Any) -> None:
    """The meeting's pill is its state (a normal end, an error, a revocation, a bridge stop), never how the stream
    closed; the page's own connection is the small indicator beside it."""
    store = api.store
    cases = [("s-ok", "terminated", 6, "ended"), ("s-err", "terminated", 24, "ended with an error"),
             ("s-rev", "stopped", 5, "revoked"), ("s-stop", "shutdown", None, "bridge stopped")]
    for stream, cause, reason, _ in cases:
        await store.upsert_meeting(stream, instance_id=f"inst-{stream}", product="meeting",
                                   started_at_ms=now_ms() - 600_000)
        await store.save_meeting_name(f"inst-{stream}", product="meeting", topic=f"Topic of {stream}")
        await store.set_meeting_status(stream, "ended", ended_at_ms=now_ms(), end_cause=cause)
        if reason is not None:
            await store.set_stop_reason(stream, reason)
    await page.goto(f"{api.url}/#token={TOKEN}")
    await page.wait_for_selector(f"#meetings li >> nth={len(cases) - 1}")
    for stream, _, _, label in cases:
        row = page.locator(f"#meetings li[data-id={stream}]")
        assert await row.locator(".m-name").inner_text() == f"Topic of {stream}"
        assert (await row.locator(".status").inner_text()).strip().lower() == label
    await page.click("#meetings li[data-id=s-err] a")
    await page.wait_for_selector("#m-title:text-is('Topic of s-err')")
    assert (await page.inner_text("#m-status")).strip().lower() == "ended with an error"
    meta = await page.inner_text("#m-meta")
    assert "keep-alive" in meta and "terminated" not in meta
    assert await page.get_attribute("#conn", "data-state") in ("connecting", "live", "idle")
    assert "live" not in (await page.inner_text("#conn")).lower()
    await page.click("#meetings li[data-id=s-ok] a")
    await page.wait_for_selector("#m-title:text-is('Topic of s-ok')")
    assert "ended" not in (await page.inner_text("#m-meta")).lower()  # a normal end needs no explanation
    assert page.problems == []
