"""The chatbot client against the loopback double of Zoom's API (see zoom_chat_double): the token asked once and
reused, a 429's Retry-After honoured, 5xx retried, an expired token replaced, a bad request final; and the wire
helpers on their own."""

from __future__ import annotations

import time

import httpx
import pytest

from bridge.teamchat import wire
from bridge.teamchat.client import ChatClient, ChatSendError, check_url
from tests.teamchat.zoom_chat_double import ChatDouble, chat_double


def client_for(double: ChatDouble, http: httpx.AsyncClient, **options: object) -> ChatClient:
    values: dict[str, object] = {"api_url": f"{double.url}/v2", "oauth_url": f"{double.url}/oauth/token",
                                 "client_id": double.client_id, "client_secret": double.client_secret,
                                 "allowed_hosts": ["127.0.0.1"], "backoff_base_s": 0.05, "backoff_cap_s": 0.2}
    values.update(options)
    return ChatClient(http, **values)  # type: ignore[arg-type]


def message(double: ChatDouble, text: str = "Objection: price") -> wire.ChatMessage:
    return wire.ChatMessage(robot_jid=double.robot_jid, to_jid=wire.user_jid("KdYnimT4KPd8KKdQt9FQ"),
                            account_id=double.account_id,
                            content=wire.ChatContent(head={"text": text}, body=[{"type": "message", "text": "x"}]))


async def test_token_reused_rate_limit_and_errors_handled() -> None:
    async with chat_double() as double, httpx.AsyncClient() as http:
        client = client_for(double, http)
        assert await client.send(message(double, "one"))
        double.script = [("rate_limit", 0.4), ("error", 503), ("expire", 0)]
        started = time.monotonic()
        assert await client.send(message(double, "two"))
        waited = time.monotonic() - started
        assert await client.send(message(double, "three"))
    assert [m["content"]["head"]["text"] for m in double.messages] == ["one", "two", "three"]
    assert double.messages[0]["to_jid"] == "kdynimt4kpd8kkdqt9fq@xmpp.zoom.us"
    assert double.answers == [200, 429, 503, 401, 200, 200]
    assert double.early == 0 and waited >= 0.4  # nothing sent before Retry-After passed
    assert double.token_requests == 2  # once, then once more after the token expired


async def test_final_and_retryable_failures() -> None:
    async with chat_double() as double, httpx.AsyncClient() as http:
        client = client_for(double, http, max_attempts=2)
        bad = message(double).model_copy(update={"robot_jid": "someone-else@xmpp.zoom.us"})
        with pytest.raises(ChatSendError) as refused:
            await client.send(bad)
        assert not refused.value.retryable and "7010" in str(refused.value)
        double.script = [("error", 500), ("error", 502)]
        with pytest.raises(ChatSendError) as down:
            await client.send(message(double))
        assert down.value.retryable
        double.script = [("rate_limit", 600)]
        with pytest.raises(ChatSendError) as daily:
            await client_for(double, http, max_wait_s=5).send(message(double))
        assert daily.value.retryable and "rate limited" in str(daily.value)
        wrong = client_for(double, http, client_secret="nope")
        with pytest.raises(ChatSendError) as creds:
            await wrong.send(message(double))
        assert not creds.value.retryable and "401" in str(creds.value)
    assert double.messages == []


def test_only_zoom_hosts_by_default() -> None:
    zoom = ["zoom.us", "*.zoom.us"]
    assert check_url("https://api.zoom.us/v2/", zoom, what="X") == "https://api.zoom.us/v2"
    assert check_url("https://zoom.us/oauth/token", zoom, what="X")
    for bad in ("https://evil.example/v2", "http://api.zoom.us/v2", "https://api.zoom.us.evil.example/v2",
                "https://user:pw@api.zoom.us/v2", "http://127.0.0.1:9/v2", "https://169.254.169.254/"):
        with pytest.raises(ValueError, match="X"):
            check_url(bad, zoom, what="X")
    assert check_url("http://127.0.0.1:9/v2", ["127.0.0.1"], what="X")
    with pytest.raises(ValueError, match="https"):
        check_url("http://10.0.0.5/v2", ["10.0.0.5"], what="X")


def test_wire_reading() -> None:
    url, headers = wire.token_request("https://zoom.us/oauth/token", "id", "secret")
    assert url == "https://zoom.us/oauth/token?grant_type=client_credentials"
    assert headers["Authorization"] == "Basic aWQ6c2VjcmV0"
    token = wire.parse_token(b'{"access_token":"t","token_type":"bearer","expires_in":3600,"scope":"imchat:bot"}',
                             100.0)
    assert token.access_token == "t" and token.expires_at_s == 3700.0
    with pytest.raises(ValueError, match="access_token"):
        wire.parse_token(b'{"error":"invalid_client"}', 0)
    assert wire.parse_sent(b'{"message_id":"m1","robot_jid":"r","sent_time":"2019-06-17 17:08:55","to_jid":"t"}') \
        == "m1"
    now = 1_000_000.0
    assert wire.retry_after_s({"retry-after": "3"}, now) == 3.0
    assert wire.retry_after_s({"retry-after": "1970-01-12T13:46:50Z"}, now) == pytest.approx(10.0)
    assert wire.retry_after_s({"retry-after": "Mon, 12 Jan 1970 13:46:50 GMT"}, now) == pytest.approx(10.0)
    assert wire.retry_after_s({"retry-after": "soon"}, now) is None
    daily = wire.decide(429, {"x-ratelimit-type": "Daily-limit", "retry-after": "1970-01-12T13:46:50Z"}, now)
    assert daily.verdict == "retry" and daily.daily_limit and daily.wait_s == pytest.approx(10.0)
    assert wire.decide(401, {}, now).verdict == "refresh_token"
    assert wire.decide(404, {}, now).verdict == "give_up"
    assert wire.decide(502, {}, now).verdict == "retry"
    assert wire.error_text(400, b'{"code":300,"message":"Validation Failed."}') == \
        "HTTP 400: code 300: Validation Failed."


def test_settings_name_what_is_missing() -> None:
    from pydantic import ValidationError

    from tests.intake.conftest import make_settings

    with pytest.raises(ValidationError, match="BRIDGE_CHAT_ROBOT_JID, BRIDGE_CHAT_ACCOUNT_ID"):
        make_settings(chat_enabled=True)
    with pytest.raises(ValidationError, match="BRIDGE_CHAT_API_URL"):
        make_settings(chat_enabled=True, chat_robot_jid="r", chat_account_id="a",
                      chat_api_url="https://evil.example/v2")
    with pytest.raises(ValidationError, match="somewhere to post"):
        make_settings(chat_enabled=True, chat_robot_jid="r", chat_account_id="a", chat_objections_to="")
    ok = make_settings(chat_enabled=True, chat_robot_jid="r", chat_account_id="a")
    assert ok.chat_api_url == "https://api.zoom.us/v2" and ok.chat_objections_to == "host"
