"""The media handshake rules of rtms-protocol.md section 7: what is granted, what is refused with which status."""

from __future__ import annotations

import pytest

from bridge.rtms.enums import MediaType, StatusCode
from bridge.rtms.messages import (
    AudioParams,
    ChatParams,
    DeskshareParams,
    MediaParams,
    TranscriptParams,
    VideoParams,
)
from bridge.rtms.negotiation import Refused, negotiate, url_keys

EVERYTHING = MediaType.AUDIO | MediaType.VIDEO | MediaType.DESKSHARE | MediaType.TRANSCRIPT | MediaType.CHAT


def test_defaults_are_the_websocket_defaults() -> None:
    grant = negotiate(32, None, EVERYTHING)
    assert grant.all_media and grant.media_type == EVERYTHING
    p = grant.params
    assert p.audio == AudioParams(content_type=2, sample_rate=1, channel=1, codec=1, data_opt=1, send_rate=20)
    assert p.video == VideoParams(content_type=3, codec=5, resolution=2, data_opt=3, fps=5)
    assert p.deskshare == DeskshareParams(content_type=3, codec=5, resolution=3, fps=1)
    assert p.transcript == TranscriptParams(content_type=5, enable_lid=True)
    assert p.chat == ChatParams(content_type=5)


def test_params_of_media_not_requested_are_ignored() -> None:
    grant = negotiate(8, MediaParams(audio=AudioParams(send_rate=7)), EVERYTHING)
    assert grant.params.audio is None and grant.params.transcript is not None


def test_url_keys_follow_scopes() -> None:
    assert url_keys(MediaType.AUDIO | MediaType.TRANSCRIPT) == ["audio", "transcript", "all"]
    assert url_keys(EVERYTHING) == ["audio", "video", "deskshare", "transcript", "chat", "all"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (AudioParams(send_rate=100), {"send_rate": 100}),
        (AudioParams(send_rate=1000), {"send_rate": 1000}),
        (AudioParams(send_rate=1020), {"send_rate": 1000}),  # above 1000: clamped, not refused
        (AudioParams(send_rate=5000), {"send_rate": 1000}),
        (AudioParams(codec=4), {"codec": 4, "sample_rate": 3}),  # OPUS defaults to the 48 kHz it needs
        (AudioParams(codec=4, sample_rate=3, channel=2, data_opt=2), {"channel": 2, "data_opt": 2}),
        (AudioParams(sample_rate=0), {"sample_rate": 0}),
    ],
)
def test_audio_granted(params: AudioParams, expected: dict[str, int]) -> None:
    audio = negotiate(1, MediaParams(audio=params), EVERYTHING).params.audio
    assert audio is not None
    assert {k: getattr(audio, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("params", "status"),
    [
        (AudioParams(send_rate=30), StatusCode.INVALID_MEDIA_AUDIO_SEND_RATE),
        (AudioParams(send_rate=0), StatusCode.INVALID_MEDIA_AUDIO_SEND_RATE),
        (AudioParams(send_rate=-20), StatusCode.INVALID_MEDIA_AUDIO_SEND_RATE),
        (AudioParams(codec=4, sample_rate=1), StatusCode.INVALID_MEDIA_AUDIO_SAMPLE_RATE),
        (AudioParams(codec=9), StatusCode.INVALID_MEDIA_AUDIO_CODEC),
        (AudioParams(sample_rate=7), StatusCode.INVALID_MEDIA_AUDIO_SAMPLE_RATE),
        (AudioParams(channel=3), StatusCode.INVALID_MEDIA_AUDIO_CHANNEL),
        (AudioParams(data_opt=3), StatusCode.INVALID_MEDIA_AUDIO_DATA_OPT),
        (AudioParams(content_type=1), StatusCode.INVALID_MEDIA_AUDIO_CONTENT_TYPE),
    ],
)
def test_audio_refused(params: AudioParams, status: StatusCode) -> None:
    with pytest.raises(Refused) as caught:
        negotiate(1, MediaParams(audio=params), EVERYTHING)
    assert caught.value.status == status and caught.value.reason


@pytest.mark.parametrize(
    ("params", "codec", "fps"),
    [
        (VideoParams(), 5, 5),
        (VideoParams(fps=25), 5, 5),  # fps above 5 without a codec: JPG at 5, as documented
        (VideoParams(codec=7, fps=25), 7, 25),
        (VideoParams(codec=7), 7, 30),
        (VideoParams(codec=6, fps=2), 6, 2),
    ],
)
def test_video_codec_and_fps(params: VideoParams, codec: int, fps: int) -> None:
    video = negotiate(2, MediaParams(video=params), EVERYTHING).params.video
    assert video is not None and (video.codec, video.fps) == (codec, fps)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        (VideoParams(codec=5, fps=10), StatusCode.INVALID_MEDIA_VIDEO_FPS),
        (VideoParams(codec=7, fps=31), StatusCode.INVALID_MEDIA_VIDEO_FPS),
        (VideoParams(fps=0), StatusCode.INVALID_MEDIA_VIDEO_FPS),
        (VideoParams(codec=1), StatusCode.INVALID_MEDIA_VIDEO_CODEC),
        (VideoParams(resolution=5), StatusCode.INVALID_MEDIA_VIDEO_RESOLUTION),
        (VideoParams(data_opt=1), StatusCode.INVALID_MEDIA_VIDEO_DATA_OPT),
        (VideoParams(content_type=2), StatusCode.INVALID_MEDIA_VIDEO_CONTENT_TYPE),
    ],
)
def test_video_refused(params: VideoParams, status: StatusCode) -> None:
    with pytest.raises(Refused) as caught:
        negotiate(2, MediaParams(video=params), EVERYTHING)
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("params", "status"),
    [
        (DeskshareParams(codec=5, fps=2), StatusCode.INVALID_MEDIA_DESKSHARE_FPS),
        (DeskshareParams(codec=2), StatusCode.INVALID_MEDIA_DESKSHARE_CODEC),
        (DeskshareParams(resolution=0), StatusCode.INVALID_MEDIA_DESKSHARE_RESOLUTION),
    ],
)
def test_deskshare_refused(params: DeskshareParams, status: StatusCode) -> None:
    with pytest.raises(Refused) as caught:
        negotiate(4, MediaParams(deskshare=params), EVERYTHING)
    assert caught.value.status == status


