"""An Anthropic-compatible Messages API server on loopback: the model for tests, benchmarks and the keyless demo.

`create_app(config)` builds the ASGI app (`POST /v1/messages` plain or SSE stream, `GET /v1/models`, `GET /stats`,
`POST /stats/reset`, `POST /cache/reset`, `POST /clock`); `OfflineLLM` runs it in-process on a port of its own
(`async with OfflineLLM() as llm:` or `await llm.start()` / `await llm.stop()`), and
`python -m bridge.offline_llm --port N` runs it standalone. Point Langflow's Anthropic node at `llm.base_url` (no
`/v1`; the SDK adds it).

Every answer's `usage` carries the prompt-cache figures Anthropic would bill for that request (`cache.py`), on the
server's clock (`clock.py`): wall time x `time_scale`, or with `manual_clock` the meeting time a benchmark sets
before each request with `POST /clock {"now_ms": N}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from bridge.logs import get_logger
from bridge.offline_llm.cache import CacheRequestError, PromptCache
from bridge.offline_llm.clock import Clock, ManualClock, ScaledClock
from bridge.offline_llm.model import respond
from bridge.offline_llm.openai_wire import add_chat_completions
from bridge.offline_llm.wire import MessagesRequest, ResponseUsage, error_body, stream_events

log = get_logger(__name__)

MODELS = ["claude-haiku-4-5-20251001", "claude-sonnet-4-6", "claude-opus-4-6"]


@dataclass(frozen=True)
class OfflineLLMConfig:
    latency_ms: int = 0
    """Fixed delay before each answer, to make benchmarks and timeouts realistic."""
    api_key: str | None = None
    """When set, requests must carry exactly this `x-api-key`; otherwise any non-empty key is accepted."""
    stream_chunk_chars: int = 24
    time_scale: float = 1.0
    """The cache lifetime's clock runs this many times faster than wall time (ignored with `manual_clock`)."""
    manual_clock: bool = False
    """The clock stands still until `POST /clock` sets it (benchmarks replaying a meeting on a virtual clock)."""


@dataclass
class Usage:
    """Sums of the answers' usage; `input_tokens` is uncached input, as in the API's usage."""

    calls: int = 0
    input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0
    """The part of the writes with a 1-hour lifetime (billed 2x instead of 1.25x)."""
    cache_read_input_tokens: int = 0
    output_tokens: int = 0
    calls_with_cache_marker: int = 0
    calls_with_cache_read: int = 0

    def add(self, usage: ResponseUsage, breakpoints: int) -> None:
        self.calls += 1
        self.input_tokens += usage.input_tokens
        self.cache_creation_input_tokens += usage.cache_creation_input_tokens
        self.cache_creation_1h_input_tokens += usage.cache_creation.ephemeral_1h_input_tokens
        self.cache_read_input_tokens += usage.cache_read_input_tokens
        self.output_tokens += usage.output_tokens
        self.calls_with_cache_marker += breakpoints > 0
        self.calls_with_cache_read += usage.cache_read_input_tokens > 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Stats:
    calls: int = 0
    input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    by_task: dict[str, int] = field(default_factory=dict)
    usage_by_task: dict[str, Usage] = field(default_factory=dict)

    def record(self, task: str, usage: ResponseUsage, breakpoints: int) -> None:
        self.calls += 1
        self.input_tokens += usage.input_tokens
        self.cache_creation_input_tokens += usage.cache_creation_input_tokens
        self.cache_read_input_tokens += usage.cache_read_input_tokens
        self.output_tokens += usage.output_tokens
        self.by_task[task] = self.by_task.get(task, 0) + 1
        self.usage_by_task.setdefault(task, Usage()).add(usage, breakpoints)

    def reset(self) -> None:
        fresh = Stats()
        self.__dict__.update(fresh.__dict__)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens,
            "errors": self.errors,
            "by_task": dict(sorted(self.by_task.items())),
            "usage_by_task": {task: u.as_dict() for task, u in sorted(self.usage_by_task.items())},
        }


