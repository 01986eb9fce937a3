"""Keep the API token out of access logs.

The events route accepts `?token=` (EventSource cannot set headers), and uvicorn's access log writes each request's
path with its raw query string. This filter, installed on the `uvicorn.access` logger by `api_router`, masks the value
before any handler sees it. A parameter is judged by its percent-decoded name (`%74oken` is `token` to a query
parser), and `;` counts as a separator (some parsers split on it), so neither spelling slips past; the configured
token itself, raw or percent-encoded, is masked wherever it appears.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from pydantic import SecretStr

__all__ = ["QueryTokenRedactor", "install_access_log_redaction", "redact_query_token"]

_MASK = "***"
# A `name=value` pair after ?, & or ; (up to the next separator, a fragment, whitespace or a quote).
_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&;?#\s\"]*)=(?P<value>[^&;#\s\"]*)")
_SENSITIVE = frozenset({"token", "access_token", "api_token", "api_key", "apikey"})


def _is_sensitive(raw_name: str) -> bool:
    try:
        name = unquote_plus(raw_name, errors="strict")
    except UnicodeDecodeError:
        name = unquote_plus(raw_name)
    return name.strip().lower() in _SENSITIVE


def redact_query_token(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with the value of every token-like parameter, and every occurrence of `secrets`, masked."""
    def mask(m: re.Match[str]) -> str:
        value = unquote(m["value"])
        if _is_sensitive(m["name"]) or any(secret in value for secret in secrets):
            return f"{m['sep']}{m['name']}={_MASK}"
        return m[0]

    out = _PARAM.sub(mask, text)
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form:
                out = out.replace(form, _MASK)
    return out


class QueryTokenRedactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def add_secret(self, secret: str) -> None:
        if len(secret) >= 4 and secret not in self.secrets:  # a shorter one would mask half the log
            self.secrets = (*self.secrets, secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query_token(a, self.secrets) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_query_token(record.msg, self.secrets)
        return True


def install_access_log_redaction(logger_name: str = "uvicorn.access", token: SecretStr | None = None) -> None:
    """Idempotent: one redactor per logger however many routers are built; each router's token is added to it."""
    logger = logging.getLogger(logger_name)
    redactor = next((f for f in logger.filters if isinstance(f, QueryTokenRedactor)), None)
    if redactor is None:
        redactor = QueryTokenRedactor()
        logger.addFilter(redactor)
    if token is not None:
        redactor.add_secret(token.get_secret_value())
