"""Each flow opened in Langflow's editor (headless Chromium through Playwright): every node rendered, every edge kept,
no "update available" or error badge, every node's component known to the palette the editor loaded, no error toast
and no console error of its own (Langflow's own page logs errors in a sandbox with no internet: fonts, GitHub and
Discord counters, the auto-login probe; those are measured on its flow list first and told apart), with the
`ANTHROPIC_API_KEY` global variable set and without it.

Uses Debian's Chromium (`/usr/bin/chromium`, installed by `./dev test`); no browser is downloaded. A screenshot of
each flow is kept in `tests/artifacts/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.flows_build import FLOWS, flow_id
from bridge.pipeline.config import load_flows_config
from bridge.simulator import MeetingSpec, Simulator
from bridge.simulator.transcripts import load_transcript
from bridge.store import Store
from tests.intake.conftest import Collector, make_settings
from tests.intake.live import serve_bridge, simulator_config
from tests.langflow.conftest import ARTIFACTS, OFFLINE_KEY
from tests.langflow_server import REPO, LangflowServer
from tests.waiting import until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is not installed (./dev test installs Debian's chromium when run as root)",
)


def template_aliases(palette: dict[str, Any]) -> set[str]:
    """Every name the editor resolves a node type by: key, name, display name, class name of `ext:` keys."""
    names: set[str] = set()
    for category, entries in palette.items():
        if not isinstance(entries, dict) or category == "component_display_names":
            continue
        for key, template in entries.items():
            names |= {key, template.get("name"), template.get("display_name")} - {None}
            match = re.fullmatch(r"ext:[^:]+:([^@]+)@.+", key)
            if match:
                names |= {match.group(1), match.group(1).removesuffix("Component")}
    return names


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


@pytest.fixture
async def editor(langflow: LangflowServer) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        page = await browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{langflow.base_url}/login")
        await page.fill("input[name=username]", langflow.superuser)
        await page.fill("input[type=password]", langflow.password)
        await page.click("button:has-text('Sign In')")
        await page.wait_for_url(re.compile(r".*/(flows|all|projects).*"))
        await page.wait_for_timeout(3000)
        page.baseline = {first_line(e) for e in errors}  # type: ignore[attr-defined]
        errors.clear()
        page.console_errors = errors  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            await browser.close()


async def open_clean(editor: Any, langflow: LangflowServer, name: str, fid: str, flow: dict[str, Any],
                     tag: str = "") -> None:
    editor.console_errors.clear()
    await editor.goto(f"{langflow.base_url}/flow/{fid}")
    await editor.wait_for_selector(".react-flow__node")
    await editor.wait_for_timeout(4000)  # the editor checks nodes against the palette (and refreshes) after loading
    ARTIFACTS.mkdir(exist_ok=True)
    await editor.screenshot(path=str(ARTIFACTS / f"flow-{name}{tag}.png"))

    rendered = {
        await node.get_attribute("data-id"): node for node in await editor.query_selector_all(".react-flow__node")
    }
    assert set(rendered) == {node["id"] for node in flow["data"]["nodes"]}
    assert len(await editor.query_selector_all(".react-flow__edge")) == len(flow["data"]["edges"])
    for node_id, node in rendered.items():
        html = await node.inner_html()
        for badge in ("update-button", "dismiss-warning-bar", "error-card"):
            assert f'data-testid="{badge}"' not in html, f"{name}: {node_id} shows {badge}"
    toasts = [(await t.inner_text()).strip()
              for t in await editor.query_selector_all("li[data-sonner-toast], [role=alert], [role=status]")]
    toasts = [t for t in toasts if t]
    (ARTIFACTS / f"flow-{name}{tag}-toasts.txt").write_text("\n---\n".join(toasts) + "\n")
    page_text = await editor.inner_text("body")
    assert "Flow needs review" not in page_text and "components need updates" not in page_text
    for text in (page_text, *toasts):
        assert "Error while updating" not in text and "Error getting model names" not in text, text
    assert [t for t in toasts if "error" in t.lower() or "removed" in t.lower()] == [], toasts
    own = [e for e in editor.console_errors if first_line(e) not in editor.baseline]
    assert own == [], f"{name}{tag}: console errors {own}"
    # "Missing component": a node type the editor cannot resolve against the palette it loaded.
    known = template_aliases(langflow.palette())
    assert all(node["data"]["type"] in known for node in flow["data"]["nodes"])


@pytest.mark.parametrize("name", list(FLOWS))
async def test_flow_opens_clean_in_the_editor(name: str, editor: Any, langflow: LangflowServer) -> None:
    flow = json.loads((REPO / "flows" / f"{name}.json").read_text())
    await open_clean(editor, langflow, name, flow_id(name), flow)


async def test_flows_open_clean_without_a_key(editor: Any, langflow: LangflowServer) -> None:
    """A plain Langflow where nobody set ANTHROPIC_API_KEY yet: copies of the flows (new ids, so the session's flows
    stay as they are) open with no error; the variable is put back afterwards."""
    with langflow.client() as http:
        variables = http.get("/api/v1/variables/").json()
        key = next((v for v in variables if v["name"] == "ANTHROPIC_API_KEY"), None)
        if key is not None:
            assert http.delete(f"/api/v1/variables/{key['id']}").status_code in (200, 204)
        try:
            for name in FLOWS:
                flow = json.loads((REPO / "flows" / f"{name}.json").read_text())
                copy = {**flow, "name": f"{flow['name']} (no key)", "endpoint_name": f"nokey_{name}"}
                copy.pop("id")
                created = http.post("/api/v1/flows/", json=copy)
                assert created.status_code == 201, created.text
                await open_clean(editor, langflow, name, created.json()["id"], flow, "-no-key")
                http.delete(f"/api/v1/flows/{created.json()['id']}")
        finally:
            if key is not None:
                http.post("/api/v1/variables/", json={"name": "ANTHROPIC_API_KEY", "value": OFFLINE_KEY,
                                                      "type": "Credential", "default_fields": []})


PALETTE = [("Chat Input", (380, 80)), ("Transcript Window", (760, 80)), ("Objection Detector", (1140, 80)),
           ("Insights Output", (1520, 80)), ("Chat Output", (1520, 500)), ("Anthropic", (760, 600))]
WIRES = [("chatinput-noshownode-chat message-source", "transcriptwindowcomponent-shownode-window (json)-left"),
         ("transcriptwindowcomponent-shownode-window-right", "objectiondetectorcomponent-shownode-window-left"),
         ("anthropicmodelcomponent-shownode-language model-right",
          "objectiondetectorcomponent-shownode-language model-left"),
         ("transcriptwindowcomponent-shownode-window-right", "insightsoutputcomponent-shownode-window-left"),
         ("objectiondetectorcomponent-shownode-objections-right", "insightsoutputcomponent-shownode-result-left"),
         ("insightsoutputcomponent-shownode-insights-right", "chatoutput-noshownode-inputs-target")]


async def wire(page: Any, source: str, target: str) -> None:
    """Drag from an output handle to an input handle, as a lead connects two nodes."""
    start = await page.locator(f"[data-testid='handle-{source}']").first.bounding_box()
    end = await page.locator(f"[data-testid='handle-{target}']").first.bounding_box()
    await page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=15)
    await page.mouse.up()
    await page.wait_for_timeout(500)


@pytest.mark.timeout(900)  # alone, it waits for the session's Langflow to start, then replays a meeting
async def test_a_flow_built_from_the_palette_finds_objections_through_the_bridge(
    editor: Any, langflow: LangflowServer, offline_llm_process: Any, tmp_path: Path
) -> None:
    """A lead rebuilds the objection coach on an empty canvas: drags the components from the palette, picks the
    Anthropic node's Language Model output, connects them, and gives the flow a new endpoint name; `flows.toml`
    points at it (tweaks by component type), and a simulated meeting through the bridge produces objections."""
    endpoint = "palette_coach"
    with langflow.client() as http:
        empty = http.post("/api/v1/flows/", json={"name": "Rebuilt from the palette",
                                                  "data": {"nodes": [], "edges": [], "viewport": {"x": 0, "y": 0,
                                                                                                 "zoom": 1}}})
        assert empty.status_code == 201, empty.text
        fid = empty.json()["id"]
    await editor.set_viewport_size({"width": 2200, "height": 1300})
    await editor.goto(f"{langflow.base_url}/flow/{fid}")
    await editor.wait_for_selector(".react-flow__pane")
    await editor.wait_for_timeout(2000)
    for name, (x, y) in PALETTE:
        await editor.fill("[data-testid=sidebar-search-input]", name)
        await editor.wait_for_timeout(800)
        await editor.locator(f"[draggable=true]:has-text('{name}')").first.drag_to(
            editor.locator(".react-flow__pane"), target_position={"x": x, "y": y})
        await editor.wait_for_timeout(800)
    assert await editor.locator(".react-flow__node").count() == len(PALETTE)
    # The lead pastes a key into the new Anthropic node (any key: the model is the offline one, by the bridge's
    # tweak), before choosing its output: a key change refreshes the node.
    model = editor.locator(".react-flow__node:has([data-testid='title-Anthropic'])")
    key = model.locator("[data-testid='popover-anchor-input-api_key']").first
    await key.fill("sk-ant-pasted-by-the-lead")
    await key.press("Tab")
    await editor.wait_for_timeout(3000)
    # The Anthropic node shows its text output; the agents take its Language Model output.
    await editor.click("[data-testid^=dropdown-output-]")
    choice = "[role=menuitem]:has-text('Language Model'), [role=option]:has-text('Language Model')"
    await editor.locator(choice).first.click()
    await editor.wait_for_timeout(800)
    for source, target in WIRES:
        await wire(editor, source, target)
    assert await editor.locator(".react-flow__edge").count() == len(WIRES)
    await editor.click("[data-testid=publish-button]")
    await editor.click("[data-testid=api-access-item]")
    await editor.click("[data-testid=endpoint-name-button]")
    await editor.fill("input#endpoint_name", endpoint)
    await editor.press("input#endpoint_name", "Enter")
    await editor.wait_for_timeout(1500)
    await editor.keyboard.press("Escape")
    saved: dict[str, Any] = {}
    for _ in range(30):  # the editor saves by itself, a moment later
        await editor.wait_for_timeout(1000)
        with langflow.client() as http:
            saved = http.get(f"/api/v1/flows/{fid}").json()
        if saved["endpoint_name"] == endpoint and len(saved["data"]["edges"]) == len(WIRES):
            break
    ARTIFACTS.mkdir(exist_ok=True)
    await editor.screenshot(path=str(ARTIFACTS / "flow-built-from-the-palette.png"))
    assert saved["endpoint_name"] == endpoint and len(saved["data"]["edges"]) == len(WIRES)
    assert not any(n["id"].endswith("-zrtms") for n in saved["data"]["nodes"])

    config = tmp_path / "flows.toml"
    config.write_text(f"""
