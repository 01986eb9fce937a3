"""The bridge's intake: Zoom webhooks in, one resilient RTMS client per stream, typed meeting events out.

Modules: `events` (what consumers receive: the interface for the transcript pipeline), `ssrf` (which URLs may be
dialled), `webhook` (the HTTP endpoint), `manager` (all streams, what each webhook does), `stream` (one stream's
sockets, watchdog and reconnects), `reconnect` (the retry-or-stop policy), `translate` (RTMS messages to meeting
events, deduplication), `dispatch` (bounded per-stream delivery to the consumer), `metrics` (Prometheus, one
registry per app). The sans-I/O client state machines are in `bridge.rtms.client`.
"""
