"""Ticket Extractor: action items, bugs and tickets from the new utterances, each once.

The model sees the items already tracked for this meeting and only the new utterances, and answers through one
forced tool (`report_tickets`). Each item is checked against the window (its quote must come from a new
utterance), given an idempotency key derived from the meeting, the utterance, the kind and the owner (so a retry of
the same window yields the same keys), its due phrase resolved to a date where possible, and dropped when it is
already tracked. Self-contained (lfx and the standard library only): this file is embedded in flows as-is.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from lfx.custom.custom_component.component import Component
from lfx.io import BoolInput, DataInput, HandleInput, IntInput, MultilineInput, Output
from lfx.schema.data import Data

STAGE = "ticket_extractor"
KINDS = ("ticket", "action_item", "bug")
PRIORITIES = ("low", "medium", "high", "urgent")
TRACKED_SENT = 60  # items already tracked that the model is shown (the newest), so duplicates are recognised
CONTEXT_CHARS = 240  # of each context line, the last so many characters

DEFAULT_INSTRUCTIONS = """You turn a live meeting into work items. From the NEW utterances only, extract:
- action_item: someone commits to do something, or is asked to and accepts. owner = that person's name; due = \
the deadline as said ("Friday", "end of week", "tomorrow") or null;
- bug: a product problem someone reports (what is broken, for whom, since when);
- ticket: a request that needs follow-up by a team (feature request, account or billing change, support request).

