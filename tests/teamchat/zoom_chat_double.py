"""A test double of Zoom's chatbot API on loopback: the client-credentials token endpoint and
`POST /v2/im/chat/messages`, in Zoom's wire format as its documentation gives it (Basic auth for the token, the
`{access_token, token_type, expires_in, scope, api_url}` answer; the message body `robot_jid, to_jid, account_id,
content.head.text`; the `{message_id, robot_jid, sent_time, to_jid}` answer; `{code, message}` errors; 429 with
`Retry-After`, `X-RateLimit-Category`, `X-RateLimit-Type`). No Zoom client library for Python exists to check it
against, so it checks what it receives as strictly as the documentation reads.

`script` injects answers before the normal one: `("rate_limit", seconds)`, `("error", status)`, `("expire", 0)`
(the token in use stops being valid, as after its hour)."""

from __future__ import annotations

import base64
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.api.conftest import serve


@dataclass
class ChatDouble:
    client_id: str = "chat-client-id"
    client_secret: str = "chat-client-secret"
    robot_jid: str = "robot_v1test@xmpp.zoom.us"
    account_id: str = "acct-test"
    token_lifetime_s: int = 3600
    script: list[tuple[str, float]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Every message accepted (200), in order."""
    answers: list[int] = field(default_factory=list)
    """The status of every message request, in order."""
    token_requests: int = 0
    rate_limited_until: float = 0.0
    early: int = 0
    """Requests that came before a Retry-After had passed."""
    _tokens: dict[str, float] = field(default_factory=dict)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/oauth/token")
        async def token(request: Request) -> JSONResponse:
            self.token_requests += 1
            if request.query_params.get("grant_type") != "client_credentials":
                return JSONResponse({"reason": "Unsupported grant type", "error": "unsupported_grant_type"}, 400)
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"reason": "Invalid client_id or client_secret", "error": "invalid_client"}, 401)
            value = secrets.token_urlsafe(24)
            self._tokens[value] = time.time() + self.token_lifetime_s
            return JSONResponse({"access_token": value, "token_type": "bearer", "expires_in": self.token_lifetime_s,
                                 "scope": "imchat:bot", "api_url": self.url})

        @app.post("/v2/im/chat/messages")
        async def send(request: Request) -> JSONResponse:
            answer = await self._answer(request)
            self.answers.append(answer.status_code)
            return answer

        return app

    async def _answer(self, request: Request) -> JSONResponse:
        now = time.time()
        if now < self.rate_limited_until:
            self.early += 1
        auth = request.headers.get("authorization", "")
        value = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self._tokens.get(value, 0) < now:
            return JSONResponse({"code": 124, "message": "Invalid access token."}, 401)
        if self.script:
            kind, arg = self.script.pop(0)
            if kind == "rate_limit":
                self.rate_limited_until = now + arg
                return JSONResponse(
                    {"code": 429, "message": "You have reached the maximum per-second rate limit for this API. "
                                             "Try again later."}, 429,
                    headers={"Retry-After": f"{arg:g}", "X-RateLimit-Category": "Medium",
                             "X-RateLimit-Type": "QPS", "X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0"})
            if kind == "error":
                return JSONResponse({"code": int(arg), "message": "Internal error."}, int(arg))
            if kind == "expire":
                self._tokens[value] = 0.0
                return JSONResponse({"code": 124, "message": "Invalid access token."}, 401)
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return JSONResponse({"code": 300, "message": "Request Body should be a valid JSON object."}, 400)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"code": 300, "message": "Request Body should be a valid JSON object."}, 400)
        problems = [name for name in ("robot_jid", "to_jid", "account_id")
                    if not isinstance(body.get(name), str) or not body[name]]
        content = body.get("content")
        if not isinstance(content, dict) or not isinstance(content.get("head"), dict) \
                or not isinstance(content["head"].get("text"), str):
            problems.append("content.head.text")
        elif not isinstance(content.get("body", []), list) or any(
                not isinstance(item, dict) or item.get("type") != "message" or not isinstance(item.get("text"), str)
                for item in content.get("body", [])):
            problems.append("content.body")
        if problems:
            return JSONResponse({"code": 300, "message": "Validation Failed.",
                                 "errors": [{"field": p, "message": "Invalid field."} for p in problems]}, 400)
        if body["robot_jid"] != self.robot_jid or body["account_id"] != self.account_id:
            return JSONResponse({"code": 7010, "message": "Invalid robot or account."}, 400)
        message_id = secrets.token_hex(16)
        self.messages.append(body | {"message_id": message_id})
        return JSONResponse({"message_id": message_id, "robot_jid": body["robot_jid"],
                             "sent_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
                             "to_jid": body["to_jid"]})


@contextlib.asynccontextmanager
async def chat_double(**options: Any) -> AsyncIterator[ChatDouble]:
    double = ChatDouble(**options)
    async with serve(double.app()) as url:
        double.url = url
        yield double
