"""The panel's session (sans-I/O): a short-lived signed token scoped to one meeting.

Issued once a Zoom App context has been verified, it stands in for that context on the panel's data routes
(`Authorization: Bearer ...`). A header rather than a cookie: the desktop client's webview would keep a cookie, but
the web client frames the page under zoom.us, where a cookie is third-party and browsers increasingly drop it; a
header needs no CSRF defence either. The token is stateless (HMAC-SHA-256 under a key derived from the client
secret), so every replica accepts it, and it carries only the meeting UUID and a digest of the user id.

A token lives `ttl_s` (15 min); the page trades it for a fresh one well before then (`/zoomapp/session/renew`),
for at most `max_age_s` (12 h) after the Zoom context it came from: a panel left open all day must be reopened
from Zoom. An event stream closes when the session it was opened with expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

__all__ = ["PanelSession", "SessionError", "SessionKeys", "user_digest"]

_PURPOSE = b"rtms-langflow zoomapp session v1"


class SessionError(ValueError):
    pass


@dataclass(frozen=True)
class PanelSession:
    mid: str
    user: str  # a digest of the Zoom user id ("" for guests): never the id itself
    exp_ms: int
    origin_ms: int  # when the Zoom context this session descends from was issued


def user_digest(uid: str | None) -> str:
    return hashlib.sha256(uid.encode("utf-8")).hexdigest()[:16] if uid else ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SessionKeys:
    secret: str
    ttl_s: float = 900.0
    max_age_s: float = 12 * 3600.0

    def _key(self) -> bytes:
        return hmac.new(self.secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key(), body.encode("ascii"), hashlib.sha256).digest())

    def issue(self, mid: str, user: str, *, now_ms: int, origin_ms: int | None = None) -> tuple[str, int]:
        """(token, expiry in epoch ms); `user` is `user_digest(uid)`."""
        origin = now_ms if origin_ms is None else origin_ms
        exp = min(now_ms + int(self.ttl_s * 1000), origin + int(self.max_age_s * 1000))
        if exp <= now_ms:
            raise SessionError("the session reached its longest life: open the app again from Zoom")
        doc = {"mid": mid, "usr": user, "exp": exp, "org": origin}
        body = _b64(json.dumps(doc, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._sign(body)}", exp

    def renew(self, session: PanelSession, *, now_ms: int) -> tuple[str, int]:
        return self.issue(session.mid, session.user, now_ms=now_ms, origin_ms=session.origin_ms)

    def verify(self, token: str | None, *, now_ms: int) -> PanelSession:
        if not token:
            raise SessionError("no panel session")
        body, dot, signature = token.strip().partition(".")
        if not dot or not hmac.compare_digest(self._sign(body).encode(), signature.encode()):
            raise SessionError("the panel session is not one this bridge issued")
        try:
            doc = json.loads(_unb64(body))
            session = PanelSession(mid=str(doc["mid"]), user=str(doc["usr"]), exp_ms=int(doc["exp"]),
                                   origin_ms=int(doc["org"]))
        except (ValueError, KeyError, TypeError):
            raise SessionError("the panel session is malformed") from None
        if session.exp_ms <= now_ms:
            raise SessionError("the panel session expired: open the app again from Zoom")
        return session