def create_app(config: OfflineLLMConfig | None = None) -> FastAPI:
    config = config or OfflineLLMConfig()
    stats = Stats()
    ids = itertools.count(1)
    cache = PromptCache()
    clock: Clock = ManualClock() if config.manual_clock else ScaledClock(config.time_scale)
    app = FastAPI(title="rtms-langflow offline LLM (Anthropic Messages API)", docs_url=None, redoc_url=None)
    app.state.stats = stats
    app.state.config = config
    app.state.cache = cache
    app.state.clock = clock

    def _error(status: int, kind: str, message: str) -> JSONResponse:
        stats.errors += 1
        return JSONResponse(error_body(kind, message), status_code=status)

    @app.post("/v1/messages", response_model=None)
    async def messages(request: Request) -> Response:
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if not key or (config.api_key is not None and key != config.api_key):
            return _error(401, "authentication_error", "invalid x-api-key")
        try:
            body = MessagesRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            return _error(400, "invalid_request_error", f"{where}: {first['msg']}")
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        try:
            cached = cache.account(body, clock.now_ms())
        except CacheRequestError as exc:
            return _error(400, "invalid_request_error", str(exc))
        answer, task = respond(body, f"msg_offline_{next(ids):08d}", cached)
        stats.record(task, answer.usage, cached.breakpoints)
        log.debug("offline_llm.answer", extra={"task": task, "stream": body.stream, "model": body.model})
        if not body.stream:
            return JSONResponse(answer.model_dump())
        events = stream_events(answer, config.stream_chunk_chars)

        async def emit() -> AsyncIterator[bytes]:
            for event in events:
                yield event

        return StreamingResponse(emit(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = [
            {"type": "model", "id": name, "display_name": name, "created_at": "2025-01-01T00:00:00Z"} for name in MODELS
        ]
        return {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]}

    @app.get("/stats")
    async def get_stats() -> dict[str, Any]:
        return stats.as_dict()

    @app.post("/stats/reset")
    async def reset_stats() -> dict[str, Any]:
        stats.reset()
        return stats.as_dict()

    @app.post("/cache/reset")
    async def reset_cache() -> dict[str, Any]:
        """Forget every cached prefix (a benchmark starts each meeting cold)."""
        dropped = len(cache.entries)
        cache.clear()
        return {"dropped": dropped}

    @app.post("/clock", response_model=None)
    async def set_clock(request: Request) -> Response:
        """Set the manual clock to `now_ms` (meeting time); 409 when the server runs on the wall clock."""
        if not isinstance(clock, ManualClock):
            return JSONResponse(error_body("invalid_request_error", "the clock is not manual"), status_code=409)
        try:
            raw = (await request.json())["now_ms"]
            now_ms = float(raw)
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                error_body("invalid_request_error", 'body must be {"now_ms": <number>}'), status_code=400
            )
        clock.set(now_ms)
        return JSONResponse({"now_ms": now_ms})

    add_chat_completions(app)  # the same answers in OpenAI's Chat Completions format, at <base_url>/v1
    return app


class _EmbeddedServer(uvicorn.Server):
    """Leaves signal handling to the host program (pytest, the demo) instead of capturing SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OfflineLLM:
    """Runs the offline model on 127.0.0.1 in the current event loop (port 0 = pick a free port)."""

    def __init__(self, config: OfflineLLMConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or OfflineLLMConfig()
        self.host = host
        self.port = port
        self.app = create_app(self.config)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        """What to give Anthropic clients (`base_url`) and Langflow's Anthropic node (`Anthropic API URL`)."""
        return f"http://{self.host}:{self.port}"

    @property
    def stats(self) -> Stats:
        stats: Stats = self.app.state.stats
        return stats

    async def start(self, timeout_s: float = 10.0) -> str:
        if self._task is not None:
            raise RuntimeError("offline LLM already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        async with asyncio.timeout(timeout_s):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("offline LLM stopped during start-up")
                await asyncio.sleep(0.01)
        log.info("offline_llm.started", extra={"url": self.base_url})
        return self.base_url

    async def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            async with asyncio.timeout(timeout_s):
                await self._task
        finally:
            self._server = None
            self._task = None

    async def __aenter__(self) -> OfflineLLM:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
