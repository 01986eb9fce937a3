from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.settings import BridgeSettings, problems

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
    ("media", "smell", "'audio', 'video' or 'chat'"),
    ("ca_bundle", "/nonexistent/ca.pem", "not a readable file"),
    ("ca_bundle", str(README), "no usable PEM certificate"),
    ("webhook_path", "webhook", "should match pattern"),
    ("backoff_cap_s", "0.1", "BRIDGE_BACKOFF_CAP_S (0.1) must be >= BRIDGE_BACKOFF_BASE_S (3)"),
    ("redis_url", "http://127.0.0.1:6379", "must be a redis://"),
    ("redis_url", "redis://127.0.0.1:6379/0", "BRIDGE_DATABASE_URL must name one database"),  # SQLite default
    ("lease_ttl_s", "90", "less than or equal to 50"),
    ("replica_id", "a b", "should match pattern"),
    ("langflow_tweaks", "{bad", "not valid JSON"),
    ("langflow_tweaks", '{"node": 1}', "JSON object of objects"),
    ("langflow_url", "not a url", "not an http:// or https:// URL"),
    ("langflow_url", "ftp://h/x", "not an http:// or https:// URL"),
    ("langflow_url", "http://h:99999", "not a URL"),
    ("database_url", "nonsense", "not a SQLAlchemy URL"),
    ("database_url", "mysql://h/db", "not supported"),
    ("flows_config", "/nonexistent/flows.toml", "not a readable file"),
    ("port", "eighty", "valid integer"),
])
def test_bad_values_are_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch, field: str, value: str,
                                                    words: str) -> None:
    monkeypatch.setenv(f"BRIDGE_{field.upper()}", value)
    with pytest.raises(ValidationError) as info:
        BridgeSettings(_env_file=None)
    (line,) = problems(info.value)
    assert "BRIDGE_" in line and words in line, line
    if field not in ("backoff_cap_s", "redis_url") or value.startswith("http"):
        assert line.startswith(f"BRIDGE_{field.upper()}"), line
    assert "\n" not in line and "pydantic.dev" not in line


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as info:
        BridgeSettings(_env_file=None, api_token=["not", "a", "string"], port="x", langflow_url="nope")
    lines = problems(info.value, names={"port": "--port"})
    assert any(line.startswith("BRIDGE_API_TOKEN: ") for line in lines) and "not" not in lines[0].split(":", 1)[1]
    assert any(line.startswith("--port: ") and "'x'" in line for line in lines), lines
    assert any(line.startswith("BRIDGE_LANGFLOW_URL: ") for line in lines), lines


def test_good_values_still_pass() -> None:
    s = BridgeSettings(_env_file=None, langflow_url="http://127.0.0.1:7860/", langflow_tweaks='{"n": {"f": 1}}',
                       database_url="postgresql+asyncpg://u:p@127.0.0.1:5432/db", redis_url="redis://127.0.0.1/0")
    assert s.langflow_url == "http://127.0.0.1:7860/" and s.langflow_tweaks == {"n": {"f": 1}}
    assert BridgeSettings(_env_file=None, langflow_tweaks="").langflow_tweaks == {}
