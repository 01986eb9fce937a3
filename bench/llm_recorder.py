"""The offline model (`bridge.offline_llm`) in its own process, keeping a copy of the Messages requests it answers.

`GET /bench/requests` returns the recorded request bodies, the first `--keep` per forced tool (report_summary,
report_objections, ...), so a benchmark can call the model directly with exactly the prompts Langflow's components
built; `POST /bench/reset` forgets them. Counting calls and tokens is the model's own `GET /stats`.

    uv run --no-sync python -m bench.llm_recorder --port 8799 [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.offline_llm.server import OfflineLLMConfig, create_app


class Recorder:
    """ASGI wrapper: copies the body of each POST /v1/messages, filed under the task the model sees in it."""

    def __init__(self, app: ASGIApp, keep: int) -> None:
        self.app = app
        self.keep = keep
        self.by_task: dict[str, list[dict[str, Any]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in ("/bench/requests", "/bench/reset"):
            if scope["path"] == "/bench/reset":
                self.by_task.clear()
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
        kept = self.by_task.setdefault(task, [])
        if len(kept) < self.keep:
            kept.append(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--keep", type=int, default=50, help="request bodies kept per task")
    args = parser.parse_args()
    app = Recorder(create_app(OfflineLLMConfig(latency_ms=args.latency_ms)), args.keep)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
