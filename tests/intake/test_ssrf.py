from __future__ import annotations

import pytest

from bridge.intake.ssrf import RefusedUrl, UrlGuard

ZOOM = UrlGuard()
LOCAL = UrlGuard.from_patterns(["127.0.0.1", "*.zoom.us", "[::1]"], allow_insecure=True)


@pytest.mark.parametrize("url", [
    "wss://rtms-sjc1.zoom.us/signaling",
    "wss://a.b.zoom.us:443/x?y=1",
    "WSS://RTMS.ZOOM.US/",
    "wss://rtms.zoom.us./",
    " wss://rtms.zoom.us ",
])
def test_zoom_hosts_pass(url: str) -> None:
    assert ZOOM.check(url) == url.strip()


@pytest.mark.parametrize("url, reason", [
    ("ws://rtms.zoom.us/", "insecure_scheme"),
    ("wss://zoom.us/", "host_not_allowed"),  # *.zoom.us means subdomains
    ("wss://evilzoom.us/", "host_not_allowed"),
    ("wss://rtms.zoom.us.evil.com/", "host_not_allowed"),
    ("wss://169.254.169.254/latest/meta-data", "host_not_allowed"),
    ("wss://127.0.0.1:443", "host_not_allowed"),
    ("wss://localhost/", "host_not_allowed"),
    ("wss://rtms.zoom.us@evil.com/", "credentials"),
    ("wss://user:pw@rtms.zoom.us/", "credentials"),
    ("https://rtms.zoom.us/", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("rtms.zoom.us", "scheme"),
    ("wss://rtms.zoom.us/a b", "malformed"),
    ("wss://rtms.zoom.us/\nx", "malformed"),
    ("wss://rtms.zoom.us:99999/", "malformed"),
    ("wss://rtms.zoom.us/#frag", "malformed"),
    ("wss:///nohost", "malformed"),
    ("", "empty"),
])
def test_refused(url: str, reason: str) -> None:
    with pytest.raises(RefusedUrl) as info:
        ZOOM.check(url)
    assert info.value.reason == reason
    assert not ZOOM.allows(url)


def test_widened_for_a_local_simulator() -> None:
    assert LOCAL.check("ws://127.0.0.1:8765/signaling")
    assert LOCAL.check("ws://[::1]:1/")
    assert LOCAL.check("wss://x.zoom.us")
    for url in ("ws://127.0.0.2:1/", "ws://localhost:1/", "ws://0.0.0.0:1/", "ws://2130706433/"):
        assert not LOCAL.allows(url), url


def test_ip_patterns_compare_as_addresses() -> None:
    guard = UrlGuard.from_patterns(["::1"], allow_insecure=True)
    assert guard.allows("ws://[0:0:0:0:0:0:0:1]:9/")
