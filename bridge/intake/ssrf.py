"""Which WebSocket URLs the bridge may dial: a pure allow-list check, applied before any connection.

`server_urls` arrive in a webhook and media URLs in a signaling reply; a forged or compromised source could point
the bridge at an internal service. Only `wss://` to a host matching the allow-list passes (default `*.zoom.us`);
settings can widen it for the simulator (`127.0.0.1`, `ws://`). Patterns: an exact host (`rtms.zoom.us`,
`127.0.0.1`, `[::1]`) or `*.domain` for any subdomain of `domain` (not `domain` itself). Hosts are compared
lower-cased, without a trailing dot. URLs with credentials, fragments, whitespace or odd ports are refused.
This does not resolve names: pair it with egress rules if DNS inside *.zoom.us is not trusted.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_ALLOWED_HOSTS = ("*.zoom.us",)


class RefusedUrl(ValueError):
    """A URL the bridge will not dial; `reason` is a short, stable label for logs and metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"refused URL ({reason}): {detail}")


def _normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


@dataclass(frozen=True)
class UrlGuard:
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    allow_insecure: bool = False  # permit ws:// (plain text): only for a local simulator

    @classmethod
    def from_patterns(cls, patterns: Iterable[str], *, allow_insecure: bool = False) -> UrlGuard:
        cleaned = tuple(p for p in (_normalise_pattern(p) for p in patterns) if p)
        return cls(allowed_hosts=cleaned, allow_insecure=allow_insecure)

    def check(self, url: str) -> str:
        """Return `url` (stripped) when it may be dialled, else raise `RefusedUrl`."""
        text = url.strip()
        if not text:
            raise RefusedUrl("empty", "no URL given")
        if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
            raise RefusedUrl("malformed", "URL contains whitespace or control characters")
        try:
            parts = urllib.parse.urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise RefusedUrl("malformed", str(exc)) from None
        scheme = parts.scheme.lower()
        if scheme == "ws" and not self.allow_insecure:
            raise RefusedUrl("insecure_scheme", "ws:// is not allowed (set BRIDGE_ALLOW_INSECURE_WS for a simulator)")
        if scheme not in ("wss", "ws"):
            raise RefusedUrl("scheme", f"scheme {scheme or '(none)'!r} is not a WebSocket scheme")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise RefusedUrl("credentials", "URLs with user info are not allowed")
        if parts.fragment:
            raise RefusedUrl("malformed", "URL has a fragment")
        if port is not None and port == 0:
            raise RefusedUrl("malformed", "port 0")
        host = _normalise_host(parts.hostname or "")
        if not host:
            raise RefusedUrl("malformed", "URL has no host")
        if not self.host_allowed(host):
            raise RefusedUrl("host_not_allowed", f"host {host!r} is not in the allow-list")
        return text

    def host_allowed(self, host: str) -> bool:
        host = _normalise_host(host)
        ip = _as_ip(host)
        for pattern in self.allowed_hosts:
            if pattern.startswith("*."):
                if ip is None and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                    return True
            elif ip is not None:
                if _as_ip(pattern) == ip:
                    return True
            elif host == pattern:
                return True
        return False

    def allows(self, url: str) -> bool:
        try:
            self.check(url)
        except RefusedUrl:
            return False
        return True


def _normalise_pattern(pattern: str) -> str:
    pattern = pattern.strip().lower().rstrip(".")
    if pattern.startswith("[") and pattern.endswith("]"):
        pattern = pattern[1:-1]
    return pattern


def _as_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
