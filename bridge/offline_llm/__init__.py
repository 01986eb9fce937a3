"""A deterministic, rule-based model behind a real Anthropic Messages API, for tests, benchmarks and the demo."""

from __future__ import annotations

from bridge.offline_llm.server import MODELS, OfflineLLM, OfflineLLMConfig, Stats, create_app

__all__ = ["MODELS", "OfflineLLM", "OfflineLLMConfig", "Stats", "create_app"]
