"""A small Server-Sent Events reader over an httpx streaming response, for the tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    event: str = "message"
    data: str = ""
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SseReader:
    def __init__(self, response: httpx.Response) -> None:
        self._lines: AsyncIterator[str] = response.aiter_lines()

    async def next(self, within_s: float = 5.0) -> Frame | None:
        """The next frame (events, comments and retry fields each end with a blank line); None at the end."""
        frame = Frame()
        data: list[str] = []
        seen = False
        async with asyncio.timeout(within_s):
            async for line in self._lines:
                if line == "":
                    if seen:
                        frame.data = "\n".join(data)
                        return frame
                    continue
                seen = True
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "":
                    frame.comments.append(value)
                elif name == "event":
                    frame.event = value
                elif name == "data":
                    data.append(value)
                elif name == "retry":
                    frame.retry = int(value)
        return None

    async def next_event(self, within_s: float = 5.0) -> Frame | None:
        """The next frame that carries an event (comments and retry fields skipped)."""
        async with asyncio.timeout(within_s):
            for _ in range(10_000):
                frame = await self.next(within_s)
                if frame is None or frame.data or frame.event != "message":
                    return frame
        raise AssertionError("no event among 10000 frames")
