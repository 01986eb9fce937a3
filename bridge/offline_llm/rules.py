"""The offline model's judgement: deterministic, rule-based extraction over a transcript window.

Pure functions from the task payload our components send (see `model.py`) to the tool input the component asked
for. Objections: cue phrases per category (the request's playbook plus the defaults here) in a sentence that also
voices a concern, from anyone but the host. Action items: commitments and requests with a task verb, the owner
(the speaker, the person named or addressed) and a due phrase. Bugs: problem statements. Tickets: requests for
something that is missing. Summary: extractive, with decisions and open questions found from their markers.
Good enough for demos, tests and benchmarks; a real model is better at everything but determinism.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def _cues(text: str) -> list[str]:
    return [cue.strip() for cue in text.split(",") if cue.strip()]


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


DEFAULT_PLAYBOOK: list[dict[str, Any]] = [
    {
        "category": "price",
        "cues": _cues(
            "too expensive, expensive, pricey, steep, over budget, over our budget, out of our budget, budget, "
            "can't afford, cannot afford, costs too much, cost too much, price, pricing, cheaper, discount, per seat, "
            "a lot more than, more than we were expecting, more than we expected, more than we budgeted, "
            "dollars a, a month per, per user"
        ),
        "response": "Acknowledge the concern, then reframe on value: ask what they compare the price against.",
    },
    {
        "category": "competitor",
        "cues": _cues(
            "already use, already using, already have, currently use, currently using, competitor, other vendors, "
            "another vendor, looking at, switch from, switching from, went with, came in at, quoted us, "
            "in here last month, in here last week, promises"
        ),
        "response": "Ask what works and what falls short with their current tool; differentiate on the gaps.",
    },
    {
        "category": "timing",
        "cues": _cues(
            "not the right time, bad timing, this quarter, next quarter, next year, too busy, not a priority, "
            "revisit, circle back later, freeze, maybe later, wait until, roll anything out, not until, "
            "busy season, heating season, earliest"
        ),
        "response": "Ask what would make it a priority and what waiting costs; offer a small pilot.",
    },
    {
        "category": "authority",
        "cues": _cues(
            "check with, run it by, run this by, my boss, my manager, sign off, sign-off, approval, approve, "
            "procurement, decision maker, not my call, board approval, leadership, has to go through, "
            "have to go through, our cfo, our ceo, cfo, ceo, legal has to, needs sign-off"
        ),
        "response": "Map the decision: who else is involved and what do they need to see? Offer to join that call.",
    },
    {
        "category": "need",
        "cues": _cues(
            "don't need, do not need, don't see the need, works fine for us, happy with, not sure we need, "
            "good enough, spreadsheet works"
        ),
        "response": "Probe for pain: when did the current way last fail, and what did it cost?",
    },
    {
        "category": "trust",
        "cues": _cues(
            "never heard of, track record, references, reference customers, case study, case studies, too risky, "
            "will you be around, be around in, small company, how long have you, last vendor, the last vendor, "
            "said yes to everything, burned before, got burned"
        ),
        "response": "Offer reference customers in their industry, a case study with numbers, and protective terms.",
    },
    {
        "category": "security",
        "cues": _cues(
            "security, compliance, gdpr, soc 2, soc2, hipaa, data residency, privacy, penetration test, pen test, "
            "audit, cyber insurance, insurance carrier, touches customer data"
        ),
        "response": "Offer the security pack (SOC 2 report, DPA, residency options) and a call with security.",
    },
    {
        "category": "integration",
        "cues": _cues(
            "integrate, integration, doesn't support, does not support, compatible, migration, migrate, "
            "implementation, too complex, it team, onboarding, doesn't sync, does not sync, won't sync, sync, "
            "non-starter, deal breaker, deal-breaker"
        ),
        "response": "Scope the effort: which systems matter? Show the connector or API and a dated plan.",
    },
    {
        "category": "contract",
        "cues": _cues(
            "lock-in, locked in, long contract, multi-year, cancel, commitment, termination, out clause, "
            "signing anything, auto-renew"
        ),
        "response": "Lower the risk: offer a shorter term, an exit clause or a paid pilot with success criteria.",
    },
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CLAUSE_SPLIT = re.compile(r",?\s+and\s+(?=(?:i'll|i will|i can|we'll|we will)\b)|;\s+", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = _wordset(
    "a an the and or but so to of in on at for with from by is are was were be been being it its it's this that "
    "these those i you he she we they me him her us them my your our their i'm you're we're they're i'll we'll "
    "you'll do does did have has had not no yes just really very also then there here what which who whom when "
    "where why how can could will would should may might must shall about into over than too as if okay ok um uh "
    "like yeah well right sure gonna going get got let's let"
)
# A sentence voices a concern when it says no, too much, must, or compares unfavourably; a cue alone is not enough
# ("we're SOC 2 Type II" mentions security without objecting to anything).
_CONCERN = re.compile(
    r"\b(?:not|no|never|n't|too|non-starter|deal[- ]?breaker|concern(?:ed|s)?|worr(?:y|ied)|problem|issue|risk(?:y)?"
    r"|expensive|over (?:our )?budget|more than|less than|wants?|requires?|required|needs?(?: to)?|has to|have to|must"
    r"|only if|unless|last vendor|already|but|though|however|realistically|honestly|afraid|hesitant|skeptical"
    r"|came in at|cheaper|instead)\b|n't\b",
    re.IGNORECASE,
)


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


def clauses(sentence: str) -> list[str]:
    """A sentence split where a second commitment starts ("..., and I'll send ...")."""
    parts = [part.strip() for part in _CLAUSE_SPLIT.split(sentence) if part.strip()]
    return parts or [sentence]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    return {word for word in words(text) if word not in _STOPWORDS and len(word) > 2}


def similarity(first: str, second: str) -> float:
    """Jaccard similarity of content words: 1.0 for the same idea in the same words. Texts of one or two content
    words only count as similar when they say exactly the same ("Send it" is not "Send that over")."""
    a, b = content_words(first), content_words(second)
    if not a or not b:
        return 0.0
    if min(len(a), len(b)) < 3:
        return 1.0 if normalize(first) == normalize(second) else 0.0
    return len(a & b) / len(a | b)


def normalize(text: str) -> str:
    return " ".join(words(text))


def _cue_pattern(cue: str) -> re.Pattern[str]:
    escaped = re.escape(cue.lower().strip()).replace(r"\ ", r"\s+")
    return re.compile(rf"(?<![a-z0-9]){escaped}(?![a-z0-9])")


@dataclass(frozen=True)
class Line:
    """One utterance of the window as the components send it."""

    id: str
    speaker: str
    at_ms: int
    text: str
    is_host: bool = False


def lines_from(payload: dict[str, Any], key: str = "utterances") -> list[Line]:
    participants = [p for p in payload.get("participants") or [] if isinstance(p, dict)]
    hosts = {str(p.get("name", "")) for p in participants if p.get("role") == "host"}
    out = []
    for item in payload.get(key) or []:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            continue
        speaker = str(item.get("speaker", ""))
        out.append(
            Line(
                id=str(item.get("id", "")),
                speaker=speaker,
                at_ms=int(item.get("at_ms") or 0),
                text=item["text"],
                is_host=bool(item.get("role") == "host" or speaker in hosts),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------------------
# Objections
# ---------------------------------------------------------------------------------------------------------------


def find_objections(payload: dict[str, Any]) -> dict[str, Any]:
    """`report_objections` input: per utterance and category the sentence with the strongest cue, none repeated."""
    playbook = _playbook(payload.get("playbook"))
    raised = [(str(o.get("category", "")), str(o.get("quote", ""))) for o in payload.get("raised_objections") or []]
    lines = lines_from(payload)
    # Objections come from the other side of the table: skip the host's lines when someone else is speaking.
    speakers_other_than_host = any(not line.is_host for line in lines)
    found: list[dict[str, Any]] = []
    for line in lines:
        if line.is_host and speakers_other_than_host:
            continue
        best: dict[str, tuple[int, str, str]] = {}
        for sentence in sentences(line.text):
            match = _best_category(sentence, playbook)
            if match is None:
                continue
            category, cue, response = match
            strength = len(cue.split())
            if strength < 3 and not _CONCERN.search(sentence):
                continue
            if category not in best or strength > best[category][0]:
                best[category] = (strength, sentence, response)
        for category, (strength, sentence, response) in best.items():
            if any(category == c and similarity(sentence, q) >= 0.5 for c, q in raised):
                continue
            found.append(
                {
                    "category": category,
                    "quote": sentence,
                    "utterance_id": line.id,
                    "confidence": 0.9 if strength > 1 else 0.7,
                    "suggested_reply": response,
                }
            )
    return {"objections": found}


def _playbook(raw: Any) -> list[tuple[str, list[str], str]]:
    """The request's playbook (its cues extended with ours for the same category), else the defaults."""
    ours = {str(entry["category"]).lower(): entry for entry in DEFAULT_PLAYBOOK}
    entries: list[tuple[str, list[str], str]] = []
    for entry in raw if isinstance(raw, list) and raw else DEFAULT_PLAYBOOK:
        if not isinstance(entry, dict) or not entry.get("category"):
            continue
        category = str(entry["category"])
        cues = entry.get("cues") or []
        cue_list = _cues(cues) if isinstance(cues, str) else [str(cue) for cue in cues]
        extra = ours.get(category.lower(), {}).get("cues", [])
        response = str(entry.get("response") or ours.get(category.lower(), {}).get("response", ""))
        entries.append((category, cue_list + [cue for cue in extra if cue not in cue_list], response))
    return entries


