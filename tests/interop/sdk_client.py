"""A Zoom app built on the official `rtms` SDK: receives webhooks, joins streams, prints what the SDK reports.

Runs inside the dedicated SDK venv (see `sdk_env.py`), never the project venv, and imports only the stdlib and
`rtms`, so it is a client nobody on this project wrote the protocol logic of. It is the far end of the interop test:
the simulator POSTs its webhooks here and the SDK dials the simulator's WebSockets.

Output: one JSON object per line on stdout, flushed at once; everything the SDK itself prints goes to stderr.
  {"event":"ready","port":N,"workdir":...}              listening (pass --port 0 to get a free port)
  {"event":"webhook","name":...,"status":N,"action":..}  every POST, with the HTTP status we answered
  {"event":"join_error","stream_id":..,"error":..}       the SDK refused the payload before dialling
  {"event":"joined","stream_id":..,"reason":N}           on_join_confirm (0 = joined)
  {"event":"transcript","stream_id":..,"user_id":..,"user_name":..,"start":..,"end":..,"timestamp":..,"text":..}
  {"event":"participant","stream_id":..,"action":"join"|"leave","timestamp":..,"participants":[...]}
  {"event":"active_speaker","stream_id":..,"timestamp":..,"user_id":..,"user_name":..}
  {"event":"session","stream_id":..,"op":N,"session_id":..,"active":bool}
  {"event":"user_update","stream_id":..,"op":N,"user_id":..,"user_name":..}
  {"event":"leave","stream_id":..,"reason":N}            on_leave
  {"event":"exit","reason":"left"|"timeout"|"signal","code":N}   always the last line

Exit codes: 0 after every joined stream left, 3 on --timeout, 0 on SIGTERM/SIGINT, 2 on a usage error.

Secrets come from the environment under the project's names (ZOOM_WEBHOOK_SECRET_TOKEN, ZOOM_CLIENT_ID,
ZOOM_CLIENT_SECRET); the SDK reads its own names (ZM_RTMS_CLIENT / ZM_RTMS_SECRET), which are set from them.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Zoom's own samples reject webhooks whose x-zm-request-timestamp is further than this from now.
TIMESTAMP_TOLERANCE_S = 300
MAX_BODY_BYTES = 1_000_000
EXIT_OK, EXIT_USAGE, EXIT_TIMEOUT = 0, 2, 3


class EventOut:
    """Writes the JSON-lines protocol to a private copy of the original stdout, one lock for all threads."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, ensure_ascii=False, default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()


