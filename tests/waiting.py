"""Waiting in tests for something to happen, never for a guessed while.

`until(predicate)` checks a condition until it holds or a deadline passes (then fails naming what it waited for), so
a loaded CI machine only makes a test slower, never wrong. Prefer awaiting the thing itself (an event, a task, a
future) where there is one; this is for conditions nothing signals (a row in a store, a counter, a file).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

__all__ = ["until", "until_sync"]

POLL_S = 0.01


async def until(predicate: Callable[[], bool | Awaitable[bool]], *, timeout_s: float = 30.0,
                what: str = "the condition", poll_s: float = POLL_S) -> None:
    """Return once `predicate()` (plain or async) is true; `TimeoutError` naming `what` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise TimeoutError(f"waited {timeout_s:g} s for {what}")
        await asyncio.sleep(poll_s)  # polls a condition that nothing signals; bounded by the deadline


def until_sync(predicate: Callable[[], bool], *, timeout_s: float = 30.0, what: str = "the condition",
               poll_s: float = 0.05) -> None:
    """`until` for threads and code without an event loop."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout_s:g} s for {what}")
        time.sleep(poll_s)  # polls a condition that nothing signals; bounded by the deadline