def _best_category(sentence: str, playbook: Sequence[tuple[str, list[str], str]]) -> tuple[str, str, str] | None:
    """The category of the longest cue found (multi-word cues are stronger evidence than single words)."""
    lowered = sentence.lower()
    best: tuple[int, str, str, str] | None = None
    for category, cues, response in playbook:
        for cue in cues:
            if cue.strip() and _cue_pattern(cue).search(lowered):
                strength = len(cue.split())
                if best is None or strength > best[0]:
                    best = (strength, category, cue, response)
    return None if best is None else (best[1], best[2], best[3])


# ---------------------------------------------------------------------------------------------------------------
# Tickets and action items
# ---------------------------------------------------------------------------------------------------------------

_VERBS = _wordset(
    "send share email mail forward schedule book set arrange organize organise follow prepare draft write update "
    "review check look investigate fix create file open log raise get call phone ring reach circle put finalize "
    "finalise ship deploy release test confirm sync document add remove migrate order buy provide escalate refund "
    "reset assign compile run coordinate contact invite post publish upload clean reproduce patch demo present "
    "summarize summarise collect gather loop pull build design sketch research find talk ask renew cancel extend "
    "issue credit restore rollback roll revert configure enable disable install upgrade replace verify validate "
    "benchmark measure estimate quote sort handle take block prototype have bring pick re-link relink capture do"
)
_NEEDS_A_DATE = _wordset("do have")  # "I can do that", "can you have it": action items only with a deadline
_LEADING_FILLER = re.compile(
    r"^(?:also|then|just|quickly|go ahead and|try to|make sure to|definitely|personally|probably)\s+", re.IGNORECASE
)
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_ORDINALS = (
    r"(?:twenty-|thirty-|twenty |thirty )?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)"
    r"|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth"
    r"|twentieth|thirtieth|\d{1,2}(?:st|nd|rd|th)"
)
_DUE = re.compile(
    rf"\b(?:(?:by|before|on|until|no later than|due)\s+)?(?:the\s+)?"
    rf"(?P<due>end of (?:the )?day tomorrow|end of (?:the |this |next )?(?:day|week|month|quarter|sprint)|eod|eow"
    rf"|tomorrow(?: morning| afternoon)?|tonight|today|this (?:morning|afternoon|evening)"
    rf"|the week of the (?:{_ORDINALS})|(?:next|this|coming)\s+(?:{_WEEKDAYS}|week|month|sprint)"
    rf"|(?:{_WEEKDAYS})(?: the (?:{_ORDINALS}))?(?: morning| afternoon| evening)?"
    rf"|(?:{_MONTHS})\.?\s+(?:\d{{1,2}}(?:st|nd|rd|th)?|{_ORDINALS})|\d{{4}}-\d{{2}}-\d{{2}})\b",
    re.IGNORECASE,
)
_SELF_COMMIT = re.compile(
    r"\b(?:i'll|i will|i'm going to|i am going to|i can|i'm gonna|i'll go ahead and|i'll make sure to)\s+(?P<act>.+)",
    re.IGNORECASE,
)
_WE_COMMIT = re.compile(r"\b(?:could|can|shall) we\s+(?P<act>.+)", re.IGNORECASE)
_ASK_NAMED = re.compile(r"\b(?P<name>[A-Z][a-z]+),?\s+(?:can|could|will|would)\s+you(?:\s+please)?\s+(?P<act>.+)")
_ASK = re.compile(r"^(?:so,?\s+|and\s+|okay,?\s+)?(?:can|could|will|would)\s+you(?:\s+please)?\s+(?P<act>.+)", re.I)
_THIRD = re.compile(r"\b(?P<name>[A-Z][a-z]+)\s+(?:will|is going to|'ll)\s+(?P<act>.+)")
_ACTION_ITEM = re.compile(r"\baction items?\b[:,]?\s*(?:(?:is|for)\s+)?(?P<act>.+)", re.IGNORECASE)
_WE_NEED = re.compile(r"\b(?:we need to|someone needs to|somebody should)\s+(?P<act>.+)", re.IGNORECASE)
_PROBLEM = re.compile(
    r"\b(?:error|errors|crash|crashes|crashed|crashing|broken|buggy|fails|failing|failed|doesn't work"
    r"|does not work|isn't working|is not working|not working|stopped working|won't load|doesn't load|can't log in"
    r"|cannot log in|can't access|cannot access|can't connect|cannot connect|times out|timing out|timeout"
    r"|exception|outage|is down|went down|lost data|data loss|charged twice|double charged|overcharged"
    r"|double booking|double bookings|too many redirects|redirect loop|keeps (?:looping|logging out|crashing)"
    r"|sync failed|says failed)\b",
    re.IGNORECASE,
)
_MISSING = re.compile(
    r"\b(?:there's no|there is no|there isn't|doesn't (?:have|show|include)|no way to|missing|feature request"
    r"|it would be great if|would be nice if|we need a way to|can you add|could you add|is there a way to)\b",
    re.IGNORECASE,
)
_URGENT = re.compile(r"\b(?:urgent|asap|critical|blocker|blocking|outage|production|immediately|right away)\b", re.I)
_HIGH = re.compile(r"\b(?:important|customers?|patients?|all (?:of )?(?:our|the) users|can't|cannot|soon)\b", re.I)
_NOT_NAMES = _wordset(
    "So And But Then Okay Ok Yes No Well Also Great Sure Right Maybe Now Alright Actually Thanks Thank Please "
    "Honestly Next Last This That What When Who How Why Where Which Let Our The We It They You He She"
)