def _hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def check_signature(secret_token: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str:
    """Return "" when the Zoom webhook signature is good, else a short reason for the 401."""
    if not timestamp or not signature:
        return "missing x-zm-request-timestamp or x-zm-signature"
    if not (timestamp.isascii() and timestamp.isdigit()):
        return "x-zm-request-timestamp is not an integer"
    if abs(now - int(timestamp)) > TIMESTAMP_TOLERANCE_S:
        return "x-zm-request-timestamp outside the 300 s window"
    expected = "v0=" + _hmac_hex(secret_token, b"v0:" + timestamp.encode("ascii") + b":" + body)
    if not hmac.compare_digest(expected, signature):
        return "x-zm-signature mismatch"
    return ""


class App:
    """Owns the SDK event loop (on the main thread) and the clients joined from webhooks."""

    def __init__(self, rtms: Any, out: EventOut, secret_token: str) -> None:
        self.rtms = rtms
        self.out = out
        self.secret_token = secret_token
        # The C SDK wants alloc/join/poll/release on one OS thread: this loop runs on the main thread.
        self.loop = rtms.EventLoop(poll_interval=0.005, name="sdk-client")
        self.stop_requested = threading.Event()
        self.stop_reason = ""
        self.loop_done = threading.Event()
        self._lock = threading.Lock()
        self.clients: dict[str, Any] = {}  # rtms_stream_id -> Client
        self.ended: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        with self._lock:
            if not self.stop_reason:
                self.stop_reason = reason
        self.stop_requested.set()

    def _mark_ended(self, stream_id: str) -> None:
        with self._lock:
            self.ended.add(stream_id)
            all_ended = bool(self.clients) and self.ended >= set(self.clients)
        if all_ended:
            self.request_stop("left")

    # -- webhooks --------------------------------------------------------------------------------------------
    def start_stream(self, payload: dict[str, Any]) -> str:
        """Hand a `*.rtms_started` payload to a fresh SDK client, exactly as Zoom's docs show."""
        stream_id = str(payload.get("rtms_stream_id", ""))
        with self._lock:
            if stream_id in self.clients and stream_id not in self.ended:
                return "ignored_duplicate"
            client = self._new_client(stream_id)
            self.clients[stream_id] = client
            self.ended.discard(stream_id)
        self.loop.add(client)
        client.join(payload)
        return "join"

    def _new_client(self, stream_id: str) -> Any:
        out, app = self.out, self

        class ReportingClient(self.rtms.Client):  # type: ignore[name-defined,misc]
            # The SDK only logs an exception raised by alloc/join on its loop thread; surface it as an event.
            def _do_alloc_and_join(self) -> None:
                try:
                    super()._do_alloc_and_join()
                except Exception as exc:
                    out.emit("join_error", stream_id=stream_id, error=f"{type(exc).__name__}: {exc}")
                    app._mark_ended(stream_id)
                    raise

        client = ReportingClient()

        def on_join_confirm(reason: int) -> None:
            out.emit("joined", stream_id=stream_id, reason=int(reason))
            if int(reason) != 0:  # the SDK does not retry a refused handshake and fires no on_leave
                app._mark_ended(stream_id)

        def on_transcript(data: bytes, size: int, timestamp: int, metadata: Any) -> None:
            out.emit(
                "transcript",
                stream_id=stream_id,
                user_id=metadata.userId,
                user_name=metadata.userName,
                start=metadata.startTs,
                end=metadata.endTs,
                timestamp=timestamp,
                text=bytes(data[:size]).decode("utf-8", errors="replace"),
            )

        def on_participant(action: str, timestamp: int, participants: list[dict[str, Any]]) -> None:
            out.emit("participant", stream_id=stream_id, action=action, timestamp=timestamp, participants=participants)

        def on_active_speaker(timestamp: int, user_id: int, user_name: str) -> None:
            out.emit("active_speaker", stream_id=stream_id, timestamp=timestamp, user_id=user_id, user_name=user_name)

        def on_session(op: int, session: Any) -> None:
            out.emit(
                "session", stream_id=stream_id, op=int(op), session_id=session.sessionId, active=bool(session.isActive)
            )

        def on_user(op: int, participant: Any) -> None:
            out.emit("user_update", stream_id=stream_id, op=int(op), user_id=participant.id, user_name=participant.name)

        def on_leave(reason: int) -> None:
            out.emit("leave", stream_id=stream_id, reason=int(reason))
            app._mark_ended(stream_id)

        client.on_join_confirm(on_join_confirm)
        client.on_transcript_data(on_transcript)
        client.on_participant_event(on_participant)
        client.on_active_speaker_event(on_active_speaker)
        client.on_session_update(on_session)
        client.on_user_update(on_user)
        client.on_leave(on_leave)
        return client

    def handle_webhook(self, headers: Any, body: bytes) -> tuple[int, bytes, str, dict[str, Any] | None]:
        """Return (status, response body, event name, started payload or None)."""
        try:
            doc = json.loads(body)
            name = str(doc.get("event", "")) if isinstance(doc, dict) else ""
        except (ValueError, UnicodeDecodeError):
            doc, name = None, ""
        problem = check_signature(
            self.secret_token, headers.get("x-zm-request-timestamp"), headers.get("x-zm-signature"), body, time.time()
        )
        if problem:
            return 401, json.dumps({"error": problem}).encode(), name, None
        if not isinstance(doc, dict) or not name:
            return 400, b'{"error":"body is not a JSON object with an event name"}', name, None
        payload = doc.get("payload")
        if name == "endpoint.url_validation":
            plain = payload.get("plainToken") if isinstance(payload, dict) else None
            if not isinstance(plain, str) or not plain:
                return 400, b'{"error":"payload.plainToken missing"}', name, None
            answer = {"plainToken": plain, "encryptedToken": _hmac_hex(self.secret_token, plain.encode("utf-8"))}
            return 200, json.dumps(answer).encode(), name, None
        if name.endswith("rtms_started"):
            if not isinstance(payload, dict):
                return 400, b'{"error":"payload is not an object"}', name, None
            return 200, b"", name, payload
        return 200, b"", name, None

    # -- main loop -------------------------------------------------------------------------------------------
    def run(self, timeout_s: float) -> int:
        def watchdog() -> None:
            if not self.stop_requested.wait(timeout_s):
                self.request_stop("timeout")
            # loop.run() clears a stop that lands before it starts, so repeat until it has really returned.
            for _ in range(400):
                self.loop.stop()
                if self.loop_done.wait(0.05):
                    return

        threading.Thread(target=watchdog, name="watchdog", daemon=True).start()
        try:
            if not self.stop_requested.is_set():
                self.loop.run()
        finally:
            self.loop_done.set()
        # Back on the SDK thread: release clients that are still connected so their sockets close cleanly.
        with self._lock:
            still_open = [c for sid, c in self.clients.items() if sid not in self.ended]
        for client in still_open:
            try:
                client.leave()
            except Exception as exc:
                print(f"sdk_client: leave failed: {exc}", file=sys.stderr)
        reason = self.stop_reason or "signal"
        code = EXIT_TIMEOUT if reason == "timeout" else EXIT_OK
        self.out.emit("exit", reason=reason, code=code)
        return code


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class WebhookHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0 or length > MAX_BODY_BYTES:
                self._answer(413, b'{"error":"body too large"}')
                app.out.emit("webhook", name="", status=413, action="none")
                return
            body = self.rfile.read(length)
            status, answer, name, started = app.handle_webhook(self.headers, body)
            # Zoom wants its answer within 3 s: reply first, join afterwards.
            self._answer(status, answer)
            action = "none"
            if started is not None:
                try:
                    action = app.start_stream(started)
                except Exception as exc:
                    action = "join_failed"
                    app.out.emit(
                        "join_error",
                        stream_id=str(started.get("rtms_stream_id", "")),
                        error=f"{type(exc).__name__}: {exc}",
                    )
            app.out.emit("webhook", name=name, status=status, action=action)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            print("sdk_client http: " + (format % args), file=sys.stderr)

    return WebhookHandler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="webhook port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--timeout", type=float, default=120.0, help="exit after this many seconds (code 3)")
    parser.add_argument("--workdir", help="directory for the SDK's ./logs (default: a temp dir, removed at exit)")
    args = parser.parse_args(argv)

    names = ("ZOOM_WEBHOOK_SECRET_TOKEN", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET")
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        print(f"sdk_client: missing environment variables: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    os.environ["ZM_RTMS_CLIENT"] = os.environ["ZOOM_CLIENT_ID"]
    os.environ["ZM_RTMS_SECRET"] = os.environ["ZOOM_CLIENT_SECRET"]

    # The SDK prints its log to stdout and writes ./logs/: keep our stdout private and run in a scratch dir.
    out = EventOut(os.dup(1))
    os.dup2(2, 1)
    own_workdir = args.workdir is None
    workdir = tempfile.mkdtemp(prefix="rtms-sdk-") if own_workdir else os.path.abspath(args.workdir)
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    os.chdir(workdir)

    import rtms  # after chdir/env: it reads its settings from the environment at import time

    app = App(rtms, out, os.environ["ZOOM_WEBHOOK_SECRET_TOKEN"])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(app))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="webhooks", daemon=True).start()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: app.request_stop("signal"))
    out.emit("ready", port=server.server_address[1], workdir=workdir, pid=os.getpid())
    try:
        return app.run(args.timeout)
    finally:
        # Past the `exit` line: a late SIGTERM must not turn the announced exit code into a kill.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
        server.shutdown()
        server.server_close()
        os.chdir("/")
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
