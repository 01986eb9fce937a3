"""The headers every `/zoomapp` response carries, errors and 404s included.

Zoom's client refuses to render a Home URL page without `Strict-Transport-Security`, `X-Content-Type-Options`,
`Content-Security-Policy` and `Referrer-Policy` (Zoom Apps "OWASP secure headers"). The policy admits only this
origin's scripts (the SDK is bundled, nothing comes from a CDN) and lets Zoom's web client frame the page
(`frame-ancestors`); the desktop client shows it in a webview of its own. A plain ASGI middleware rather than
route code so that FastAPI's own 404/405/422 answers get the headers too, and streaming bodies pass untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["FRAME_ANCESTORS", "PREFIX", "SECURITY_HEADERS", "ZoomAppHeaders"]

PREFIX = "/zoomapp"
FRAME_ANCESTORS = "'self' https://zoom.us https://*.zoom.us https://*.zoomgov.com"
SECURITY_HEADERS: dict[str, str] = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        f"base-uri 'none'; form-action 'none'; frame-ancestors {FRAME_ANCESTORS}"
    ),
    "Referrer-Policy": "same-origin",
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ZoomAppHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self._raw if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