def find_tickets(payload: dict[str, Any]) -> dict[str, Any]:
    """`report_tickets` input: action items (owner, due), bugs (problem statements) and requests, not yet tracked."""
    tracked = [str(item.get("title", "")) for item in payload.get("tracked_items") or [] if isinstance(item, dict)]
    names = _participant_names(payload)
    lines = lines_from(payload, "context") + lines_from(payload)
    new_ids = {line.id for line in lines_from(payload)}
    items: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        if line.id not in new_ids:
            continue
        addressee = _addressee(line, lines[:index], names)
        for sentence in sentences(line.text):
            for clause in clauses(sentence):
                item = _action_item(clause, line, names, addressee) or _bug_or_request(clause, line)
                if item is None:
                    continue
                if any(similarity(item["title"], title) >= 0.6 for title in tracked):
                    continue
                if any(similarity(item["title"], o["title"]) >= 0.6 and item["kind"] == o["kind"] for o in items):
                    continue
                items.append(item)
    return {"items": items}


def _participant_names(payload: dict[str, Any]) -> dict[str, str]:
    """First name (lower case) -> display name, from participants and speakers."""
    names: dict[str, str] = {}
    people = [p.get("name") for p in payload.get("participants") or [] if isinstance(p, dict)]
    people += [u.get("speaker") for k in ("context", "utterances") for u in payload.get(k) or [] if isinstance(u, dict)]
    for person in people:
        if isinstance(person, str) and person.strip():
            names.setdefault(person.split()[0].lower(), person.strip())
    return names


