"""Synthetic L16 audio: packet sizes per rate, silence between utterances, speakers that differ, and speed."""

from __future__ import annotations

import struct
import time

import pytest

from bridge.rtms.enums import SampleRate
from bridge.simulator.audio import AudioSynth, TranscriptAudio, negotiate_send_rate, sample_rate_hz
from bridge.simulator.transcripts import Utterance, load_transcript


def _samples(pcm: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(pcm) // 2}h", pcm)


def _u(speaker: str, user_id: int, start_ms: int, end_ms: int) -> Utterance:
    return Utterance(speaker=speaker, user_id=user_id, start_ms=start_ms, end_ms=end_ms, text="words")


@pytest.mark.parametrize("rate", [8000, 16000, 32000, 48000])
@pytest.mark.parametrize("send_rate_ms", [20, 40, 100, 1000])
def test_packet_sizes(rate: int, send_rate_ms: int) -> None:
    synth = AudioSynth(rate, send_rate_ms)
    expected = rate * send_rate_ms // 1000 * 2
    assert synth.packet_bytes == expected
    assert len(synth.packet(7, 16778240)) == expected
    assert synth.packet(7, None) == bytes(expected)


def test_default_is_16k_mono_20ms() -> None:
    synth = AudioSynth()
    assert (synth.sample_rate_hz, synth.send_rate_ms, synth.packet_bytes) == (16000, 20, 640)
    assert synth.packet_start_ms(50) == 1000
    assert synth.packet_count(1001) == 51 and synth.packet_count(1000) == 50


def test_voice_is_deterministic_continuous_and_per_speaker() -> None:
    a, b = AudioSynth(), AudioSynth()
    assert a.packet(3, 16778240) == b.packet(3, 16778240)
    assert a.packet(3, 16778240) != a.packet(3, 16779264)
    samples = _samples(a.packet(3, 16778240))
    assert max(abs(s) for s in samples) > 1000
    # five 20 ms packets are exactly one 100 ms packet: the waveform runs on across packets
    wide = AudioSynth(16000, 100)
    assert b"".join(a.packet(k, 42) for k in range(5, 10)) == wide.packet(1, 42)


def test_mixed_stream_follows_the_transcript() -> None:
    audio = TranscriptAudio([_u("A", 1, 0, 50), _u("B", 2, 90, 200), _u("A", 1, 140, 180)], AudioSynth())
    assert audio.packet_count == 10
    assert audio.speakers(0) == [1] and audio.speakers(3) == [] and audio.speakers(7) == [2, 1]
    assert audio.mixed(0) == audio.synth.packet(0, 1)
    assert audio.mixed(3) == audio.synth.silence()
    half = _samples(audio.mixed(2))  # 40-60 ms: A speaks until 50 ms, silence after
    assert any(half[:160]) and not any(half[160:])
    edge = _samples(audio.mixed(4))  # 80-100 ms: B starts at 90 ms
    assert not any(edge[:160]) and any(edge[160:])
    # overlap at 140-160 ms is the clipped sum of both voices
    a, b = _samples(audio.synth.packet(7, 1)), _samples(audio.synth.packet(7, 2))
    assert _samples(audio.mixed(7)) == tuple(max(-32768, min(32767, x + y)) for x, y in zip(a, b, strict=True))


def test_per_speaker_stream_is_silent_as_none() -> None:
    audio = TranscriptAudio([_u("A", 1, 0, 50), _u("B", 2, 90, 200)], AudioSynth())
    assert audio.speaker(0, 2) is None
    assert audio.speaker(0, 1) == audio.synth.packet(0, 1)
    partial = audio.speaker(4, 2)
    assert partial is not None and not any(_samples(partial)[:160])


def test_rates_and_send_rates() -> None:
    assert [sample_rate_hz(code) for code in SampleRate] == [8000, 16000, 32000, 48000]
    with pytest.raises(ValueError, match="sample_rate code"):
        sample_rate_hz(9)
    assert negotiate_send_rate(None) == 20 and negotiate_send_rate(0) == 20
    assert negotiate_send_rate(100) == 100 and negotiate_send_rate(5000) == 1000
    with pytest.raises(ValueError, match="multiple of 20"):
        negotiate_send_rate(30)
    for bad in [(44100, 20), (16000, 30), (16000, 0), (16000, 1020)]:
        with pytest.raises(ValueError):
            AudioSynth(*bad)


def test_a_whole_meeting_renders_quickly() -> None:
    audio = TranscriptAudio(load_transcript("sales").utterances, AudioSynth())
    started = time.perf_counter()
    total = sum(len(audio.mixed(k)) for k in range(audio.packet_count))
    assert total == audio.packet_count * 640
    assert time.perf_counter() - started < 5.0  # about 14 minutes of audio, 42,000 packets
