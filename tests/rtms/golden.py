"""The golden table: RTMS frames as peers put them on the wire, and the model each must decode to.

One row per shape worth knowing (rtms-protocol.md sections 6-8, the variants of section 15 and the official SDK's
styled binary frames of section 12.4). Every row is read in both directions by tests/rtms/test_codec.py:

* `decode(frame) == model`;
* `encode(model)` is compact JSON equal to `wire` (the frame itself when `wire` is None), holding declared fields
  only and no null;
* `decode(encode(model)) == again` (the model itself when `again` is None; rows with unknown fields say what is
  left once encoding dropped them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bridge.rtms.messages import (
    AudioData,
    AudioMetaData,
    AudioParams,
    ChatContent,
    ChatData,
    ChatMetaData,
    ChatParams,
    ClientReadyAck,
    DataHandshakeRequest,
    DataHandshakeResponse,
    DeskshareParams,
    Event,
    EventSubscription,
    EventSubscriptionItem,
    EventUpdate,
    KeepAliveRequest,
    KeepAliveResponse,
    MediaContent,
    MediaParams,
    MediaServer,
    Participant,
    RtmsMessage,
    SessionStateRequest,
    SessionStateResponse,
    SessionStateUpdate,
    ShareData,
    ShareMetaData,
    SignalingHandshakeRequest,
    SignalingHandshakeResponse,
    StreamCloseRequest,
    StreamCloseResponse,
    StreamStateRequest,
    StreamStateResponse,
    StreamStateUpdate,
    TranscriptContent,
    TranscriptData,
    TranscriptMetaData,
    TranscriptParams,
    VideoData,
    VideoMetaData,
    VideoParams,
    VideoSubscriptionRequest,
    VideoSubscriptionResponse,
)

# The ids of the OpenAPI examples and of the handshake signature vector (rtms-protocol.md 2.1, 3.4).
CLIENT_ID = "test_client_id"
CLIENT_SECRET = "test_client_secret"
MEETING_UUID = "4444AAAiAAAAAiAiAiiAii=="
STREAM_ID = "609340fb2a7946909659956c8aa9250c"
# HMAC-SHA256(CLIENT_SECRET, "test_client_id,4444AAAiAAAAAiAiAiiAii==,609340fb2a7946909659956c8aa9250c"): the value
# the official SDK 1.1.0 put on the wire ("ffc60552...59f9").
SDK_SIGNATURE = "ffc60552adabeb2482fdaa7621af08b1af78ba80cd9514044333431d467a59f9"
SDK_AGENT = "rtms_sdk_cpp-.0.20260319-python-rtms"
URL = "wss://127.0.0.0:443"


@dataclass(frozen=True)
class Golden:
    name: str
    frame: str | bytes
    model: RtmsMessage
    wire: dict[str, Any] | None = None
    again: RtmsMessage | None = None

    @property
    def msg_type(self) -> int:
        return int(self.model.msg_type)

    @property
    def expected_wire(self) -> dict[str, Any]:
        if self.wire is not None:
            return self.wire
        value = json.loads(self.frame)
        assert isinstance(value, dict)
        return value

    @property
    def expected_again(self) -> RtmsMessage:
        return self.again if self.again is not None else self.model


def _hs1(id_key: str, instance: str) -> Golden:
    return Golden(
        f"1 handshake keyed by {id_key}",
        json.dumps(
            {
                "msg_type": 1,
                "protocol_version": 1,
                "sequence": 7,
                id_key: instance,
                "rtms_stream_id": STREAM_ID,
                "signature": SDK_SIGNATURE,
            }
        ),
        SignalingHandshakeRequest(
            instance_id=instance,
            id_key=id_key,
            protocol_version=1,
            sequence=7,
            rtms_stream_id=STREAM_ID,
            signature=SDK_SIGNATURE,
        ),
    )


_DOC_MEDIA_PARAMS = MediaParams(
    audio=AudioParams(content_type=2, sample_rate=1, channel=1, codec=1, data_opt=1, send_rate=100),
    video=VideoParams(codec=5, resolution=2, fps=5),
    deskshare=DeskshareParams(codec=5, resolution=3, fps=1),
    transcript=TranscriptParams(content_type=5, src_language=9, enable_lid=True),
)

_TRANSCRIPT = TranscriptContent(
    user_id=19778240,
    user_name="John Smith",
    start_time=1727384100000,
    end_time=1727384310000,
    timestamp=1727384349000,
    language=9,
    data="Hi, hello world!",
)

GOLDEN: tuple[Golden, ...] = (
    # -- 1 SIGNALING_HAND_SHAKE_REQ ---------------------------------------------------------------------------
    Golden(
        "1 docs example",
        '{"msg_type":1,"protocol_version":1,"sequence":1,"meeting_uuid":"4444AAAiAAAAAiAiAiiAii==",'
        '"rtms_stream_id":"609340fb2a7946909659956c8aa9250c","signature":"' + SDK_SIGNATURE + '","buffer_data":false}',
        SignalingHandshakeRequest(
            instance_id=MEETING_UUID,
            protocol_version=1,
            sequence=1,
            rtms_stream_id=STREAM_ID,
            signature=SDK_SIGNATURE,
            buffer_data=False,
        ),
    ),
    _hs1("meeting_uuid", MEETING_UUID),
    _hs1("webinar_uuid", "8888WwWwWwWwWwWwWwWwWw=="),
    _hs1("session_id", "4567UVWxYZABCdEfGhiJkl=="),
    _hs1("engagement_id", "eng_1234abcd"),
    _hs1("call_id", "call-5678"),
    Golden(
        "1 official SDK, styled binary frame",
        (
            '{\n\t"meeting_uuid" : "4444AAAiAAAAAiAiAiiAii==",\n\t"msg_type" : 1,\n\t"protocol_version" : 1,\n'
            f'\t"rtms_client_agent" : "{SDK_AGENT}",\n\t"rtms_stream_id" : "{STREAM_ID}",\n'
            f'\t"sequence" : 209466,\n\t"signature" : "{SDK_SIGNATURE}"\n}}\n'
        ).encode(),
        SignalingHandshakeRequest(
            instance_id=MEETING_UUID,
            protocol_version=1,
            sequence=209466,
            rtms_stream_id=STREAM_ID,
            signature=SDK_SIGNATURE,
            rtms_client_agent=SDK_AGENT,
        ),
    ),
    Golden(
        "1 unknown extra field kept on decode, dropped on encode",
        f'{{"msg_type":1,"meeting_uuid":"{MEETING_UUID}","rtms_stream_id":"{STREAM_ID}",'
        f'"signature":"{SDK_SIGNATURE}","protocol_version":1,"future_flag":{{"a":1}}}}',
        SignalingHandshakeRequest(
            instance_id=MEETING_UUID, rtms_stream_id=STREAM_ID, signature=SDK_SIGNATURE, future_flag={"a": 1}
        ),
        wire={
            "msg_type": 1,
            "protocol_version": 1,
            "meeting_uuid": MEETING_UUID,
            "rtms_stream_id": STREAM_ID,
            "signature": SDK_SIGNATURE,
        },
        again=SignalingHandshakeRequest(instance_id=MEETING_UUID, rtms_stream_id=STREAM_ID, signature=SDK_SIGNATURE),
    ),
    # -- 2 SIGNALING_HAND_SHAKE_RESP ---------------------------------------------------------------------------
    Golden(
        "2 docs example",
        '{"msg_type":2,"protocol_version":1,"sequence":0,"status_code":0,"reason":"","media_server":{"server_urls":'
        '{"audio":"wss://127.0.0.0:443","video":"wss://127.0.0.0:443","transcript":"wss://127.0.0.0:443",'
        '"all":"wss://127.0.0.0:443"}}}',
        SignalingHandshakeResponse(
            protocol_version=1,
            sequence=0,
            status_code=0,
            reason="",
            media_server=MediaServer(server_urls={"audio": URL, "video": URL, "transcript": URL, "all": URL}),
        ),
    ),
    Golden(
        "2 Contact Center: audio and all only",
        '{"msg_type":2,"protocol_version":1,"status_code":0,"media_server":{"server_urls":'
        '{"audio":"wss://127.0.0.0:443","all":"wss://127.0.0.0:443"},"datacenter_region":"SJC"}}',
        SignalingHandshakeResponse(
            protocol_version=1,
            status_code=0,
            media_server=MediaServer(server_urls={"audio": URL, "all": URL}, datacenter_region="SJC"),
        ),
    ),
    Golden(
        "2 old mock success with srtp_keys",
        '{"msg_type":2,"status_code":0,"media_server":{"server_urls":{"audio":"ws://127.0.0.1:8081",'
        '"all":"ws://127.0.0.1:8081"},"srtp_keys":{"audio":"0a1b","video":"2c3d","share":"4e5f"}}}',
        SignalingHandshakeResponse(
            status_code=0,
            media_server=MediaServer(
                server_urls={"audio": "ws://127.0.0.1:8081", "all": "ws://127.0.0.1:8081"},
                srtp_keys={"audio": "0a1b", "video": "2c3d", "share": "4e5f"},
            ),
        ),
    ),
    Golden(
        "2 failure with status code",
        '{"msg_type":2,"protocol_version":1,"sequence":0,"status_code":3,"reason":"invalid signature"}',
        SignalingHandshakeResponse(protocol_version=1, sequence=0, status_code=3, reason="invalid signature"),
    ),
    Golden(
        "2 old mock failure without status_code",
        '{"msg_type":2,"reason":"Invalid signature"}',
        SignalingHandshakeResponse(reason="Invalid signature"),
    ),
    Golden(
        "2 status alias",
        '{"msg_type":2,"status":8,"reason":"duplicate signal request"}',
        SignalingHandshakeResponse(status_code=8, reason="duplicate signal request"),
        wire={"msg_type": 2, "status_code": 8, "reason": "duplicate signal request"},
    ),
    Golden(
        "2 legacy status code kept as an int",
        '{"msg_type":2,"status_code":75,"reason":"RTMS session not found"}',
        SignalingHandshakeResponse(status_code=75, reason="RTMS session not found"),
    ),
    # -- 3 DATA_HAND_SHAKE_REQ ---------------------------------------------------------------------------------
    Golden(
        "3 docs example",
        '{"msg_type":3,"protocol_version":1,"sequence":0,"meeting_uuid":"4444AAAiAAAAAiAiAiiAii==",'
        '"rtms_stream_id":"609340fb2a7946909659956c8aa9250c","signature":"' + SDK_SIGNATURE + '","media_type":32,'
        '"media_params":{"audio":{"content_type":2,"sample_rate":1,"channel":1,"codec":1,"data_opt":1,'
        '"send_rate":100},"video":{"codec":5,"resolution":2,"fps":5},"deskshare":{"codec":5,"resolution":3,"fps":1},'
        '"transcript":{"content_type":5,"src_language":9,"enable_lid":true}}}',
        DataHandshakeRequest(
            instance_id=MEETING_UUID,
            protocol_version=1,
            sequence=0,
            rtms_stream_id=STREAM_ID,
            signature=SDK_SIGNATURE,
            media_type=32,
            media_params=_DOC_MEDIA_PARAMS,
        ),
    ),
    Golden(
        "3 boilerplate with payload_encryption and chat params",
        '{"msg_type":3,"protocol_version":1,"meeting_uuid":"4444AAAiAAAAAiAiAiiAii==","rtms_stream_id":'
        '"609340fb2a7946909659956c8aa9250c","signature":"' + SDK_SIGNATURE + '","media_type":32,'
        '"payload_encryption":false,"media_params":{"audio":{"content_type":1,"sample_rate":1,"channel":1,"codec":1,'
        '"data_opt":1,"send_rate":100},"video":{"codec":7,"resolution":2,"fps":25},"deskshare":{"codec":5},'
        '"chat":{"content_type":5},"transcript":{"content_type":5}}}',
        DataHandshakeRequest(
            instance_id=MEETING_UUID,
            rtms_stream_id=STREAM_ID,
            signature=SDK_SIGNATURE,
            media_type=32,
            payload_encryption=False,
            media_params=MediaParams(
                audio=AudioParams(content_type=1, sample_rate=1, channel=1, codec=1, data_opt=1, send_rate=100),
                video=VideoParams(codec=7, resolution=2, fps=25),
                deskshare=DeskshareParams(codec=5),
                chat=ChatParams(content_type=5),
                transcript=TranscriptParams(content_type=5),
            ),
        ),
    ),
    Golden(
        "3 official SDK audio socket, styled binary frame",
        (
            '{\n\t"media_params" : \n\t{\n\t\t"audio" : \n\t\t{\n\t\t\t"channel" : 2,\n\t\t\t"codec" : 4,\n'
            '\t\t\t"content_type" : 2,\n\t\t\t"data_opt" : 2,\n\t\t\t"sample_rate" : 3,\n\t\t\t"send_rate" : 20\n'
            '\t\t}\n\t},\n\t"media_type" : 1,\n\t"meeting_uuid" : "4444AAAiAAAAAiAiAiiAii==",\n\t"msg_type" : 3,\n'
            f'\t"protocol_version" : 1,\n\t"rtms_stream_id" : "{STREAM_ID}",\n\t"sequence" : 209486,\n'
            f'\t"signature" : "{SDK_SIGNATURE}"\n}}\n'
        ).encode(),
        DataHandshakeRequest(
            instance_id=MEETING_UUID,
            protocol_version=1,
            sequence=209486,
            rtms_stream_id=STREAM_ID,
            signature=SDK_SIGNATURE,
            media_type=1,
            media_params=MediaParams(
                audio=AudioParams(channel=2, codec=4, content_type=2, data_opt=2, sample_rate=3, send_rate=20)
            ),
        ),
    ),
    Golden(
        "3 official SDK transcript socket, media_params null",
        (
            '{\n\t"media_params" : null,\n\t"media_type" : 8,\n\t"meeting_uuid" : "4444AAAiAAAAAiAiAiiAii==",\n'
            f'\t"msg_type" : 3,\n\t"protocol_version" : 1,\n\t"rtms_stream_id" : "{STREAM_ID}",\n'
            f'\t"sequence" : 209486,\n\t"signature" : "{SDK_SIGNATURE}"\n}}\n'
        ).encode(),
        DataHandshakeRequest(
            instance_id=MEETING_UUID,
            protocol_version=1,
            sequence=209486,
            rtms_stream_id=STREAM_ID,
            signature=SDK_SIGNATURE,
            media_type=8,
        ),
        wire={
            "msg_type": 3,
            "protocol_version": 1,
            "sequence": 209486,
            "meeting_uuid": MEETING_UUID,
            "rtms_stream_id": STREAM_ID,
            "signature": SDK_SIGNATURE,
            "media_type": 8,
        },
    ),
    Golden(
        "3 Contact Center keyed by engagement_id",
        '{"msg_type":3,"protocol_version":1,"engagement_id":"eng_1234abcd","rtms_stream_id":"s1","signature":"ab",'
        '"media_type":1}',
        DataHandshakeRequest(
            instance_id="eng_1234abcd", id_key="engagement_id", rtms_stream_id="s1", signature="ab", media_type=1
        ),
    ),
    # -- 4 DATA_HAND_SHAKE_RESP --------------------------------------------------------------------------------
    Golden(
        "4 docs example",
        '{"msg_type":4,"protocol_version":1,"status_code":0,"reason":"","sequence":0,"payload_encrypted":true,'
        '"media_params":{"audio":{"content_type":2,"sample_rate":1,"channel":1,"codec":1,"data_opt":1,'
        '"send_rate":100},"video":{"content_type":3,"codec":5,"resolution":2,"data_opt":3,"fps":5},'
        '"deskshare":{"content_type":3,"codec":5,"resolution":3,"fps":1},'
        '"transcript":{"content_type":5,"src_language":9,"enable_lid":true},"chat":{"content_type":5}}}',
        DataHandshakeResponse(
            protocol_version=1,
            status_code=0,
            reason="",
            sequence=0,
            payload_encrypted=True,
            media_params=MediaParams(
                audio=AudioParams(content_type=2, sample_rate=1, channel=1, codec=1, data_opt=1, send_rate=100),
                video=VideoParams(content_type=3, codec=5, resolution=2, data_opt=3, fps=5),
                deskshare=DeskshareParams(content_type=3, codec=5, resolution=3, fps=1),
                transcript=TranscriptParams(content_type=5, src_language=9, enable_lid=True),
                chat=ChatParams(content_type=5),
            ),
        ),
    ),
    Golden(
        "4 status alias and media_params null",
        '{"msg_type":4,"status":0,"payload_encrypted":false,"media_params":null}',
        DataHandshakeResponse(status_code=0, payload_encrypted=False),
        wire={"msg_type": 4, "status_code": 0, "payload_encrypted": False},
    ),
    Golden(
        "4 failure",
        '{"msg_type":4,"status_code":16,"reason":"duplicate media data connection"}',
        DataHandshakeResponse(status_code=16, reason="duplicate media data connection"),
    ),
    # -- 5 EVENT_SUBSCRIPTION ----------------------------------------------------------------------------------
    Golden(
        "5 docs example",
        '{"msg_type":5,"events":[{"event_type":2,"subscribe":true},{"event_type":3,"subscribe":true},'
        '{"event_type":4,"subscribe":false}]}',
        EventSubscription(
            events=[
                EventSubscriptionItem(event_type=2),
                EventSubscriptionItem(event_type=3),
                EventSubscriptionItem(event_type=4, subscribe=False),
            ]
        ),
    ),
    Golden(
        "5 Contact Center sample: bare ints",
        '{"msg_type":5,"rtms_stream_id":"s1","events":[1,2,3,4]}',
        EventSubscription(rtms_stream_id="s1", events=[EventSubscriptionItem(event_type=n) for n in (1, 2, 3, 4)]),
        wire={
            "msg_type": 5,
            "rtms_stream_id": "s1",
            "events": [{"event_type": n, "subscribe": True} for n in (1, 2, 3, 4)],
        },
    ),
    # -- 6 EVENT_UPDATE ----------------------------------------------------------------------------------------
    Golden(
        "6 first packet timestamp",
        '{"msg_type":6,"event":{"event_type":1,"timestamp":1727384349123}}',
        EventUpdate(event=Event(event_type=1, timestamp=1727384349123)),
    ),
    Golden(
        "6 active speaker",
        '{"msg_type":6,"event":{"event_type":2,"timestamp":1727384349123,"user_id":22334455,"user_name":"John Smith"}}',
        EventUpdate(event=Event(event_type=2, timestamp=1727384349123, user_id=22334455, user_name="John Smith")),
    ),
    Golden(
        "6 participant join, user ids as strings",
        '{"msg_type":6,"event":{"event_type":3,"timestamp":1727384349123,"participants":[{"user_id":"xxxxxxxxxx",'
        '"user_name":"John Smith"},{"user_id":"16778240","user_name":"Alice"}]}}',
        EventUpdate(
            event=Event(
                event_type=3,
                timestamp=1727384349123,
                participants=[
                    Participant(user_id="xxxxxxxxxx", user_name="John Smith"),
                    Participant(user_id="16778240", user_name="Alice"),
                ],
            )
        ),
    ),
    Golden(
        "6 participant leave, user id only",
        '{"msg_type":6,"event":{"event_type":4,"timestamp":1727384349123,"participants":[{"user_id":16778240}]}}',
        EventUpdate(event=Event(event_type=4, timestamp=1727384349123, participants=[Participant(user_id=16778240)])),
    ),
    Golden(
        "6 sharing start",
        '{"msg_type":6,"event":{"event_type":5,"timestamp":1727384349123,"user_id":1234234567890,'
        '"user_name":"John Smith"}}',
        EventUpdate(event=Event(event_type=5, timestamp=1727384349123, user_id=1234234567890, user_name="John Smith")),
    ),
    Golden(
        "6 sharing stop",
        '{"msg_type":6,"event":{"event_type":6,"timestamp":1727384349123}}',
        EventUpdate(event=Event(event_type=6, timestamp=1727384349123)),
    ),
    Golden(
        "6 media connection interrupted",
        '{"msg_type":6,"event":{"event_type":7,"timestamp":1727384349123}}',
        EventUpdate(event=Event(event_type=7, timestamp=1727384349123)),
    ),
    Golden(
        "6 participant video on",
        '{"msg_type":6,"event":{"event_type":8,"timestamp":1727384349123,"participants":[{"user_id":16778240},'
        '{"user_id":33556610}]}}',
        EventUpdate(
            event=Event(
                event_type=8,
                timestamp=1727384349123,
                participants=[Participant(user_id=16778240), Participant(user_id=33556610)],
            )
        ),
    ),
    Golden(
        "6 participant video off",
        '{"msg_type":6,"event":{"event_type":9,"timestamp":1727384349123,"participants":[{"user_id":16778240}]}}',
        EventUpdate(event=Event(event_type=9, timestamp=1727384349123, participants=[Participant(user_id=16778240)])),
    ),
    Golden(
        "6 Contact Center voice event: event_ts and paticipant_info",
        '{"msg_type":6,"event":{"event_type":8,"event_ts":1727384349123,"paticipant_info":{"channel_id":"123abc",'
        '"participant_mode":"caller","queue_id":"q1","queue_name":"My Queue","phone_number":"+18005550101",'
        '"user_id":"u1","display_name":"Jane Doe"}}}',
        EventUpdate(
            event=Event(
                event_type=8,
                timestamp=1727384349123,
                event_ts=1727384349123,
                paticipant_info={
                    "channel_id": "123abc",
                    "participant_mode": "caller",
                    "queue_id": "q1",
                    "queue_name": "My Queue",
                    "phone_number": "+18005550101",
                    "user_id": "u1",
                    "display_name": "Jane Doe",
                },
            )
        ),
        wire={
            "msg_type": 6,
            "event": {
                "event_type": 8,
                "timestamp": 1727384349123,
                "event_ts": 1727384349123,
                "paticipant_info": {
                    "channel_id": "123abc",
                    "participant_mode": "caller",
                    "queue_id": "q1",
                    "queue_name": "My Queue",
                    "phone_number": "+18005550101",
                    "user_id": "u1",
                    "display_name": "Jane Doe",
                },
            },
        },
    ),
    Golden(
        "6 unknown event type and unknown nested fields",
        '{"msg_type":6,"event":{"event_type":99,"timestamp":5,"mystery":{"k":1},'
        '"participants":[{"user_id":1,"role":"host"}]}}',
        EventUpdate(
            event=Event(
                event_type=99, timestamp=5, mystery={"k": 1}, participants=[Participant(user_id=1, role="host")]
            )
        ),
        wire={"msg_type": 6, "event": {"event_type": 99, "timestamp": 5, "participants": [{"user_id": 1}]}},
        again=EventUpdate(event=Event(event_type=99, timestamp=5, participants=[Participant(user_id=1)])),
    ),
    # -- 7 CLIENT_READY_ACK ------------------------------------------------------------------------------------
    Golden(
        "7 docs example",
        '{"msg_type":7,"rtms_stream_id":"609340fb2a7946909659956c8aa9250c"}',
        ClientReadyAck(rtms_stream_id=STREAM_ID),
    ),
    Golden(
        "7 official SDK, styled binary frame",
        f'{{\n\t"msg_type" : 7,\n\t"rtms_stream_id" : "{STREAM_ID}"\n}}\n'.encode(),
        ClientReadyAck(rtms_stream_id=STREAM_ID),
    ),
    # -- 8 STREAM_STATE_UPDATE ---------------------------------------------------------------------------------
    Golden(
        "8 docs example",
        '{"msg_type":8,"state":1,"reason":1,"timestamp":1727384349123}',
        StreamStateUpdate(state=1, reason=1, timestamp=1727384349123),
    ),
    Golden(
        "8 old mock: string reason, rtms_stream_id",
        '{"msg_type":8,"state":4,"reason":"Meeting ended","rtms_stream_id":"s1","timestamp":1727384349123}',
        StreamStateUpdate(state=4, reason_text="Meeting ended", rtms_stream_id="s1", timestamp=1727384349123),
    ),
    Golden(
        "8 numeric string reason",
        '{"msg_type":8,"state":4,"reason":"6"}',
        StreamStateUpdate(state=4, reason=6),
        wire={"msg_type": 8, "state": 4, "reason": 6},
    ),
    Golden(
        "8 unknown stop reason and state kept as ints",
        '{"msg_type":8,"state":9,"reason":99,"timestamp":1}',
        StreamStateUpdate(state=9, reason=99, timestamp=1),
    ),
    # -- 9 SESSION_STATE_UPDATE --------------------------------------------------------------------------------
    Golden(
        "9 docs example: stop_reason",
        '{"msg_type":9,"state":5,"stop_reason":6,"timestamp":1727384349123,"rtms_session_id":"sess1"}',
        SessionStateUpdate(state=5, reason=6, stop_reason=6, timestamp=1727384349123, rtms_session_id="sess1"),
        wire={
            "msg_type": 9,
            "state": 5,
            "reason": 6,
            "stop_reason": 6,
            "timestamp": 1727384349123,
            "rtms_session_id": "sess1",
        },
    ),
    Golden(
        "9 docs table and SDK: reason",
        '{"msg_type":9,"state":5,"reason":6,"timestamp":1727384349123,"rtms_session_id":"sess1"}',
        SessionStateUpdate(state=5, reason=6, stop_reason=6, timestamp=1727384349123, rtms_session_id="sess1"),
        wire={
            "msg_type": 9,
            "state": 5,
            "reason": 6,
            "stop_reason": 6,
            "timestamp": 1727384349123,
            "rtms_session_id": "sess1",
        },
    ),
    Golden(
        "9 started, no stop field",
        '{"msg_type":9,"state":2,"timestamp":1727384349123,"rtms_session_id":"sess1"}',
        SessionStateUpdate(state=2, timestamp=1727384349123, rtms_session_id="sess1"),
    ),
    # -- 10-13 session state and keep-alive --------------------------------------------------------------------
    Golden(
        "10 docs example",
        '{"msg_type":10,"rtms_session_id":"sess1"}',
        SessionStateRequest(rtms_session_id="sess1"),
    ),
    Golden(
        "11 docs example",
        '{"msg_type":11,"rtms_session_id":"sess1","state":1,"timestamp":1727384349123}',
        SessionStateResponse(rtms_session_id="sess1", state=1, timestamp=1727384349123),
    ),
    Golden(
        "12 docs example: no sequence",
        '{"msg_type":12,"timestamp":1727384349123}',
        KeepAliveRequest(timestamp=1727384349123),
    ),
    Golden(
        "12 with sequence",
        '{"msg_type":12,"timestamp":1727384349123,"sequence":42}',
        KeepAliveRequest(timestamp=1727384349123, sequence=42),
    ),
    Golden(
        "13 docs example",
        '{"msg_type":13,"timestamp":1727384349123}',
        KeepAliveResponse(timestamp=1727384349123),
    ),
    Golden(
        "13 official SDK, styled binary frame with sequence",
        b'{\n\t"msg_type" : 13,\n\t"sequence" : 42,\n\t"timestamp" : 1727384349123\n}\n',
        KeepAliveResponse(timestamp=1727384349123, sequence=42),
    ),
    # -- 14-18 media data --------------------------------------------------------------------------------------
    Golden(
        "14 audio",
        '{"msg_type":14,"content":{"user_id":16778240,"user_name":"John Smith","data":"AAEC","length":3,'
        '"timestamp":1738392033699}}',
        AudioData(
            content=MediaContent(
                user_id=16778240, user_name="John Smith", data="AAEC", length=3, timestamp=1738392033699
            )
        ),
    ),
    Golden(
        "14 mixed audio: user 0, no name",
        '{"msg_type":14,"content":{"user_id":0,"data":"AAEC","timestamp":1738392033699}}',
        AudioData(content=MediaContent(user_id=0, data="AAEC", timestamp=1738392033699)),
    ),
    Golden(
        "14 Contact Center audio: channel_id",
        '{"msg_type":14,"content":{"channel_id":"123abc","data":"AAEC","timestamp":1738392033699}}',
        AudioData(content=MediaContent(channel_id="123abc", data="AAEC", timestamp=1738392033699)),
    ),
    Golden(
        "15 video",
        '{"msg_type":15,"content":{"user_id":16778240,"user_name":"John Smith","data":"/9j/","length":3,'
        '"timestamp":1738392033699}}',
        VideoData(
            content=MediaContent(
                user_id=16778240, user_name="John Smith", data="/9j/", length=3, timestamp=1738392033699
            )
        ),
    ),
    Golden(
        "16 share",
        '{"msg_type":16,"content":{"user_id":16778240,"user_name":"John Smith","data":"iVBO","length":3,'
        '"timestamp":1738392033699}}',
        ShareData(
            content=MediaContent(
                user_id=16778240, user_name="John Smith", data="iVBO", length=3, timestamp=1738392033699
            )
        ),
    ),
    Golden(
        "17 transcript",
        '{"msg_type":17,"content":{"user_id":19778240,"user_name":"John Smith","start_time":1727384100000,'
        '"end_time":1727384310000,"timestamp":1727384349000,"language":9,"data":"Hi, hello world!"}}',
        TranscriptData(content=_TRANSCRIPT),
    ),
    Golden(
        "17 transcript: user id as a string",
        '{"msg_type":17,"content":{"user_id":"19778240","user_name":"John Smith","timestamp":1727384349000,'
        '"data":"Hi"}}',
        TranscriptData(
            content=TranscriptContent(user_id="19778240", user_name="John Smith", timestamp=1727384349000, data="Hi")
        ),
    ),
    Golden(
        "17 Contact Center transcript: channel_id",
        '{"msg_type":17,"content":{"channel_id":"123abc","timestamp":1727384349000,"data":"Hello, how can I help?"}}',
        TranscriptData(
            content=TranscriptContent(channel_id="123abc", timestamp=1727384349000, data="Hello, how can I help?")
        ),
    ),
    Golden(
        "17 transcript: unknown fields at both levels",
        '{"msg_type":17,"seq":3,"content":{"user_id":19778240,"user_name":"John Smith","start_time":1727384100000,'
        '"end_time":1727384310000,"timestamp":1727384349000,"language":9,"data":"Hi, hello world!",'
        '"is_final":true,"attribute":1}}',
        TranscriptData(
            seq=3, content=TranscriptContent(**_TRANSCRIPT.model_dump(exclude_none=True), is_final=True, attribute=1)
        ),
        wire={"msg_type": 17, "content": _TRANSCRIPT.model_dump(exclude_none=True)},
        again=TranscriptData(content=_TRANSCRIPT),
    ),
    Golden(
        "18 chat",
        '{"msg_type":18,"content":{"timestamp":1727384349000,"data":"Chat message"}}',
        ChatData(content=ChatContent(timestamp=1727384349000, data="Chat message")),
    ),
    # -- 19-22 stream state and close --------------------------------------------------------------------------
    Golden(
        "19 docs example",
        '{"msg_type":19,"rtms_stream_id":"756FF58A-6332-6ECA-E4AE-21F2ABDCB485"}',
        StreamStateRequest(rtms_stream_id="756FF58A-6332-6ECA-E4AE-21F2ABDCB485"),
    ),
    Golden(
        "20 docs example: timestamp in seconds",
        '{"msg_type":20,"state":1,"rtms_stream_id":"756FF58A-6332-6ECA-E4AE-21F2ABDCB485","timestamp":1694204592}',
        StreamStateResponse(state=1, rtms_stream_id="756FF58A-6332-6ECA-E4AE-21F2ABDCB485", timestamp=1694204592),
    ),
    Golden(
        "21 docs example",
        '{"msg_type":21,"rtms_stream_id":"s1"}',
        StreamCloseRequest(rtms_stream_id="s1"),
    ),
    Golden(
        "22 docs example",
        '{"msg_type":22,"rtms_stream_id":"s1","status_code":0,"reason":"OK","timestamp":1727384349123}',
        StreamCloseResponse(rtms_stream_id="s1", status_code=0, reason="OK", timestamp=1727384349123),
    ),
    # -- 23-27 metadata ----------------------------------------------------------------------------------------
    Golden(
        "23 audio metadata: AI interpreter",
        '{"msg_type":23,"content":{"interpreter":{"speaker":"s","target":"fr","lid":"en","tone":1,"voice_id":"v",'
        '"engine":"e","sample_rate":16000,"channel":1}}}',
        AudioMetaData(
            content={
                "interpreter": {
                    "speaker": "s",
                    "target": "fr",
                    "lid": "en",
                    "tone": 1,
                    "voice_id": "v",
                    "engine": "e",
                    "sample_rate": 16000,
                    "channel": 1,
                }
            }
        ),
    ),
    Golden("24 video metadata (reserved)", '{"msg_type":24}', VideoMetaData()),
    Golden("25 share metadata (reserved)", '{"msg_type":25,"content":{}}', ShareMetaData(content={})),
    Golden(
        "26 transcript metadata (reserved)",
        '{"msg_type":26,"content":{"k":"v"}}',
        TranscriptMetaData(content={"k": "v"}),
    ),
    Golden("27 chat metadata (reserved)", '{"msg_type":27}', ChatMetaData()),
    # -- 28/29 video subscription ------------------------------------------------------------------------------
    Golden(
        "28 docs example",
        '{"msg_type":28,"user_id":16778240,"subscribe":true,"timestamp":1738392033699}',
        VideoSubscriptionRequest(user_id=16778240, subscribe=True, timestamp=1738392033699),
    ),
    Golden(
        "29 docs example",
        '{"msg_type":29,"user_id":16778240,"status_code":0,"reason":"OK","timestamp":1738392033699}',
        VideoSubscriptionResponse(user_id=16778240, status_code=0, reason="OK", timestamp=1738392033699),
    ),
    Golden(
        "29 duplicate subscription",
        '{"msg_type":29,"user_id":16778240,"status_code":44,"reason":"duplicate"}',
        VideoSubscriptionResponse(user_id=16778240, status_code=44, reason="duplicate"),
    ),
)
