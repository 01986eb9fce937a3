"""The simulator's input models: chaos specs as typed on the command line, and settings validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bridge.simulator import ChaosEvent
from tests.simulator.conftest import fast_config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("drop_media@10", ChaosEvent(kind="drop_media", at_line=10)),
        ("drop_media@3:audio", ChaosEvent(kind="drop_media", at_line=3, media="audio")),
        ("stop@5:1", ChaosEvent(kind="stop", at_line=5, stop_reason=1)),
        ("delay_webhook@0:2.5", ChaosEvent(kind="delay_webhook", at_line=0, delay_s=2.5)),
        ("failover@7", ChaosEvent(kind="failover", at_line=7)),
        (" ignore_keepalives_as_lost@2 ", ChaosEvent(kind="ignore_keepalives_as_lost", at_line=2)),
    ],
)
def test_chaos_parse(text: str, expected: ChaosEvent) -> None:
    assert ChaosEvent.parse(text) == expected
    assert ChaosEvent.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drop_media", "expected KIND@LINE"),
        ("explode@3", "unknown kind 'explode'"),
        ("stop@x", "LINE must be a line number"),
        ("stop@-1", "LINE must be a line number"),
        ("stop@3:soon", "stop reason number"),
        ("delay_webhook@3:later", "seconds"),
        ("drop_media@3:smell", "one of audio"),
        ("failover@3:1", "takes no ARG"),
    ],
)
def test_chaos_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChaosEvent.parse(text)


def test_chaos_arguments_must_fit_the_kind() -> None:
    with pytest.raises(ValidationError, match="stop_reason applies to kind 'stop'"):
        ChaosEvent(kind="failover", at_line=1, stop_reason=3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("client_secret", "", "must not be empty"),
        ("speed", 0, "greater than 0"),
        ("webhook_retry_schedule_s", (1.0, -1.0), ">= 0"),
        ("end_gap_s", 0.01, "greater than or equal to 0.1"),
    ],
)
def test_config_validation(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        fast_config("http://127.0.0.1:1/webhook", **{field: value})


def test_webhook_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="http:// or https://"):
        fast_config("ftp://127.0.0.1/webhook")


def test_secrets_do_not_leak_in_repr() -> None:
    config = fast_config("http://127.0.0.1:1/webhook")
    assert "sim-client-secret" not in repr(config) and "sim-webhook-secret-token" not in repr(config)
