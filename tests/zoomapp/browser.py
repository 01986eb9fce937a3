"""Opening the panel as Zoom's client does, in headless Chromium (Debian's /usr/bin/chromium through Playwright):
a ~360 px wide page whose Home URL request carries the `X-Zoom-App-Context` header (added to that one request only,
as Zoom's client does; the page's own requests go without it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.pipeline.watchers import CHROMIUM, CHROMIUM_FLAGS, chromium

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "PANEL_VIEWPORT", "chromium", "framing_chromium", "open_panel_page",
           "panel_page"]

PANEL_VIEWPORT = {"width": 360, "height": 760}


@contextlib.asynccontextmanager
async def framing_chromium() -> AsyncIterator[Any]:
    """Chromium for the web-client double: its zoom.us page frames the bridge, which in the tests is on loopback.
    Chromium's local-network-access check blocks a public origin from framing a loopback one (a real bridge has a
    public HTTPS address), so only that check is turned off."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=[*CHROMIUM_FLAGS, "--disable-features=LocalNetworkAccessChecks"])
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def panel_page(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser context at panel size; `page.problems` collects page errors and console errors (CSP
    violations and failed loads show up there)."""
    context = await browser.new_context(viewport=PANEL_VIEWPORT, device_scale_factor=2)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.problems = problems
    try:
        yield page
    finally:
        await context.close()


async def open_panel_page(page: Any, base_url: str, context: str | None) -> Any:
    """Navigate to the Home URL with `context` as X-Zoom-App-Context (None: no header, like the web client)."""
    home = f"{base_url}/zoomapp/"

    async def add_header(route: Any) -> None:
        headers = dict(route.request.headers)
        if context is not None:
            headers["x-zoom-app-context"] = context
        await route.continue_(headers=headers)

    await page.route(home, add_header)
    return await page.goto(home)
