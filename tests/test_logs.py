"""The JSON log line: a record's `extra` never replaces what the formatter writes itself."""

from __future__ import annotations

import json
import logging
import sys

from bridge.logs import JsonFormatter


def _line(msg: str, extra: dict[str, object], *, exc: bool = False) -> dict[str, object]:
    logger = logging.getLogger("tests.logs")
    record = logger.makeRecord("tests.logs", logging.INFO, __file__, 1, msg, None,
                               sys.exc_info() if exc else None, extra=extra)
    parsed = json.loads(JsonFormatter().format(record))
    assert isinstance(parsed, dict)
    return parsed


def test_an_extra_event_keeps_the_message_and_is_kept_beside_it() -> None:
    entry = _line("webhook", {"event": "sender's own text", "outcome": "started"})
    assert entry["event"] == "webhook"
    assert entry["event_"] == "sender's own text"
    assert entry["outcome"] == "started"


def test_every_own_key_is_protected() -> None:
    extra = {"ts": "x", "level": "x", "logger": "x", "event": "x", "exc_type": "x", "exc": "x", "event_": "y"}
    entry = _line("message", extra)
    assert entry["event"] == "message" and entry["level"] == "info" and entry["logger"] == "tests.logs"
    assert entry["ts"] != "x" and "exc" not in entry and "exc_type" not in entry
    assert entry["event_"] == "x" and entry["event__"] == "y"
    assert entry["exc_"] == "x" and entry["exc_type_"] == "x"


def test_an_extra_exc_does_not_hide_the_real_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        entry = _line("failed", {"exc": "forged"}, exc=True)
    assert entry["exc_type"] == "ValueError" and "boom" in str(entry["exc"])
    assert entry["exc_"] == "forged"
