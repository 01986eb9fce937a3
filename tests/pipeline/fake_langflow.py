"""A scripted stand-in for Langflow's run API on loopback: answers from a script (status codes, delays, dropped
connections), then with valid insights for the window it was sent. Records every request."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bridge.contracts import parse_window


@dataclass
class Step:
    status: int = 200
    delay_s: float = 0.0
    detail: str = "boom"
    body: str | None = None  # raw Chat Output text instead of insights


@dataclass
class FakeLangflow:
    script: list[Step] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0

    def insights_for(self, window_json: str) -> str:
        window = parse_window(window_json)
        kinds = {"meeting_summary": "summary", "ticket_creation": "tickets"}
        kind = kinds.get(window.window.flow, "objections")
        doc: dict[str, Any] = {"schema": "rtms-langflow/insights@1", "kind": kind, "meeting_id": window.meeting.id,
                               "window_seq": window.window.seq, "errors": [],
                               "usage": {"model_calls": 1, "input_tokens": 10, "output_tokens": 5}}
        first = window.utterances[0]
        if kind == "summary":
            doc["summary"] = {"text": f"{len(window.utterances)} utterances", "key_points": [], "decisions": [],
                              "open_questions": []}
        elif kind == "tickets":
            doc["tickets"] = []
        else:
            doc["objections"] = [{"key": f"obj-{first.id}", "category": "price", "quote": first.text,
                                  "speaker": first.speaker, "at_ms": first.start_ms, "confidence": 0.9,
                                  "suggested_reply": "Ask what they compare it with."}]
        return json.dumps(doc)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/v1/run/{endpoint}")
        async def run(endpoint: str, request: Request) -> Response:
            body = await request.json()
            self.requests.append({"endpoint": endpoint, "body": body, "api_key": request.headers.get("x-api-key")})
            step = self.script.pop(0) if self.script else Step()
            if step.delay_s or self.delay_s:
                await asyncio.sleep(step.delay_s or self.delay_s)  # a slow Langflow: time is the thing
            if step.status != 200:
                return JSONResponse({"detail": step.detail}, status_code=step.status)
            text = step.body if step.body is not None else self.insights_for(body["input_value"])
            return JSONResponse({"session_id": body.get("session_id"), "outputs": [
                {"inputs": {}, "outputs": [{"results": {"message": {"text": text}}}]}]})

        return app
