from __future__ import annotations

from bridge.intake.events import ParticipantJoined, ParticipantLeft, SpeakerChanged, Utterance
from bridge.intake.translate import BoundedKeySet, EventTranslator, StreamRef
from bridge.rtms.enums import Product
from bridge.rtms.messages import Event, Participant, TranscriptContent

REF = StreamRef("s1", "m1", Product.MEETING)


def line(text: str, start: int, user_id: int | None = 7, name: str | None = "Ann", **kw: object) -> TranscriptContent:
    return TranscriptContent(user_id=user_id, user_name=name, start_time=start, end_time=start + 900,
                             timestamp=start, data=text, **kw)  # type: ignore[arg-type]


def test_utterances_are_numbered_and_repeats_dropped() -> None:
    t = EventTranslator(REF)
    first = t.transcript(line("hello", 1000))
    assert first == Utterance(stream_id="s1", instance_id="m1", product=Product.MEETING, speaker="Ann", user_id="7",
                              start_ms=1000, end_ms=1900, text="hello", seq=1)
    assert t.transcript(line("hello", 1000)) is None  # re-sent after a reconnect
    second = t.transcript(line("hello", 5000))  # same words later: a new line
    assert second is not None and second.seq == 2
    assert t.duplicates == 1 and t.delivered == 2
    assert "hello" not in repr(first)


def test_speaker_name_falls_back_to_roster_then_channel() -> None:
    t = EventTranslator(REF)
    t.event(Event(event_type=3, timestamp=1, participants=[Participant(user_id=9, user_name="Bo")]))
    u = t.transcript(line("x", 1, user_id=9, name=None))
    assert u is not None and u.speaker == "Bo"
    zcc = EventTranslator(StreamRef("s2", "e1", Product.CONTACT_CENTER))
    u = zcc.transcript(TranscriptContent(channel_id="1a", timestamp=5, data="hi"))
    assert u is not None and (u.user_id, u.speaker, u.start_ms, u.end_ms) == ("1a", "1a", 5, 5)


def test_roster_repeated_after_reconnect_gives_no_new_events() -> None:
    t = EventTranslator(REF)
    join = Event(event_type=3, timestamp=1, participants=[Participant(user_id=1, user_name="A"),
                                                          Participant(user_id=2, user_name="B")])
    speaker = Event(event_type=2, timestamp=2, user_id=1, user_name="A")
    assert [type(e) for e in t.event(join)] == [ParticipantJoined, ParticipantJoined]
    assert [type(e) for e in t.event(speaker)] == [SpeakerChanged]
    assert t.event(join) == [] and t.event(speaker) == []
    (left,) = t.event(Event(event_type=4, timestamp=3, participants=[Participant(user_id=2)]))
    assert isinstance(left, ParticipantLeft) and left.name == "B"
    assert t.event(Event(event_type=99, timestamp=4)) == []


def test_forget_drops_everything() -> None:
    t = EventTranslator(REF)
    t.transcript(line("x", 1))
    t.forget()
    assert t.roster == {} and t.transcript(line("x", 1)) is not None


def test_bounded_key_set_forgets_oldest() -> None:
    keys = BoundedKeySet(2)
    assert keys.add("a") and keys.add("b") and not keys.add("a")
    keys.add("c")  # evicts b (a was touched)
    assert "a" in keys and "b" not in keys and len(keys) == 2


def test_lines_without_a_timestamp_take_their_arrival_time() -> None:
    """Six frames with no `content.timestamp` (nor start/end): all six become lines, dated by their arrival."""
    import json

    from bridge.rtms.codec import decode
    from bridge.rtms.messages import TranscriptData

    t = EventTranslator(REF)
    got = []
    for n in range(6):
        frame = json.dumps({"msg_type": 17, "content": {"user_id": 7, "user_name": "Ann", "data": f"line {n}"}})
        message = decode(frame)
        assert isinstance(message, TranscriptData)
        utterance = t.transcript(message.content, arrival_ms=1_700_000_000_000 + n * 1000)
        assert utterance is not None
        got.append((utterance.seq, utterance.start_ms, utterance.end_ms))
    assert got == [(n + 1, 1_700_000_000_000 + n * 1000, 1_700_000_000_000 + n * 1000) for n in range(6)]
    # A repeat of one of them (after a reconnect) is still recognised by what Zoom did send.
    again = decode(json.dumps({"msg_type": 17, "content": {"user_id": 7, "user_name": "Ann", "data": "line 2"}}))
    assert isinstance(again, TranscriptData)
    assert t.transcript(again.content, arrival_ms=1_700_000_099_000) is None


def test_own_times_win_over_the_arrival_time() -> None:
    t = EventTranslator(REF)
    u = t.transcript(TranscriptContent(user_id=1, timestamp=5000, data="a"), arrival_ms=9_999)
    assert u is not None and (u.start_ms, u.end_ms) == (5000, 5000)
    u = t.transcript(TranscriptContent(user_id=1, start_time=100, end_time=900, data="b"), arrival_ms=9_999)
    assert u is not None and (u.start_ms, u.end_ms) == (100, 900)