[flows.{endpoint}]
kind = "objections"
[flows.{endpoint}.tweaks]
RTMSObjectionDetector = {{ max_objections = 25 }}
[flows.{endpoint}.triggers]
turn = {{ non_host = true, min_chars = 20, quiet_s = 2.0 }}
final = true
""")
    assert load_flows_config(config).flows[endpoint].kind == "objections"
    settings = make_settings(langflow_url=langflow.base_url, langflow_api_key=langflow.api_key,
                             database_url=f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}", flows_config=config,
                             langflow_tweaks={"AnthropicModel": {"base_url": offline_llm_process.base_url}},
                             api_token="test-token")
    sales = load_transcript("sales")
    async with serve_bridge(settings, Collector()) as live:
        async with Simulator(simulator_config(live.webhook_url, speed=60.0)) as sim:
            handle = await sim.start_meeting(MeetingSpec(transcript=sales))
            report = await handle.wait(timeout=300)
            assert report.errors == []
            await live.manager.wait_stream(handle.rtms_stream_id, 30)
        store = live.app.state.bridge.store
        assert isinstance(store, Store)
        async def windows_finished() -> bool:
            return not await store.unfinished_windows(handle.rtms_stream_id)

        await until(windows_finished, timeout_s=240, what="the final windows", poll_s=0.5)
        insights = await store.insights(handle.rtms_stream_id)
        windows = await store.windows(handle.rtms_stream_id)
    assert windows and all(w.flow == endpoint for w in windows), windows
    assert all(w.status == "done" for w in windows), [w.error for w in windows if w.status != "done"]
    categories = {r.payload.get("category") for r in insights if r.kind != "summary"}
    assert {"price", "competitor"} <= categories, categories
