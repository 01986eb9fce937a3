"""The offline model behind a real Anthropic Messages API, checked with the official `anthropic` client."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import pytest

from bridge.offline_llm import OfflineLLM, OfflineLLMConfig, rules
from bridge.offline_llm.model import parse_window, task_payload
from bridge.offline_llm.wire import MessagesRequest
from tests.langflow_server import OfflineLLMProcess

T0 = 1_760_000_000_000
OBJECTIONS_TOOL = {
    "name": "report_objections",
    "description": "Report objections.",
    "input_schema": {"type": "object", "properties": {"objections": {"type": "array"}}, "required": ["objections"]},
}


def payload(task: str, lines: list[tuple[str, str]], **extra: Any) -> str:
    utterances = [
        {"id": f"u{i}", "speaker": who, "at_ms": T0 + i * 1000, "text": text} for i, (who, text) in enumerate(lines)
    ]
    body = {"task": task, "utterances": utterances, **extra}
    return f"Data:\n<window_data>\n{json.dumps(body)}\n</window_data>"


@pytest.fixture
async def llm() -> AsyncIterator[OfflineLLM]:
    async with OfflineLLM() as server:
        yield server


def client_for(server: OfflineLLM, key: str = "test-key") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=key, base_url=server.base_url, max_retries=0)


async def test_plain_text_answer_with_usage(llm: OfflineLLM) -> None:
    client = client_for(llm)
    message = await client.messages.create(
        model="claude-haiku-4-5-20251001",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "Please summarize this long planning conversation for me now."}],
    )
    assert message.type == "message" and message.role == "assistant" and message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text.startswith("(offline model)")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.model == "claude-haiku-4-5-20251001"


async def test_forced_tool_answers_with_tool_use(llm: OfflineLLM) -> None:
    client = client_for(llm)
    message = await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=500,
        tools=[OBJECTIONS_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "report_objections"},
        messages=[{"role": "user", "content": payload("objections", [("Pat", "Honestly it is too expensive.")])}],
    )
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use" and block.name == "report_objections" and block.id.startswith("toolu_")
    assert block.input == {
        "objections": [
            {
                "category": "price",
                "quote": "Honestly it is too expensive.",
                "utterance_id": "u0",
                "confidence": 0.9,
                "suggested_reply": rules.DEFAULT_PLAYBOOK[0]["response"],
            }
        ]
    }


async def test_without_tools_the_same_answer_comes_as_json_text(llm: OfflineLLM) -> None:
    client = client_for(llm)
    message = await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=500,
        messages=[{"role": "user", "content": payload("objections", [("Pat", "We already use Salesforce.")])}],
    )
    assert message.content[0].type == "text"
    assert json.loads(message.content[0].text)["objections"][0]["category"] == "competitor"


async def test_streaming_matches_the_plain_answer(llm: OfflineLLM) -> None:
    client = client_for(llm)
    request: dict[str, Any] = {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 500,
        "tools": [OBJECTIONS_TOOL],
        "tool_choice": {"type": "tool", "name": "report_objections"},
        "messages": [{"role": "user", "content": payload("objections", [("Pat", "I need to check with my boss.")])}],
    }
    plain = await client.messages.create(**request)
    async with client.messages.stream(**request) as stream:
        streamed = await stream.get_final_message()
    assert streamed.stop_reason == "tool_use"
    assert streamed.content[0].input == plain.content[0].input  # type: ignore[union-attr]
    assert streamed.usage.output_tokens == plain.usage.output_tokens
    text_request = {
        "model": "m",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "A short sentence about the quarterly roadmap plan."}],
    }
    async with client.messages.stream(**text_request) as stream:  # type: ignore[arg-type]
        pieces = [piece async for piece in stream.text_stream]
    assert "".join(pieces) == (await client.messages.create(**text_request)).content[0].text  # type: ignore[arg-type,union-attr]


async def test_authentication_and_bad_requests(llm: OfflineLLM) -> None:
    async with httpx.AsyncClient(base_url=llm.base_url) as raw:
        missing_key = await raw.post("/v1/messages", json={"model": "m", "max_tokens": 5, "messages": []})
        assert missing_key.status_code == 401 and missing_key.json()["error"]["type"] == "authentication_error"
        bad = await raw.post("/v1/messages", headers={"x-api-key": "k"}, json={"model": "m", "messages": []})
        assert bad.status_code == 400 and bad.json()["type"] == "error"
        assert "max_tokens" in bad.json()["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        await client_for(llm).messages.create(model="m", max_tokens=5, messages=[{"role": "system", "content": "x"}])  # type: ignore[typeddict-item]
    async with OfflineLLM(OfflineLLMConfig(api_key="right")) as strict:
        with pytest.raises(anthropic.AuthenticationError):
            await client_for(strict, "wrong").messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )


async def test_stats_and_latency() -> None:
    async with OfflineLLM(OfflineLLMConfig(latency_ms=150)) as server:
        client = client_for(server)
        started = time.monotonic()
        await client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hello there"}])
        assert time.monotonic() - started >= 0.15
        async with httpx.AsyncClient(base_url=server.base_url) as raw:
            stats = (await raw.get("/stats")).json()
            assert stats["calls"] == 1 and stats["by_task"] == {"chat": 1} and stats["input_tokens"] > 0
            assert (await raw.post("/stats/reset")).json()["calls"] == 0
            assert (await raw.get("/v1/models")).json()["data"][0]["type"] == "model"


async def test_cache_figures_over_the_wire_with_the_anthropic_client() -> None:
    """Requests carrying `cache_control` get Anthropic's cache figures (write, then read, then expiry on the meeting
    clock); the same bytes without the marker are billed uncached; streaming reports the same usage."""
    playbook = "Price: offer the annual plan. " * 700  # ~5,250 tokens for the double: above Haiku 4.5's 4,096
    marked: Any = [{"type": "text", "text": playbook, "cache_control": {"type": "ephemeral"}}]
    request: dict[str, Any] = {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 500,
        "system": marked,
        "tools": [OBJECTIONS_TOOL],
        "tool_choice": {"type": "tool", "name": "report_objections"},
        "messages": [{"role": "user", "content": payload("objections", [("Pat", "It is too expensive.")])}],
    }
    async with OfflineLLM(OfflineLLMConfig(manual_clock=True)) as server:
        client = client_for(server)
        async with httpx.AsyncClient(base_url=server.base_url) as raw:
            first = (await client.messages.create(**request)).usage
            assert first.cache_creation_input_tokens and first.cache_creation_input_tokens > 4096
            assert first.cache_read_input_tokens == 0 and first.input_tokens > 0
            assert (await raw.post("/clock", json={"now_ms": 4 * 60_000})).status_code == 200
            async with client.messages.stream(**request) as stream:
                second = (await stream.get_final_message()).usage
            assert second.cache_read_input_tokens == first.cache_creation_input_tokens
            assert second.cache_creation_input_tokens == 0 and second.input_tokens == first.input_tokens
            await raw.post("/clock", json={"now_ms": 9 * 60_000 + 1})  # 5 minutes after the last hit
            third = (await client.messages.create(**request)).usage
            assert third.cache_read_input_tokens == 0
            assert third.cache_creation_input_tokens == first.cache_creation_input_tokens
            unmarked = (await client.messages.create(**{**request, "system": playbook})).usage
            assert unmarked.cache_creation_input_tokens == unmarked.cache_read_input_tokens == 0
            assert unmarked.input_tokens == first.input_tokens + (first.cache_creation_input_tokens or 0)
            stats = (await raw.get("/stats")).json()["usage_by_task"]["objections"]
            assert stats["calls"] == 4 and stats["calls_with_cache_marker"] == 3 and stats["calls_with_cache_read"] == 1
            assert (await raw.post("/cache/reset")).json() == {"dropped": 1}
        five = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
        with pytest.raises(anthropic.BadRequestError, match="maximum of 4"):
            await client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": five}])


def test_runs_as_a_module(tmp_path: Any) -> None:
    process = OfflineLLMProcess(tmp_path).start()
    try:
        client = anthropic.Anthropic(api_key="k", base_url=process.base_url, max_retries=0)
        message = client.messages.create(model="m", max_tokens=20, messages=[{"role": "user", "content": "ping"}])
        assert message.content[0].type == "text"
        assert process.stats()["calls"] == 1
    finally:
        process.stop()


# --- the rules themselves --------------------------------------------------------------------------------------


def objection_payload(lines: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "utterances": [{"id": f"u{i}", "speaker": s, "at_ms": T0, "text": t} for i, (s, t) in enumerate(lines)],
        **extra,
    }


def test_objections_by_category_skipping_the_host_and_what_was_raised() -> None:
    found = rules.find_objections(
        objection_payload(
            [
                ("Sam", "I know the price can look high."),
                ("Pat", "We don't need this, our spreadsheet works."),
                ("Pat", "And legal needs a SOC 2 report before anything."),
                ("Pat", "It is too expensive for us."),
            ],
            participants=[{"name": "Sam", "role": "host"}, {"name": "Pat", "role": "participant"}],
            raised_objections=[{"category": "price", "quote": "It is too expensive for us."}],
        )
    )["objections"]
    assert [(o["category"], o["utterance_id"]) for o in found] == [("need", "u1"), ("security", "u2")]


def test_playbook_in_the_request_wins_over_the_defaults() -> None:
    playbook = [{"category": "procurement", "cues": ["vendor onboarding"], "response": "Offer the vendor pack."}]
    found = rules.find_objections(
        objection_payload([("Pat", "Vendor onboarding takes our team three months, too slow.")], playbook=playbook)
    )["objections"]
    assert found == [
        {
            "category": "procurement",
            "quote": "Vendor onboarding takes our team three months, too slow.",
            "utterance_id": "u0",
            "confidence": 0.9,
            "suggested_reply": "Offer the vendor pack.",
        }
    ]


def test_tickets_owners_due_dates_bugs_and_requests() -> None:
    items = rules.find_tickets(
        objection_payload(
            [
                ("Sam", "I'll send the revised proposal by Friday."),
                ("Sam", "Pat, can you share the seat count?"),
                ("Pat", "The CSV export crashes every time for our finance team."),
                ("Pat", "I'll be honest with you."),
                ("Pat", "We need a way to export the SSO groups as well."),
            ],
            participants=[{"name": "Sam Lee"}, {"name": "Pat Kim"}],
        )
    )["items"]
    assert [(i["kind"], i["owner"], i["due"], i["utterance_id"]) for i in items] == [
        ("action_item", "Sam", "Friday", "u0"),
        ("action_item", "Pat Kim", None, "u1"),
        ("bug", None, None, "u2"),
        ("ticket", None, None, "u4"),
    ]
    assert items[0]["title"] == "Send the revised proposal"
    tracked = rules.find_tickets(
        objection_payload(
            [("Sam", "I'll send the revised proposal by Friday.")],
            tracked_items=[{"kind": "action_item", "title": "Send the revised proposal"}],
        )
    )
    assert tracked == {"items": []}


def test_summary_rolls_forward() -> None:
    first = rules.summarize(
        objection_payload(
            [
                ("Ana", "We reviewed the three vendor proposals for the new billing system."),
                ("Ben", "Which vendor handles invoicing in euros?"),
            ]
        )
    )
    assert first["open_questions"][0]["utterance_id"] == "u1"
    previous = {"text": first["summary"], "open_questions": [{"text": first["open_questions"][0]["text"]}]}
    second = rules.summarize(
        objection_payload(
            [("Ana", "We decided to go with the vendor that handles invoicing in euros.")], previous_summary=previous
        )
    )
    assert second["decisions"] and second["summary"].startswith(first["summary"])
    assert second["resolved_questions"] == [previous["open_questions"][0]["text"]]


def test_line_layout_and_playbook_in_the_system_prompt() -> None:
    """Issue 12's layout: a JSON header line, then `context:` / `new:` with one `[id|side] Speaker: text` per line;
    the playbook in the system prompt."""
    system = (
        "Find objections.\n\nPlaybook (category | cue phrases | recommended response):\n"
        "- procurement | vendor onboarding, supplier form | Offer the vendor pack.\n"
        "- price | too expensive | Reframe on value.\n\nExamples follow."
    )
    window = (
        '{"task":"objections","meeting":{"product":"meeting","topic":"demo"},"raised_objections":[]}\n'
        "context:\n[u-1|internal] Sam Lee: Vendor onboarding is simple with us, no problem.\n"
        "new:\n[u-3] Pat Kim: Vendor onboarding takes our team three months, too slow.\n"
    )
    body = MessagesRequest.model_validate(
        {
            "model": "claude-haiku-4-5-20251001",
            "max_tokens": 100,
            "system": system,
            "messages": [
                {"role": "user", "content": f"The window data follows.\n<window_data>\n{window}</window_data>"}
            ],
        }
    )
    payload = task_payload(body)
    assert payload is not None and payload["task"] == "objections"
    assert payload["context"][0] == {
        "id": "u-1",
        "speaker": "Sam Lee",
        "text": "Vendor onboarding is simple with us, no problem.",
        "role": "host",
    }
    assert payload["playbook"][0] == {
        "category": "procurement",
        "cues": "vendor onboarding, supplier form",
        "response": "Offer the vendor pack.",
    }
    found = rules.find_objections(payload)["objections"]
    assert [(o["category"], o["utterance_id"], o["suggested_reply"]) for o in found] == [
        ("procurement", "u-3", "Offer the vendor pack.")
    ]
    summary = parse_window('{"task":"summary","previous_summary":{"text":"t","open_questions":["Who pays?"]}}\nnew:\n')
    assert summary is not None and summary["previous_summary"]["open_questions"] == [{"text": "Who pays?"}]
