"""Meeting transcripts for the simulator to replay: one model, and loaders for the formats people actually have.

Formats: our JSONL (an optional meta line, then one utterance per line), WebVTT (voice tags or `Name:` prefixes),
SRT (`Name:` prefixes), and the QMSum packaging of AMI meetings (turns without timing: timing is synthesized from a
speaking rate). These files are written or edited by hand, so every loader raises `TranscriptError` naming the
source, the line (or JSON path) and the field: where the mistake is matters more than what pydantic thinks of it.

Speaker ids follow RTMS (unsigned 32-bit) but stay within 1..2**31-1, because Zoom's SDK silently drops transcript
lines whose `user_id` is above 2147483647. Speakers without an id get stable ones in order of first appearance.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

MAX_USER_ID = 2**31 - 1
FIRST_USER_ID = 16778240  # the id shape Zoom's own examples use (0x01001800)
USER_ID_STEP = 1024
UNKNOWN_SPEAKER = "Unknown"
DEFAULT_WPM = 150.0

_SAMPLES = {"planning": "planning_meeting", "sales": "sales_discovery", "support": "support_call"}

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
UserId = Annotated[int, Field(strict=True, ge=1, le=MAX_USER_ID)]
Millis = Annotated[int, Field(strict=True, ge=0)]


class TranscriptError(ValueError):
    """Bad transcript input; `source`, `line` (1-based, if the format has lines) and `field` say where."""

    def __init__(self, source: str, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        where = source if line is None else f"{source}, line {line}"
        super().__init__(f"{where}: {message}" if field is None else f"{where}: {field}: {message}")


def _check_end(start_ms: object, end_ms: int) -> int:
    if isinstance(start_ms, int) and end_ms < start_ms:
        raise ValueError(f"must be >= start_ms ({start_ms})")
    return end_ms


class Utterance(BaseModel):
    """One transcript line as RTMS sends it (msg_type 17): who, when (ms from the meeting start), what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    speaker: Name
    user_id: UserId
    start_ms: Millis
    end_ms: Millis
    text: Text

    @field_validator("end_ms")
    @classmethod
    def _ends_after_start(cls, end_ms: int, info: ValidationInfo) -> int:
        return _check_end(info.data.get("start_ms"), end_ms)

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def word_count(self) -> int:
        return len(self.text.split())


class _JsonlLine(BaseModel):
    """An utterance line of our JSONL, where `user_id` may be left out."""

    model_config = ConfigDict(extra="forbid")

    speaker: Name
    user_id: UserId | None = None
    start_ms: Millis
    end_ms: Millis
    text: Text

    @field_validator("end_ms")
    @classmethod
    def _ends_after_start(cls, end_ms: int, info: ValidationInfo) -> int:
        return _check_end(info.data.get("start_ms"), end_ms)


class TranscriptMeta(BaseModel):
    """What a meeting is about; `host` is the speaker name of the host, `extra` holds anything format-specific."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str | None = None
    topic: str | None = None
    host: str | None = None
    language: Annotated[str, StringConstraints(min_length=2, max_length=35)] = "en"
    extra: dict[str, Any] = Field(default_factory=dict)


class Transcript(BaseModel):
    """A whole meeting: utterances in start order, each speaker with exactly one user_id and vice versa."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    meta: TranscriptMeta = Field(default_factory=TranscriptMeta)
    utterances: list[Utterance] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Transcript:
        problem = _first_inconsistency((u.speaker, u.user_id, u.start_ms) for u in self.utterances)
        if problem is not None:
            index, field, message = problem
            raise ValueError(f"utterances[{index}].{field}: {message}")
        return self

    @property
    def duration_ms(self) -> int:
        return max((u.end_ms for u in self.utterances), default=0)

    @property
    def speakers(self) -> dict[str, int]:
        """Speaker name -> user_id, in order of first appearance."""
        out: dict[str, int] = {}
        for u in self.utterances:
            out.setdefault(u.speaker, u.user_id)
        return out

    @property
    def word_count(self) -> int:
        return sum(u.word_count for u in self.utterances)

    @property
    def host_user_id(self) -> int | None:
        return None if self.meta.host is None else self.speakers.get(self.meta.host)

    def sliced(self, max_ms: int) -> Transcript:
        """The first `max_ms` of the meeting: utterances starting before it, the last one cut at `max_ms`."""
        kept = [
            u if u.end_ms <= max_ms else u.model_copy(update={"end_ms": max_ms})
            for u in self.utterances
            if u.start_ms < max_ms
        ]
        return Transcript(meta=self.meta, utterances=kept)

    def find(self, quote: str) -> Utterance | None:
        """The first utterance whose text contains `quote` exactly."""
        return next((u for u in self.utterances if quote in u.text), None)


