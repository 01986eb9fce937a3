"""`app_deauthorized` (the app uninstalled from an account): verified like every webhook, answered 200 only once the
account's purge is recorded, and then every meeting of the account is gone; `*.rtms_started` keeps each stream's
account for it. Payload as Zoom documents it (account_id, user_id, signature, deauthorization_time, client_id,
user_data_retention)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from bridge.app import create_app
from bridge.rtms.enums import Product
from bridge.rtms.webhooks import stream_payload
from bridge.store import Store
from bridge.store.models import PendingPurge, StreamAccount
from bridge.store.purge import Purger
from tests.intake.conftest import Collector, make_settings, signed
from tests.intake.test_webhook import running


def deauthorized(account_id: str | None = "acct-1", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "user_data_retention": "false", "user_id": "z9jkdsfsdfjhdkfjQ",
        "signature": "827edc3452044f0bc86bdd5684afb7d1e6becfa1a767f24df1b287853cf73000",
        "deauthorization_time": "2026-12-04T13:52:28.632Z", "client_id": "ADZ9k9bTWmGUoUbECUKU_a", **extra}
    if account_id is not None:
        payload["account_id"] = account_id
    return payload


def parts(app: Any) -> tuple[Store, Purger]:
    state = app.state.bridge
    assert isinstance(state.store, Store) and isinstance(state.purger, Purger)
    return state.store, state.purger


async def test_every_meeting_of_the_account_goes_and_only_those(tmp_path: Path, collector: Collector) -> None:
    app = create_app(make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}",
                                   allowed_hosts=["*.zoom.us"]), collector)
    async with running(app) as client:
        store, purger = parts(app)
        for stream_id, account in (("s1", "acct-1"), ("s2", "acct-1"), ("s3", "acct-2")):
            # rtms_started names the account (the URL is refused: nothing is dialled, the account is kept anyway)
            payload = stream_payload(Product.MEETING, f"m-{stream_id}", stream_id,
                                     server_urls="wss://127.0.0.1:1/", account_id=account)
            body, headers = signed("meeting.rtms_started", payload)
            assert (await client.post("/webhook", content=body, headers=headers)).status_code == 200
            await store.upsert_meeting(stream_id, instance_id=f"m-{stream_id}", product="meeting")
        async with store.engine.connect() as conn:
            kept = dict((await conn.execute(select(StreamAccount.stream_id, StreamAccount.account_id))).all())
        assert kept == {"s1": "acct-1", "s2": "acct-1", "s3": "acct-2"}

        body, headers = signed("app_deauthorized", deauthorized("acct-1"))
        response = await client.post("/webhook", content=body, headers=headers)
        assert (response.status_code, response.json()) == (200, {"status": "deauthorized"})
        assert (await client.post("/webhook", content=body, headers=headers)).status_code == 409  # a replay
        assert await purger.wait_done(30)
        assert await store.get_meeting("s1") is None and await store.get_meeting("s2") is None
        assert await store.get_meeting("s3") is not None
        metrics = (await client.get("/metrics")).text
    assert 'rtms_webhooks_total{outcome="deauthorized"} 1.0' in metrics
    assert 'rtms_purges_total{kind="account"} 1.0' in metrics


async def test_unsigned_or_malformed_is_refused_and_nothing_is_purged(collector: Collector) -> None:
    app = create_app(make_settings(), collector)
    async with running(app) as client:
        store, _ = parts(app)
        await store.upsert_meeting("s1", instance_id="m", product="meeting")
        await parts(app)[1].remember_account("s1", "acct-1")
        body, headers = signed("app_deauthorized", deauthorized("acct-1"), secret="not-the-secret")
        assert (await client.post("/webhook", content=body, headers=headers)).status_code == 401
        body, headers = signed("app_deauthorized", deauthorized(None))
        response = await client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 400 and "payload.account_id" in response.json()["error"]
        body, headers = signed("app_deauthorized", deauthorized(""))
        assert (await client.post("/webhook", content=body, headers=headers)).status_code == 400
        assert await store.get_meeting("s1") is not None


async def test_a_store_that_cannot_record_the_purge_gets_zoom_to_send_again(collector: Collector) -> None:
    app = create_app(make_settings(), collector)
    async with running(app) as client:
        store, _ = parts(app)
        async with store.engine.begin() as conn:  # the store refuses the write (a real database error)
            await conn.run_sync(PendingPurge.__table__.drop)
        body, headers = signed("app_deauthorized", deauthorized("acct-1"))
        response = await client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 503
        async with store.engine.begin() as conn:
            await conn.run_sync(PendingPurge.__table__.create)
        response = await client.post("/webhook", content=body, headers=headers)  # Zoom's retry: not a replay
        assert (response.status_code, response.json()) == (200, {"status": "deauthorized"})
        metrics = (await client.get("/metrics")).text
    assert 'rtms_webhooks_total{outcome="store_unavailable"} 1.0' in metrics
