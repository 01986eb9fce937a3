"""Each flow opened in Langflow's editor (headless Chromium through Playwright): every node rendered, every edge kept,
no "update available" or error badge, every node's component known to the palette the editor loaded.

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
from tests.langflow.conftest import ARTIFACTS
from tests.langflow_server import REPO, LangflowServer

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


@pytest.fixture
async def editor(langflow: LangflowServer) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        page = await browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        await page.goto(f"{langflow.base_url}/login")
        await page.fill("input[name=username]", langflow.superuser)
        await page.fill("input[type=password]", langflow.password)
        await page.click("button:has-text('Sign In')")
        await page.wait_for_url(re.compile(r".*/(flows|all|projects).*"))
        try:
            yield page
        finally:
            await browser.close()


@pytest.mark.parametrize("name", list(FLOWS))
async def test_flow_opens_clean_in_the_editor(name: str, editor: Any, langflow: LangflowServer) -> None:
    flow = json.loads((REPO / "flows" / f"{name}.json").read_text())
    toasts: list[str] = []
    await editor.goto(f"{langflow.base_url}/flow/{flow_id(name)}")
    await editor.wait_for_selector(".react-flow__node")
    await editor.wait_for_timeout(3000)  # the editor checks nodes against the palette right after loading
    ARTIFACTS.mkdir(exist_ok=True)
    await editor.screenshot(path=str(ARTIFACTS / f"flow-{name}.png"))

    rendered = {
        await node.get_attribute("data-id"): node for node in await editor.query_selector_all(".react-flow__node")
    }
    assert set(rendered) == {node["id"] for node in flow["data"]["nodes"]}
    assert len(await editor.query_selector_all(".react-flow__edge")) == len(flow["data"]["edges"])
    for node_id, node in rendered.items():
        html = await node.inner_html()
        for badge in ("update-button", "dismiss-warning-bar", "error-card"):
            assert f'data-testid="{badge}"' not in html, f"{name}: {node_id} shows {badge}"
    for toast in await editor.query_selector_all("li[data-sonner-toast], [role=alert], [role=status]"):
        toasts.append((await toast.inner_text()).strip())
    page_text = await editor.inner_text("body")
    assert "Flow needs review" not in page_text and "components need updates" not in page_text
    assert not [t for t in toasts if "removed" in t.lower()], toasts
    (ARTIFACTS / f"flow-{name}-toasts.txt").write_text("\n---\n".join(t for t in toasts if t) + "\n")
    # "Missing component": a node type the editor cannot resolve against the palette it loaded.
    known = template_aliases(langflow.palette())
    assert all(node["data"]["type"] in known for node in flow["data"]["nodes"])
