"""Turn a Messages API request into an answer, deterministically.

Our components send the window's data between `<window_data>` tags in the last user message, and ask for one
forced tool (`report_summary`, `report_objections`, `report_tickets`). Two layouts are read: one JSON object with a
`task` field (`summary`, `objections`, `tickets`) and the utterances as objects (the components up to issue 12);
or a first line with a JSON object of the non-utterance fields, then `context:` and `new:` sections of one line per
utterance, `[id] Speaker: text` or `[id|internal] Speaker: text` for the host's side (issue 12). With the second
layout the playbook sits in the system prompt as `- category | cues | response` lines under a `Playbook (` line.

With tools, the answer is a `tool_use` block whose `input` is what the
rules found; without tools (the text fallback some providers need) it is the same object as JSON text. Any other
request gets a short extractive text answer, so generic flows pointed at this server still run.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from bridge.offline_llm import rules
from bridge.offline_llm.cache import CacheUsage, request_tokens
from bridge.offline_llm.wire import (
    CacheCreation,
    MessageResponse,
    MessagesRequest,
    ResponseUsage,
    TextBlock,
    ToolUseBlock,
    count_tokens,
)

TASK_BY_TOOL = {"report_summary": "summary", "report_objections": "objections", "report_tickets": "tickets"}
_DATA = re.compile(r"<window_data>\s*(?P<body>.*?)\s*</window_data>", re.DOTALL)


_UTTERANCE = re.compile(r"^\[(?P<id>[^|\]]+)(?:\|(?P<side>internal))?\] (?P<speaker>.*?): (?P<text>.*)$")
_SECTIONS = {"context:": "context", "new:": "utterances"}


def task_payload(request: MessagesRequest) -> dict[str, Any] | None:
    """The window's data between `<window_data>` tags in the last user message, as one dict, if any."""
    for message in reversed(request.messages):
        if message.role != "user":
            continue
        match = _DATA.search(message.text())
        if match is None:
            return None
        payload = parse_window(match.group("body"))
        if payload is not None and "playbook" not in payload:
            playbook = playbook_from_system(request.system_text())
            if playbook:
                payload["playbook"] = playbook
        return payload
    return None


def parse_window(body: str) -> dict[str, Any] | None:
    """Either layout (see the module docstring) as the dict the rules read; None when it is neither."""
    try:
        whole = json.loads(body)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return whole
    first, _, rest = body.partition("\n")
    try:
        header = json.loads(first)
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    payload: dict[str, Any] = {**header, "context": [], "utterances": []}
    section = "utterances"
    for line in rest.splitlines():
        if line.strip() in _SECTIONS:
            section = _SECTIONS[line.strip()]
            continue
        found = _UTTERANCE.match(line.strip())
        if found is not None:
            role = "host" if found.group("side") else "participant"
            payload[section].append(
                {"id": found.group("id"), "speaker": found.group("speaker"), "text": found.group("text"), "role": role}
            )
    previous = payload.get("previous_summary")
    if isinstance(previous, dict):  # lists of plain strings in this layout
        for key in ("key_points", "decisions", "open_questions"):
            previous[key] = [{"text": item} if isinstance(item, str) else item for item in previous.get(key) or []]
    return payload


def playbook_from_system(system: str) -> list[dict[str, Any]]:
    """`- category | cue, cue | response` lines after a line starting `Playbook (`, up to a blank line."""
    rows: list[dict[str, Any]] = []
    inside = False
    for line in system.splitlines():
        if line.startswith("Playbook ("):
            inside = True
            continue
        if inside and not line.strip():
            break
        if inside and line.startswith("- "):
            parts = [part.strip() for part in line[2:].split(" | ")]
            if len(parts) >= 2 and parts[0]:
                rows.append({"category": parts[0], "cues": parts[1], "response": " | ".join(parts[2:])})
    return rows


def answer_input(task: str, payload: dict[str, Any]) -> dict[str, Any]:
    if task == "objections":
        return rules.find_objections(payload)
    if task == "tickets":
        return rules.find_tickets(payload)
    if task == "summary":
        raw_limits = payload.get("limits")
        limits: dict[str, Any] = raw_limits if isinstance(raw_limits, dict) else {}
        return rules.summarize(
            payload,
            max_points=int(limits.get("max_new_key_points", 3)),
            max_chars=int(limits.get("max_summary_chars", 1200)),
        )
    raise ValueError(f"unknown task {task!r}")


def respond(request: MessagesRequest, message_id: str, cache: CacheUsage | None = None) -> tuple[MessageResponse, str]:
    """The answer and the task name it was for (`chat` when the request is not one of ours); `cache` is the
    request's prompt-cache accounting (none: every input token uncached)."""
    payload = task_payload(request)
    tool = request.chosen_tool()
    task = TASK_BY_TOOL.get(tool.name) if tool is not None else None
    if task is None and payload is not None and payload.get("task") in TASK_BY_TOOL.values():
        task = str(payload["task"])
    content: list[TextBlock | ToolUseBlock]
    if task is not None and payload is not None:
        result = answer_input(task, payload)
        if tool is not None:
            tool_id = "toolu_offline_" + hashlib.sha256(message_id.encode()).hexdigest()[:20]
            content = [ToolUseBlock(id=tool_id, name=tool.name, input=result)]
            stop = "tool_use"
        else:
            content = [TextBlock(text=json.dumps(result, ensure_ascii=False))]
            stop = "end_turn"
    else:
        task = "chat"
        content = [TextBlock(text=_chat_answer(request))]
        stop = "end_turn"
    output = "".join(block.text if isinstance(block, TextBlock) else json.dumps(block.input) for block in content)
    if cache is None:
        cache = CacheUsage(request_tokens(request), 0, 0)
    usage = ResponseUsage(
        input_tokens=cache.input_tokens,
        output_tokens=count_tokens(output),
        cache_creation_input_tokens=cache.cache_creation_input_tokens,
        cache_read_input_tokens=cache.cache_read_input_tokens,
        cache_creation=CacheCreation(
            ephemeral_5m_input_tokens=cache.cache_creation_5m, ephemeral_1h_input_tokens=cache.cache_creation_1h
        ),
    )
    response = MessageResponse(id=message_id, model=request.model, content=content, stop_reason=stop, usage=usage)
    return response, task


def _chat_answer(request: MessagesRequest) -> str:
    last = next((m.text() for m in reversed(request.messages) if m.role == "user"), "")
    picked = [s for s in rules.sentences(last) if len(rules.content_words(s)) >= 3][:2]
    if not picked:
        return "(offline model) Nothing to summarize."
    return "(offline model) " + " ".join(picked)
