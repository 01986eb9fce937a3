"""Zoom's chatbot API on the wire, without I/O.

Token: `POST https://zoom.us/oauth/token?grant_type=client_credentials` with `Authorization: Basic
base64(client_id:client_secret)`; the answer is `{"access_token", "token_type": "bearer", "expires_in": 3600,
"scope": "imchat:bot", ...}`. Chatbot tokens last an hour and have no refresh flow: ask again.

Message: `POST https://api.zoom.us/v2/im/chat/messages` with `Authorization: Bearer <token>` and
`{"robot_jid", "to_jid", "account_id", "content": {"head": {"text", "sub_head"?}, "body": [{"type": "message",
"text"}...]}, "is_markdown_support"?, "user_jid"?, "visible_to_user"?}`; the answer is `{"message_id", "robot_jid",
"sent_time", "to_jid"}`. A user's JID is its user id in lower case at `xmpp.zoom.us`.

Errors come as `{"code", "message"}`. 429 is a rate limit: per second (`X-RateLimit-Type: QPS`) or per day
(`Daily-limit`, with `Retry-After` naming the reset time); `Retry-After` may be seconds, an HTTP date or an ISO
8601 time. Chatbot messages are in the Medium category.
"""

from __future__ import annotations

import base64
import email.utils
import json
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT = 3000
"""Characters kept of one body text (long summaries are cut, with an ellipsis)."""


class Token(BaseModel):
    model_config = ConfigDict(frozen=True)

    access_token: str
    expires_at_s: float


class ChatContent(BaseModel):
    model_config = ConfigDict(frozen=True)

    head: dict[str, Any]
    body: list[dict[str, Any]] = Field(default_factory=list)


class ChatMessage(BaseModel):
    """The request body of `POST /im/chat/messages`."""

    model_config = ConfigDict(frozen=True)

    robot_jid: str = Field(min_length=1)
    to_jid: str = Field(min_length=1)
    account_id: str = Field(min_length=1)
    content: ChatContent
    is_markdown_support: bool = False


def user_jid(user_id: str) -> str:
    """The chat JID of a Zoom user, from the user id that webhooks carry (`host_id`)."""
    return f"{user_id.strip().lower()}@xmpp.zoom.us"


def token_request(oauth_url: str, client_id: str, client_secret: str) -> tuple[str, dict[str, str]]:
    """(URL, headers) of the client-credentials token request; the body is empty."""
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    parts = urllib.parse.urlsplit(oauth_url)
    query = urllib.parse.urlencode({"grant_type": "client_credentials"})
    url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return url, {"Authorization": f"Basic {basic}", "Accept": "application/json"}


def parse_token(body: bytes, now_s: float) -> Token:
    """ValueError naming what is wrong with a token answer."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("token answer is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str) or not doc["access_token"]:
        raise ValueError("token answer has no access_token")
    expires = doc.get("expires_in", 3600)
    if not isinstance(expires, int | float) or isinstance(expires, bool) or expires <= 0:
        raise ValueError(f"token answer has a bad expires_in ({expires!r})")
    return Token(access_token=doc["access_token"], expires_at_s=now_s + float(expires))


def message_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}


def message_body(message: ChatMessage) -> bytes:
    return message.model_dump_json(exclude_defaults=False).encode("utf-8")


def parse_sent(body: bytes) -> str:
    """The `message_id` of a send answer; ValueError when there is none."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("send answer is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("message_id"), str) or not doc["message_id"]:
        raise ValueError("send answer has no message_id")
    return str(doc["message_id"])


def error_text(status: int, body: bytes) -> str:
    """`HTTP 400: code 7001: <message>` from Zoom's error body, cut short; never the request."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict) and ("code" in doc or "message" in doc):
        return f"HTTP {status}: code {doc.get('code')}: {str(doc.get('message', ''))[:200]}"
    return f"HTTP {status}"


Verdict = Literal["done", "retry", "refresh_token", "give_up"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    wait_s: float = 0.0
    """For `retry`: how long the server asked us to wait (0: use our own backoff)."""
    daily_limit: bool = False


def retry_after_s(headers: dict[str, str], now_s: float) -> float | None:
    """Seconds to wait from `Retry-After` (seconds, an HTTP date or an ISO 8601 time); None when absent or
    unreadable."""
    raw = headers.get("retry-after", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            return max(0.0, moment.timestamp() - now_s)
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - now_s)
    except (TypeError, ValueError, IndexError):
        return None


def decide(status: int, headers: dict[str, str], now_s: float) -> Decision:
    """What to do after an answer: `headers` with lower-case names."""
    if 200 <= status < 300:
        return Decision("done")
    if status == 401:
        return Decision("refresh_token")
    if status == 429:
        daily = headers.get("x-ratelimit-type", "").lower().startswith("daily")
        return Decision("retry", retry_after_s(headers, now_s) or 0.0, daily_limit=daily)
    if status in (408, 425) or status >= 500:
        return Decision("retry", retry_after_s(headers, now_s) or 0.0)
    return Decision("give_up")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
