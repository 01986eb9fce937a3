"""Meeting Summarizer: a rolling summary that grows with the meeting, not with its square.

Each window the model sees only the previous summary and the utterances that are new since then, and answers
through one forced tool (`report_summary`): the updated summary text plus the new key points, decisions and open
questions, each with the quote it rests on. The component checks every point against the window, merges it into
the previous lists (dropping questions the new utterances answer) and caps their length, so the prompt stays
bounded however long the meeting runs. Self-contained (lfx and the standard library only): embedded in flows as-is.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from lfx.custom.custom_component.component import Component
from lfx.io import BoolInput, DataInput, HandleInput, IntInput, MultilineInput, Output
from lfx.schema.data import Data

STAGE = "meeting_summarizer"

DEFAULT_INSTRUCTIONS = """You keep a rolling summary of a live meeting. You get the previous summary (null at \
the start) and only the utterances that are new since it was written.

Return:
- summary: the updated summary of the whole meeting so far (not just the new part), plain prose, at most \
max_summary_chars characters; keep what still matters from the previous summary;
- key_points, decisions, open_questions: only the NEW ones found in the new utterances (at most \
max_new_key_points key points), each a short sentence with the exact quote it rests on and its utterance_id;
- resolved_questions: the text of previous open questions that the new utterances answer.

