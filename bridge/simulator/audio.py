"""Synthetic audio for replays: raw PCM L16 (signed 16-bit, little-endian), mono, one packet per send interval.

Not speech: each speaker gets a cheap voice-like buzz (a fundamental plus two harmonics, pulsed four times a second
like syllables) whose pitch and timbre come from the user_id, so that listeners and tests can tell speakers apart
and hear silence between utterances. Every speaker's sound is one precomputed table and the waveform is continuous
across packets, so a packet is a few byte slices: cheap enough for many meetings replayed at 20x.
"""

from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from bridge.rtms.enums import SampleRate
from bridge.simulator.transcripts import Utterance

SAMPLE_RATES_HZ: dict[SampleRate, int] = {
    SampleRate.SR_8K: 8000,
    SampleRate.SR_16K: 16000,
    SampleRate.SR_32K: 32000,
    SampleRate.SR_48K: 48000,
}
DEFAULT_SAMPLE_RATE_HZ = 16000
DEFAULT_SEND_RATE_MS = 20
MAX_SEND_RATE_MS = 1000
BYTES_PER_SAMPLE = 2
_CYCLE_MS = 250  # one syllable pulse; pitches are multiples of 1000 / _CYCLE_MS Hz so a table loops seamlessly

Span = tuple[int, int, int]
"""(start_ms, end_ms, user_id): a stretch of one speaker's voice on the meeting clock."""


def sample_rate_hz(code: int) -> int:
    """Hz for an RTMS `sample_rate` code (0 8 kHz, 1 16 kHz, 2 32 kHz, 3 48 kHz)."""
    try:
        return SAMPLE_RATES_HZ[SampleRate(code)]
    except ValueError:
        raise ValueError(f"unknown sample_rate code {code} (expected 0, 1, 2 or 3)") from None


def negotiate_send_rate(requested_ms: int | None) -> int:
    """The send interval RTMS uses for a requested one: 20 ms by default, above 1000 ms clamped to 1000.

    A value that is not a positive multiple of 20 has no documented outcome, so it is refused here.
    """
    if not requested_ms:
        return DEFAULT_SEND_RATE_MS
    if requested_ms < 0 or requested_ms % 20:
        raise ValueError(f"send_rate must be a positive multiple of 20 ms, got {requested_ms}")
    return min(requested_ms, MAX_SEND_RATE_MS)


