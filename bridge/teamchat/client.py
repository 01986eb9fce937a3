"""`ChatClient`: posts chatbot messages to Zoom, one at a time, with the token, retries and rate limits handled.

Only Zoom's hosts may be reached (`zoom.us`, `*.zoom.us`) unless the settings widen the list; plain `http://` is
accepted for a loopback address only (the test double). A 429 holds every send until the time Zoom named; a
5xx, a timeout or a reset is retried with exponential backoff; a 401 fetches a new token once; other 4xx are final
(a wrong JID or robot id will not heal by retrying). A wait longer than `max_wait_s` (a daily limit) is not slept
through: the send fails as retryable and the deliverer tries again on a later sweep.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence

import httpx

from bridge.intake.ssrf import UrlGuard
from bridge.logs import get_logger
from bridge.teamchat import wire

log = get_logger(__name__)

TOKEN_MARGIN_S = 60.0


class ChatSendError(RuntimeError):
    """The message did not go out. `retryable`: a later try may succeed (rate limit, Zoom or network trouble)."""

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.retryable = retryable


def check_url(url: str, allowed_hosts: Sequence[str], *, what: str) -> str:
    """`url` when it is https on an allowed host (or http on a loopback IP that is allowed); ValueError naming
    the setting's problem otherwise."""
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"{what}: {url!r} has no host")
    if parts.username or parts.password or parts.fragment or parts.query:
        raise ValueError(f"{what}: {url!r} must not carry credentials, a query or a fragment")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(f"{what}: {url!r} must be https:// (http:// only for a loopback test double)")
    if not UrlGuard.from_patterns(allowed_hosts).host_allowed(host):
        raise ValueError(f"{what}: host {host!r} is not in BRIDGE_CHAT_ALLOWED_HOSTS ({', '.join(allowed_hosts)})")
    return url.strip().rstrip("/")


class ChatClient:
    def __init__(self, http: httpx.AsyncClient, *, api_url: str, oauth_url: str, client_id: str,
                 client_secret: str, allowed_hosts: Sequence[str] = ("zoom.us", "*.zoom.us"),
                 max_attempts: int = 5, backoff_base_s: float = 1.0, backoff_cap_s: float = 30.0,
                 max_wait_s: float = 120.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._http = http
        self.api_url = check_url(api_url, allowed_hosts, what="BRIDGE_CHAT_API_URL")
        self.oauth_url = check_url(oauth_url, allowed_hosts, what="BRIDGE_CHAT_OAUTH_URL")
        self._client_id = client_id
        self._client_secret = client_secret
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._sleep = sleep
        self._token: wire.Token | None = None
        self._not_before = 0.0  # a 429's Retry-After holds every send until then
        self._lock = asyncio.Lock()  # one message at a time: order kept, the account's QPS spared
        self.tokens_fetched = 0

    def _backoff(self, attempt: int) -> float:
        base: float = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)

    async def _token_value(self) -> str:
        now = self._clock()
        if self._token is not None and self._token.expires_at_s - TOKEN_MARGIN_S > now:
            return self._token.access_token
        url, headers = wire.token_request(self.oauth_url, self._client_id, self._client_secret)
        try:
            response = await self._http.post(url, headers=headers)
        except httpx.HTTPError as exc:
            raise ChatSendError(f"token request failed: {type(exc).__name__}", retryable=True) from None
        if response.status_code != 200:
            retryable = response.status_code == 429 or response.status_code >= 500
            raise ChatSendError(f"token refused: {wire.error_text(response.status_code, response.content)}",
                                retryable=retryable)
        try:
            self._token = wire.parse_token(response.content, self._clock())
        except ValueError as exc:
            raise ChatSendError(str(exc), retryable=True) from None
        self.tokens_fetched += 1
        log.info("chatbot token fetched", extra={"expires_in_s": round(self._token.expires_at_s - now)})
        return self._token.access_token

    async def send(self, message: wire.ChatMessage) -> str:
        """Post `message`; its `message_id`. `ChatSendError` when it did not go out."""
        async with self._lock:
            return await self._send(message)

    async def _send(self, message: wire.ChatMessage) -> str:
        body = wire.message_body(message)
        url = f"{self.api_url}/im/chat/messages"
        refreshed = False
        last = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            hold = self._not_before - self._clock()
            if hold > self.max_wait_s:
                raise ChatSendError(f"rate limited for {hold:.0f} s more", retryable=True)
            if hold > 0:
                await self._sleep(hold)
            token = await self._token_value()
            try:
                response = await self._http.post(url, content=body, headers=wire.message_headers(token))
            except httpx.HTTPError as exc:
                last = type(exc).__name__
                log.warning("chat message attempt failed", extra={"attempt": attempt, "error": last})
                await self._sleep(self._backoff(attempt))
                continue
            headers = {k.lower(): v for k, v in response.headers.items()}
            decision = wire.decide(response.status_code, headers, self._clock())
            if decision.verdict == "done":
                try:
                    return wire.parse_sent(response.content)
                except ValueError as exc:
                    raise ChatSendError(str(exc), retryable=False) from None
            last = wire.error_text(response.status_code, response.content)
            if decision.verdict == "refresh_token" and not refreshed:
                refreshed = True
                self._token = None
                continue
            if decision.verdict in ("give_up", "refresh_token"):
                raise ChatSendError(last, retryable=False)
            wait = decision.wait_s or self._backoff(attempt)
            if response.status_code == 429:
                self._not_before = self._clock() + wait
                log.warning("chat rate limited", extra={"wait_s": round(wait, 3), "daily": decision.daily_limit,
                                                        "category": headers.get("x-ratelimit-category")})
                if wait > self.max_wait_s:
                    raise ChatSendError(f"{last}; rate limited for {wait:.0f} s", retryable=True)
                continue  # the hold at the top of the loop waits
            log.warning("chat message attempt refused", extra={"attempt": attempt, "status": response.status_code})
            await self._sleep(min(wait, self.max_wait_s))
        raise ChatSendError(f"gave up after {self.max_attempts} attempts ({last})", retryable=True)