def _first_inconsistency(rows: Iterable[tuple[str, int, int]]) -> tuple[int, str, str] | None:
    """(index, field, message) of the first row breaking start order or the speaker <-> user_id pairing."""
    by_name: dict[str, int] = {}
    by_id: dict[int, str] = {}
    previous_start = 0
    for index, (speaker, user_id, start_ms) in enumerate(rows):
        if start_ms < previous_start:
            return index, "start_ms", f"starts before the previous line ({start_ms} < {previous_start})"
        previous_start = start_ms
        if by_name.setdefault(speaker, user_id) != user_id:
            return index, "user_id", f"speaker {speaker!r} already has user_id {by_name[speaker]}, not {user_id}"
        if by_id.setdefault(user_id, speaker) != speaker:
            return index, "user_id", f"user_id {user_id} already belongs to speaker {by_id[user_id]!r}"
    return None


# ---------------------------------------------------------------------------------------------------- building


@dataclass(frozen=True, slots=True)
class _Line:
    """A parsed line before ids are assigned; `lineno` is where errors point."""

    lineno: int
    speaker: str
    start_ms: int
    end_ms: int
    text: str
    user_id: int | None = None


def _build(source: str, lines: list[_Line], meta: TranscriptMeta) -> Transcript:
    """Check order and ids with line numbers, give id-less speakers stable ids, and make the model."""
    if not lines:
        raise TranscriptError(source, "no utterances found")
    problem = _first_inconsistency((ln.speaker, ln.user_id, ln.start_ms) for ln in lines if ln.user_id is not None)
    explicit = [ln for ln in lines if ln.user_id is not None]
    if problem is not None:
        index, field, message = problem
        raise TranscriptError(source, message, line=explicit[index].lineno, field=field)
    ids = {ln.speaker: ln.user_id for ln in explicit if ln.user_id is not None}
    taken = set(ids.values())
    candidate = FIRST_USER_ID
    previous_start = 0
    for ln in lines:
        if ln.start_ms < previous_start:
            message = f"starts before the previous line ({ln.start_ms} < {previous_start}); lines must be in time order"
            raise TranscriptError(source, message, line=ln.lineno, field="start_ms")
        previous_start = ln.start_ms
        if ln.speaker not in ids:
            while candidate in taken:
                candidate += USER_ID_STEP
            ids[ln.speaker] = candidate
            taken.add(candidate)
    utterances = []
    for ln in lines:
        try:
            utterances.append(
                Utterance(
                    speaker=ln.speaker, user_id=ids[ln.speaker], start_ms=ln.start_ms, end_ms=ln.end_ms, text=ln.text
                )
            )
        except ValidationError as exc:
            raise _validation_error(source, exc, line=ln.lineno) from None
    return Transcript(meta=meta, utterances=utterances)


