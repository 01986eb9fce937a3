"""The panel session: signed, scoped to one meeting, short-lived, renewable up to a limit."""

from __future__ import annotations

import pytest

from bridge.zoomapp.session import SessionError, SessionKeys, user_digest

T0 = 1_780_000_000_000


def test_issue_and_verify() -> None:
    keys = SessionKeys("secret", ttl_s=900)
    token, exp = keys.issue("meeting-a==", user_digest("user-1"), now_ms=T0)
    assert exp == T0 + 900_000
    session = keys.verify(token, now_ms=T0 + 1000)
    assert (session.mid, session.user, session.exp_ms) == ("meeting-a==", user_digest("user-1"), exp)
    assert "user-1" not in token and user_digest(None) == ""


def test_expired_tampered_or_foreign_tokens_are_refused() -> None:
    keys = SessionKeys("secret", ttl_s=60)
    token, _ = keys.issue("meeting-a==", "", now_ms=T0)
    with pytest.raises(SessionError, match="expired"):
        keys.verify(token, now_ms=T0 + 60_000)
    body, _, signature = token.partition(".")
    other, _ = keys.issue("meeting-b==", "", now_ms=T0)
    with pytest.raises(SessionError, match="not one this bridge issued"):
        keys.verify(f"{other.partition('.')[0]}.{signature}", now_ms=T0)  # another meeting's body, a's signature
    with pytest.raises(SessionError, match="not one this bridge issued"):
        SessionKeys("another-secret").verify(token, now_ms=T0)
    for bad in ("", None, "abc", body, f"{body}."):
        with pytest.raises(SessionError):
            keys.verify(bad, now_ms=T0)


def test_renewal_keeps_the_meeting_and_stops_at_the_longest_life() -> None:
    keys = SessionKeys("secret", ttl_s=900, max_age_s=1800)
    token, _ = keys.issue("meeting-a==", "u", now_ms=T0)
    renewed, exp = keys.renew(keys.verify(token, now_ms=T0 + 800_000), now_ms=T0 + 800_000)
    assert exp == T0 + 1_700_000 and keys.verify(renewed, now_ms=T0 + 800_000).mid == "meeting-a=="
    last, exp = keys.renew(keys.verify(renewed, now_ms=T0 + 1_600_000), now_ms=T0 + 1_600_000)
    assert exp == T0 + 1_800_000  # capped
    with pytest.raises(SessionError, match="longest life"):
        keys.renew(keys.verify(last, now_ms=T0 + 1_799_000), now_ms=T0 + 1_800_000)
