"""The panel served for real: the store on a SQLite file, the bus, the API and the Zoom App routes with their header
middleware in a FastAPI app run by uvicorn on loopback. Contexts come from the Zoom-side double
(`tests.zoomapp.zoom_context`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from bridge.api import api_router
from bridge.pipeline.bus import EventBus
from bridge.store import Store
from bridge.zoomapp import ZoomAppHeaders, zoomapp_router
from tests.api.conftest import FAST, TOKEN, serve
from tests.zoomapp.zoom_context import context_payload, encrypt_context

SECRET = "zoom-app-secret-for-tests-91c"


@dataclass
class PanelServer:
    url: str
    store: Store
    bus: EventBus
    secret: list[str]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10.0)

    def context(self, mid: str | None, **fields: object) -> str:
        return encrypt_context(context_payload(mid, **fields), SECRET)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def panel_server(tmp_path: Path, *, secret: str = SECRET,
                       session_ttl_s: float = 900.0) -> AsyncIterator[PanelServer]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'panel.db'}")
    bus = EventBus(queue_size=64)
    secrets = [secret]
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(ZoomAppHeaders)
    app.include_router(api_router(lambda: store, lambda: bus, SecretStr(TOKEN), timing=FAST))
    app.include_router(zoomapp_router(lambda: secrets[0], lambda: store, lambda: bus, timing=FAST,
                                      session_ttl_s=session_ttl_s))
    try:
        async with serve(app) as url:
            try:
                yield PanelServer(url, store, bus, secrets)
            finally:
                bus.close()
    finally:
        await store.close()


@pytest.fixture
async def panel(tmp_path: Path) -> AsyncIterator[PanelServer]:
    async with panel_server(tmp_path) as server:
        yield server