class AudioSynth:
    """Packets of synthetic L16 mono PCM; packet k covers [k * send_rate_ms, (k + 1) * send_rate_ms) of the meeting."""

    def __init__(
        self,
        sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ,
        send_rate_ms: int = DEFAULT_SEND_RATE_MS,
        *,
        level: float = 0.25,
    ) -> None:
        if sample_rate_hz not in SAMPLE_RATES_HZ.values():
            raise ValueError(f"sample_rate_hz must be 8000, 16000, 32000 or 48000, got {sample_rate_hz}")
        if not (0 < send_rate_ms <= MAX_SEND_RATE_MS and send_rate_ms % 20 == 0):
            raise ValueError(f"send_rate_ms must be a multiple of 20 from 20 to 1000, got {send_rate_ms}")
        if not 0.0 < level <= 1.0:
            raise ValueError(f"level must be in (0, 1], got {level}")
        self.sample_rate_hz = sample_rate_hz
        self.send_rate_ms = send_rate_ms
        self.samples_per_packet = sample_rate_hz * send_rate_ms // 1000
        self.packet_bytes = self.samples_per_packet * BYTES_PER_SAMPLE
        self._level = level
        self._cycle = sample_rate_hz * _CYCLE_MS // 1000
        self._silence = bytes(self.packet_bytes)
        self._tables: dict[int, bytes] = {}

    def packet_start_ms(self, k: int) -> int:
        return k * self.send_rate_ms

    def packet_count(self, duration_ms: int) -> int:
        """Packets needed to cover `duration_ms` (the last one may be partly silent)."""
        return -(-duration_ms // self.send_rate_ms)

    def silence(self) -> bytes:
        return self._silence

    def packet(self, k: int, user_id: int | None) -> bytes:
        """Packet k holding one speaker's voice throughout, or silence for None."""
        if user_id is None:
            return self._silence
        return self._voice(user_id, k * self.samples_per_packet, self.samples_per_packet)

    def render(self, k: int, spans: Iterable[Span]) -> bytes:
        """Packet k with every span's voice where it falls in the packet (mixed where spans overlap), else silence."""
        first = k * self.samples_per_packet
        last = first + self.samples_per_packet
        pieces: list[tuple[int, int, int]] = []
        for start_ms, end_ms, user_id in spans:
            lo = max(first, start_ms * self.sample_rate_hz // 1000)
            hi = min(last, end_ms * self.sample_rate_hz // 1000)
            if lo < hi:
                pieces.append((lo, hi, user_id))
        if not pieces:
            return self._silence
        if len(pieces) == 1 and pieces[0][:2] == (first, last):
            return self._voice(pieces[0][2], first, self.samples_per_packet)
        out = bytearray(self._silence)
        written: list[tuple[int, int]] = []
        for lo, hi, user_id in pieces:
            voice = self._voice(user_id, lo, hi - lo)
            a, b = (lo - first) * BYTES_PER_SAMPLE, (hi - first) * BYTES_PER_SAMPLE
            if any(lo < w_hi and w_lo < hi for w_lo, w_hi in written):
                out[a:b] = _mix(bytes(out[a:b]), voice)
            else:
                out[a:b] = voice
            written.append((lo, hi))
        return bytes(out)

    def _voice(self, user_id: int, first_sample: int, count: int) -> bytes:
        """`count` samples of a speaker's sound starting at absolute sample `first_sample` (phase-continuous)."""
        table = self._tables.get(user_id)
        if table is None:
            table = self._tables[user_id] = _voice_table(user_id, self.sample_rate_hz, self._cycle, self._level)
        parts: list[bytes] = []
        position = first_sample % self._cycle
        while count > 0:
            take = min(count, self._cycle)
            parts.append(table[position * BYTES_PER_SAMPLE : (position + take) * BYTES_PER_SAMPLE])
            count -= take
            position = (position + take) % self._cycle
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _voice_table(user_id: int, rate: int, cycle: int, level: float) -> bytes:
    """Two cycles (so any slice of up to one cycle is contiguous) of a speaker's pulsed harmonic tone, as L16 LE."""
    h = (user_id * 2654435761) & 0xFFFFFFFF
    step_hz = 1000 // _CYCLE_MS
    f0 = step_hz * (28 + (h >> 8) % 30)  # 112 to 228 Hz: the range of speaking voices
    w2 = 0.2 + ((h >> 16) % 8) / 10
    w3 = 0.1 + ((h >> 24) % 6) / 10
    peak = 32767 * level / (1 + w2 + w3)
    samples = array("h")
    for n in range(cycle):
        t = n / rate
        envelope = 0.2 + 0.8 * math.sin(math.pi * n / cycle) ** 2
        wave = sum(w * math.sin(2 * math.pi * m * f0 * t) for m, w in ((1, 1.0), (2, w2), (3, w3)))
        samples.append(round(peak * envelope * wave))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes() * 2


def _mix(a: bytes, b: bytes) -> bytes:
    """Sum two equal-length L16 LE buffers, clipped (only used where speakers overlap)."""
    x, y = array("h", a), array("h", b)
    if sys.byteorder == "big":
        x.byteswap()
        y.byteswap()
    mixed = array("h", (max(-32768, min(32767, p + q)) for p, q in zip(x, y, strict=True)))
    if sys.byteorder == "big":
        mixed.byteswap()
    return mixed.tobytes()


class TranscriptAudio:
    """The audio of a transcript's meeting, packet by packet: mixed (user_id 0) or per speaker (multi-stream)."""

    def __init__(self, utterances: Sequence[Utterance], synth: AudioSynth) -> None:
        self.synth = synth
        self._spans: list[Span] = [(u.start_ms, u.end_ms, u.user_id) for u in utterances]
        if any(a[0] > b[0] for a, b in zip(self._spans, self._spans[1:], strict=False)):
            raise ValueError("utterances must be in start order")
        self._starts = [s[0] for s in self._spans]
        self._longest = max((end - start for start, end, _ in self._spans), default=0)
        self.duration_ms = max((end for _, end, _ in self._spans), default=0)

    @property
    def packet_count(self) -> int:
        return self.synth.packet_count(self.duration_ms)

    def spans(self, start_ms: int, end_ms: int) -> list[Span]:
        """Voice spans overlapping [start_ms, end_ms), in start order."""
        index = bisect_left(self._starts, end_ms)
        found: list[Span] = []
        while index > 0 and self._starts[index - 1] > start_ms - self._longest - 1:
            index -= 1
            if self._spans[index][1] > start_ms:
                found.append(self._spans[index])
        found.reverse()
        return found

    def speakers(self, k: int) -> list[int]:
        """User ids heard in packet k, in order of their utterances' starts."""
        start = self.synth.packet_start_ms(k)
        return list(dict.fromkeys(uid for _, _, uid in self.spans(start, start + self.synth.send_rate_ms)))

    def mixed(self, k: int) -> bytes:
        """Packet k of the mixed stream (what RTMS sends with `user_id` 0): silence when nobody speaks."""
        start = self.synth.packet_start_ms(k)
        return self.synth.render(k, self.spans(start, start + self.synth.send_rate_ms))

    def speaker(self, k: int, user_id: int) -> bytes | None:
        """Packet k of one speaker's own stream, or None when they are silent throughout (RTMS sends nothing)."""
        start = self.synth.packet_start_ms(k)
        own = [s for s in self.spans(start, start + self.synth.send_rate_ms) if s[2] == user_id]
        return self.synth.render(k, own) if own else None
