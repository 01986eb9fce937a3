"""Transcript model and loaders: each format read right, and bad input named by file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.simulator.transcripts import (
    FIRST_USER_ID,
    MAX_USER_ID,
    USER_ID_STEP,
    Transcript,
    TranscriptError,
    TranscriptMeta,
    Utterance,
    ami_transcript,
    clean_ami_text,
    dumps_jsonl,
    load_transcript,
    parse_ami,
    parse_json,
    parse_jsonl,
    parse_srt,
    parse_vtt,
    sample_names,
)

AMI_DIR = Path("/work/shared/data/qmsum-ami")


def _line(**fields: object) -> str:
    row: dict[str, object] = {"speaker": "Dana Reyes", "start_ms": 0, "end_ms": 1000, "text": "Hello."}
    row.update(fields)
    return json.dumps({k: v for k, v in row.items() if v is not ...})


# ------------------------------------------------------------------------------------------------ model


def test_utterance_is_frozen_and_validated() -> None:
    u = Utterance(speaker="A", user_id=1, start_ms=0, end_ms=10, text="hi")
    with pytest.raises(ValidationError):
        u.text = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="user_id"):
        Utterance(speaker="A", user_id=MAX_USER_ID + 1, start_ms=0, end_ms=10, text="hi")
    with pytest.raises(ValidationError, match="end_ms"):
        Utterance(speaker="A", user_id=1, start_ms=10, end_ms=5, text="hi")
    with pytest.raises(ValidationError, match="text"):
        Utterance(speaker="A", user_id=1, start_ms=0, end_ms=5, text="   ")


def test_transcript_helpers() -> None:
    t = parse_jsonl(
        "\n".join(
            [
                json.dumps({"meta": {"title": "T", "host": "Bo"}}),
                _line(speaker="Al", start_ms=0, end_ms=4000, text="one two three"),
                _line(speaker="Bo", start_ms=3000, end_ms=9000, text="four five"),
                _line(speaker="Al", start_ms=9500, end_ms=12000, text="six"),
            ]
        )
    )
    assert t.duration_ms == 12000
    assert t.speakers == {"Al": FIRST_USER_ID, "Bo": FIRST_USER_ID + USER_ID_STEP}
    assert t.host_user_id == FIRST_USER_ID + USER_ID_STEP
    assert t.word_count == 6
    assert t.find("five") is t.utterances[1]
    assert t.find("seven") is None
    cut = t.sliced(5000)
    assert [(u.start_ms, u.end_ms) for u in cut.utterances] == [(0, 4000), (3000, 5000)]
    assert cut.meta == t.meta


def test_transcript_rejects_disorder_and_id_clashes() -> None:
    a = Utterance(speaker="A", user_id=1, start_ms=100, end_ms=200, text="x")
    b = Utterance(speaker="B", user_id=1, start_ms=300, end_ms=400, text="y")
    early = Utterance(speaker="A", user_id=1, start_ms=50, end_ms=60, text="z")
    with pytest.raises(ValidationError, match=r"utterances\[1\]\.user_id"):
        Transcript(utterances=[a, b])
    with pytest.raises(ValidationError, match=r"utterances\[1\]\.start_ms"):
        Transcript(utterances=[a, early])


# ------------------------------------------------------------------------------------------------ JSONL


def test_jsonl_reads_meta_and_assigns_stable_ids() -> None:
    text = "\n".join(
        [
            json.dumps({"meta": {"title": "Call", "topic": "Pricing", "host": "Dana Reyes", "extra": {"k": 1}}}),
            "",
            _line(speaker="Dana Reyes"),
            _line(speaker="Sam", start_ms=1000, end_ms=2000, user_id=FIRST_USER_ID),  # takes the first id
            _line(speaker="Lee", start_ms=2000, end_ms=3000),
            _line(speaker="Dana Reyes", start_ms=3000, end_ms=3500),
        ]
    )
    t = parse_jsonl(text, "call.jsonl")
    assert t.meta == TranscriptMeta(title="Call", topic="Pricing", host="Dana Reyes", extra={"k": 1})
    assert t.speakers == {
        "Dana Reyes": FIRST_USER_ID + USER_ID_STEP,
        "Sam": FIRST_USER_ID,
        "Lee": FIRST_USER_ID + 2 * USER_ID_STEP,
    }
    assert parse_jsonl(text).speakers == t.speakers  # deterministic


def test_jsonl_round_trip() -> None:
    original = load_transcript("planning")
    again = parse_jsonl(dumps_jsonl(original))
    assert again == original


def test_jsonl_without_meta_and_with_crlf_and_bom() -> None:
    t = parse_jsonl("\ufeff" + _line() + "\r\n" + _line(start_ms=5, end_ms=6) + "\r\n")
    assert t.meta == TranscriptMeta()
    assert len(t.utterances) == 2


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("{bad", 1, None, "invalid JSON"),
        ("[1, 2]", 1, None, "expected a JSON object"),
        (_line(text=...), 1, "text", "Field required"),
        (_line(txt="hi"), 1, "txt", "unknown field"),
        (_line(start_ms=500, end_ms=100), 1, "end_ms", ">= start_ms"),
        (_line(start_ms=-1), 1, "start_ms", "greater than or equal to 0"),
        (_line(start_ms="0"), 1, "start_ms", "valid integer"),
        (_line(user_id=2**31), 1, "user_id", "2147483647"),
        (_line(user_id=0), 1, "user_id", "greater than or equal to 1"),
        (_line(user_id=True), 1, "user_id", "valid integer"),
        (_line(speaker=" "), 1, "speaker", "at least 1 character"),
        (_line(text=""), 1, "text", "at least 1 character"),
        (_line() + "\n" + json.dumps({"meta": {}}), 2, "meta", "first line"),
        (json.dumps({"meta": {"titel": "x"}}), 1, "meta.titel", "unknown field"),
        (json.dumps({"meta": {}, "speaker": "x"}), 1, None, "only 'meta'"),
        (_line(start_ms=900, end_ms=1000) + "\n\n" + _line(start_ms=100, end_ms=200), 3, "start_ms", "time order"),
        (_line(user_id=7) + "\n" + _line(speaker="Other", user_id=7), 2, "user_id", "already belongs"),
        (_line(user_id=7) + "\n" + _line(user_id=8), 2, "user_id", "already has user_id 7"),
    ],
)
def test_jsonl_errors_name_line_and_field(text: str, line: int, field: str | None, words: str) -> None:
    with pytest.raises(TranscriptError) as info:
        parse_jsonl(text, "bad.jsonl")
    err = info.value
    assert (err.source, err.line, err.field) == ("bad.jsonl", line, field)
    assert words in str(err)
    assert str(err).startswith(f"bad.jsonl, line {line}: ")
    assert isinstance(err, ValueError)


def test_jsonl_without_utterances_is_an_error() -> None:
    with pytest.raises(TranscriptError, match="no utterances"):
        parse_jsonl(json.dumps({"meta": {"title": "x"}}) + "\n\n", "empty.jsonl")


# ------------------------------------------------------------------------------------------------ WebVTT

VTT = """WEBVTT - a sample
Kind: captions

