"""The offline model's OpenAI Chat Completions endpoint, checked against the real `openai` client library (which
Langflow's OpenAI component uses through LangChain's ChatOpenAI): plain and streamed answers, a forced tool call
with the same findings as the Messages API, usage, and errors the client raises as OpenAI's own."""

from __future__ import annotations

import json

import openai
import pytest

from bridge.offline_llm import OfflineLLM
from bridge.offline_llm.server import OfflineLLMConfig
from tests.langflow.meetings import SALES_CALL, MeetingRun

TOOL = {"type": "function", "function": {"name": "report_objections", "description": "Report objections.",
                                         "parameters": {"type": "object", "properties": {}}}}


def window_prompt() -> str:
    window = json.loads(next(MeetingRun(SALES_CALL, flow="objection_coach", window_size=60).windows()).to_json())
    payload = {"task": "objections", "utterances": window["utterances"], "playbook": []}
    return f"<window_data>{json.dumps(payload)}</window_data>"


async def test_forced_tool_call_plain_and_streamed(offline_llm: OfflineLLM) -> None:
    client = openai.AsyncOpenAI(base_url=f"{offline_llm.base_url}/v1", api_key="offline-openai-key", max_retries=0)
    try:
        messages = [{"role": "system", "content": "Find objections."}, {"role": "user", "content": window_prompt()}]
        choice = {"type": "function", "function": {"name": "report_objections"}}
        answer = await client.chat.completions.create(model="gpt-4o-mini", messages=messages,  # type: ignore[arg-type]
                                                      tools=[TOOL], tool_choice=choice)  # type: ignore[list-item]
        call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert answer.choices[0].finish_reason == "tool_calls" and call.function.name == "report_objections"  # type: ignore[union-attr]
        found = json.loads(call.function.arguments)  # type: ignore[union-attr]
        assert found["objections"], found
        assert answer.usage is not None and answer.usage.prompt_tokens > 0

        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=messages,  # type: ignore[arg-type]
                                                      tools=[TOOL], tool_choice=choice, stream=True,  # type: ignore[list-item]
                                                      stream_options={"include_usage": True})
        arguments, usage = "", None
        async for chunk in stream:
            usage = chunk.usage or usage
            for delta in (c.delta for c in chunk.choices):
                arguments += "".join(t.function.arguments or "" for t in delta.tool_calls or [] if t.function)
        assert json.loads(arguments) == found and usage is not None and usage.completion_tokens > 0

        text = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "We decided to ship on Monday. Sam owns it."}])
        assert text.choices[0].message.content and text.choices[0].finish_reason == "stop"
    finally:
        await client.close()


async def test_errors_are_openai_errors(offline_llm: OfflineLLM) -> None:
    client = openai.AsyncOpenAI(base_url=f"{offline_llm.base_url}/v1", api_key="k", max_retries=0)
    try:
        with pytest.raises(openai.BadRequestError, match="messages"):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[])
    finally:
        await client.close()
    async with OfflineLLM(OfflineLLMConfig(api_key="the-right-key")) as strict:
        wrong = openai.AsyncOpenAI(base_url=f"{strict.base_url}/v1", api_key="a-wrong-key", max_retries=0)
        try:
            with pytest.raises(openai.AuthenticationError):
                await wrong.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        finally:
            await wrong.close()
