"""RTMS messages to meeting events, for one stream: pure (no I/O, no clock), so its rules are unit-tested alone.

It remembers who is in the meeting (names from join and active-speaker events fill in transcript lines that lack
one; after a reconnect Zoom repeats the roster and the current speaker, which are not news and give no event) and
which transcript lines it already delivered: after a reconnect or a fail-over Zoom may send a line again,
and the line must reach the consumer once. The memory of lines is bounded (oldest forgotten first) and holds a
short hash, not the text.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from bridge.intake.events import MeetingEvent, ParticipantJoined, ParticipantLeft, SpeakerChanged, Utterance
from bridge.rtms.enums import EventType, Product
from bridge.rtms.messages import Event, TranscriptContent, UserId


class BoundedKeySet:
    """Insertion-ordered set that forgets its oldest keys beyond `maxsize`."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._keys: OrderedDict[object, None] = OrderedDict()

    def add(self, key: object) -> bool:
        """Add `key`; False when it was already there (a repeat)."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.maxsize:
            self._keys.popitem(last=False)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def clear(self) -> None:
        self._keys.clear()


@dataclass(frozen=True)
class StreamRef:
    stream_id: str
    instance_id: str
    product: Product


def _uid(value: UserId | None) -> str:
    return "" if value is None else str(value)


class EventTranslator:
    def __init__(self, ref: StreamRef, *, dedupe_size: int = 5000) -> None:
        self.ref = ref
        self.roster: dict[str, str] = {}
        self.present: set[str] = set()
        self.speaker: str | None = None
        self.delivered = 0
        self.duplicates = 0
        self._seen = BoundedKeySet(dedupe_size)

    def _base(self) -> dict[str, object]:
        return {"stream_id": self.ref.stream_id, "instance_id": self.ref.instance_id, "product": self.ref.product}

    def transcript(self, content: TranscriptContent, arrival_ms: int = 0) -> Utterance | None:
        """The utterance for a transcript line, or None when this line was already delivered. A line with no time
        of its own (no `start_time`, no `timestamp`) starts at `arrival_ms`, the wall clock when it arrived; its
        repeats are still recognised, by the fields Zoom did send."""
        user_id = _uid(content.user_id) or (content.channel_id or "")
        digest = hashlib.blake2b(content.data.encode("utf-8"), digest_size=8).digest()
        key = (user_id, content.start_time, content.end_time, content.timestamp, digest)
        start = next((t for t in (content.start_time, content.timestamp) if t is not None), arrival_ms)
        end = content.end_time if content.end_time is not None else start
        if not self._seen.add(key):
            self.duplicates += 1
            return None
        speaker = content.user_name or self.roster.get(user_id) or content.channel_id or ""
        if content.user_name and user_id:
            self.roster[user_id] = content.user_name
        self.delivered += 1
        return Utterance(
            stream_id=self.ref.stream_id, instance_id=self.ref.instance_id, product=self.ref.product,
            speaker=speaker, user_id=user_id, start_ms=start, end_ms=max(end, start), text=content.data,
            seq=self.delivered, language=content.language,
        )

    def event(self, event: Event) -> list[MeetingEvent]:
        """Meeting events for an EVENT_UPDATE (active speaker, join, leave); other event types give none (8 and up
        mean different things for Contact Center, so they are never mapped here)."""
        ref = self.ref
        if event.event_type == EventType.ACTIVE_SPEAKER_CHANGE and event.user_id is not None:
            user_id = _uid(event.user_id)
            name = event.user_name or self.roster.get(user_id, "")
            if event.user_name:
                self.roster[user_id] = event.user_name
            if user_id == self.speaker:
                return []
            self.speaker = user_id
            return [SpeakerChanged(stream_id=ref.stream_id, instance_id=ref.instance_id, product=ref.product,
                                   user_id=user_id, speaker=name, timestamp_ms=event.timestamp)]
        if event.event_type == EventType.PARTICIPANT_JOIN:
            joined: list[MeetingEvent] = []
            for p in event.participants or []:
                user_id = _uid(p.user_id)
                name = p.user_name or self.roster.get(user_id, "")
                if p.user_name:
                    self.roster[user_id] = p.user_name
                if user_id in self.present:
                    continue
                self.present.add(user_id)
                joined.append(ParticipantJoined(stream_id=ref.stream_id, instance_id=ref.instance_id,
                                                product=ref.product, user_id=user_id, name=name,
                                                timestamp_ms=event.timestamp))
            return joined
        if event.event_type == EventType.PARTICIPANT_LEAVE:
            left: list[MeetingEvent] = []
            for p in event.participants or []:
                user_id = _uid(p.user_id)
                self.present.discard(user_id)
                if self.speaker == user_id:
                    self.speaker = None
                left.append(ParticipantLeft(stream_id=ref.stream_id, instance_id=ref.instance_id,
                                            product=ref.product, user_id=user_id,
                                            name=p.user_name or self.roster.get(user_id, ""),
                                            timestamp_ms=event.timestamp))
            return left
        return []

    def forget(self) -> None:
        """Drop everything remembered about the stream (stop reason 8: revoked)."""
        self.roster.clear()
        self.present.clear()
        self.speaker = None
        self._seen.clear()