NOTE a note block
that spans lines --> even with arrows

STYLE
::cue { color: yellow }

REGION
id:left width:40%

intro
00:00:01.000 --> 00:00:04.500 align:start position:10%
<v Dana Reyes>Hello there,
how are you &amp; the team?</v>

00:05.000 --> 00:07.000
<v.loud Sam Ortiz><i>Fine</i>, thanks

00:00:07.000 --> 00:00:09.000
Priya Raman: I have a question.

00:00:09.000 --> 00:00:10.000
So the plan is: ship it.

3
00:00:10.000 --> 00:00:14.000
<v Dana Reyes>One two three</v> <v Sam Ortiz>four</v>

00:00:15.000 --> 00:00:16.000
<c.yellow></c>

01:00:00.000 --> 01:00:01.500
<v Dana Reyes>Late <00:00:01.000>line
"""


def test_vtt_reads_voices_prefixes_and_skips_blocks() -> None:
    t = parse_vtt(VTT, "s.vtt")
    rows = [(u.speaker, u.start_ms, u.end_ms, u.text) for u in t.utterances]
    assert rows == [
        ("Dana Reyes", 1000, 4500, "Hello there, how are you & the team?"),
        ("Sam Ortiz", 5000, 7000, "Fine, thanks"),
        ("Priya Raman", 7000, 9000, "I have a question."),
        ("Unknown", 9000, 10000, "So the plan is: ship it."),
        ("Dana Reyes", 10000, 13000, "One two three"),  # a cue of two voices is shared by word count
        ("Sam Ortiz", 13000, 14000, "four"),
        ("Dana Reyes", 3_600_000, 3_601_500, "Late line"),
    ]
    assert len(set(t.speakers.values())) == 4


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("1\n00:00:01.000 --> 00:00:02.000\nhi\n", 1, "header"),
        ("WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nhi\n", 3, "timing"),
        ("WEBVTT\n\ncue-id\nhello there\n", 4, "timing"),
        ("WEBVTT\n\nlonely-id\n", 3, "timing"),
        ("WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nhi\n", 3, "timing"),
        ("WEBVTT\n\n00:61:05.000 --> 01:02:02.000\nhi\n", 3, "timing"),
        ("WEBVTT\n\n00:00:05.000 --> 00:00:06.000\nhi\n\n00:00:01.000 --> 00:00:02.000\nthere\n", 6, "start_ms"),
    ],
)
def test_vtt_errors(text: str, line: int, field: str) -> None:
    with pytest.raises(TranscriptError) as info:
        parse_vtt(text, "bad.vtt")
    assert (info.value.line, info.value.field) == (line, field)


# ------------------------------------------------------------------------------------------------ SRT

SRT = """1
00:00:01,000 --> 00:00:03,250
Dana Reyes: Hello <i>there</i>.

