"""The Langflow runner against a scripted HTTP server on loopback: one send per `run` (the pipeline's loop retries),
the circuit breaker, timeouts, errors that name the flow and the meeting."""

from __future__ import annotations

import random
import socket

import pytest

from bridge.pipeline.config import RunnerConfig
from bridge.pipeline.langflow_runner import CircuitBreaker, CircuitOpen, LangflowRunner, RunError
from bridge.pipeline.windowing import FlowWindower, Line, MeetingInfo
from tests.langflow.ticket_systems import ServedApp
from tests.pipeline.fake_langflow import FakeLangflow, Step
from tests.pipeline.test_windowing import flow

FAST = RunnerConfig(backoff_base_s=0.01, backoff_cap_s=0.05, breaker_failures=3, breaker_reset_s=0.3)


def window_json(flow_name: str = "objection_coach") -> str:
    info = MeetingInfo(instance_id="inst==", stream_id="stream-1", product="meeting")
    info.see("1", "Host")
    w = FlowWindower(flow(utterances=1).model_copy(update={"name": flow_name}), info)
    draft = w.add(Line(1, "Host", "1", 1000, 2000, "That is too expensive.", 2000))
    assert draft is not None
    return draft.payload


async def test_a_5xx_is_one_retryable_failure_then_a_send_succeeds_with_session_tweaks_and_key() -> None:
    fake = FakeLangflow(script=[Step(503), Step(502)])
    async with ServedApp(fake.app()) as url:
        runner = LangflowRunner(url, "secret-key", FAST, rng=random.Random(1))
        try:
            for status in (503, 502):
                with pytest.raises(RunError) as caught:
                    await runner.run("objection_coach", window_json(), stream_id="stream-1", timeout_s=5)
                assert caught.value.retryable and caught.value.status == status and caught.value.attempts == 1
            result = await runner.run("objection_coach", window_json(), stream_id="stream-1", timeout_s=5,
                                      tweaks={"AnthropicModel-zrtms": {"base_url": "http://127.0.0.1:9"}})
        finally:
            await runner.aclose()
    assert result.attempts == 1 and result.insights.kind == "objections" and result.latency_ms > 0
    assert [r["endpoint"] for r in fake.requests] == ["objection_coach"] * 3
    body = fake.requests[-1]["body"]
    assert body["session_id"] == "stream-1:objection_coach"
    assert body["tweaks"] == {"AnthropicModel-zrtms": {"base_url": "http://127.0.0.1:9"}}
    assert fake.requests[-1]["api_key"] == "secret-key"
    assert runner.breaker.state == "closed"


async def test_a_failed_send_names_flow_and_meeting_and_is_not_retried_here() -> None:
    fake = FakeLangflow(script=[Step(500)] * 3)
    async with ServedApp(fake.app()) as url:
        runner = LangflowRunner(url, "", FAST.model_copy(update={"breaker_failures": 10}))
        try:
            with pytest.raises(RunError) as caught:
                await runner.run("meeting_summary", window_json("meeting_summary"), stream_id="stream-1",
                                 timeout_s=5)
        finally:
            await runner.aclose()
    error = caught.value
    assert error.retryable and error.status == 500 and error.attempts == 1 and len(fake.requests) == 1
    assert str(error).startswith("flow 'meeting_summary', meeting 'stream-1': Langflow answered HTTP 500: boom")
    assert "api_key" not in fake.requests[0] or fake.requests[0]["api_key"] is None


async def test_client_errors_and_bad_answers_are_not_retried() -> None:
    fake = FakeLangflow(script=[Step(404, detail="Flow not found"), Step(500, detail="invalid window: x: bad"),
                                Step(body='{"not": "insights"}'), Step(body="")])
    async with ServedApp(fake.app()) as url:
        runner = LangflowRunner(url, "k", FAST)
        try:
            messages = []
            for _ in range(3):
                with pytest.raises(RunError) as caught:
                    await runner.run("objection_coach", window_json(), stream_id="s", timeout_s=5)
                assert not caught.value.retryable
                messages.append(caught.value.reason)
        finally:
            await runner.aclose()
    assert len(fake.requests) == 3
    assert messages[0] == "Langflow answered HTTP 404: Flow not found"
    assert messages[1].startswith("Langflow answered HTTP 500: invalid window")
    assert messages[2].startswith("the answer is not insights@1")
    assert runner.breaker.state == "closed"


async def test_a_timeout_is_a_retryable_failure() -> None:
    fake = FakeLangflow(script=[Step(delay_s=1.0)])
    async with ServedApp(fake.app()) as url:
        runner = LangflowRunner(url, "k", FAST)
        try:
            with pytest.raises(RunError) as caught:
                await runner.run("objection_coach", window_json(), stream_id="s", timeout_s=0.3)
            result = await runner.run("objection_coach", window_json(), stream_id="s", timeout_s=0.3)
        finally:
            await runner.aclose()
    assert caught.value.retryable and "no answer within 0.3s" in caught.value.reason
    assert result.attempts == 1


async def test_connection_refused_opens_the_breaker_then_a_trial_closes_it() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    now = [0.0]  # the breaker's clock: its reset time passes when the test says so
    runner = LangflowRunner(dead, "k", FAST, clock=lambda: now[0])
    try:
        for _ in range(FAST.breaker_failures):
            with pytest.raises(RunError) as caught:
                await runner.run("objection_coach", window_json(), stream_id="s", timeout_s=2)
        assert caught.value.retryable and "cannot reach Langflow at" in caught.value.reason
        assert runner.breaker.state == "open" and runner.breaker.opened == 1
        with pytest.raises(CircuitOpen, match="circuit open"):
            await runner.run("objection_coach", window_json(), stream_id="s", timeout_s=2)
    finally:
        await runner.aclose()
    fake = FakeLangflow()
    async with ServedApp(fake.app()) as url:
        runner.client = LangflowRunner(url, "k", FAST).client  # Langflow is back at a (new) address
        runner.base_url = url
        try:
            assert runner.breaker.state == "open"
            now[0] += FAST.breaker_reset_s
            assert runner.breaker.state == "half_open"
            result = await runner.run("objection_coach", window_json(), stream_id="s", timeout_s=2)
        finally:
            await runner.aclose()
    assert result.attempts == 1 and runner.breaker.state == "closed"


def test_breaker_states_with_a_fake_clock() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, reset_s=10, clock=lambda: now[0])
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow() and breaker.retry_in() == 10
    now[0] = 10
    assert breaker.state == "half_open" and breaker.ready() and breaker.allow()
    assert not breaker.allow() and not breaker.ready()  # one trial at a time
    breaker.failure()  # the trial failed: open again for a full reset period
    assert breaker.state == "open" and breaker.opened == 2 and breaker.retry_in() == 10
    now[0] = 20
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.consecutive == 0


def test_backoff_is_jittered_and_capped() -> None:
    runner = LangflowRunner("http://127.0.0.1:1", "", RunnerConfig(backoff_base_s=1, backoff_cap_s=4),
                            rng=random.Random(7))
    delays = [runner.backoff(n) for n in range(8)]
    assert all(0 <= d <= min(4, 2**n) for n, d in enumerate(delays))
    assert len(set(delays)) == len(delays)
