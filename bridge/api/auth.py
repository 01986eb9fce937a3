"""Bearer-token check for `/api/*`: meeting content is private, so an unset token disables the API (503), it never
opens it.

`check_token` is the decision (sans-I/O, constant-time compare); `token_guard` turns it into a FastAPI dependency
that answers 401 with `WWW-Authenticate` or 503. The Server-Sent Events route also takes `?token=` because the
browser's EventSource cannot set headers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from enum import Enum

from fastapi import HTTPException, Request, Response
from pydantic import SecretStr

__all__ = ["AuthResult", "bearer_from_header", "check_token", "token_guard"]

REALM = "rtms-langflow"


class AuthResult(Enum):
    OK = "ok"
    DISABLED = "disabled"  # no token configured: the API is off
    MISSING = "missing"
    INVALID = "invalid"


def bearer_from_header(value: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer <token>` header (scheme case-insensitive), else None."""
    if not value:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def check_token(expected: SecretStr, presented: str | None) -> AuthResult:
    secret = expected.get_secret_value()
    if not secret:
        return AuthResult.DISABLED
    if presented is None:
        return AuthResult.MISSING
    # Digests first: equal lengths, so the compare's time reveals neither where the token differs nor its length.
    if hmac.compare_digest(_digest(presented), _digest(secret)):
        return AuthResult.OK
    return AuthResult.INVALID


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def token_guard(token: SecretStr, *, allow_query: bool = False) -> Callable[[Request, Response], Awaitable[None]]:
    """A dependency enforcing the token; `allow_query` also accepts `?token=` (EventSource only)."""

    async def guard(request: Request, response: Response) -> None:
        presented = bearer_from_header(request.headers.get("authorization"))
        if presented is None and allow_query:
            presented = request.query_params.get("token") or None
        result = check_token(token, presented)
        if result is AuthResult.DISABLED:
            raise HTTPException(503, detail="api_token not configured")
        if result is AuthResult.MISSING:
            raise HTTPException(401, detail="bearer token required",
                                headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})
        if result is AuthResult.INVALID:
            raise HTTPException(401, detail="invalid bearer token",
                                headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'})
        response.headers["Cache-Control"] = "no-store"

    return guard
