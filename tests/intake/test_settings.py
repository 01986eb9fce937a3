from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.settings import BridgeSettings

README = Path(__file__).parents[2] / "README.md"


def env_name(field: str) -> str:
    alias = BridgeSettings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else f"BRIDGE_{field.upper()}"


def test_every_setting_is_in_the_readme_table() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    missing = [env_name(f) for f in BridgeSettings.model_fields
               if not any(row.startswith(f"| `{env_name(f)}` |") for row in rows)]
    assert missing == []


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOOM_CLIENT_ID", "cid")
    monkeypatch.setenv("ZOOM_CLIENT_SECRET", "cs")
    monkeypatch.setenv("ZOOM_WEBHOOK_SECRET_TOKEN", "wh")
    monkeypatch.setenv("BRIDGE_ALLOWED_HOSTS", "127.0.0.1, *.zoom.us")
    monkeypatch.setenv("BRIDGE_MEDIA", "audio,transcript,chat")
    monkeypatch.setenv("BRIDGE_ALLOW_INSECURE_WS", "true")
    monkeypatch.setenv("BRIDGE_BACKOFF_BASE_S", "0.5")
    s = BridgeSettings(_env_file=None)
    assert (s.zoom_client_id, s.zoom_client_secret.get_secret_value()) == ("cid", "cs")
    assert s.allowed_hosts == ["127.0.0.1", "*.zoom.us"] and s.media == ["audio", "chat"]
    assert s.allow_insecure_ws and s.backoff_base_s == 0.5 and s.missing() == []


def test_defaults_are_zoom_safe() -> None:
    s = BridgeSettings(_env_file=None)
    assert s.allowed_hosts == ["*.zoom.us"] and not s.allow_insecure_ws and s.ca_bundle is None
    assert (s.backoff_base_s, s.backoff_cap_s, s.signaling_reconnect_window_s, s.media_reconnect_window_s) == \
        (3.0, 30.0, 60.0, 65.0)
    assert s.signature_window_s == 300 and s.webhook_path == "/webhook" and s.media == []


@pytest.mark.parametrize("field, value, words", [
    ("allowed_hosts", "*", "not a host name"),
    ("allowed_hosts", "http://x.zoom.us", "not a host name"),
    ("media", "smell", "media"),
    ("ca_bundle", "/nonexistent/ca.pem", "not a readable file"),
    ("webhook_path", "webhook", "webhook_path"),
    ("backoff_cap_s", "0.1", "backoff_cap_s"),
    ("redis_url", "http://127.0.0.1:6379", "redis_url must be a redis://"),
    ("redis_url", "redis://127.0.0.1:6379/0", "need one database they all share"),  # with the SQLite default
    ("lease_ttl_s", "90", "lease_ttl_s"),
    ("replica_id", "a b", "replica_id"),
])
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, field: str, value: str, words: str) -> None:
    monkeypatch.setenv(f"BRIDGE_{field.upper()}", value)
    with pytest.raises(ValidationError) as info:
        BridgeSettings(_env_file=None)
    assert words in str(info.value)
