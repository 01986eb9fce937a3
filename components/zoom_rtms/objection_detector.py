"""Objection Detector: spots sales objections in the new utterances and suggests what to say next.

Guided by an editable playbook of battle cards (category, cue phrases, recommended response). Most turns of a call
raise no objection, so by default the model is only asked when a new utterance says a cue phrase (a card's, or a
general hedge such as "worried"), and it gets only the cards whose cues were heard plus the names of all categories:
far fewer calls and tokens, at the price of not looking at objections worded without any cue. The model answers
through one forced tool (`report_objections`); each objection is then checked against the window (its quote must
come from a new utterance), keyed, filtered by confidence and by what was already raised, so none is repeated.
Self-contained (lfx and the standard library only): this file is embedded in flows as-is.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from lfx.custom.custom_component.component import Component
from lfx.io import BoolInput, DataInput, FloatInput, HandleInput, IntInput, MultilineInput, Output, TableInput
from lfx.schema.data import Data
from lfx.schema.table import EditMode

STAGE = "objection_detector"

DEFAULT_INSTRUCTIONS = """You are a sales coach listening to a live call. Find the objections the prospect \
(not the seller; the host is usually the seller) raises in the NEW utterances only: concerns about price, \
competitors, timing, authority to buy, need, trust in the vendor, security and compliance, integration \
effort, contract terms, or anything else that stands between them and buying. The playbook holds the battle \
cards whose cue phrases were heard; `categories`, when present, names every category of the full playbook.

For each objection:
- quote: the exact words from one new utterance, and its utterance_id;
- category: the best-matching playbook category or one of `categories` (or a short new one if none fits);
- confidence: 0 to 1, how sure you are that this is a real objection;
- suggested_reply: one or two sentences the seller could say next, following the card's response if there is one.

Never report an objection listed in raised_objections or one that only restates it. Small talk, questions \
asked out of interest and the seller's own words are not objections. Report an empty list when there are none."""

DEFAULT_PLAYBOOK = [
    {
        "category": "price",
        "cues": "too expensive, over budget, out of our budget, can't afford, costs too much, price, pricing, cheaper",
        "response": "Acknowledge it, then reframe on value: ask what they compare the price against, quantify the "
        "cost of the problem, and offer a phased rollout before any discount.",
    },
    {
        "category": "competitor",
        "cues": "already use, already using, currently using, competitor, other vendors, looking at, switching from",
        "response": "Don't disparage the other tool. Ask what works and what falls short today, then differentiate "
        "on those gaps with a customer proof point.",
    },
    {
        "category": "timing",
        "cues": "not the right time, next quarter, next year, too busy, not a priority, revisit, freeze",
        "response": "Ask what would make it a priority and what waiting costs them; propose a small pilot that "
        "fits their calendar.",
    },
    {
        "category": "authority",
        "cues": "check with, run it by, my boss, sign off, approval, procurement, decision maker, the board",
        "response": "Map the decision: who else is involved and what do they need to see? Offer material for the "
        "approver or a short call with them.",
    },
    {
        "category": "need",
        "cues": "don't need, works fine, happy with, not sure we need, good enough, spreadsheet",
        "response": "Probe for pain: when did the current way last fail, and what did that cost? Tie the product to "
        "that moment.",
    },
    {
        "category": "security",
        "cues": "security, compliance, GDPR, SOC 2, HIPAA, data residency, privacy, audit",
        "response": "Take it seriously: offer the security pack (SOC 2 report, DPA, residency options) and a call "
        "with the security team; ask for their questionnaire.",
    },
    {
        "category": "trust",
        "cues": "never heard of, track record, references, case study, too risky, will you be around, startup",
        "response": "Reduce the risk: offer two reference customers in their industry, a case study with numbers, "
        "and the terms that protect them (SLA, data export, escrow).",
    },
    {
        "category": "integration",
        "cues": "integrate, integration, doesn't support, compatible, migration, implementation, too complex",
        "response": "Scope the effort: which systems matter? Show the existing connector or API and offer a dated "
        "implementation plan with named owners.",
    },
    {
        "category": "contract",
        "cues": "lock-in, long contract, multi-year, cancel, commitment",
        "response": "Lower the risk: offer a shorter initial term, an exit clause, or a paid pilot with agreed "
        "success criteria.",
    },
]

