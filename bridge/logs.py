"""Structured logging: one JSON object per line, with the event name and key=value context.

Transcript text and personal names are private: log them only at DEBUG, never in `extra` of higher levels.
An `extra` key that collides with a key the formatter writes itself (`event`, `level`, ...) is kept under the
same name with a trailing `_`: the message a line was logged with is never replaced by what a sender chose.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_OWN = frozenset({"ts", "level", "logger", "event", "exc_type", "exc"})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                while key in _OWN or key in entry:
                    key += "_"
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Route the root logger to stderr; idempotent so the CLI and tests can both call it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_rtms_langflow", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._rtms_langflow = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