2
00:00:04,000 --> 00:00:06,000
{\\an8}No speaker here,
on two lines.

3
00:01:00,500 --> 00:01:02,000
Ana de la Cruz: Hola.
"""


def test_srt_reads_prefixes_and_unknowns() -> None:
    t = parse_srt(SRT, "s.srt")
    rows = [(u.speaker, u.start_ms, u.end_ms, u.text) for u in t.utterances]
    assert rows == [
        ("Dana Reyes", 1000, 3250, "Hello there."),
        ("Unknown", 4000, 6000, "No speaker here, on two lines."),
        ("Ana de la Cruz", 60500, 62000, "Hola."),
    ]


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("one\n00:00:01,000 --> 00:00:02,000\nhi\n", 1, "index"),
        ("1\n00:00:01 --> 00:00:02\nhi\n", 2, "timing"),
        ("1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n", 5, "timing"),
        ("1\n00:00:03,000 --> 00:00:02,000\nhi\n", 2, "timing"),
    ],
)
def test_srt_errors(text: str, line: int, field: str) -> None:
    with pytest.raises(TranscriptError) as info:
        parse_srt(text, "bad.srt")
    assert (info.value.source, info.value.line, info.value.field) == ("bad.srt", line, field)


# ------------------------------------------------------------------------------------------------ QMSum / AMI


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("{vocalsound} Are we {disfmarker} we're not allowed ?", "Are we we're not allowed?"),
        ("Okay , that's fine . Am I ?", "Okay, that's fine. Am I?"),
        ("Yeah , {disfmarker} .", "Yeah."),
        ("{gap}", ""),
        ("{vocalsound} .", ""),
        ("'Kay .", "'Kay."),
    ],
)
def test_clean_ami_text(raw: str, clean: str) -> None:
    assert clean_ami_text(raw) == clean


def test_ami_timing_is_synthesized_from_words_per_minute() -> None:
    data = {
        "topic_list": [{"topic": "Intro"}, {"topic": "Budget"}],
        "general_query_list": [{"query": "Summarize the whole meeting.", "answer": "They met."}],
        "meeting_transcripts": [
            {"speaker": "Project Manager", "content": "Okay , let's start ."},  # 3 words: 1200 ms at 150 wpm
            {"speaker": "Marketing", "content": "{vocalsound}"},  # dropped
            {"speaker": "Marketing", "content": "Sure ."},  # 1 word: the 500 ms floor
            {"speaker": "Project Manager", "content": "One two three . " * 20},  # 60 words: cut into lines
        ],
    }
    t = ami_transcript(data, "/x/ES0000z.json", wpm=150, gap_ms=250)
    first, second, *rest = t.utterances
    assert (first.start_ms, first.end_ms, first.text) == (0, 1200, "Okay, let's start.")
    assert (second.start_ms, second.end_ms) == (1450, 1950)
    assert len(rest) == 2 and all(u.word_count <= 40 for u in rest)
    assert rest[0].start_ms == 2200 and rest[1].start_ms == rest[0].end_ms
    assert sum(u.word_count for u in rest) == 60
    assert t.meta.title == "ES0000z" and t.meta.host == "Project Manager"
    assert t.meta.topic == "Intro; Budget"
    assert t.meta.extra["reference_summary"] == "They met."
    slower = ami_transcript(data, wpm=75)
    assert slower.utterances[0].end_ms == 2400


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ('{"meeting_transcripts": 3}', "meeting_transcripts", None),
        ('{"meeting_transcripts": [{"speaker": "A"}]}', "meeting_transcripts[0].content", None),
        ('{"meeting_transcripts": [{"speaker": "A", "content": "x"}, 5]}', "meeting_transcripts[1]", None),
        ('{"meeting_transcripts": [{"speaker": " ", "content": "x"}]}', "meeting_transcripts[0].speaker", None),
        ('{"meeting_transcripts": [{"speaker": "A", "content": "{gap}"}]}', "meeting_transcripts", None),
        ('{\n"meeting_transcripts": [\n{"speaker": "A",, }]}', None, 3),
    ],
)
def test_ami_errors(text: str, field: str | None, line: int | None) -> None:
    with pytest.raises(TranscriptError) as info:
        parse_ami(text, "m.json")
    assert (info.value.source, info.value.field, info.value.line) == ("m.json", field, line)


@pytest.mark.skipif(not AMI_DIR.is_dir(), reason="the shared AMI data is not on this machine")
@pytest.mark.parametrize("name", ["ES2004a", "ES2004b", "ES2004c", "ES2004d"])
def test_real_ami_meetings_load(name: str) -> None:
    t = load_transcript(AMI_DIR / f"{name}.json")
    minutes = t.duration_ms / 60_000
    assert 15 <= minutes <= 60
    assert set(t.speakers) == {"Project Manager", "Marketing", "User Interface", "Industrial Designer"}
    assert t.meta.host == "Project Manager" and t.meta.extra["reference_summary"]
    assert all("{" not in u.text and " ," not in u.text and " ." not in u.text for u in t.utterances)
    assert max(u.duration_ms for u in t.utterances) <= 40 * 400 + 1
    rate = t.word_count / (sum(u.duration_ms for u in t.utterances) / 60_000)
    assert 120 <= rate <= 150


# ------------------------------------------------------------------------------------------------ loading


def test_load_by_extension(tmp_path: Path) -> None:
    (tmp_path / "a.vtt").write_text(VTT, encoding="utf-8")
    (tmp_path / "a.SRT").write_text(SRT, encoding="utf-8")
    (tmp_path / "a.jsonl").write_text(_line(), encoding="utf-8")
    model = load_transcript("sales").model_dump_json()
    (tmp_path / "a.json").write_text(model, encoding="utf-8")
    assert load_transcript(tmp_path / "a.vtt").utterances[0].speaker == "Dana Reyes"
    assert load_transcript(str(tmp_path / "a.SRT")).utterances[2].speaker == "Ana de la Cruz"
    assert len(load_transcript(tmp_path / "a.jsonl").utterances) == 1
    assert load_transcript(tmp_path / "a.json") == load_transcript("sales")


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="unknown transcript format"):
        load_transcript(tmp_path / "notes.txt")
    with pytest.raises(TranscriptError, match="sample name"):
        load_transcript("sailing")
    with pytest.raises(TranscriptError, match="no such file"):
        load_transcript(tmp_path / "missing.vtt")
    (tmp_path / "latin1.srt").write_bytes("1\n00:00:01,000 --> 00:00:02,000\nJos\xe9: hola\n".encode("latin-1"))
    with pytest.raises(TranscriptError, match="not UTF-8"):
        load_transcript(tmp_path / "latin1.srt")
    (tmp_path / "other.json").write_text('{"turns": []}', encoding="utf-8")
    with pytest.raises(TranscriptError, match="meeting_transcripts"):
        load_transcript(tmp_path / "other.json")
    bad = '{"utterances": [{"speaker": "A", "user_id": 1, "start_ms": 5, "end_ms": 1, "text": "x"}]}'
    with pytest.raises(TranscriptError) as info:
        parse_json(bad, "t.json")
    assert info.value.field == "utterances[0].end_ms"


def test_samples_by_name_and_stem() -> None:
    assert sample_names() == ("planning", "sales", "support")
    assert load_transcript("sales") == load_transcript("sales_discovery")
