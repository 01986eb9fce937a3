"""What a media server grants for a DATA_HAND_SHAKE_REQ: the effective media types and parameters (section 7).

Pure rules, shared by the server state machine and its tests: a request is either granted (the parameters to echo
in msg 4, defaults filled in) or refused with the status code Zoom documents for that mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.rtms.enums import (
    AudioChannel,
    Codec,
    ContentType,
    DataOption,
    MediaType,
    Resolution,
    SampleRate,
    StatusCode,
    TranscriptLanguage,
)
from bridge.rtms.messages import (
    AudioParams,
    ChatParams,
    DeskshareParams,
    MediaParams,
    TranscriptParams,
    VideoParams,
)

# The single media kinds in the order Zoom lists them, with the `server_urls` key and the "not supported" status.
MEDIA_KINDS: tuple[tuple[MediaType, str, StatusCode], ...] = (
    (MediaType.AUDIO, "audio", StatusCode.MEDIA_TYPE_AUDIO_NOT_SUPPORT),
    (MediaType.VIDEO, "video", StatusCode.MEDIA_TYPE_VIDEO_NOT_SUPPORT),
    (MediaType.DESKSHARE, "deskshare", StatusCode.MEDIA_TYPE_DESKSHARE_NOT_SUPPORT),
    (MediaType.TRANSCRIPT, "transcript", StatusCode.MEDIA_TYPE_TRANSCRIPT_NOT_SUPPORT),
    (MediaType.CHAT, "chat", StatusCode.MEDIA_TYPE_CHAT_NOT_SUPPORT),
)
SINGLE_KINDS = MediaType.AUDIO | MediaType.VIDEO | MediaType.DESKSHARE | MediaType.TRANSCRIPT | MediaType.CHAT

MAX_SEND_RATE_MS = 1000
MAX_FPS = 30
STILL_CODECS = (Codec.JPG, Codec.PNG)
VIDEO_CODECS = (Codec.JPG, Codec.PNG, Codec.H264)
AUDIO_CODECS = (Codec.L16, Codec.G711, Codec.G722, Codec.OPUS)


class Refused(Exception):
    """The request cannot be granted: `status` and a short `reason` for the msg 4 reply."""

    def __init__(self, status: StatusCode, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status.name}: {reason}")


@dataclass(frozen=True)
class Grant:
    media_type: MediaType
    """The media this connection carries: the requested bits, or every scoped medium for ALL."""
    params: MediaParams
    """The effective parameters, echoed in msg 4."""
    all_media: bool
    """The connection asked for ALL (32): no other data connection may coexist with it."""


def url_keys(scopes: MediaType) -> list[str]:
    """The `server_urls` keys a signaling reply lists for these scopes (always with `all`)."""
    return [key for kind, key, _ in MEDIA_KINDS if scopes & kind] + ["all"]


def kinds_of(media_type: MediaType) -> list[str]:
    return [key for kind, key, _ in MEDIA_KINDS if media_type & kind]


def effective_media_type(requested: int, scopes: MediaType) -> tuple[MediaType, bool]:
    """The media a request for `requested` gets under `scopes`, and whether it asked for ALL."""
    if requested == MediaType.ALL:
        if not scopes & SINGLE_KINDS:
            raise Refused(StatusCode.MEDIA_TYPE_INVALID_VALUE, "no media scopes granted to this app")
        return MediaType(scopes & SINGLE_KINDS), True
    if requested <= 0 or requested & ~int(SINGLE_KINDS):
        raise Refused(StatusCode.MEDIA_TYPE_INVALID_VALUE, f"media_type {requested} is not a valid bitmask")
    for kind, key, status in MEDIA_KINDS:
        if requested & kind and not scopes & kind:
            raise Refused(status, f"{key} is not in this app's scopes")
    return MediaType(requested), False


def negotiate(requested: int, params: MediaParams | None, scopes: MediaType) -> Grant:
    """Grant a data handshake or raise `Refused`. Parameters for media not requested are ignored."""
    media_type, all_media = effective_media_type(requested, scopes)
    asked = params or MediaParams()
    return Grant(
        media_type=media_type,
        all_media=all_media,
        params=MediaParams(
            audio=_audio(asked.audio) if media_type & MediaType.AUDIO else None,
            video=_video(asked.video) if media_type & MediaType.VIDEO else None,
            deskshare=_deskshare(asked.deskshare) if media_type & MediaType.DESKSHARE else None,
            transcript=_transcript(asked.transcript) if media_type & MediaType.TRANSCRIPT else None,
            chat=_chat(asked.chat) if media_type & MediaType.CHAT else None,
        ),
    )


def _one_of(value: int | None, allowed: tuple[int, ...], default: int, status: StatusCode, what: str) -> int:
    if value is None:
        return default
    if value not in allowed:
        raise Refused(status, f"{what} {value} is not supported")
    return value


def _audio(asked: AudioParams | None) -> AudioParams:
    p = asked or AudioParams()
    content_type = _one_of(
        p.content_type,
        (ContentType.RAW_AUDIO,),
        ContentType.RAW_AUDIO,
        StatusCode.INVALID_MEDIA_AUDIO_CONTENT_TYPE,
        "audio content_type",
    )
    codec = _one_of(p.codec, AUDIO_CODECS, Codec.L16, StatusCode.INVALID_MEDIA_AUDIO_CODEC, "audio codec")
    default_rate = SampleRate.SR_48K if codec == Codec.OPUS else SampleRate.SR_16K
    sample_rate = _one_of(
        p.sample_rate, tuple(SampleRate), default_rate, StatusCode.INVALID_MEDIA_AUDIO_SAMPLE_RATE, "audio sample_rate"
    )
    if codec == Codec.OPUS and sample_rate != SampleRate.SR_48K:
        raise Refused(StatusCode.INVALID_MEDIA_AUDIO_SAMPLE_RATE, "OPUS codec requires 48kHz")
    channel = _one_of(
        p.channel, tuple(AudioChannel), AudioChannel.MONO, StatusCode.INVALID_MEDIA_AUDIO_CHANNEL, "audio channel"
    )
    data_opt = _one_of(
        p.data_opt,
        (DataOption.AUDIO_MIXED_STREAM, DataOption.AUDIO_MULTI_STREAMS),
        DataOption.AUDIO_MIXED_STREAM,
        StatusCode.INVALID_MEDIA_AUDIO_DATA_OPT,
        "audio data_opt",
    )
    send_rate = 20 if p.send_rate is None else min(p.send_rate, MAX_SEND_RATE_MS)  # above 1000 ms: clamped
    if send_rate <= 0 or send_rate % 20:
        raise Refused(
            StatusCode.INVALID_MEDIA_AUDIO_SEND_RATE,
            f"audio send_rate {p.send_rate} must be a multiple of 20 ms up to 1000",
        )
    return AudioParams(
        content_type=content_type,
        sample_rate=sample_rate,
        channel=channel,
        codec=codec,
        data_opt=data_opt,
        send_rate=send_rate,
    )


def _frames(
    codec: int | None, fps: int | None, still_max_fps: int, status_codec: StatusCode, status_fps: StatusCode, what: str
) -> tuple[int, int]:
    """Codec and fps of video or share: stills (JPG/PNG) up to `still_max_fps`, H.264 above; no codec with a higher
    fps falls back to JPG at `still_max_fps`, as the docs say."""
    if codec is None:
        wanted = still_max_fps if fps is None else fps
        if wanted < 1 or wanted > MAX_FPS:
            raise Refused(status_fps, f"{what} fps {fps} must be 1-{MAX_FPS}")
        return Codec.JPG, min(wanted, still_max_fps)
    if codec not in VIDEO_CODECS:
        raise Refused(status_codec, f"{what} codec {codec} is not supported")
    default_fps = still_max_fps if codec in STILL_CODECS else MAX_FPS
    fps = default_fps if fps is None else fps
    if fps < 1 or fps > MAX_FPS:
        raise Refused(status_fps, f"{what} fps {fps} must be 1-{MAX_FPS}")
    if codec in STILL_CODECS and fps > still_max_fps:
        raise Refused(status_fps, f"{what} fps above {still_max_fps} needs the H264 codec")
    return codec, fps


def _video(asked: VideoParams | None) -> VideoParams:
    p = asked or VideoParams()
    content_type = _one_of(
        p.content_type,
        (ContentType.RAW_VIDEO,),
        ContentType.RAW_VIDEO,
        StatusCode.INVALID_MEDIA_VIDEO_CONTENT_TYPE,
        "video content_type",
    )
    codec, fps = _frames(
        p.codec, p.fps, 5, StatusCode.INVALID_MEDIA_VIDEO_CODEC, StatusCode.INVALID_MEDIA_VIDEO_FPS, "video"
    )
    resolution = _one_of(
        p.resolution, tuple(Resolution), Resolution.HD, StatusCode.INVALID_MEDIA_VIDEO_RESOLUTION, "video resolution"
    )
    data_opt = _one_of(
        p.data_opt,
        (
            DataOption.VIDEO_SINGLE_ACTIVE_STREAM,
            DataOption.VIDEO_SINGLE_INDIVIDUAL_STREAM,
            DataOption.VIDEO_MIXED_GALLERY_VIEW,
        ),
        DataOption.VIDEO_SINGLE_ACTIVE_STREAM,
        StatusCode.INVALID_MEDIA_VIDEO_DATA_OPT,
        "video data_opt",
    )
    return VideoParams(content_type=content_type, codec=codec, resolution=resolution, data_opt=data_opt, fps=fps)


def _deskshare(asked: DeskshareParams | None) -> DeskshareParams:
    p = asked or DeskshareParams()
    content_type = _one_of(
        p.content_type,
        (ContentType.RAW_VIDEO,),
        ContentType.RAW_VIDEO,
        StatusCode.INVALID_MEDIA_DESKSHARE_CONTENT_TYPE,
        "deskshare content_type",
    )
    codec, fps = _frames(
        p.codec, p.fps, 1, StatusCode.INVALID_MEDIA_DESKSHARE_CODEC, StatusCode.INVALID_MEDIA_DESKSHARE_FPS, "deskshare"
    )
    resolution = _one_of(
        p.resolution,
        tuple(Resolution),
        Resolution.FHD,
        StatusCode.INVALID_MEDIA_DESKSHARE_RESOLUTION,
        "deskshare resolution",
    )
    return DeskshareParams(content_type=content_type, codec=codec, resolution=resolution, fps=fps)


def _transcript(asked: TranscriptParams | None) -> TranscriptParams:
    p = asked or TranscriptParams()
    content_type = _one_of(
        p.content_type,
        (ContentType.TEXT,),
        ContentType.TEXT,
        StatusCode.INVALID_MEDIA_TRANSCRIPT_CONTENT_TYPE,
        "transcript content_type",
    )
    if p.src_language is not None and p.src_language not in tuple(TranscriptLanguage):
        raise Refused(
            StatusCode.INVALID_MEDIA_TRANSCRIPT_SOURCE_LANGUAGE,
            f"transcript src_language {p.src_language} is not a known language",
        )
    return TranscriptParams(
        content_type=content_type,
        src_language=p.src_language,
        enable_lid=True if p.enable_lid is None else p.enable_lid,
    )


def _chat(asked: ChatParams | None) -> ChatParams:
    p = asked or ChatParams()
    content_type = _one_of(
        p.content_type,
        (ContentType.TEXT,),
        ContentType.TEXT,
        StatusCode.INVALID_MEDIA_CHAT_CONTENT_TYPE,
        "chat content_type",
    )
    return ChatParams(content_type=content_type)