Attribute points to speakers by name. Do not invent facts that are not in the transcript."""


class MeetingSummarizerComponent(Component):
    display_name = "Meeting Summarizer"
    description = "Keeps a rolling summary (key points, decisions, open questions) from the new utterances only."
    icon = "notebook-pen"
    name = "RTMSMeetingSummarizer"

    inputs = [
        DataInput(
            name="window",
            display_name="Window",
            info="The Transcript Window component's Window output (carries the previous summary in its state).",
            input_types=["Data", "JSON"],
            required=True,
        ),
        HandleInput(
            name="llm",
            display_name="Language Model",
            info="Any chat model node's Language Model output (Anthropic, OpenAI, Ollama, ...).",
            input_types=["LanguageModel"],
            required=True,
        ),
        MultilineInput(name="instructions", display_name="Instructions", value=DEFAULT_INSTRUCTIONS),
        IntInput(name="max_summary_chars", display_name="Max summary length (characters)", value=1500),
        IntInput(name="max_new_key_points", display_name="New key points per window", value=3, advanced=True),
        IntInput(name="max_points", display_name="Points kept per list", value=12, advanced=True),
        BoolInput(
            name="cache_prompt",
            display_name="Cache the instructions",
            info="Mark the instructions and tool schema for Anthropic prompt caching. Off by default: they are about "
            "500 tokens, and Claude Haiku 4.5 caches nothing under 4,096 (Sonnet 4.5: 1,024), so the marker would "
            "save nothing; the rolling summary and the new lines change every call and are never cached.",
            value=False,
            advanced=True,
        ),
        BoolInput(
            name="use_tool_calling",
            display_name="Use tool calling",
            info="Ask for a forced tool call; switch off for models without tool support (JSON text is parsed).",
            value=True,
            advanced=True,
        ),
    ]
    outputs = [Output(display_name="Summary", name="summary", method="build_summary")]

    async def build_summary(self) -> Data:
        window = _window_from(self.window)
        previous = window["state"]["summary"]
        new = window["utterances"]
        result: dict[str, Any] = {"kind": "summary", "summary": previous, "errors": [], "usage": None}
        if not new:
            self.status = "no new utterances; summary unchanged"
            return Data(data=result)
        max_chars = int(self.max_summary_chars or 1500)
        internal = _internal_ids(window)
        data = {
            "task": "summary",
            "meeting": {"product": window["meeting"]["product"], "topic": window["meeting"]["topic"]},
            "limits": {"max_summary_chars": max_chars, "max_new_key_points": int(self.max_new_key_points or 3)},
            "previous_summary": _lean_summary(previous),
        }
        request = _request(data, [_line(u, internal) for u in new])
        answer, errors, usage = await _ask_model(
            self,
            STAGE,
            self.instructions or DEFAULT_INSTRUCTIONS,
            request,
            TOOL,
            bool(self.use_tool_calling),
            cache=bool(self.cache_prompt),
        )
        result["usage"] = usage
        result["errors"] = errors
        if answer is None:
            self.status = f"model answer did not parse: {errors[0]['message']}"
            result["summary"] = None
            return Data(data=result)
        if not isinstance(answer, dict) or not isinstance(answer.get("summary"), str):
            errors.append(_error(STAGE, "model answer has no summary text", answer))
            result["summary"] = None
            self.status = "model answer has no summary text"
            return Data(data=result)
        text = answer["summary"].strip()
        if len(text) > max_chars:
            text = text[: max_chars - 1].rstrip() + "\u2026"
        lists: dict[str, list[dict[str, Any]]] = {}
        for field in ("key_points", "decisions", "open_questions"):
            points = []
            items = _objects(answer, field, STAGE, errors) if field in answer else []
            for item in items:
                try:
                    point_text = _text_field(item, "text")
                    quote = _text_field(item, "quote")
                except ValueError as exc:
                    errors.append(_error(STAGE, f"{field} item dropped: {exc}", item))
                    continue
                source = _find_utterance(quote, item.get("utterance_id"), window["utterances"])
                if source is None:
                    errors.append(_error(STAGE, f"{field} item dropped: its quote is not in the new utterances", item))
                    continue
                points.append(
                    {
                        "text": point_text,
                        "quote": quote,
                        "at_ms": source["start_ms"],
                        "speaker": source["speaker"] or None,
                    }
                )
            lists[field] = points
        resolved = [q for q in answer.get("resolved_questions") or [] if isinstance(q, str)]
        old = previous or {"key_points": [], "decisions": [], "open_questions": []}
        still_open = [q for q in old["open_questions"] if not any(_similar(q["text"], r) >= 0.8 for r in resolved)]
        limit = int(self.max_points or 12)
        result["summary"] = {
            "text": text,
            "key_points": _merge(old["key_points"], lists["key_points"], limit),
            "decisions": _merge(old["decisions"], lists["decisions"], limit),
            "open_questions": _merge(still_open, lists["open_questions"], limit),
        }
        added = sum(len(points) for points in lists.values())
        self.status = (
            f"summary {len(text)} chars, {added} new point(s), {len(old['open_questions']) - len(still_open)} "
            f"question(s) resolved" + (f", {len(errors)} problem(s): {errors[0]['message']}" if errors else "")
        )
        return Data(data=result)


# --- what the component uses: the model's tool and the helpers (read the class above first) ---

_POINT_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "quote": {"type": "string", "description": "exact words from one new utterance"},
        "utterance_id": {"type": "string"},
    },
    "required": ["text", "quote", "utterance_id"],
}
TOOL = {
    "type": "function",
    "function": {
        "name": "report_summary",
        "description": "Report the updated rolling summary and what the new utterances add to it.",
        "parameters": {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "key_points": {"type": "array", "items": _POINT_SCHEMA},
                "decisions": {"type": "array", "items": _POINT_SCHEMA},
                "open_questions": {"type": "array", "items": _POINT_SCHEMA},
                "resolved_questions": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["summary", "key_points", "decisions", "open_questions"],
        },
    },
}


def _lean_summary(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """The previous summary as the model needs it: its text (which carries the key points and decisions) and the
    open questions it may resolve, without quotes, ids or times. Points it repeats are merged away here."""
    if not summary:
        return None
    return {"text": summary["text"], "open_questions": [p["text"] for p in summary.get("open_questions") or []]}


def _merge(previous: list[dict[str, Any]], new: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Previous points plus the new ones that say something new; the most recent `limit` are kept."""
    merged = list(previous)
    for point in new:
        if not any(_similar(point["text"], old["text"]) >= 0.8 for old in merged):
            merged.append(point)
    return merged[-limit:] if limit > 0 else merged