def _addressee(line: Line, earlier: Sequence[Line], names: dict[str, str]) -> str | None:
    """Whom an unnamed "can you ...?" is for: the last other speaker before it."""
    for previous in reversed(earlier):
        if previous.speaker and previous.speaker != line.speaker:
            return names.get(previous.speaker.split()[0].lower(), previous.speaker)
    return None


def _action_item(clause: str, line: Line, names: dict[str, str], addressee: str | None) -> dict[str, Any] | None:
    due_phrases = [match.group("due") for match in _DUE.finditer(clause)]
    due = due_phrases[-1] if due_phrases else None  # "the NDA today, and the report by tomorrow": the last deadline
    patterns = (
        (_ASK_NAMED, "named"),
        (_ASK, "addressee"),
        (_SELF_COMMIT, "speaker"),
        (_WE_COMMIT, "speaker"),
        (_THIRD, "named"),
        (_ACTION_ITEM, "maybe"),
        (_WE_NEED, "nobody"),
    )
    for pattern, who in patterns:
        match = pattern.search(clause)
        if match is None:
            continue
        act = _clean_act(match.group("act"))
        verb = _first_word(act)
        if not act or verb not in _VERBS or (verb in _NEEDS_A_DATE and due is None):
            continue
        if pattern is _WE_COMMIT and due is None:
            continue
        owner: str | None
        if who == "speaker":
            owner = line.speaker
        elif who == "addressee":
            owner = addressee
        elif who == "named":
            name = match.group("name")
            if name in _NOT_NAMES or name.lower() not in names:
                continue
            owner = names[name.lower()]
        elif who == "maybe":
            named = re.search(r"\bfor\s+(?P<name>[A-Z][a-z]+)\b", clause)
            owner = names.get(named.group("name").lower()) if named else None
        else:
            owner = None
        return {
            "kind": "action_item",
            "title": _title(act),
            "description": clause,
            "owner": owner,
            "due": due,
            "priority": _priority(clause),
            "quote": clause,
            "utterance_id": line.id,
        }
    return None


