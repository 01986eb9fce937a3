"""Server-Sent Events wire format (sans-I/O): frames as bytes, nothing else.

A frame is `event:`/`id:`/`data:` lines ended by a blank line; each line of the data gets its own `data:` prefix
so a payload can never end a frame early or inject a field. Comment lines (`:`) keep proxies and the browser from
timing the connection out while nothing happens.
"""

from __future__ import annotations

import re

__all__ = ["comment", "event", "retry"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _single_line(name: str, value: str) -> str:
    if _LINE_BREAK.search(value) or "\0" in value:
        raise ValueError(f"SSE {name} must be a single line without NUL")
    return value


def event(name: str, data: str, *, event_id: str | None = None) -> bytes:
    """One event: `name` is what the browser's `addEventListener(name, ...)` receives; `data` is usually JSON."""
    parts = [f"event: {_single_line('event name', name)}\n"]
    if event_id is not None:
        parts.append(f"id: {_single_line('id', event_id)}\n")
    parts.extend(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def comment(text: str = "") -> bytes:
    """A keep-alive the browser ignores."""
    return "".join(f": {line}\n" for line in _LINE_BREAK.split(text)).encode("utf-8") + b"\n"


def retry(ms: int) -> bytes:
    """How long the browser waits before reconnecting after the connection drops."""
    if ms < 0:
        raise ValueError("retry must be >= 0 ms")
    return f"retry: {ms}\n\n".encode()
