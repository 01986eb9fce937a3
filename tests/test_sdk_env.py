"""The official-SDK side of the interop test, checked without a simulator: venv builder, webhook app, harness."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.interop.harness import SdkClientError, start_sdk_client
from tests.interop.sdk_env import SDK_VERSION, SdkUnavailable, ensure_sdk_python, platform_problem

WEBHOOK_SECRET = "sdk-env-test-webhook-secret"
ENV = {
    "ZOOM_WEBHOOK_SECRET_TOKEN": WEBHOOK_SECRET,
    "ZOOM_CLIENT_ID": "sdk-env-test-client",
    "ZOOM_CLIENT_SECRET": "sdk-env-test-client-secret",
}


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    try:
        return ensure_sdk_python()
    except SdkUnavailable as exc:
        pytest.skip(f"official rtms SDK wheel unavailable here: {exc}")


def _signed(body: bytes, *, secret: str = WEBHOOK_SECRET, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/json; charset=utf-8",
        "x-zm-request-timestamp": stamp,
        "x-zm-signature": "v0=" + mac,
    }


def _body(event: str, payload: dict[str, object]) -> bytes:
    return json.dumps(
        {"event": event, "event_ts": int(time.time() * 1000), "payload": payload}, separators=(",", ":")
    ).encode()


@pytest.mark.parametrize(
    ("system", "machine", "libc", "version", "python", "expect"),
    [
        ("Linux", "x86_64", "glibc", "2.36", (3, 11), None),
        ("Linux", "x86_64", "glibc", "2.34", (3, 13), None),
        ("Linux", "aarch64", "glibc", "2.36", (3, 11), "Linux x86_64 only"),
        ("Darwin", "arm64", "", "", (3, 11), "Linux x86_64 only"),
        ("Linux", "x86_64", "", "", (3, 11), "C library is unknown"),
        ("Linux", "x86_64", "glibc", "2.31", (3, 11), "this system has 2.31"),
        ("Linux", "x86_64", "glibc", "2.36", (3, 14), "CPython 3.10-3.13"),
        ("Linux", "x86_64", "glibc", "2.36", (3, 9), "CPython 3.10-3.13"),
    ],
)
def test_platform_problem_names_the_reason(
    system: str, machine: str, libc: str, version: str, python: tuple[int, int], expect: str | None
) -> None:
    problem = platform_problem(system, machine, libc, version, python)
    if expect is None:
        assert problem is None
    else:
        assert problem is not None and expect in problem and "\n" not in problem


def test_sdk_venv_is_separate_and_reused(sdk_python: Path) -> None:
    assert importlib.util.find_spec("rtms") is None, "rtms must not be installed into the project venv"
    assert not sdk_python.resolve().is_relative_to(Path(sys.prefix).resolve())
    started = time.monotonic()
    assert ensure_sdk_python() == sdk_python
    assert time.monotonic() - started < 30  # a reuse only imports rtms, it does not reinstall
    site = sdk_python.parent.parent / "lib"
    assert list(site.glob(f"python3.*/site-packages/rtms-{SDK_VERSION}.dist-info")), "rtms 1.1.0 not in the venv"


async def test_sdk_client_verifies_webhooks_and_hands_payloads_to_the_sdk(sdk_python: Path) -> None:
    sdk = await start_sdk_client(sdk_python, ENV, timeout_s=30)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            body = _body("endpoint.url_validation", {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"})
            reply = await http.post(sdk.webhook_url, content=body, headers=_signed(body))
            assert reply.status_code == 200
            expected = hmac.new(WEBHOOK_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
            assert reply.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}

            # Unsigned, signed with another secret, stale: all refused before anything reaches the SDK.
            started = _body(
                "meeting.rtms_started",
                {"meeting_uuid": "x==", "rtms_stream_id": "s", "server_urls": "ws://127.0.0.1:9/"},
            )
            assert (
                await http.post(sdk.webhook_url, content=started, headers={"content-type": "application/json"})
            ).status_code == 401
            assert (
                await http.post(sdk.webhook_url, content=started, headers=_signed(started, secret="other"))
            ).status_code == 401
            assert (
                await http.post(sdk.webhook_url, content=started, headers=_signed(started, ts=int(time.time()) - 3600))
            ).status_code == 401

            # A Zoom Phone payload carries call_id, which SDK 1.1.0 cannot join: the refusal comes back as an event.
            phone = _body(
                "phone.rtms_started",
                {"call_id": "c-1", "rtms_stream_id": "phone-stream", "server_urls": "ws://127.0.0.1:9/"},
            )
            assert (await http.post(sdk.webhook_url, content=phone, headers=_signed(phone))).status_code == 200
        error = await sdk.wait_for("join_error", timeout=10)
        assert error["stream_id"] == "phone-stream" and "meeting_uuid" in error["error"]
        exit_event = await sdk.wait_for("exit", timeout=10)
        assert exit_event == {"event": "exit", "reason": "left", "code": 0}
    finally:
        assert await sdk.aclose() == 0
    webhooks = [(e["name"], e["status"], e["action"]) for e in sdk.of("webhook")]
    assert webhooks == [
        ("endpoint.url_validation", 200, "none"),
        ("meeting.rtms_started", 401, "none"),
        ("meeting.rtms_started", 401, "none"),
        ("meeting.rtms_started", 401, "none"),
        ("phone.rtms_started", 200, "join"),
    ]


async def test_sdk_client_stops_on_its_timeout_and_on_sigterm(sdk_python: Path) -> None:
    short = await start_sdk_client(sdk_python, ENV, timeout_s=0.5)
    try:
        assert await short.wait_for("exit", timeout=10) == {"event": "exit", "reason": "timeout", "code": 3}
    finally:
        assert await short.aclose() == 3
    long = await start_sdk_client(sdk_python, ENV, timeout_s=60)
    assert await long.aclose() == 0
    assert long.events[-1] == {"event": "exit", "reason": "signal", "code": 0}


async def test_start_sdk_client_reports_a_missing_secret(sdk_python: Path) -> None:
    with pytest.raises(SdkClientError, match="ZOOM_CLIENT_SECRET"):
        await start_sdk_client(sdk_python, {k: v for k, v in ENV.items() if k != "ZOOM_CLIENT_SECRET"}, 5)