def _bug_or_request(clause: str, line: Line) -> dict[str, Any] | None:
    if len(words(clause)) < 4 or clause.rstrip().endswith("?"):
        return None
    if _PROBLEM.search(clause):
        kind = "bug"
    elif _MISSING.search(clause):
        kind = "ticket"
    else:
        return None
    return {
        "kind": kind,
        "title": _title(clause),
        "description": clause,
        "owner": None,
        "due": None,
        "priority": _priority(clause),
        "quote": clause,
        "utterance_id": line.id,
    }


def _clean_act(act: str) -> str:
    act = act.strip().rstrip(".!?").strip()
    previous = None
    while previous != act:
        previous = act
        act = _LEADING_FILLER.sub("", act)
    return act


def _first_word(text: str) -> str:
    found = words(text)
    return found[0] if found else ""


def _title(text: str, limit: int = 10) -> str:
    text = _DUE.sub("", text).strip().rstrip(".!?,;:").strip()
    text = re.sub(r"^(?:so|and|but|okay|ok|well|um|uh|yeah|also)[, ]+", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    parts = text.split()
    title = " ".join(parts[:limit]).rstrip(",;:") + ("..." if len(parts) > limit else "")
    return title[:1].upper() + title[1:] if title else "Untitled"


def _priority(sentence: str) -> str:
    if _URGENT.search(sentence):
        return "urgent"
    if _HIGH.search(sentence):
        return "high"
    return "medium"


# ---------------------------------------------------------------------------------------------------------------
# Rolling summary
# ---------------------------------------------------------------------------------------------------------------

_DECISION = re.compile(
    r"\b(?:we(?:'ll| will) go with|decided|decision is|agreed|we agree|let's go with|we'll use|we will use"
    r"|settled on|approved|final answer|we're going with|we are going with|go ahead with|sign off on|lock in"
    r"|out of scope|we're not supporting|we are not supporting|have a decision by)\b",
    re.IGNORECASE,
)
_DECIDED_MARKER = re.compile(r"^(?:okay[,.]?\s+)?(?:so[, ]+)?(?:that's decided|decided(?: then)?|decisions)\.?$", re.I)
_LEFT_OPEN = re.compile(r"\b(?:leave (?:that|it|this) open|open questions?\b|still open)", re.IGNORECASE)
_UNCERTAIN = re.compile(
    r"\b(?:have to check|need to check|want to confirm|need to confirm|not sure (?:if|whether)"
    r"|don't know (?:yet|if|whether)|to be decided|tbd)\b",
    re.IGNORECASE,
)
_QUESTION_WORD = re.compile(
    r"\b(?:how|what|when|who|who's|which|why|where|whether|should|can we|could we|do we|are we|is there)\b", re.I
)


def summarize(payload: dict[str, Any], max_points: int = 3, max_chars: int = 1200) -> dict[str, Any]:
    """`report_summary` input: the previous summary extended with the new window's strongest sentences."""
    raw_previous = payload.get("previous_summary")
    previous: dict[str, Any] = raw_previous if isinstance(raw_previous, dict) else {}
    previous_open = [str(q.get("text", "")) for q in previous.get("open_questions") or [] if isinstance(q, dict)]
    candidates: list[tuple[float, int, str, Line]] = []
    decisions: list[dict[str, str]] = []
    questions: list[dict[str, str]] = []
    order = 0
    for line in lines_from(payload):
        parts = sentences(line.text)
        decided = any(_DECIDED_MARKER.match(part) for part in parts)
        left_open = bool(_LEFT_OPEN.search(line.text))
        for sentence in parts:
            order += 1
            size = len(content_words(sentence))
            if _DECIDED_MARKER.match(sentence) or size < 2:
                continue
            if _DECISION.search(sentence) or (decided and size >= 3 and not sentence.endswith("?")):
                decisions.append(_point(sentence, line))
            elif _is_open_question(sentence, size, left_open):
                questions.append(_point(sentence, line))
            if size >= 4:
                bonus = 1.5 if re.search(r"\d", sentence) else 1.0
                candidates.append((size * bonus, order, sentence, line))
    best = sorted(candidates, key=lambda c: (-c[0], c[1]))[:max_points]
    key_points = [_point(sentence, line) for _, _, sentence, line in sorted(best, key=lambda c: c[1])]
    resolved = [q for q in previous_open if any(similarity(q, d["text"]) >= 0.3 for d in decisions)]
    new_text = " ".join(_as_statement(point) for point in key_points + decisions)
    old_text = str(previous.get("text", "")).strip()
    text = (old_text + " " + new_text).strip() if new_text else old_text
    if len(text) > max_chars:
        text = "..." + text[-(max_chars - 3) :].split(" ", 1)[-1]
    return {
        "summary": text,
        "key_points": key_points,
        "decisions": decisions,
        "open_questions": questions,
        "resolved_questions": resolved,
    }


def _is_open_question(sentence: str, size: int, left_open: bool) -> bool:
    if _UNCERTAIN.search(sentence):
        return True
    if left_open and _QUESTION_WORD.search(sentence) and not _LEFT_OPEN.search(sentence):
        return True
    return sentence.endswith("?") and bool(_QUESTION_WORD.search(sentence)) and size >= 3


def _point(sentence: str, line: Line) -> dict[str, str]:
    return {
        "text": f"{line.speaker}: {sentence}" if line.speaker else sentence,
        "quote": sentence,
        "utterance_id": line.id,
    }


def _as_statement(point: dict[str, str]) -> str:
    text = point["text"].strip()
    return text if text.endswith((".", "!", "?")) else text + "."
