"""The offline model (`bridge.offline_llm`) in its own process, keeping a copy of the Messages requests it answers.

`GET /bench/requests` returns the recorded request bodies, the first `--keep` per forced tool (report_summary,
report_objections, ...), so a benchmark can call the model directly with exactly the prompts Langflow's components
built; `GET /bench/log?since=N` returns every request after the N-th as {n, task, text} (text: the user messages,
what the model was asked about), so a benchmark can tell which utterances reached the model; `POST /bench/reset`
forgets both. Counting calls, tokens and cache figures is the model's own `GET /stats`; with `--manual-clock` the
prompt cache's lifetime runs on the meeting time the benchmark sets (`POST /clock`).

    uv run --no-sync python -m bench.llm_recorder --port 8799 [--latency-ms 0] [--manual-clock]
"""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.offline_llm.server import OfflineLLMConfig, create_app


class Recorder:
    """ASGI wrapper: copies the body of each POST /v1/messages, filed under the task the model sees in it."""

    def __init__(self, app: ASGIApp, keep: int) -> None:
        self.app = app
        self.keep = keep
        self.by_task: dict[str, list[dict[str, Any]]] = {}
        self.log: list[dict[str, Any]] = []
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in ("/bench/requests", "/bench/reset", "/bench/log"):
            if scope["path"] == "/bench/reset":
                self.by_task.clear()
                self.log.clear()
            if scope["path"] == "/bench/log":
                since = int(parse_qs(scope.get("query_string", b"").decode()).get("since", ["0"])[0])
                body = json.dumps({"count": self.count, "entries": [e for e in self.log if e["n"] > since]}).encode()
            else:
                body = json.dumps(self.by_task).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] != "http" or scope["path"] != "/v1/messages":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        self._record(raw)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _record(self, raw: bytes) -> None:
        """Filed by the forced tool's name (`report_objections`, ...; `chat` without one): cheap, so recording
        adds next to nothing to the model's time."""
        try:
            body = json.loads(raw)
        except ValueError:
            return
        choice = body.get("tool_choice") if isinstance(body, dict) else None
        task = str(choice.get("name") or "chat") if isinstance(choice, dict) else "chat"
        self.count += 1
        self.log.append({"n": self.count, "task": task, "text": _user_text(body)})
        if len(self.log) > 5000:
            del self.log[:1000]
        kept = self.by_task.setdefault(task, [])
        if len(kept) < self.keep:
            kept.append(body)


def _user_text(body: Any) -> str:
    """The text of a request's user messages (string content or text blocks)."""
    out = []
    for message in body.get("messages") or [] if isinstance(body, dict) else []:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out += [str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--keep", type=int, default=50, help="request bodies kept per task")
    parser.add_argument("--manual-clock", action="store_true",
                        help="the prompt cache's clock is set by POST /clock (meeting time), not the wall clock")
    args = parser.parse_args()
    config = OfflineLLMConfig(latency_ms=args.latency_ms, manual_clock=args.manual_clock)
    app = Recorder(create_app(config), args.keep)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
