"""The Zoom App context (sans-I/O): who opened the panel, in which meeting, decrypted and checked.

Zoom's client sends it as the `X-Zoom-App-Context` header of the Home URL request (the web client hands the same
value to the page through the SDK's `getAppContext()`). It is base64 of

    [iv length: 1 byte][iv][aad length: 2 bytes LE][aad][ciphertext length: 4 bytes LE][ciphertext][tag: 16 bytes]

sealed with AES-256-GCM under SHA-256(client secret). The GCM tag is what proves Zoom wrote it: a value that does
not open with our secret is forged. The plaintext is JSON: `typ` (running context), `uid` (user; absent for guests),
`mid` (the meeting UUID, the `meeting_uuid` of the RTMS webhooks), and `ts` / `exp`, epoch **milliseconds** (Zoom
gives a context about two minutes). Each failure names its reason so the page can say what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from enum import Enum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["MAX_CONTEXT_CHARS", "ContextError", "Problem", "ZoomAppContext", "decrypt_context", "open_context"]

MAX_CONTEXT_CHARS = 8192  # Zoom's contexts are a few hundred characters; anything far larger is not one
TAG_BYTES = 16
CLOCK_SKEW_MS = 60_000  # a context issued this far in our future is still accepted (clocks differ)


class Problem(Enum):
    MISSING = "missing"
    UNPARSEABLE = "unparseable"
    FORGED = "forged"
    EXPIRED = "expired"
    NO_MEETING = "no_meeting"


class ContextError(ValueError):
    def __init__(self, problem: Problem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


class ZoomAppContext(BaseModel):
    """The fields we use; Zoom's others (`act`, `aud`, `iss`, `attendrole`, `entitlements`, ...) are kept."""

    model_config = ConfigDict(frozen=True, extra="allow")

    typ: str = Field(min_length=1)
    uid: str | None = None
    mid: str | None = None
    ts: int
    exp: int


def _b64decode(value: str) -> bytes:
    text = "".join(value.split())
    if "-" in text or "_" in text:  # tolerate the URL-safe alphabet (proxies and SDK wrappers use it)
        text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ContextError(Problem.UNPARSEABLE, "the value is not base64") from None


def _split(raw: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(iv, aad, ciphertext, tag), every length checked against what is there."""
    pos = 0

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(raw):
            raise ContextError(Problem.UNPARSEABLE, f"the value ends inside the {what}")
        part = raw[pos:pos + n]
        pos += n
        return part

    (iv_len,) = struct.unpack("<B", take(1, "iv length"))
    iv = take(iv_len, "iv")
    (aad_len,) = struct.unpack("<H", take(2, "aad length"))
    aad = take(aad_len, "aad")
    (ct_len,) = struct.unpack("<I", take(4, "ciphertext length"))
    ciphertext = take(ct_len, "ciphertext")
    tag = raw[pos:]
    if len(tag) != TAG_BYTES:
        raise ContextError(Problem.UNPARSEABLE, f"the tag is {len(tag)} bytes, not {TAG_BYTES}")
    if not 8 <= len(iv) <= 128:
        raise ContextError(Problem.UNPARSEABLE, f"an iv of {len(iv)} bytes is not a GCM nonce")
    return iv, aad, ciphertext, tag


def open_context(value: str, secret: str) -> dict[str, Any]:
    """The decrypted JSON object; raises `ContextError` (unparseable or forged)."""
    if len(value) > MAX_CONTEXT_CHARS:
        raise ContextError(Problem.UNPARSEABLE, f"the value is longer than {MAX_CONTEXT_CHARS} characters")
    iv, aad, ciphertext, tag = _split(_b64decode(value))
    key = hashlib.sha256(secret.encode("utf-8")).digest()
    try:
        plain = AESGCM(key).decrypt(iv, ciphertext + tag, aad)
    except InvalidTag:
        raise ContextError(Problem.FORGED, "it was not sealed with this app's client secret") from None
    try:
        doc = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ContextError(Problem.UNPARSEABLE, "the decrypted context is not JSON") from None
    if not isinstance(doc, dict):
        raise ContextError(Problem.UNPARSEABLE, "the decrypted context is not a JSON object")
    return doc


def decrypt_context(value: str | None, secret: str, *, now_ms: int, require_meeting: bool = True) -> ZoomAppContext:
    """Decrypt, parse and check a context at `now_ms`: sealed by Zoom, not expired, naming a meeting."""
    if not value or not value.strip():
        raise ContextError(Problem.MISSING, "no Zoom App context was sent")
    if not secret:
        raise ValueError("no client secret to open the Zoom App context with")
    doc = open_context(value.strip(), secret)
    try:
        context = ZoomAppContext.model_validate(doc)
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})) or "its fields"
        raise ContextError(Problem.UNPARSEABLE, f"the context lacks or mistypes {fields}") from None
    if context.exp <= context.ts or context.ts > now_ms + CLOCK_SKEW_MS:
        raise ContextError(Problem.UNPARSEABLE, "its issue and expiry times are inconsistent")
    if context.exp <= now_ms:
        raise ContextError(Problem.EXPIRED, f"it expired {(now_ms - context.exp) / 1000:.0f} s ago")
    if require_meeting and not context.mid:
        raise ContextError(Problem.NO_MEETING, "the app was opened outside a meeting")
    return context
