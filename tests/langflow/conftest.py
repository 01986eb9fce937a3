"""Fixtures for the Langflow side: the offline model in-process and ticket-system doubles (the session Langflow
server and the offline model process are in tests/conftest.py, shared with tests/pipeline)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bridge.offline_llm import OfflineLLM
from tests.conftest import ARTIFACTS, OFFLINE_KEY
from tests.langflow.ticket_systems import ServedApp, TicketSystems, create_app

__all__ = ["ARTIFACTS", "OFFLINE_KEY", "close_model"]


@pytest.fixture
async def offline_llm() -> AsyncIterator[OfflineLLM]:
    async with OfflineLLM() as server:
        yield server


@pytest.fixture
async def chat_model(offline_llm: OfflineLLM) -> AsyncIterator[Any]:
    """A real LangChain ChatAnthropic (what Langflow's Anthropic node builds) talking to the offline model."""
    from langchain_anthropic import ChatAnthropic

    model = ChatAnthropic(
        model="claude-haiku-4-5-20251001",
        api_key="offline-key",
        base_url=offline_llm.base_url,
        max_retries=0,
        temperature=0.1,
    )
    yield model
    await close_model(model)


async def close_model(model: Any) -> None:
    """Close the SDK clients LangChain caches on the model, so no socket outlives the test.

    langchain_anthropic also keeps its httpx clients in a cache keyed by base URL: a later test whose offline model
    got the same (reused) port would be handed the closed client, so that cache is emptied too."""
    from langchain_anthropic import _client_utils

    for name in ("_async_client", "_client"):
        client = model.__dict__.get(name)
        if client is not None:
            result = client.close()
            if hasattr(result, "__await__"):
                await result
    _client_utils._get_default_httpx_client.cache_clear()
    _client_utils._get_default_async_httpx_client.cache_clear()


@pytest.fixture
async def ticket_systems() -> AsyncIterator[tuple[TicketSystems, str]]:
    state = TicketSystems()
    async with ServedApp(create_app(state)) as url:
        yield state, url
