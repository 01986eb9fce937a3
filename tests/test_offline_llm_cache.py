"""The offline model's prompt-cache accounting (pure functions): Anthropic's documented rules, figure by figure."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.offline_llm.cache import (
    CacheRequestError,
    CacheUsage,
    PromptCache,
    billed_equivalent,
    blocks,
    min_cacheable_tokens,
    request_tokens,
)
from bridge.offline_llm.wire import MessagesRequest

HAIKU = "claude-haiku-4-5-20251001"
SONNET_45 = "claude-sonnet-4-5-20250929"
EPHEMERAL = {"type": "ephemeral"}
MINUTE = 60_000


def text(chars: int, letter: str = "a") -> str:
    """`chars` characters: chars / 4 tokens for the double's counter."""
    return letter * chars


def request(
    *,
    model: str = HAIKU,
    system_chars: int = 20_000,
    marker: dict[str, Any] | None = EPHEMERAL,
    user: str = "what changed?",
    tool_choice: dict[str, Any] | None = None,
    automatic: dict[str, Any] | None = None,
    system_letter: str = "a",
) -> MessagesRequest:
    system: dict[str, Any] = {"type": "text", "text": text(system_chars, system_letter)}
    if marker is not None:
        system["cache_control"] = marker
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 100,
        "system": [system],
        "messages": [{"role": "user", "content": user}],
    }
    if tool_choice is not None:
        body["tools"] = [{"name": "report", "input_schema": {"type": "object"}}]
        body["tool_choice"] = tool_choice
    if automatic is not None:
        body["cache_control"] = automatic
    return MessagesRequest.model_validate(body)


def test_minimum_per_model() -> None:
    assert min_cacheable_tokens(HAIKU) == 4096
    assert min_cacheable_tokens("claude-opus-4-6") == 4096
    assert min_cacheable_tokens("claude-opus-4-5-20251101") == 4096
    assert min_cacheable_tokens("claude-sonnet-4-6") == 2048
    assert min_cacheable_tokens(SONNET_45) == 1024
    assert min_cacheable_tokens("claude-opus-4-1-20250805") == 1024
    assert min_cacheable_tokens("claude-sonnet-4-20250514") == 1024
    assert min_cacheable_tokens("someone-elses-model") == 4096