def test_deskshare_stills_stay_at_one_fps_and_h264_goes_faster() -> None:
    assert negotiate(4, MediaParams(deskshare=DeskshareParams(fps=10)), EVERYTHING).params.deskshare == DeskshareParams(
        content_type=3, codec=5, resolution=3, fps=1
    )
    share = negotiate(4, MediaParams(deskshare=DeskshareParams(codec=7, fps=10)), EVERYTHING).params.deskshare
    assert share is not None and share.fps == 10


def test_transcript_language_and_lid() -> None:
    t = negotiate(8, MediaParams(transcript=TranscriptParams(src_language=9, enable_lid=False)), EVERYTHING)
    assert t.params.transcript == TranscriptParams(content_type=5, src_language=9, enable_lid=False)
    with pytest.raises(Refused) as caught:
        negotiate(8, MediaParams(transcript=TranscriptParams(src_language=99)), EVERYTHING)
    assert caught.value.status == StatusCode.INVALID_MEDIA_TRANSCRIPT_SOURCE_LANGUAGE
    with pytest.raises(Refused) as caught:
        negotiate(8, MediaParams(transcript=TranscriptParams(content_type=2)), EVERYTHING)
    assert caught.value.status == StatusCode.INVALID_MEDIA_TRANSCRIPT_CONTENT_TYPE


def test_chat_content_type() -> None:
    with pytest.raises(Refused) as caught:
        negotiate(16, MediaParams(chat=ChatParams(content_type=3)), EVERYTHING)
    assert caught.value.status == StatusCode.INVALID_MEDIA_CHAT_CONTENT_TYPE


def test_all_without_scopes_is_refused() -> None:
    with pytest.raises(Refused) as caught:
        negotiate(32, None, MediaType.UNDEFINED)
    assert caught.value.status == StatusCode.MEDIA_TYPE_INVALID_VALUE