Each item: kind, a short imperative title, a description a colleague can act on without the recording, owner \
(or null), due (or null), priority (low, medium, high, urgent), the exact quote and its utterance_id.
Skip anything already in tracked_items (even if worded differently), small talk, and vague intentions with no \
action. Report an empty list when there is nothing."""


class TicketExtractorComponent(Component):
    display_name = "Ticket Extractor"
    description = "Extracts action items, bugs and tickets (owner, due date, priority) from the new utterances."
    icon = "list-todo"
    name = "RTMSTicketExtractor"

    inputs = [
        DataInput(
            name="window",
            display_name="Window",
            info="The Transcript Window component's Window output (carries the items already tracked).",
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
        IntInput(name="max_items", display_name="Max items per window", value=10, advanced=True),
        IntInput(
            name="context_lines",
            display_name="Context lines",
            info="Earlier utterances sent along (each cut to its last 240 characters) so that 'I'll do it' or "
            "'can you send it' can be attributed; the window carries as many as flows.toml's context_utterances.",
            value=2,
            advanced=True,
        ),
        BoolInput(
            name="cache_prompt",
            display_name="Cache the instructions",
            info="Mark the instructions and tool schema for Anthropic prompt caching. Off by default: they are about "
            "410 tokens, and Claude Haiku 4.5 caches nothing under 4,096 (Sonnet 4.5: 1,024), so the marker would "
            "save nothing; the new lines and open items change every call and are never cached.",
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
    outputs = [Output(display_name="Tickets", name="tickets", method="extract_tickets")]

    async def extract_tickets(self) -> Data:
        window = _window_from(self.window)
        meeting_id = window["meeting"]["id"]
        new = window["utterances"]
        tracked = window["state"]["tracked_items"]
        result: dict[str, Any] = {"kind": "tickets", "tickets": [], "errors": [], "usage": None}
        if not new:
            self.status = "no new utterances"
            return Data(data=result)
        internal = _internal_ids(window)
        data = {
            "task": "tickets",
            "meeting": {"product": window["meeting"]["product"], "topic": window["meeting"]["topic"]},
            "tracked_items": [{"kind": t["kind"], "title": t["title"]} for t in tracked[-TRACKED_SENT:]],
        }
        context = [_line(u, internal, CONTEXT_CHARS) for u in window["context"][-int(self.context_lines or 0) :]]
        request = _request(data, [_line(u, internal) for u in new], context if self.context_lines else [])
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
        tracked_keys = {t["key"] for t in tracked}
        found: list[dict[str, Any]] = []
        skipped = 0
        for item in _objects(answer, "items", STAGE, errors) if answer is not None else []:
            try:
                kind = _text_field(item, "kind")
                if kind not in KINDS:
                    raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
                title = _text_field(item, "title")
                quote = _text_field(item, "quote")
                description = _text_field(item, "description", required=False) or quote
                owner = _text_field(item, "owner", required=False)
                due = _text_field(item, "due", required=False)
                priority = (item.get("priority") or "medium").lower() if isinstance(item.get("priority"), str) else None
                if priority not in PRIORITIES:
                    raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, got {item.get('priority')!r}")
            except ValueError as exc:
                errors.append(_error(STAGE, f"item dropped: {exc}", item))
                continue
            source = _find_utterance(quote, item.get("utterance_id"), window["utterances"])
            if source is None:
                errors.append(_error(STAGE, "item dropped: its quote is not in the new utterances", item))
                continue
            verb = (re.findall(r"[a-z0-9]+", title.lower()) or [""])[0]
            key = _stable_key("tkt", meeting_id, kind, source["id"], (owner or "").lower(), verb)
            repeated = key in tracked_keys or any(
                t["kind"] == kind and _similar(t["title"], title) >= 0.6 for t in [*tracked, *found]
            )
            if repeated:
                skipped += 1
                continue
            found.append(
                {
                    "key": key,
                    "kind": kind,
                    "title": title,
                    "description": description,
                    "owner": owner,
                    "due": resolve_due(due, source["start_ms"]),
                    "priority": priority,
                    "quote": quote,
                    "speaker": source["speaker"],
                    "at_ms": source["start_ms"],
                    "external": None,
                }
            )
        limit = int(self.max_items or 0)
        result["tickets"] = found[:limit] if limit > 0 else found
        result["errors"] = errors
        self.status = (
            f"{len(result['tickets'])} item(s)"
            + (f", {skipped} already tracked" if skipped else "")
            + (f", {len(errors)} problem(s): {errors[0]['message']}" if errors else "")
        )
        return Data(data=result)


# --- what the component uses: the model's tool and the helpers (read the class above first) ---

TOOL = {
    "type": "function",
    "function": {
        "name": "report_tickets",
        "description": "Report the new action items, bugs and tickets (an empty list when there are none).",
        "parameters": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string", "enum": list(KINDS)},
                            "title": {"type": "string"},
                            "description": {"type": "string"},
                            "owner": {"type": ["string", "null"]},
                            "due": {"type": ["string", "null"]},
                            "priority": {"type": "string", "enum": list(PRIORITIES)},
                            "quote": {"type": "string", "description": "exact words from one new utterance"},
                            "utterance_id": {"type": "string"},
                        },
                        "required": ["kind", "title", "description", "priority", "quote", "utterance_id"],
                    },
                }
            },
            "required": ["items"],
        },
    },
}


_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}


_UNITS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]
_TEENS = [
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
]
_ORDINAL_DAYS = {
    **{word: n for n, word in enumerate(_UNITS, start=1)},
    **{word: n for n, word in enumerate(_TEENS, start=10)},
    "twentieth": 20,
    "thirtieth": 30,
    **{f"twenty-{word}": 20 + n for n, word in enumerate(_UNITS, start=1)},
    "thirty-first": 31,
}


def _day_number(text: str, after_month: bool) -> int | None:
    """The day of the month in "the twenty-third", "the 23rd", "23rd" (or "23" right after a month name)."""
    found = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)\b", text) or re.search(r"\bthe (\d{1,2})\b", text)
    if found is None and after_month:
        found = re.search(r"\b(\d{1,2})\b", text)
    if found:
        return int(found.group(1))
    joined = text.replace("twenty ", "twenty-").replace("thirty ", "thirty-")
    for word, number in sorted(_ORDINAL_DAYS.items(), key=lambda item: -len(item[0])):
        if re.search(rf"\bthe {word}\b", joined) or (after_month and re.search(rf"\b{word}\b", joined)):
            return number
    return None


def _next_day_of_month(today: date, day: int, weekday: int | None = None) -> date | None:
    """The first date on or after `today` on that day of the month (and that weekday, when one was said)."""
    year, month = today.year, today.month
    for _ in range(14 if weekday is not None else 3):
        try:
            candidate: date | None = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= today and weekday in (None, candidate.weekday()):
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return _next_day_of_month(today, day) if weekday is not None else None


def resolve_due(phrase: str | None, said_at_ms: int) -> str | None:
    """An ISO date for a deadline as said ("Friday", "end of week", "Tuesday the twenty-third") at `said_at_ms`
    (UTC); the phrase itself when it names no date this understands, None when there is none."""
    if phrase is None or not phrase.strip():
        return None
    text = " ".join(re.findall(r"[a-z0-9-]+", phrase.lower()))
    today = datetime.fromtimestamp(said_at_ms / 1000, tz=timezone.utc).date()  # noqa: UP017 - Python 3.10 too
    friday = today + timedelta(days=max(0, 4 - today.weekday()))
    found = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", text)
    if found:
        try:
            return date(int(found.group(1)), int(found.group(2)), int(found.group(3))).isoformat()
        except ValueError:
            return phrase.strip()
    month = next((number for name, number in _MONTHS.items() if re.search(rf"\b{name}\b", text)), None)
    day = _day_number(text, month is not None)
    if month is not None and day is not None:
        try:
            meant = date(today.year, month, day)
        except ValueError:
            return phrase.strip()
        return (meant if meant >= today else meant.replace(year=today.year + 1)).isoformat()
    if day is not None:
        weekday = next((i for i, name in enumerate(_WEEKDAYS) if re.search(rf"\b{name}\b", text)), None)
        meant = _next_day_of_month(today, day, weekday)
        if meant is None:
            return phrase.strip()
        if re.search(r"\bweek of\b", text):
            meant += timedelta(days=max(0, 4 - meant.weekday()))
        return meant.isoformat()
    if "tomorrow" in text:
        return (today + timedelta(days=1)).isoformat()
    if re.search(r"\b(today|tonight|eod|end of (the )?day|this (afternoon|evening|morning))\b", text):
        return today.isoformat()
    if re.search(r"\b(eow|end of (the |this )?week|this week)\b", text):
        return friday.isoformat()
    if re.search(r"\bend of (the |this )?month\b", text):
        first_of_next = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
        return (first_of_next - timedelta(days=1)).isoformat()
    next_monday = today + timedelta(days=7 - today.weekday())
    for index, name in enumerate(_WEEKDAYS):
        if re.search(rf"\bnext {name}\b", text):
            return (next_monday + timedelta(days=index)).isoformat()
        if re.search(rf"\b{name}\b", text):
            return (today + timedelta(days=(index - today.weekday()) % 7 or 7)).isoformat()
    if re.search(r"\bnext week\b", text):
        return next_monday.isoformat()
    return phrase.strip()


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