# --- shared model-call helpers (identical in every LLM component of this bundle; a test keeps them in sync) ---


def _window_from(value: Any) -> dict[str, Any]:
    """The validated window dict from the Transcript Window's `Window` output (Data, or a plain dict in tests)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    data = getattr(value, "data", value)
    if not isinstance(data, dict) or not {"meeting", "window", "utterances"} <= set(data):
        raise ValueError("connect the Transcript Window component's Window output to the Window input")
    return data


def _internal_ids(window: dict[str, Any], marks: str = "") -> set[str]:
    """User ids of the internal side (the seller's team): the window's hosts and participants the bridge marked
    internal (flows.toml's [meeting] internal), plus the speakers whose name contains one of the lead's
    comma-separated marks (a name, or a tag such as "(Harborline)"), case-insensitively."""
    patterns = [p.strip().lower() for p in re.split(r"[,;\n]", marks or "") if p.strip()]
    participants = window.get("participants", [])
    ids = {p["user_id"] for p in participants if p.get("role") == "host" or p.get("internal")}
    people = [(p["user_id"], p.get("name") or "") for p in participants]
    people += [(u["user_id"], u["speaker"]) for key in ("context", "utterances") for u in window.get(key, [])]
    return ids | {uid for uid, name in people if any(p in str(name).lower() for p in patterns)}


def _line(utterance: dict[str, Any], internal: set[str], chars: int = 0) -> str:
    """One utterance as one line, `[id] Speaker: text` (`[id|internal]` for the seller's side), the text cut to its
    last `chars` when set: a third of the tokens of a JSON object per utterance, and models read it as well."""
    text = " ".join(str(utterance["text"]).split())
    if chars and len(text) > chars:
        text = "\u2026" + text[-chars:]
    side = "|internal" if utterance["user_id"] in internal else ""
    return f"[{utterance['id']}{side}] {utterance['speaker']}: {text}"


def _request(data: dict[str, Any], new: list[str], context: list[str] | None = None) -> str:
    """The user message: the window's small fields as one JSON line, then the context and the new utterances."""
    parts = ["<window_data>", json.dumps(data, ensure_ascii=False, separators=(",", ":"))]
    if context:
        parts += ["context:", *context]
    return "\n".join([*parts, "new:", *new, "</window_data>"])


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if len(w) > 2}


def _similar(first: str, second: str) -> float:
    a, b = _words(first), _words(second)
    return len(a & b) / len(a | b) if a and b else 0.0


def _squash(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _find_utterance(quote: str, utterance_id: Any, utterances: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The new utterance an item came from: by id when the model gave one that exists, else by its quote."""
    if isinstance(utterance_id, str):
        for utterance in utterances:
            if utterance["id"] == utterance_id:
                return utterance
    needle = _squash(quote)
    if needle:
        for utterance in utterances:
            if needle in _squash(utterance["text"]):
                return utterance
    return None


def _stable_key(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest[:16]}"


def _error(stage: str, message: str, detail: Any = None) -> dict[str, Any]:
    text = None if detail is None else (detail if isinstance(detail, str) else json.dumps(detail, default=str))
    return {"stage": stage, "message": message, "detail": None if text is None else text[:2000]}


def _json_from_text(text: str) -> Any:
    """The JSON object in a model's text answer: the whole text, a fenced block, or the outermost braces."""
    text = text.strip()
    candidates = [text]
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        candidates.append(fenced.group(1).strip())
    if "{" in text and "}" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("the answer contains no JSON object")


def _message_text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part)
            for part in content
            if not isinstance(part, dict) or part.get("type") in (None, "text")
        )
    return str(content)


def _system(text: str, llm: Any, cache: bool) -> tuple[str, Any]:
    """The system message; with `cache` and an Anthropic model, one text block carrying a `cache_control`
    breakpoint, so the tool schema and this text (everything before it, byte-identical within a meeting) are cached.
    Other models get plain text: they ignore or reject Anthropic's marker."""
    if cache and "anthropic" in type(llm).__name__.lower():
        return ("system", [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}])
    return ("system", text)


def _usage(answer: Any) -> dict[str, int]:
    """Calls and tokens of one answer; cache reads and writes as Anthropic reports them (0 for other models)."""
    meta = getattr(answer, "usage_metadata", None) or {}
    details = meta.get("input_token_details") or {}
    written = sum(int(details.get(k) or 0) for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"))
    return {
        "model_calls": 1,
        "input_tokens": int(meta.get("input_tokens") or 0),
        "output_tokens": int(meta.get("output_tokens") or 0),
        "cache_read_tokens": int(details.get("cache_read") or 0),
        "cache_write_tokens": written or int(details.get("cache_creation") or 0),
    }


async def _ask_model(
    component: Any,
    stage: str,
    instructions: str,
    request: str,
    tool: dict[str, Any],
    use_tools: bool,
    cache: bool = False,
) -> tuple[Any, list[dict[str, Any]], dict[str, int]]:
    """One model call with a single forced tool; falls back to JSON-in-text for models without tool calling.

    Returns (the tool's arguments or None, errors, usage). Output that does not parse is an error entry, never an
    empty result dressed up as fine; failures to reach the model raise.
    """
    llm = component.llm
    if llm is None:
        raise ValueError("connect a Language Model (e.g. the Anthropic component's Language Model output)")
    config = {"callbacks": component.get_langchain_callbacks()}
    name = tool["function"]["name"]
    bound = None
    if use_tools and hasattr(llm, "bind_tools"):
        try:
            bound = llm.bind_tools([tool], tool_choice=name)
        except (NotImplementedError, TypeError, ValueError):
            bound = None
    system = instructions
    if bound is None:
        schema = json.dumps(tool["function"]["parameters"], separators=(",", ":"))
        system = f"{instructions}\n\nAnswer with only a JSON object matching this JSON Schema, no prose:\n{schema}"
    answer = await (bound or llm).ainvoke([_system(system, llm, cache), ("human", request)], config=config)
    usage = _usage(answer)
    try:  # Langflow's own token counter (a private attribute: older or newer lfx may not have it)
        from lfx.schema.token_usage import accumulate_usage, extract_usage_from_message

        component._token_usage = accumulate_usage(component._token_usage, extract_usage_from_message(answer))
    except (ImportError, AttributeError, TypeError):  # usage still travels in the insights document
        pass
    for call in getattr(answer, "tool_calls", None) or []:
        if call.get("name") == name:
            return call.get("args"), [], usage
    for call in getattr(answer, "invalid_tool_calls", None) or []:
        if call.get("name") == name:
            return None, [_error(stage, f"{name} arguments are not valid JSON", call.get("args"))], usage
    text = _message_text(answer)
    try:
        return _json_from_text(text), [], usage
    except ValueError as exc:
        return None, [_error(stage, f"model answer did not parse: {exc}", text)], usage


def _objects(value: Any, field: str, stage: str, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The list under `field` of the model's answer; anything else is reported."""
    if not isinstance(value, dict) or not isinstance(value.get(field), list):
        errors.append(_error(stage, f"model answer has no list field {field!r}", value))
        return []
    items = []
    for index, item in enumerate(value[field]):
        if isinstance(item, dict):
            items.append(item)
        else:
            errors.append(_error(stage, f"{field}[{index}] is not an object", item))
    return items


def _text_field(item: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = item.get(name)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is None and not required:
        return None
    raise ValueError(f"{name} must be a non-empty string, got {value!r}")


# --- end of shared helpers ---