# Words that signal doubt or resistance whatever the topic; not tied to a battle card.
DEFAULT_GENERAL_CUES = (
    "concern, concerned, worried, worry, hesitant, skeptical, not sure, don't think, problem, issue, risk, "
    "expensive, cost, budget, afford, contract, deal breaker, dealbreaker, non-starter, showstopper"
)
CONTEXT_LINES = 3  # earlier utterances sent along (the window carries up to flows.toml's context_utterances)
CONTEXT_CHARS = 300  # of each, the last so many characters

TOOL = {
    "type": "function",
    "function": {
        "name": "report_objections",
        "description": "Report the objections raised in the new utterances (an empty list when there are none).",
        "parameters": {
            "type": "object",
            "properties": {
                "objections": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "category": {"type": "string", "description": "playbook category"},
                            "quote": {"type": "string", "description": "exact words from one new utterance"},
                            "utterance_id": {"type": "string"},
                            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                            "suggested_reply": {"type": "string"},
                        },
                        "required": ["category", "quote", "utterance_id", "confidence", "suggested_reply"],
                    },
                }
            },
            "required": ["objections"],
        },
    },
}

# --- shared model-call helpers (identical in every LLM component of this bundle; a test keeps them in sync) ---


def _window_from(value: Any) -> dict[str, Any]:
    """The validated window dict from the Transcript Window's `Window` output (Data, or a plain dict in tests)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    data = getattr(value, "data", value)
    if not isinstance(data, dict) or not {"meeting", "window", "utterances"} <= set(data):
        raise ValueError("connect the Transcript Window component's Window output to the Window input")
    return data


def _lines(window: dict[str, Any], key: str = "utterances") -> list[dict[str, Any]]:
    """Utterances as the model sees them: id, speaker, role, time and text."""
    roles = {p["user_id"]: p.get("role", "participant") for p in window.get("participants", [])}
    return [
        {
            "id": u["id"],
            "speaker": u["speaker"],
            "role": roles.get(u["user_id"], "participant"),
            "at_ms": u["start_ms"],
            "text": u["text"],
        }
        for u in window.get(key, [])
    ]


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


async def _ask_model(
    component: Any,
    stage: str,
    instructions: str,
    payload: dict[str, Any],
    tool: dict[str, Any],
    use_tools: bool,
) -> tuple[Any, list[dict[str, Any]], dict[str, int]]:
    """One model call with a single forced tool; falls back to JSON-in-text for models without tool calling.

    Returns (the tool's arguments or None, errors, usage). Output that does not parse is an error entry, never an
    empty result dressed up as fine; failures to reach the model raise.
    """
    llm = component.llm
    if llm is None:
        raise ValueError("connect a Language Model (e.g. the Anthropic component's Language Model output)")
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    user = f"The window data follows.\n<window_data>\n{data}\n</window_data>"
    config = {"callbacks": component.get_langchain_callbacks()}
    name = tool["function"]["name"]
    bound = None
    if use_tools and hasattr(llm, "bind_tools"):
        try:
            bound = llm.bind_tools([tool], tool_choice=name)
        except (NotImplementedError, TypeError, ValueError):
            bound = None
    if bound is not None:
        system = instructions
    else:
        schema = json.dumps(tool["function"]["parameters"], separators=(",", ":"))
        system = f"{instructions}\n\nAnswer with only a JSON object matching this JSON Schema, no prose:\n{schema}"
    answer = await (bound or llm).ainvoke([("system", system), ("human", user)], config=config)
    usage = {"model_calls": 1, "input_tokens": 0, "output_tokens": 0}
    meta = getattr(answer, "usage_metadata", None) or {}
    usage["input_tokens"] = int(meta.get("input_tokens") or 0)
    usage["output_tokens"] = int(meta.get("output_tokens") or 0)
    try:
        from lfx.schema.token_usage import accumulate_usage, extract_usage_from_message

        component._token_usage = accumulate_usage(component._token_usage, extract_usage_from_message(answer))
    except (ImportError, AttributeError):  # older lfx: usage still travels in the insights document
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


def playbook_rows(value: Any) -> list[dict[str, Any]]:
    """Playbook table rows as {category, cues: [..], response}; rows without a category are ignored."""
    rows = []
    for row in value or []:
        row = getattr(row, "data", row)
        if not isinstance(row, dict) or not str(row.get("category") or "").strip():
            continue
        cues = row.get("cues") or ""
        cue_list = cues if isinstance(cues, list) else re.split(r"[,;\n]", str(cues))
        rows.append(
            {
                "category": str(row["category"]).strip(),
                "cues": [str(cue).strip() for cue in cue_list if str(cue).strip()],
                "response": str(row.get("response") or "").strip(),
            }
        )
    return rows


def _cue_pattern(cue: str) -> re.Pattern[str] | None:
    """A cue as whole words, any spaces or hyphens between them, an optional apostrophe where the cue has one and
    a plain ending on the last word ("concern" also finds "concerns", "concerned"); None for an empty cue."""
    parts = re.findall(r"[a-z0-9']+", cue.lower().replace("\u2019", "'"))
    if not parts:
        return None
    body = r"[\s-]+".join(re.escape(part).replace("'", "'?") for part in parts)
    return re.compile(rf"(?<![a-z0-9']){body}(?:s|es|d|ed|ing|y)?(?![a-z0-9'])")


def _said(cues: list[str], texts: list[str]) -> bool:
    """Whether any cue is said in any of the (lower-cased) texts."""
    for cue in cues:
        pattern = _cue_pattern(cue)
        if pattern is not None and any(pattern.search(text) for text in texts):
            return True
    return False


def _brief(line: dict[str, Any], chars: int = 0) -> dict[str, Any]:
    """A line without its time (the model does not need it); its text cut to the last `chars` when set."""
    text = line["text"]
    if chars and len(text) > chars:
        text = "\u2026" + text[-chars:]
    return {"id": line["id"], "speaker": line["speaker"], "role": line["role"], "text": text}


class ObjectionDetectorComponent(Component):
    display_name = "Objection Detector"
    description = "Finds sales objections in the new utterances and suggests replies from an editable playbook."
    icon = "shield-alert"
    name = "RTMSObjectionDetector"

    inputs = [
        DataInput(
            name="window",
            display_name="Window",
            info="The Transcript Window component's Window output.",
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
        TableInput(
            name="playbook",
            display_name="Playbook",
            info="Battle cards: an objection category, cue phrases (comma-separated) and the recommended response.",
            table_schema=[
                {"name": "category", "display_name": "Category", "type": "str", "edit_mode": EditMode.INLINE},
                {"name": "cues", "display_name": "Cue phrases", "type": "str", "edit_mode": EditMode.POPOVER},
                {
                    "name": "response",
                    "display_name": "Recommended response",
                    "type": "str",
                    "edit_mode": EditMode.POPOVER,
                },
            ],
            value=DEFAULT_PLAYBOOK,
        ),
        BoolInput(
            name="ask_only_on_cue",
            display_name="Ask the model only on a cue",
            info="Ask the model only when a new utterance says a cue phrase (a card's or a general one), sending only "
            "the cards whose cues were heard: several times fewer calls and tokens, but an objection worded with none "
            "of the cue phrases is not looked for (on the bundled sales call 7 of 16 were still found). Off: every "
            "window is asked, with the whole playbook.",
            value=False,
        ),
        MultilineInput(
            name="general_cues",
            display_name="General cue phrases",
            info="Comma-separated words that hint at an objection of any category (concerns, hedges); like a card's "
            "cues, they let the model be asked. Matched case-insensitively on whole words.",
            value=DEFAULT_GENERAL_CUES,
        ),
        FloatInput(
            name="min_confidence",
            display_name="Minimum confidence",
            info="Objections the model is less sure about than this (0-1) are dropped.",
            value=0.5,
        ),
        IntInput(name="max_objections", display_name="Max objections per window", value=5, advanced=True),
        BoolInput(
            name="use_tool_calling",
            display_name="Use tool calling",
            info="Ask for a forced tool call; switch off for models without tool support (JSON text is parsed).",
            value=True,
            advanced=True,
        ),
    ]
    outputs = [Output(display_name="Objections", name="objections", method="detect_objections")]

    async def detect_objections(self) -> Data:
        window = _window_from(self.window)
        meeting_id = window["meeting"]["id"]
        new = _lines(window)
        playbook = playbook_rows(self.playbook) or playbook_rows(DEFAULT_PLAYBOOK)
        raised = window["state"]["raised_objections"]
        result: dict[str, Any] = {"kind": "objections", "objections": [], "errors": [], "usage": None}
        if not new:
            self.status = "no new utterances"
            return Data(data=result)
        cards = playbook
        heard = ""
        if self.ask_only_on_cue:
            texts = [line["text"].lower().replace("\u2019", "'") for line in new]
            cards = [row for row in playbook if _said(row["cues"], texts)]
            general = re.split(r"[,;\n]", self.general_cues or "")
            if not cards and not _said(general, texts):
                self.status = f"no cue phrase in {len(new)} new utterance(s): model not asked"
                return Data(data=result)
            heard = f"; asked on cues of {', '.join(row['category'] for row in cards) or 'no card (general cue)'}"
        payload: dict[str, Any] = {
            "task": "objections",
            "meeting": {"product": window["meeting"]["product"], "topic": window["meeting"]["topic"]},
            "participants": [{"name": p["name"], "role": p.get("role", "participant")} for p in window["participants"]],
            "playbook": cards,
            "raised_objections": [{"category": o["category"], "quote": o["quote"]} for o in raised],
            "context": [_brief(line, CONTEXT_CHARS) for line in _lines(window, "context")[-CONTEXT_LINES:]],
            "utterances": [_brief(line) for line in new],
        }
        if len(cards) < len(playbook):
            payload["categories"] = [row["category"] for row in playbook]
        answer, errors, usage = await _ask_model(
            self, STAGE, self.instructions or DEFAULT_INSTRUCTIONS, payload, TOOL, bool(self.use_tool_calling)
        )
        result["usage"] = usage
        by_category = {row["category"].lower(): row for row in playbook}
        raised_keys = {o["key"] for o in raised}
        found: list[dict[str, Any]] = []
        skipped = 0
        for item in _objects(answer, "objections", STAGE, errors) if answer is not None else []:
            try:
                category = _text_field(item, "category")
                quote = _text_field(item, "quote")
                confidence = item.get("confidence")
                if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
                    raise ValueError(f"confidence must be a number from 0 to 1, got {confidence!r}")
                reply = _text_field(item, "suggested_reply", required=False)
            except ValueError as exc:
                errors.append(_error(STAGE, f"objection dropped: {exc}", item))
                continue
            card = by_category.get(category.lower())
            category = card["category"] if card else category
            source = _find_utterance(quote, item.get("utterance_id"), window["utterances"])
            if source is None:
                errors.append(_error(STAGE, "objection dropped: its quote is not in the new utterances", item))
                continue
            key = _stable_key("obj", meeting_id, category.lower(), source["id"])
            repeated = key in raised_keys or any(
                o["category"].lower() == category.lower() and _similar(o["quote"], quote) >= 0.6
                for o in [*raised, *found]
            )
            if repeated or confidence < float(self.min_confidence or 0):
                skipped += 1
                continue
            found.append(
                {
                    "key": key,
                    "category": category,
                    "quote": quote,
                    "speaker": source["speaker"],
                    "at_ms": source["start_ms"],
                    "confidence": float(confidence),
                    "suggested_reply": reply or (card["response"] if card else ""),
                }
            )
        limit = int(self.max_objections or 0)
        result["objections"] = found[:limit] if limit > 0 else found
        result["errors"] = errors
        self.status = (
            f"{len(result['objections'])} objection(s)"
            + (f", {skipped} repeated or below confidence" if skipped else "")
            + (f", {len(errors)} problem(s): {errors[0]['message']}" if errors else "")
            + heard
        )
        return Data(data=result)
