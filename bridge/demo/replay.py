"""Replaying another meeting in a running demo, so a lead can edit a flow, replay and see the change.

The demo adds two routes to its bridge (same token as the rest of `/api`): `GET /api/demo` (what can be replayed,
what is playing) and `POST /api/demo/replay` (`{"transcript": "<sample name or path>"}`, queued, 202). The dashboard's
Replay button and `rtms-langflow demo replay` use them; the latter finds the running demo through `running.json`
in its data directory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bridge.api.auth import token_guard
from bridge.simulator.transcripts import Transcript, TranscriptError, load_transcript, sample_names

MAX_QUEUED = 5


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transcript: str = Field(min_length=1, max_length=4096)


@dataclass
class ReplayQueue:
    """Meetings asked for while the demo runs, played one after another."""

    queue: asyncio.Queue[tuple[str, Transcript]] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED))
    playing: str | None = None

    def ask(self, name: str) -> Transcript:
        """Queue the meeting `name` (a bundled sample or a file); raises `TranscriptError` or `asyncio.QueueFull`."""
        transcript = load_transcript(name)
        if not transcript.utterances:
            raise TranscriptError(name, "no utterances")
        self.queue.put_nowait((name, transcript))
        return transcript

    async def next(self) -> tuple[str, Transcript]:
        return await self.queue.get()


def add_replay_routes(app: FastAPI, token: SecretStr, replays: ReplayQueue) -> None:
    guard = Depends(token_guard(token))

    async def status() -> dict[str, Any]:
        return {"transcripts": sample_names(), "playing": replays.playing, "queued": replays.queue.qsize()}

    async def replay(body: ReplayBody) -> dict[str, Any]:
        try:
            transcript = replays.ask(body.transcript)
        except TranscriptError as exc:
            raise HTTPException(422, detail=f"transcript: {exc}") from None
        except asyncio.QueueFull:
            raise HTTPException(429, detail=f"{MAX_QUEUED} meetings are already waiting; try again later") from None
        return {"queued": body.transcript, "title": transcript.meta.title or body.transcript,
                "position": replays.queue.qsize()}

    bridge = getattr(app.state, "bridge", None)
    if bridge is not None:  # `GET /api/info` says so, and the dashboard shows its Replay button
        bridge.extra["replay"] = True
    app.add_api_route("/api/demo", status, methods=["GET"], dependencies=[guard])
    app.add_api_route("/api/demo/replay", replay, methods=["POST"], status_code=202, dependencies=[guard])
