"""OpenAI Chat Completions on the offline model: `POST /v1/chat/completions`, so a flow whose model node is Langflow's
OpenAI component (pointed at this server's `/v1`) runs offline too, with the same rules as the Messages API.

A test double at a boundary we cannot reach (OpenAI): the request is translated to a `MessagesRequest` (system and
developer messages become the system prompt, `tools`/`tool_choice` the Anthropic equivalents) and answered by
`bridge.offline_llm.model.respond`; the answer goes back as a `chat.completion` object, or as `chat.completion.chunk`
server-sent events ending in `data: [DONE]` when `stream` is set (with a usage chunk under
`stream_options.include_usage`). The shapes are checked against the `openai` client library in the tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.offline_llm.model import respond
from bridge.offline_llm.wire import InputMessage, MessageResponse, MessagesRequest, TextBlock, Tool, ToolChoice

__all__ = ["ChatRequest", "add_chat_completions", "chat_completion", "completion_chunks", "to_messages_request"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None

    def text(self) -> str:
        parts: list[str] = []
        if isinstance(self.content, str):
            parts.append(self.content)
        elif self.content:
            parts += [str(p.get("text", "")) for p in self.content if isinstance(p, dict) and p.get("type") == "text"]
        for call in self.tool_calls or []:
            parts.append(str((call.get("function") or {}).get("arguments", "")))
        return "\n".join(parts)


class FunctionDef(_Lenient):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class ToolDef(_Lenient):
    type: Literal["function"]
    function: FunctionDef


class ChatRequest(_Lenient):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolDef] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = None


def to_messages_request(chat: ChatRequest) -> MessagesRequest:
    system = "\n".join(m.text() for m in chat.messages if m.role in ("system", "developer"))
    turns = [InputMessage(role="assistant" if m.role == "assistant" else "user", content=m.text() or " ")
             for m in chat.messages if m.role not in ("system", "developer")]
    tools = [Tool(name=t.function.name, description=t.function.description, input_schema=t.function.parameters)
             for t in chat.tools or []]
    choice: ToolChoice | None = None
    if isinstance(chat.tool_choice, dict):
        choice = ToolChoice(type="tool", name=str((chat.tool_choice.get("function") or {}).get("name", "")))
    elif chat.tool_choice is not None:
        choice = ToolChoice(type={"none": "none", "auto": "auto", "required": "any"}[chat.tool_choice])
    return MessagesRequest(model=chat.model, max_tokens=chat.max_completion_tokens or chat.max_tokens or 4096,
                           messages=turns or [InputMessage(role="user", content=" ")], system=system or None,
                           tools=tools or None, tool_choice=choice, temperature=chat.temperature)


def _message(answer: MessageResponse) -> tuple[dict[str, Any], str]:
    text = "".join(b.text for b in answer.content if isinstance(b, TextBlock))
    calls = [{"id": "call_" + b.id.removeprefix("toolu_"), "type": "function",
              "function": {"name": b.name, "arguments": json.dumps(b.input, ensure_ascii=False)}}
             for b in answer.content if not isinstance(b, TextBlock)]
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    finish = "tool_calls" if calls else ("length" if answer.stop_reason == "max_tokens" else "stop")
    return message, finish


def _usage(answer: MessageResponse) -> dict[str, int]:
    return {"prompt_tokens": answer.usage.input_tokens, "completion_tokens": answer.usage.output_tokens,
            "total_tokens": answer.usage.input_tokens + answer.usage.output_tokens}


def chat_completion(answer: MessageResponse, created: int) -> dict[str, Any]:
    message, finish = _message(answer)
    return {"id": "chatcmpl-" + answer.id, "object": "chat.completion", "created": created, "model": answer.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": _usage(answer), "system_fingerprint": None}


def completion_chunks(answer: MessageResponse, created: int, chunk_chars: int = 24,
                      include_usage: bool = False) -> list[bytes]:
    """The `data: {...}` events of a streamed answer, `data: [DONE]` last."""
    message, finish = _message(answer)
    head = {"id": "chatcmpl-" + answer.id, "object": "chat.completion.chunk", "created": created,
            "model": answer.model, "system_fingerprint": None}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}

    events = [chunk({"role": "assistant", "content": ""})]
    text = message["content"] or ""
    events += [chunk({"content": text[i:i + chunk_chars]}) for i in range(0, len(text), chunk_chars)]
    for index, call in enumerate(message.get("tool_calls") or []):
        events.append(chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                             "function": {"name": call["function"]["name"], "arguments": ""}}]}))
        arguments = call["function"]["arguments"]
        events += [chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[i:i + chunk_chars]}}]})
                   for i in range(0, len(arguments), chunk_chars)]
    events.append(chunk({}, finish))
    if include_usage:
        events.append({**head, "choices": [], "usage": _usage(answer)})
    return [f"data: {json.dumps(e, ensure_ascii=False)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]


def _error(status: int, kind: str, message: str, param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": None}},
                        status_code=status)


def add_chat_completions(app: FastAPI) -> None:
    """Add `POST /v1/chat/completions` to the offline model's app (its `state.config` and `state.stats`)."""
    ids = itertools.count(1)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response:
        config, stats = request.app.state.config, request.app.state.stats
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not key or (config.api_key is not None and key != config.api_key):
            stats.errors += 1
            return _error(401, "invalid_request_error", "Incorrect API key provided")
        try:
            chat = ChatRequest.model_validate_json(await request.body())
            body = to_messages_request(chat)
        except ValidationError as exc:
            stats.errors += 1
            first = exc.errors()[0]
            return _error(400, "invalid_request_error", f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        answer, task = respond(body, f"offline_{next(ids):08d}")
        stats.calls += 1
        stats.input_tokens += answer.usage.input_tokens
        stats.output_tokens += answer.usage.output_tokens
        stats.by_task[task] = stats.by_task.get(task, 0) + 1
        created = int(time.time())
        if not chat.stream:
            return JSONResponse(chat_completion(answer, created))
        events = completion_chunks(answer, created, config.stream_chunk_chars,
                                   bool((chat.stream_options or {}).get("include_usage")))

        async def emit() -> AsyncIterator[bytes]:
            for event in events:
                yield event

        return StreamingResponse(emit(), media_type="text/event-stream", headers={"cache-control": "no-cache"})
