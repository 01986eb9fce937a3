"""A test double of Zoom's side of the Zoom App context: what Zoom's client puts in `X-Zoom-App-Context` (and what
the SDK's getAppContext() returns), built from Zoom's documented format, not from our decoder:

    base64([iv length: u8][iv][aad length: u16 LE][aad][ciphertext length: u32 LE][ciphertext][tag: 16 bytes])

AES-256-GCM under SHA-256(client secret); the plaintext is JSON with `typ`, `uid`, `mid`, and `ts`/`exp` in epoch
milliseconds (Zoom issues a context valid for about two minutes)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import time
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CONTEXT_LIFETIME_MS = 120_000


def now_ms() -> int:
    return int(time.time() * 1000)


def context_payload(mid: str | None, *, uid: str | None = "zoom-user-7Hq2", typ: str = "meeting",
                    ts: int | None = None, lifetime_ms: int = CONTEXT_LIFETIME_MS, **extra: Any) -> dict[str, Any]:
    issued = now_ms() if ts is None else ts
    doc: dict[str, Any] = {"typ": typ, "ts": issued, "exp": issued + lifetime_ms, **extra}
    if uid is not None:
        doc["uid"] = uid
    if mid is not None:
        doc["mid"] = mid
    return doc


def seal(plaintext: bytes, secret: str, *, iv: bytes | None = None, aad: bytes = b"") -> bytes:
    """The raw (pre-base64) context bytes."""
    iv = os.urandom(12) if iv is None else iv
    sealed = AESGCM(hashlib.sha256(secret.encode()).digest()).encrypt(iv, plaintext, aad)
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return (struct.pack("<B", len(iv)) + iv + struct.pack("<H", len(aad)) + aad
            + struct.pack("<I", len(ciphertext)) + ciphertext + tag)


def encrypt_context(payload: dict[str, Any] | bytes, secret: str, *, iv: bytes | None = None,
                    aad: bytes = b"") -> str:
    """A context as Zoom sends it."""
    plain = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(seal(plain, secret, iv=iv, aad=aad)).decode("ascii")
