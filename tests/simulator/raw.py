"""Single handshakes over real sockets, for tests that want to see one reply rather than run a whole client."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bridge.rtms.codec import decode, encode
from bridge.rtms.messages import (
    DataHandshakeRequest,
    DataHandshakeResponse,
    MediaParams,
    RtmsMessage,
    SignalingHandshakeRequest,
    SignalingHandshakeResponse,
)
from bridge.rtms.signatures import handshake_signature
from bridge.simulator import MeetingHandle
from tests.simulator.conftest import CLIENT_ID, CLIENT_SECRET

TIMEOUT_S = 3.0


def signature_for(handle: MeetingHandle) -> str:
    return handshake_signature(CLIENT_ID, CLIENT_SECRET, handle.instance_id, handle.rtms_stream_id)


async def recv(ws: ClientConnection, within_s: float = TIMEOUT_S) -> RtmsMessage | None:
    """The next message, or None when the server closed the socket first."""
    try:
        async with asyncio.timeout(within_s):
            return decode(await ws.recv())
    except ConnectionClosed:
        return None


async def signaling_handshake(
    url: str,
    handle: MeetingHandle,
    *,
    signature: str | None = None,
    stream_id: str | None = None,
    id_key: str = "meeting_uuid",
) -> tuple[SignalingHandshakeResponse | None, ClientConnection]:
    ws = await connect(url, ping_interval=None)
    await ws.send(
        encode(
            SignalingHandshakeRequest(
                instance_id=handle.instance_id,
                id_key=id_key,
                rtms_stream_id=stream_id or handle.rtms_stream_id,
                signature=signature or signature_for(handle),
                sequence=1,
            )
        )
    )
    reply = await recv(ws)
    assert reply is None or isinstance(reply, SignalingHandshakeResponse), reply
    if reply is None:
        await ws.wait_closed()
    return reply, ws


async def media_handshake(
    url: str,
    handle: MeetingHandle,
    media_type: int,
    params: MediaParams | None = None,
) -> tuple[DataHandshakeResponse | None, ClientConnection]:
    ws = await connect(url, ping_interval=None)
    await ws.send(
        encode(
            DataHandshakeRequest(
                instance_id=handle.instance_id,
                rtms_stream_id=handle.rtms_stream_id,
                signature=signature_for(handle),
                media_type=media_type,
                media_params=params,
            )
        )
    )
    reply = await recv(ws)
    assert reply is None or isinstance(reply, DataHandshakeResponse), reply
    return reply, ws
