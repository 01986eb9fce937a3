"""The helpers the three model-using components share, written once.

`rtms-langflow flows build` copies the block between the markers below into `objection_detector.py`,
`meeting_summarizer.py` and `ticket_extractor.py` (each component file must stay self-contained: its whole source is
embedded in the flows), and a test fails when a file's copy differs from this one. Edit here, then build.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

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
