"""The read side of the bridge: REST + Server-Sent Events under `/api` and the dashboard at `/`.

    app.include_router(api_router(lambda: store, lambda: bus, settings.api_token, info=lambda: {"model": ...}))
    app.include_router(dashboard_router())

Routes (all need `Authorization: Bearer <api_token>`; 401 without or with a wrong one, 503 when the setting is
empty; the events route also takes `?token=`):

    GET /api/info                                  ApiInfo {model, version}
    GET /api/meetings?limit&offset                 MeetingList, newest first
    GET /api/meetings/{id}                         MeetingDetailOut (participants, figures); 404 names the id
    GET /api/meetings/{id}/transcript?after_seq&limit    TranscriptOut
    GET /api/meetings/{id}/insights                InsightsOut {summary, insights, tickets}
    GET /api/meetings/{id}/events                  text/event-stream: snapshot, then live events, end

`{id}` is the meeting's RTMS stream id. `api_router(..., timing=StreamTiming(...))` tunes the event stream
(heartbeat 15 s; ends 30 s after an ended meeting goes quiet; cut after an hour so the browser reconnects).
Building the router masks `?token=` values in uvicorn's access log (`bridge.api.redact`).
"""

from bridge.api.routes import api_router
from bridge.api.stream import StreamTiming
from bridge.dashboard import dashboard_router

__all__ = ["StreamTiming", "api_router", "dashboard_router"]
