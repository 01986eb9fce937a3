"""Anthropic Messages API wire format: the request we accept, the response and stream events we emit.

Only what a client of `POST /v1/messages` relies on. Requests are parsed leniently where the API itself is lenient
(content is a string or a list of blocks; unknown block types and extra top-level fields are kept but ignored),
strictly where a real server would answer 400 (missing `model`, `max_tokens` or `messages`, bad roles).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentBlock(_Lenient):
    type: str
    text: str | None = None
    # tool_use / tool_result fields, echoed back by clients in multi-turn conversations
    id: str | None = None
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None
    content: Any = None


class InputMessage(_Lenient):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(_block_text(block) for block in self.content)


def _block_text(block: ContentBlock) -> str:
    if block.text is not None:
        return block.text
    if block.type == "tool_use":
        return json.dumps(block.input)
    if block.type == "tool_result":
        if isinstance(block.content, str):
            return block.content
        if isinstance(block.content, list):
            return "\n".join(str(part.get("text", "")) for part in block.content if isinstance(part, dict))
    return ""


class Tool(_Lenient):
    name: Annotated[str, Field(min_length=1)]
    description: str | None = None
    input_schema: dict[str, Any] = {}


class ToolChoice(_Lenient):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None


class MessagesRequest(_Lenient):
    model: Annotated[str, Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1)]
    messages: Annotated[list[InputMessage], Field(min_length=1)]
    system: str | list[ContentBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    stream: bool = False
    temperature: float | None = None
    stop_sequences: list[str] | None = None

    def system_text(self) -> str:
        if self.system is None:
            return ""
        if isinstance(self.system, str):
            return self.system
        return "\n".join(_block_text(block) for block in self.system)

    def chosen_tool(self) -> Tool | None:
        """The tool the answer must use: the forced one, else the only one offered under `any`/`auto`."""
        if not self.tools or (self.tool_choice is not None and self.tool_choice.type == "none"):
            return None
        if self.tool_choice is not None and self.tool_choice.type == "tool":
            return next((tool for tool in self.tools if tool.name == self.tool_choice.name), None)
        return self.tools[0]


class TextBlock(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ToolUseBlock(BaseModel):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


class CacheCreation(BaseModel):
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class ResponseUsage(BaseModel):
    """`input_tokens` is what was neither written to nor read from the prompt cache (as the API reports it)."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation: CacheCreation = Field(default_factory=CacheCreation)


StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]


class MessageResponse(BaseModel):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[TextBlock | ToolUseBlock]
    stop_reason: StopReason
    stop_sequence: str | None = None
    usage: ResponseUsage


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The API's error envelope, e.g. kind `invalid_request_error` or `authentication_error`."""
    return {"type": "error", "error": {"type": kind, "message": message}}


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token, as for English prose. The one
    counter of every benchmark (ours and the baselines alike); a request's count is the sum over its blocks
    (`cache.request_tokens`)."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def sse_event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_events(response: MessageResponse, chunk_chars: int = 24) -> list[bytes]:
    """The SSE events of a streamed answer, in the order the real API sends them."""
    start = response.model_dump()
    start["content"] = []
    start["stop_reason"] = None
    start["usage"] = {**start["usage"], "output_tokens": 1}
    events = [sse_event("message_start", {"type": "message_start", "message": start})]
    events.append(sse_event("ping", {"type": "ping"}))
    for index, block in enumerate(response.content):
        if isinstance(block, TextBlock):
            opening: dict[str, Any] = {"type": "text", "text": ""}
            payload, delta_type, delta_key = block.text, "text_delta", "text"
        else:
            opening = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
            payload, delta_type, delta_key = json.dumps(block.input), "input_json_delta", "partial_json"
        events.append(
            sse_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
        )
        for offset in range(0, len(payload), chunk_chars):
            delta = {"type": delta_type, delta_key: payload[offset : offset + chunk_chars]}
            events.append(
                sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        events.append(sse_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        sse_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": response.stop_reason, "stop_sequence": response.stop_sequence},
                "usage": {
                    "output_tokens": response.usage.output_tokens,
                    "input_tokens": response.usage.input_tokens,
                    "cache_creation_input_tokens": response.usage.cache_creation_input_tokens,
                    "cache_read_input_tokens": response.usage.cache_read_input_tokens,
                },
            },
        )
    )
    events.append(sse_event("message_stop", {"type": "message_stop"}))
    return events
