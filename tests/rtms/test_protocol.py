"""The shape both sides share: one base, one set of states and common events, tables of real methods."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.rtms.client import (
    BaseClientConnection,
    ClientCredentials,
    MediaConnection,
    SignalingConnection,
    StreamIdentity,
)
from bridge.rtms.codec import encode
from bridge.rtms.enums import MediaType
from bridge.rtms.messages import KeepAliveRequest, KeepAliveResponse
from bridge.rtms.protocol import Connection, ConnectionState, FrameIgnored
from bridge.rtms.server import MediaServerConnection, SignalingServerConnection

SIDES: list[type[Connection[Any]]] = [
    SignalingConnection, MediaConnection, SignalingServerConnection, MediaServerConnection,
]


@pytest.mark.parametrize("side", SIDES, ids=lambda side: side.__name__)
def test_every_transition_is_the_method_the_class_resolves(side: type[Connection[Any]]) -> None:
    """A table entry names a function, so an override in a subclass would be bypassed silently: forbid that."""
    assert issubclass(side, Connection) and side._transitions
    for state, table in side._transitions.items():
        assert isinstance(state, ConnectionState)
        for msg_type, handler in table.items():
            assert getattr(side, handler.__name__) is handler, (side.__name__, state, msg_type, handler.__qualname__)


def test_an_unknown_transition_says_which_message_and_state() -> None:
    """Server side: a message with no entry is ignored and named; the client side passes it through."""
    server = SignalingServerConnection(lambda _id: None)
    server.state = ConnectionState.OPEN
    server.receive_frame(encode(KeepAliveRequest(timestamp=1, sequence=1)), 0.0)
    assert server.events_received() == [FrameIgnored("signaling cannot handle msg_type 12 in state open", 12)]

    client = MediaConnection(StreamIdentity("uuid==", "s"), ClientCredentials("cid", "x"), MediaType.TRANSCRIPT)
    client.receive_frame(encode(KeepAliveResponse(timestamp=1, sequence=1)), 0.0)
    assert [type(e).__name__ for e in client.events_received()] == ["Received"]
    assert isinstance(client, BaseClientConnection) and client.data_to_send() == []
