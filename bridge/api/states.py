"""What a meeting is doing, in words a team lead reads: the store's status, end cause and Zoom stop reason folded
into one `state` and a short `state_detail`.

The store says *how the stream ended* (`end_cause`: the webhook said stopped, the socket said terminated, the bridge
gave up...) and Zoom's stop reason; neither is what a person wants to know. A meeting that simply ended must read
"ended", not "ended: terminated"; one whose connection failed must not read like one that ended; one whose host or
admin switched the app off reads "revoked".
"""

from __future__ import annotations

from typing import Final, Literal

from bridge.rtms.enums import StopReason

MeetingState = Literal["live", "reconnecting", "ended", "error", "revoked", "interrupted"]

_NORMAL: Final[dict[int, str]] = {
    StopReason.UNDEFINED: "meeting ended",
    StopReason.HOST_TRIGGERED: "the host stopped the stream",
    StopReason.USER_TRIGGERED: "a participant stopped the stream",
    StopReason.USER_LEFT: "the user who started the stream left",
    StopReason.USER_EJECTED: "the user who started the stream was removed",
    StopReason.MEETING_ENDED: "meeting ended",
    StopReason.STREAM_CANCELED: "the stream was cancelled",
    StopReason.RECEIVER_REQUEST_CLOSE: "the bridge closed the stream",
    StopReason.CUSTOMER_DISCONNECTED: "the customer hung up",
    StopReason.AGENT_DISCONNECTED: "the agent hung up",
    StopReason.MANUAL_API_TRIGGERED: "stopped through Zoom's API",
}
_REVOKED: Final[dict[int, str]] = {
    StopReason.HOST_DISABLED_APP: "the host turned the app off",
    StopReason.STREAM_REVOKED: "access to the stream was revoked",
    StopReason.ALL_APPS_DISABLED: "all apps were turned off in the meeting",
    StopReason.ADMIN_DISABLED_APP: "an admin turned the app off",
}
_ERRORS: Final[dict[int, str]] = {
    StopReason.INTERNAL_EXCEPTION: "Zoom reported an internal error",
    StopReason.CONNECTION_TIMEOUT: "the connection to Zoom timed out",
    StopReason.INSTANCE_CONNECTION_INTERRUPTED: "the meeting's connection was interrupted",
    StopReason.SIGNAL_CONNECTION_INTERRUPTED: "the signaling connection was interrupted",
    StopReason.DATA_CONNECTION_INTERRUPTED: "the media connection was interrupted",
    StopReason.SIGNAL_CONNECTION_CLOSED_ABNORMALLY: "the signaling connection closed abnormally",
    StopReason.DATA_CONNECTION_CLOSED_ABNORMALLY: "the media connection closed abnormally",
    StopReason.EXIT_SIGNAL: "Zoom's stream server exited",
    StopReason.AUTHENTICATION_FAILURE: "Zoom refused the bridge's credentials",
    StopReason.AWAIT_RECONNECTION_TIMEOUT: "Zoom stopped waiting for the bridge to reconnect",
    StopReason.KEEP_ALIVE_TIMEOUT: "the bridge missed Zoom's keep-alives",
    StopReason.STREAMING_NOT_SUPPORTED: "streaming is not supported for this meeting",
}
_CAUSES: Final[dict[str, tuple[MeetingState, str]]] = {
    "gave_up": ("error", "the connection was lost and did not come back"),
    "refused": ("error", "Zoom refused the connection"),
    "shutdown": ("interrupted", "the bridge stopped while the meeting was on"),
}


def meeting_state(status: str, end_cause: str | None, stop_reason: int | None) -> tuple[MeetingState, str]:
    """(state, detail) of a meeting from what the store holds."""
    if status == "live":
        return "live", "streaming now"
    if status == "reconnecting":
        return "reconnecting", "the connection dropped; reconnecting"
    if stop_reason is not None:
        if stop_reason in _REVOKED:
            return "revoked", _REVOKED[stop_reason]
        if stop_reason in _ERRORS:
            return "error", _ERRORS[stop_reason]
        if stop_reason in _NORMAL and end_cause not in _CAUSES:
            return "ended", _NORMAL[stop_reason]
    if end_cause in _CAUSES:
        return _CAUSES[end_cause]
    if stop_reason is not None and stop_reason not in _NORMAL:
        return "error", f"Zoom stop reason {stop_reason}"
    return "ended", "meeting ended"
