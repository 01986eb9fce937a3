"""Running a window through a Langflow flow: `POST /api/v1/run/{endpoint_name}` with langflow-sdk's async client.

One `LangflowRunner` per Langflow server. Each `run` is exactly one send of one window, limited by the timeout it is
given; it raises `RunError`, `retryable` for connection errors, timeouts and HTTP 5xx (except the flows' own
`invalid window` 500, which no retry can fix). Retrying is not done here: the pipeline's one loop per window
(`Pipeline._send`) owns attempts, jittered backoff (`backoff`) and the deadline. A circuit breaker shared by all
flows stops sending after `breaker_failures` failed sends in a row and lets one trial run through after
`breaker_reset_s`, so a Langflow that is down costs one fast failure per window instead of a queue of timeouts.
The answer (the Chat Output text) is parsed with `bridge.contracts.parse_insights`. Errors name the flow
and the meeting, never the transcript.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from langflow_sdk import AsyncClient, RunRequest
from langflow_sdk.exceptions import LangflowConnectionError, LangflowHTTPError
from pydantic import ValidationError

from bridge.contracts import ObjectionInsights, SummaryInsights, TicketInsights, parse_insights
from bridge.logs import get_logger
from bridge.pipeline.config import RunnerConfig, Tweaks
from bridge.pipeline.flow_nodes import FlowNodes

__all__ = ["CircuitBreaker", "CircuitOpen", "LangflowRunner", "RunError", "RunResult"]

log = get_logger(__name__)

AnyInsights = SummaryInsights | ObjectionInsights | TicketInsights


class RunError(Exception):
    """A window could not be run. `retryable`: sending it again later may work (Langflow down or overloaded)."""

    def __init__(self, flow: str, stream_id: str, message: str, *, retryable: bool, status: int | None = None,
                 attempts: int = 0) -> None:
        self.flow, self.stream_id, self.retryable, self.status, self.attempts = (
            flow, stream_id, retryable, status, attempts)
        self.reason = message
        super().__init__(f"flow {flow!r}, meeting {stream_id!r}: {message}")


class CircuitOpen(RunError):
    """The breaker is open: nothing was sent."""


class CircuitBreaker:
    """Closed -> open after `failures` failed attempts in a row -> half-open after `reset_s` (one trial) -> closed
    on success, open again on failure. Sans-I/O: `clock` gives monotonic seconds."""

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self.clock = clock
        self.consecutive = 0
        self.opened_at: float | None = None
        self.trial_out = False
        self.opened = 0  # times it opened (a metric)

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.reset_s else "open"

    def retry_in(self) -> float:
        """Seconds until a trial run may go through (0 when closed)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.reset_s - self.clock())

    def ready(self) -> bool:
        """Whether `allow` would let a run through now (without taking the half-open trial)."""
        state = self.state
        return state == "closed" or (state == "half_open" and not self.trial_out)

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self.trial_out:
            self.trial_out = True
            return True
        return False

    def success(self) -> None:
        self.consecutive = 0
        self.opened_at = None
        self.trial_out = False

    def failure(self) -> None:
        self.consecutive += 1
        if self.opened_at is not None or self.consecutive >= self.threshold:
            if self.opened_at is None or self.trial_out:
                self.opened += 1
            self.opened_at = self.clock()
            self.trial_out = False

    def release(self) -> None:
        """A trial that ended neither way (cancelled): let another one through."""
        self.trial_out = False


class _RunRequest(RunRequest):  # type: ignore[misc]
    """The SDK's request plus the `session_id` the run API accepts."""

    session_id: str | None = None


@dataclass(frozen=True)
class RunResult:
    insights: AnyInsights
    latency_ms: float
    """The successful attempt's round trip."""
    attempts: int


class LangflowRunner:
    def __init__(self, base_url: str, api_key: str, config: RunnerConfig, *, client: AsyncClient | None = None,
                 rng: random.Random | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config
        # Per-attempt limits come from each flow's timeout_s (asyncio.timeout); the client's own is a backstop.
        self.client = client or AsyncClient(self.base_url, api_key=api_key or None, timeout=600.0)
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset_s, clock)
        self.nodes = FlowNodes(self.client)  # tweaks by component type -> this flow's node ids
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.clock = clock
        if "retries" in config.model_fields_set:
            log.warning("runner.retries is no longer used: window_attempts and window_deadline_s bound every send "
                        "of a window", extra={"retries": config.retries})

    async def aclose(self) -> None:
        await self.client.aclose()

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        ceiling = min(self.config.backoff_cap_s, self.config.backoff_base_s * (2 ** attempt))
        return self.rng.uniform(0, ceiling)

    async def run(self, flow: str, window_json: str, *, stream_id: str, timeout_s: float,
                  tweaks: Tweaks | None = None) -> RunResult:
        """Send one window once; raises `RunError` (`CircuitOpen` when the breaker let nothing through)."""
        if tweaks and self.breaker.ready():
            tweaks = await self.nodes.resolve(flow, tweaks)
        request = _RunRequest(input_value=window_json, tweaks=tweaks or None, session_id=f"{stream_id}:{flow}")
        if not self.breaker.allow():
            raise CircuitOpen(flow, stream_id, f"Langflow circuit open (retry in {self.breaker.retry_in():.1f}s)",
                              retryable=True, attempts=0)
        started = self.clock()
        try:
            response = await self._send(flow, request, timeout_s)
        except RunError as exc:
            exc.attempts = 1
            if exc.retryable:
                self.breaker.failure()
            else:
                self.breaker.success()  # the server answered: it is up
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.success()
        latency_ms = (self.clock() - started) * 1000
        insights = self._parse(flow, stream_id, response)
        return RunResult(insights=insights, latency_ms=latency_ms, attempts=1)

    async def _send(self, flow: str, request: _RunRequest, timeout_s: float) -> Any:
        stream_id = (request.session_id or ":").rsplit(":", 1)[0]
        try:
            async with asyncio.timeout(timeout_s):
                return await self.client.run_flow(flow, request)
        except TimeoutError:
            raise RunError(flow, stream_id, f"no answer within {timeout_s:g}s", retryable=True) from None
        except LangflowConnectionError as exc:
            raise RunError(flow, stream_id, f"cannot reach Langflow at {self.base_url} ({exc.__cause__ or exc})",
                           retryable=True) from None
        except LangflowHTTPError as exc:
            detail = str(exc.detail)[:500]
            retryable = exc.status_code >= 500 and "invalid window" not in detail
            raise RunError(flow, stream_id, f"Langflow answered HTTP {exc.status_code}: {detail}",
                           retryable=retryable, status=exc.status_code) from None
        except httpx.TransportError as exc:  # read errors, resets, protocol errors: the SDK passes them on
            raise RunError(flow, stream_id, f"connection to Langflow failed ({type(exc).__name__}: {exc})",
                           retryable=True) from None
        except ValidationError as exc:
            raise RunError(flow, stream_id, f"unexpected run response ({exc.error_count()} problems)",
                           retryable=False) from None

    def _parse(self, flow: str, stream_id: str, response: Any) -> AnyInsights:
        text = response.first_text_output()
        if text is None:
            raise RunError(flow, stream_id, "the run answered no Chat Output text", retryable=False)
        try:
            return parse_insights(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RunError(flow, stream_id, f"the answer is not insights@1 ({where}: {first['msg']})",
                           retryable=False) from None