def test_blocks_in_render_order_and_token_sum() -> None:
    body = MessagesRequest.model_validate(
        {
            "model": HAIKU,
            "max_tokens": 10,
            "system": "sys prompt",
            "tools": [{"name": "t", "description": "d", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
                {"role": "assistant", "content": "three"},
            ],
        }
    )
    rendered = blocks(body)
    assert [b.section for b in rendered] == ["tools", "system", "messages", "messages", "messages"]
    assert request_tokens(body) == sum(b.tokens for b in rendered)


def test_first_call_writes_second_reads_and_the_rest_is_uncached() -> None:
    cache = PromptCache()
    first = cache.account(request(), now_ms=0)
    assert first == CacheUsage(4, 5000, 0, 5000, 0, 1)  # 20,000 chars = 5,000 tokens written; "what changed?" = 4
    second = cache.account(request(user="and now?"), now_ms=MINUTE)
    assert (second.input_tokens, second.cache_creation_input_tokens, second.cache_read_input_tokens) == (2, 0, 5000)
    assert billed_equivalent(first) == 4 + 1.25 * 5000
    assert billed_equivalent(second) == 2 + 0.1 * 5000


def test_below_the_model_minimum_nothing_is_cached_and_nothing_says_so() -> None:
    cache = PromptCache()
    small = {"system_chars": 4 * 3000}  # 3,000 tokens: under Haiku 4.5's 4,096, over Sonnet 4.5's 1,024
    for now in (0, MINUTE):
        usage = cache.account(request(**small), now_ms=now)
        assert usage.cache_creation_input_tokens == usage.cache_read_input_tokens == 0
        assert usage.input_tokens == 3000 + 4
    assert cache.account(request(model=SONNET_45, **small), now_ms=0).cache_creation_input_tokens == 3000
    assert cache.account(request(model=SONNET_45, **small), now_ms=1).cache_read_input_tokens == 3000


def test_no_marker_no_cache() -> None:
    cache = PromptCache()
    for now in (0, 1):
        usage = cache.account(request(marker=None), now_ms=now)
        assert usage == CacheUsage(5004, 0, 0)


def test_five_minutes_from_the_last_use_refreshed_by_each_hit() -> None:
    cache = PromptCache()
    cache.account(request(), now_ms=0)
    assert cache.account(request(), now_ms=4 * MINUTE).cache_read_input_tokens == 5000  # refreshes to 9 min
    assert cache.account(request(), now_ms=8 * MINUTE).cache_read_input_tokens == 5000  # refreshes to 13 min
    late = cache.account(request(), now_ms=13 * MINUTE + 1)
    assert (late.cache_read_input_tokens, late.cache_creation_input_tokens) == (0, 5000)


def test_one_hour_ttl_is_billed_twice_and_lives_an_hour() -> None:
    cache = PromptCache()
    first = cache.account(request(marker={"type": "ephemeral", "ttl": "1h"}), now_ms=0)
    assert (first.cache_creation_1h, first.cache_creation_5m) == (5000, 0)
    assert billed_equivalent(first) == 4 + 2.0 * 5000
    assert cache.account(request(marker={"type": "ephemeral", "ttl": "1h"}), now_ms=59 * MINUTE).cache_read_input_tokens


def test_a_changed_byte_before_the_breakpoint_misses() -> None:
    cache = PromptCache()
    cache.account(request(), now_ms=0)
    changed = cache.account(request(system_letter="b"), now_ms=1)
    assert (changed.cache_read_input_tokens, changed.cache_creation_input_tokens) == (0, 5000)
    other_model = cache.account(request(model="claude-opus-4-6"), now_ms=2)
    assert other_model.cache_read_input_tokens == 0


def test_tool_choice_invalidates_messages_not_system() -> None:
    cache = PromptCache()
    marked_user = [{"type": "text", "text": text(400), "cache_control": EPHEMERAL}]

    def body(choice: str) -> MessagesRequest:
        base = request(tool_choice={"type": "tool", "name": "report"} if choice == "tool" else {"type": "auto"})
        dumped = base.model_dump(exclude_none=True)
        dumped["messages"] = [{"role": "user", "content": marked_user}]
        return MessagesRequest.model_validate(dumped)

    first = cache.account(body("tool"), now_ms=0)
    assert first.cache_creation_input_tokens == first.total
    again = cache.account(body("tool"), now_ms=1)
    assert again.cache_read_input_tokens == first.total
    switched = cache.account(body("auto"), now_ms=2)
    assert 0 < switched.cache_read_input_tokens < first.total  # the system breakpoint still hits
    assert switched.cache_creation_input_tokens == 100  # the 400-character user block is written again


def test_automatic_caching_moves_with_the_conversation() -> None:
    cache = PromptCache()
    turns: list[dict[str, Any]] = [{"role": "user", "content": text(20_000)}]

    def ask() -> CacheUsage:
        body = {"model": HAIKU, "max_tokens": 10, "messages": turns, "cache_control": EPHEMERAL}
        return cache.account(MessagesRequest.model_validate(body), now_ms=len(turns))

    assert ask().cache_creation_input_tokens == 5000
    turns += [{"role": "assistant", "content": text(400, "b")}, {"role": "user", "content": text(400, "c")}]
    second = ask()
    assert (second.cache_read_input_tokens, second.cache_creation_input_tokens, second.input_tokens) == (5000, 200, 0)


def test_lookback_reads_an_earlier_boundary_and_writes_the_rest() -> None:
    cache = PromptCache()
    cache.account(request(), now_ms=0)  # system cached
    body = request().model_dump(exclude_none=True)
    body["messages"] = [{"role": "user", "content": [{"type": "text", "text": "new", "cache_control": EPHEMERAL}]}]
    body["system"][0].pop("cache_control")  # the only breakpoint is now on the user block; the system is 1 block back
    usage = cache.account(MessagesRequest.model_validate(body), now_ms=1)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens, usage.input_tokens) == (5000, 1, 0)


def test_more_than_four_breakpoints_is_refused() -> None:
    marked = [{"type": "text", "text": f"block {i}", "cache_control": EPHEMERAL} for i in range(5)]
    body = MessagesRequest.model_validate(
        {"model": HAIKU, "max_tokens": 10, "messages": [{"role": "user", "content": marked}]}
    )
    with pytest.raises(CacheRequestError, match="maximum of 4"):
        PromptCache().account(body, now_ms=0)
    with pytest.raises(CacheRequestError, match="ephemeral"):
        PromptCache().account(request(marker={"type": "forever"}), now_ms=0)


def test_a_one_hour_breakpoint_after_a_five_minute_one_is_refused() -> None:
    body = request().model_dump(exclude_none=True)
    body["messages"] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        }
    ]
    with pytest.raises(CacheRequestError, match="1h"):
        PromptCache().account(MessagesRequest.model_validate(body), now_ms=0)
    body["system"][0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    assert PromptCache().account(MessagesRequest.model_validate(body), now_ms=0).cache_creation_1h == 5001
