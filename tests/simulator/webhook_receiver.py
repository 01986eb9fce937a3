"""A real HTTP/1.1 server on 127.0.0.1 (h11 over asyncio streams) that receives the simulator's webhooks.

Each request is recorded with its raw body and headers; a `responder` decides the answer (status, body, and an
optional delay before answering, to exercise the sender's timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return str(self.json.get("event", ""))


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


Responder = Callable[[Request], Awaitable[Response]]


class WebhookReceiver:
    def __init__(self, responder: Responder) -> None:
        self._responder = responder
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()  # the connection's reader sees the end and its task returns
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=2.0)
        await self._server.wait_closed()

    def of(self, event: str) -> list[Request]:
        return [r for r in self.requests if r.event == event]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = b""
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    conn.receive_data(data)
                    if not data and conn.their_state is not h11.DONE:
                        return
                    continue
                if isinstance(event, h11.Request):
                    request, body = event, b""
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    assert request is not None
                    recorded = Request(
                        method=request.method.decode(),
                        target=request.target.decode(),
                        headers={k.decode().lower(): v.decode() for k, v in request.headers},
                        body=body,
                        received_at=asyncio.get_running_loop().time(),
                    )
                    self.requests.append(recorded)
                    answer = await self._responder(recorded)
                    if answer.delay_s:
                        await asyncio.sleep(answer.delay_s)  # a slow receiver: time is the thing (Zoom's 3 s)
                    headers = [*answer.headers.items(), ("content-length", str(len(answer.body)))]
                    writer.write(conn.send(h11.Response(status_code=answer.status, headers=headers)))
                    writer.write(conn.send(h11.Data(data=answer.body)) if answer.body else b"")
                    writer.write(conn.send(h11.EndOfMessage()))
                    await writer.drain()
                    if conn.our_state is h11.MUST_CLOSE:
                        return
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (ConnectionError, h11.RemoteProtocolError):
            return
        finally:
            self._connections.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