def _validation_error(source: str, exc: ValidationError, *, line: int | None = None, at: str = "") -> TranscriptError:
    """The first pydantic error as a TranscriptError naming the field as a JSON path."""
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    path = at
    for part in first["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] != "missing" and isinstance(first.get("input"), str | int | float | bool | None):
        message += f" (got {first['input']!r})"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    if not first["loc"] and ": " in message and message.startswith("utterances["):
        path, message = message.split(": ", 1)
    return TranscriptError(source, message, line=line, field=path or None)


def _split_lines(text: str) -> list[str]:
    """Lines as editors count them (str.splitlines would also split on U+2028 and friends)."""
    return [ln.removesuffix("\r") for ln in text.removeprefix("\ufeff").split("\n")]


# ---------------------------------------------------------------------------------------------------- our JSONL


def parse_jsonl(text: str, source: str = "<jsonl>") -> Transcript:
    """Our format: an optional first line `{"meta": {...}}`, then one utterance object per line."""
    meta = TranscriptMeta()
    lines: list[_Line] = []
    seen_content = False
    for lineno, raw in enumerate(_split_lines(text), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TranscriptError(source, f"invalid JSON: {exc.msg} (column {exc.colno})", line=lineno) from None
        if not isinstance(obj, dict):
            raise TranscriptError(source, f"expected a JSON object, got {type(obj).__name__}", line=lineno)
        if "meta" in obj:
            if seen_content:
                raise TranscriptError(source, "the meta line must be the first line", line=lineno, field="meta")
            if set(obj) != {"meta"}:
                extra = ", ".join(sorted(set(obj) - {"meta"}))
                raise TranscriptError(source, f"the meta line holds only 'meta' (also found: {extra})", line=lineno)
            try:
                meta = TranscriptMeta.model_validate(obj["meta"])
            except ValidationError as exc:
                raise _validation_error(source, exc, line=lineno, at="meta") from None
            seen_content = True
            continue
        seen_content = True
        try:
            row = _JsonlLine.model_validate(obj)
        except ValidationError as exc:
            raise _validation_error(source, exc, line=lineno) from None
        lines.append(_Line(lineno, row.speaker, row.start_ms, row.end_ms, row.text, row.user_id))
    return _build(source, lines, meta)


def dumps_jsonl(transcript: Transcript) -> str:
    """Our JSONL for a transcript: the meta line (only fields that are set), then one utterance per line."""
    meta = transcript.meta.model_dump(exclude_none=True, exclude_defaults=True)
    meta.setdefault("language", transcript.meta.language)
    rows = [json.dumps({"meta": meta}, ensure_ascii=False)]
    rows += [json.dumps(u.model_dump(), ensure_ascii=False) for u in transcript.utterances]
    return "\n".join(rows) + "\n"


def parse_json(text: str, source: str = "<json>", *, wpm: float = DEFAULT_WPM) -> Transcript:
    """A .json file: the Transcript model itself (`meta` + `utterances`), or a QMSum/AMI meeting."""
    data = _json_document(text, source)
    if isinstance(data, dict) and "meeting_transcripts" in data:
        return ami_transcript(data, source, wpm=wpm)
    if isinstance(data, dict) and "utterances" in data:
        try:
            return Transcript.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(source, exc) from None
    raise TranscriptError(source, "expected an object with 'utterances' (our model) or 'meeting_transcripts' (QMSum)")


def _json_document(text: str, source: str) -> Any:
    try:
        return json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise TranscriptError(source, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None


# ---------------------------------------------------------------------------------------------------- WebVTT, SRT

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s.*)?$")
_LOOKS_TIMED = re.compile(r"^\s*(?:\d+:)?\d{1,2}:\d{2}[.,]\d")
_VOICE = re.compile(r"<v(?:\.[^\s>]+)?(?:[ \t]+([^>]*))?>|</v\s*>")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_NAME_PREFIX = re.compile(r"^([^:\n]{1,48}?):[ \t]+(?=\S)")
_NAME_PARTICLES = frozenset({"de", "del", "la", "le", "da", "di", "du", "van", "von", "der", "den", "bin", "al", "y"})


def _timing(line: str, source: str, lineno: int) -> tuple[int, int]:
    match = _TIMING.match(line)
    if match is None:
        message = f"expected 'hh:mm:ss.mmm --> hh:mm:ss.mmm', got {line.strip()!r}"
        raise TranscriptError(source, message, line=lineno, field="timing")
    g = match.groups()
    start, end = _millis(g[:4], source, lineno), _millis(g[4:], source, lineno)
    if end < start:
        raise TranscriptError(source, f"cue ends before it starts ({line.strip()!r})", line=lineno, field="timing")
    return start, end


def _millis(parts: tuple[str | None, ...], source: str, lineno: int) -> int:
    hours, minutes, seconds, millis = (int(p) if p else 0 for p in parts)
    if minutes > 59 or seconds > 59:
        raise TranscriptError(source, "minutes and seconds must be below 60", line=lineno, field="timing")
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis


def _clean_cue(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def _split_name(text: str) -> tuple[str, str]:
    """A `Name: text` prefix, as Zoom's own VTT exports write speakers; anything else is 'Unknown'.

    A name is one to five words, the first capitalised and the others capitalised, numbers, a parenthesis or a
    name particle, so that "So the plan is: ..." stays text.
    """
    match = _NAME_PREFIX.match(text)
    if match is None:
        return UNKNOWN_SPEAKER, text
    words = match.group(1).split()
    if not 1 <= len(words) <= 5 or not words[0][0].isupper():
        return UNKNOWN_SPEAKER, text
    if not all(w[0].isupper() or w[0].isdigit() or w[0] == "(" or w in _NAME_PARTICLES for w in words):
        return UNKNOWN_SPEAKER, text
    return " ".join(words), text[match.end() :]


def _blocks(lines: list[str], first: int) -> Iterable[list[tuple[int, str]]]:
    """Runs of non-blank lines as (lineno, text), from index `first` on."""
    block: list[tuple[int, str]] = []
    for index in range(first, len(lines)):
        if lines[index].strip():
            block.append((index + 1, lines[index]))
        elif block:
            yield block
            block = []
    if block:
        yield block


def _timed_segments(start: int, end: int, segments: list[tuple[str, str]], lineno: int) -> Iterable[_Line]:
    """A cue holding several voices becomes one line per voice, sharing the cue's time by word count."""
    words = [max(1, len(text.split())) for _, text in segments]
    total = sum(words)
    cursor, spoken = start, 0
    for (speaker, text), count in zip(segments, words, strict=True):
        spoken += count
        stop = start + (end - start) * spoken // total
        yield _Line(lineno, speaker, cursor, stop, text)
        cursor = stop


def _voices(payload: str) -> list[tuple[str, str]]:
    """(speaker, text) runs of a cue payload; text outside voice tags takes a `Name:` prefix or 'Unknown'."""
    runs: list[tuple[str | None, str]] = []
    speaker: str | None = None
    position = 0
    for match in _VOICE.finditer(payload):
        runs.append((speaker, payload[position : match.start()]))
        speaker = None if match.group(0).startswith("</") else (match.group(1) or "").strip() or None
        position = match.end()
    runs.append((speaker, payload[position:]))
    merged: list[tuple[str, str]] = []
    for name, raw in runs:
        text = _clean_cue(raw)
        if not text:
            continue
        if name is None:
            name, text = _split_name(text)
        if merged and merged[-1][0] == name:
            merged[-1] = (name, f"{merged[-1][1]} {text}")
        else:
            merged.append((name, text))
    return merged


def parse_vtt(text: str, source: str = "<vtt>") -> Transcript:
    """WebVTT: cues with optional ids, `<v Name>` voice tags, NOTE/STYLE/REGION blocks skipped."""
    lines = _split_lines(text)
    header = lines[0] if lines else ""
    if not (header == "WEBVTT" or header.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise TranscriptError(source, "a WebVTT file starts with 'WEBVTT'", line=1, field="header")
    header_end = next((i for i, ln in enumerate(lines) if not ln.strip()), len(lines))
    parsed: list[_Line] = []
    for block in _blocks(lines, header_end):
        head = block[0][1].strip()
        if head.split(maxsplit=1)[0] in ("NOTE", "STYLE", "REGION") and "-->" not in head:
            continue
        at = 0 if "-->" in block[0][1] else 1
        if at == 1 and _LOOKS_TIMED.match(block[0][1]) and (len(block) < 2 or "-->" not in block[1][1]):
            _timing(block[0][1], source, block[0][0])  # a broken timing line, not a cue id: say what is wrong
        if at >= len(block) or "-->" not in block[at][1]:
            lineno = block[min(at, len(block) - 1)][0]
            raise TranscriptError(source, "expected a cue timing line after the cue id", line=lineno, field="timing")
        start, end = _timing(block[at][1], source, block[at][0])
        segments = _voices("\n".join(ln for _, ln in block[at + 1 :]))
        parsed.extend(_timed_segments(start, end, segments, block[at][0]))
    return _build(source, parsed, TranscriptMeta())


def parse_srt(text: str, source: str = "<srt>") -> Transcript:
    """SRT: numbered cues, `hh:mm:ss,mmm --> hh:mm:ss,mmm`, the speaker as a `Name:` prefix (else 'Unknown')."""
    parsed: list[_Line] = []
    for block in _blocks(_split_lines(text), 0):
        at = 0
        if "-->" not in block[0][1]:
            if not block[0][1].strip().isdigit():
                raise TranscriptError(
                    source, f"expected a cue number, got {block[0][1].strip()!r}", line=block[0][0], field="index"
                )
            at = 1
        if at >= len(block):
            raise TranscriptError(source, "cue number without a timing line", line=block[0][0], field="timing")
        start, end = _timing(block[at][1], source, block[at][0])
        payload = _clean_cue(" ".join(ln for _, ln in block[at + 1 :]))
        if payload:
            speaker, words = _split_name(payload)
            parsed.append(_Line(block[at][0], speaker, start, end, words))
    return _build(source, parsed, TranscriptMeta())


# ---------------------------------------------------------------------------------------------------- QMSum / AMI

_AMI_MARKER = re.compile(r"\{[a-z_]+\}")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.?!;:])")
_PAUSE_BEFORE_STOP = re.compile(r"[,;:]+\s*([.?!])")
_REPEATED_PAUSE = re.compile(r"([,;:])(?:\s*[,;:])+")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def clean_ami_text(content: str) -> str:
    """AMI turn text as an ASR would show it: markers like {disfmarker} gone, no space before punctuation."""
    text = _AMI_MARKER.sub(" ", content)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _REPEATED_PAUSE.sub(r"\1", text)
    text = _PAUSE_BEFORE_STOP.sub(r"\1", text)
    text = " ".join(text.split()).lstrip(",.;:?! ")
    return text if any(c.isalnum() for c in text) else ""


def _pieces(sentence: str, max_words: int) -> list[str]:
    """A sentence longer than `max_words` cut at commas, and failing that every `max_words` words."""
    words = sentence.split()
    if len(words) <= max_words:
        return [sentence]
    out: list[str] = []
    for clause in re.split(r"(?<=,)\s+", sentence):
        clause_words = clause.split()
        for i in range(0, len(clause_words), max_words):
            piece = clause_words[i : i + max_words]
            if out and len(out[-1].split()) + len(piece) <= max_words:
                out[-1] = f"{out[-1]} {' '.join(piece)}"
            else:
                out.append(" ".join(piece))
    return out


def _chunks(text: str, max_words: int) -> list[str]:
    """Whole sentences grouped into lines of at most `max_words`; longer sentences cut by `_pieces`."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        for piece in _pieces(sentence, max_words):
            if out and len(out[-1].split()) + len(piece.split()) <= max_words:
                out[-1] = f"{out[-1]} {piece}"
            else:
                out.append(piece)
    return out


def ami_transcript(
    data: Any,
    source: str = "<json>",
    *,
    wpm: float = DEFAULT_WPM,
    gap_ms: int = 250,
    max_words: int = 40,
    min_ms: int = 500,
) -> Transcript:
    """A QMSum/AMI meeting (`meeting_transcripts`: turns of `speaker` and `content`, no timing).

    Timing is synthesized at `wpm` words per minute with `gap_ms` between turns; long turns are cut into lines of
    whole sentences (at most `max_words`), since RTMS sends sentence-level lines rather than whole turns.
    """
    if not wpm > 0:
        raise ValueError(f"wpm must be positive, got {wpm}")
    if not isinstance(data, dict) or not isinstance(data.get("meeting_transcripts"), list):
        raise TranscriptError(source, "expected a list of turns", field="meeting_transcripts")
    parsed: list[_Line] = []
    cursor = 0
    for index, turn in enumerate(data["meeting_transcripts"]):
        where = f"meeting_transcripts[{index}]"
        if not isinstance(turn, dict):
            raise TranscriptError(source, f"expected an object, got {type(turn).__name__}", field=where)
        for key in ("speaker", "content"):
            if not isinstance(turn.get(key), str):
                raise TranscriptError(source, "missing or not a string", field=f"{where}.{key}")
        speaker = turn["speaker"].strip()
        if not speaker:
            raise TranscriptError(source, "empty speaker", field=f"{where}.speaker")
        text = clean_ami_text(turn["content"])
        if not text:
            continue
        if parsed:
            cursor += gap_ms
        for chunk in _chunks(text, max_words):
            duration = max(min_ms, round(len(chunk.split()) * 60_000 / wpm))
            parsed.append(_Line(index + 1, speaker, cursor, cursor + duration, chunk))
            cursor += duration
    if not parsed:
        raise TranscriptError(source, "no turns with text", field="meeting_transcripts")
    return _build(source, parsed, _ami_meta(data, source, {ln.speaker for ln in parsed}, wpm))


def _ami_meta(data: dict[str, Any], source: str, speakers: set[str], wpm: float) -> TranscriptMeta:
    topics = [
        t["topic"] for t in data.get("topic_list") or [] if isinstance(t, dict) and isinstance(t.get("topic"), str)
    ]
    summary = next(
        (
            q["answer"]
            for q in data.get("general_query_list") or []
            if isinstance(q, dict) and "summar" in str(q.get("query", "")).lower() and isinstance(q.get("answer"), str)
        ),
        None,
    )
    extra: dict[str, Any] = {"source": "qmsum-ami", "synthetic_timing_wpm": wpm, "topics": topics}
    if summary is not None:
        extra["reference_summary"] = summary
    return TranscriptMeta(
        title=Path(source).stem if source and not source.startswith("<") else None,
        topic="; ".join(topics) or None,
        host="Project Manager" if "Project Manager" in speakers else None,  # AMI's chair role
        extra=extra,
    )


def parse_ami(text: str, source: str = "<json>", *, wpm: float = DEFAULT_WPM) -> Transcript:
    return ami_transcript(_json_document(text, source), source, wpm=wpm)


# ---------------------------------------------------------------------------------------------------- loading

_PARSERS: dict[str, Callable[[str, str], Transcript]] = {".jsonl": parse_jsonl, ".vtt": parse_vtt, ".srt": parse_srt}


def sample_names() -> tuple[str, ...]:
    """Names of the bundled sample meetings (`load_transcript(name)` loads one)."""
    return tuple(_SAMPLES)


def _sample_stem(name: str) -> str:
    stem = _SAMPLES.get(name, name)
    if stem not in _SAMPLES.values():
        raise TranscriptError(name, f"no such sample (samples: {', '.join(sample_names())})")
    return stem


def sample_path(name: str) -> Traversable:
    """The bundled JSONL of a sample (by short name or file stem); works from an installed wheel too."""
    return resources.files("bridge.simulator") / "samples" / f"{_sample_stem(name)}.jsonl"


def sample_expected_path(name: str) -> Traversable:
    """The sample's `.expected.json`: the items planted in it that a good system must find."""
    return resources.files("bridge.simulator") / "samples" / f"{_sample_stem(name)}.expected.json"


def load_transcript(path_or_name: str | os.PathLike[str], *, wpm: float = DEFAULT_WPM) -> Transcript:
    """A transcript from a file (by extension: .jsonl, .vtt, .srt, .json) or a bundled sample name."""
    if isinstance(path_or_name, str) and (path_or_name in _SAMPLES or path_or_name in _SAMPLES.values()):
        resource = sample_path(path_or_name)
        return parse_jsonl(resource.read_text(encoding="utf-8"), resource.name)
    path = Path(path_or_name)
    suffix = path.suffix.lower()
    if suffix not in (*_PARSERS, ".json"):
        hint = f"expected a .jsonl, .vtt, .srt or .json file, or a sample name ({', '.join(sample_names())})"
        raise TranscriptError(str(path), f"unknown transcript format: {hint}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TranscriptError(str(path), "no such file") from None
    except UnicodeDecodeError as exc:
        raise TranscriptError(str(path), f"not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise TranscriptError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if suffix == ".json":
        return parse_json(text, str(path), wpm=wpm)
    return _PARSERS[suffix](text, str(path))
