"""Keep the API token out of access logs.

The events route accepts `?token=` (EventSource cannot set headers), and uvicorn's access log writes each request's
path with its query string. This filter, installed on the `uvicorn.access` logger by `api_router`, masks the value
before any handler sees it.
"""

from __future__ import annotations

import logging
import re

__all__ = ["QueryTokenRedactor", "install_access_log_redaction", "redact_query_token"]

_TOKEN_PARAM = re.compile(r"([?&]token=)[^&#\s\"]*", re.IGNORECASE)


def redact_query_token(text: str) -> str:
    return _TOKEN_PARAM.sub(r"\1***", text)


class QueryTokenRedactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query_token(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_query_token(record.msg)
        return True


def install_access_log_redaction(logger_name: str = "uvicorn.access") -> None:
    """Idempotent: one redactor per logger however many routers are built."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, QueryTokenRedactor) for f in logger.filters):
        logger.addFilter(QueryTokenRedactor())
