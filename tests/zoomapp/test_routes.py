"""The panel's HTTP side over real HTTP: the Home URL opens Zoom's context into a session for that meeting only; every
refused context gets a 4xx page without data; every /zoomapp response carries the headers Zoom requires."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

import httpx

from bridge.pipeline.bus import LiveEvent
from bridge.store import LineRecord, Store
from bridge.zoomapp.headers import SECURITY_HEADERS
from tests.api.conftest import SALES, TOKEN, now_ms, objection, seed_sales
from tests.api.sse_client import SseReader
from tests.zoomapp.conftest import PanelServer, panel_server
from tests.zoomapp.zoom_context import context_payload, encrypt_context

SALES_MID = "inst-sales=="  # seed_sales' instance id: the meeting UUID a Zoom App context names
OTHER, OTHER_MID = "stream-other-0003", "inst-other/+=="
OTHER_QUOTE = "We would need legal to sign off on the data residency terms."
SALES_WORDS = ("Acme renewal call", "above what we budgeted", "cost of the status quo", "pricing comparison")


async def seed_other(store: Store) -> None:
    start = now_ms() - 30_000
    await store.upsert_meeting(OTHER, instance_id=OTHER_MID, product="meeting", topic="Globex onboarding",
                               started_at_ms=start)
    await store.save_insights(OTHER, "objection_coach", None, "objections", [
        objection("legal-residency", "legal", OTHER_QUOTE, start + 5000, 0.8, "Share our residency addendum.")])


def check_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://zoom.us https://*.zoom.us" in csp and "script-src 'self';" in csp


def session_of(page: str) -> str:
    match = re.search(r'<meta name="zoomapp-session" content="([^"]*)">', page)
    assert match is not None
    return match.group(1)


async def open_panel(client: httpx.AsyncClient, context: str) -> str:
    response = await client.get("/zoomapp/", headers={"X-Zoom-App-Context": context})
    assert response.status_code == 200, response.text
    check_headers(response)
    assert response.headers["cache-control"] == "no-store"
    token = session_of(response.text)
    assert token
    return token


async def read_events(client: httpx.AsyncClient, token: str, count: int, *, within_s: float = 5.0
                      ) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    async with client.stream("GET", "/zoomapp/api/events", headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status_code == 200
        check_headers(response)
        reader = SseReader(response)
        while len(out) < count:
            frame = await reader.next_event(within_s)
            if frame is None:
                break
            out.append((frame.event, frame.json()))
    return out


async def test_home_url_opens_a_session_for_the_meeting_in_the_context(panel: PanelServer) -> None:
    await seed_sales(panel.store)
    await seed_other(panel.store)
    async with panel.client() as client:
        token = await open_panel(client, panel.context(SALES_MID))
        [(name, snap)] = await read_events(client, token, 1)
    assert name == "snapshot"
    assert snap["meeting"]["topic"] == "Acme renewal call" and snap["meeting"]["status"] == "live"
    assert {i["key"] for i in snap["insights"]} == {"price-budget", "incumbent-contract"}
    assert snap["summary"]["payload"]["text"].startswith("The buyer finds the price")
    assert [t["title"] for t in snap["tickets"]] == ["Send pricing comparison"]
    assert "lines" not in snap and "participants" not in snap["meeting"]  # no transcript, no names list
    assert OTHER_QUOTE not in str(snap) and SALES not in str(snap)


async def test_another_meetings_context_never_sees_this_one(panel: PanelServer) -> None:
    await seed_sales(panel.store)
    await seed_other(panel.store)
    async with panel.client() as client:
        token = await open_panel(client, panel.context(OTHER_MID))
        async with client.stream("GET", "/zoomapp/api/events",
                                 headers={"Authorization": f"Bearer {token}"}) as response:
            reader = SseReader(response)
            snap_frame = await reader.next_event()
            assert snap_frame is not None and snap_frame.event == "snapshot"
            snap = snap_frame.json()
            assert snap["meeting"]["topic"] == "Globex onboarding"
            assert [i["quote"] for i in snap["insights"]] == [OTHER_QUOTE]
            # The sales call goes on: nothing of it reaches the other meeting's panel.
            [record] = await panel.store.save_insights(SALES, "objection_coach", None, "objections", [
                objection("security", "timing", "Security review takes a quarter.", now_ms(), 0.6, "Start now.")])
            panel.bus.publish(SALES, LiveEvent(type="insight", stream_id=SALES, data=record.model_dump()))
            [mine] = await panel.store.save_insights(OTHER, "objection_coach", None, "objections", [
                objection("timeline", "timing", "Go-live in May is tight.", now_ms(), 0.7, "Phase it.")])
            panel.bus.publish(OTHER, LiveEvent(type="insight", stream_id=OTHER, data=mine.model_dump()))
            frame = await reader.next_event()
            assert frame is not None and frame.event == "insight"
            assert frame.json()["data"]["key"] == "timeline"
        text = (await client.get("/zoomapp/", headers={"X-Zoom-App-Context": panel.context(OTHER_MID)})).text
    assert not any(word in text for word in SALES_WORDS)


async def test_live_events_are_only_what_the_panel_shows(panel: PanelServer) -> None:
    start = await seed_sales(panel.store)
    async with panel.client() as client:
        token = await open_panel(client, panel.context(SALES_MID))
        async with client.stream("GET", "/zoomapp/api/events",
                                 headers={"Authorization": f"Bearer {token}"}) as response:
            reader = SseReader(response)
            assert (await reader.next_event()).event == "snapshot"  # type: ignore[union-attr]
            line = LineRecord(seq=5, speaker="Sam Buyer", user_id="u-buyer", start_ms=start + 30_000,
                              end_ms=start + 33_000, text="A line the panel never shows.", received_at_ms=now_ms())
            panel.bus.publish(SALES, LiveEvent(type="line", stream_id=SALES, data=line.model_dump()))
            panel.bus.publish(SALES, LiveEvent(type="meeting", stream_id=SALES,
                                               data={"participant": {"user_id": "u9", "name": "Pat"}}))
            panel.bus.publish(SALES, LiveEvent(type="meeting", stream_id=SALES,
                                               data={"status": "ended", "end_cause": "meeting ended"}))
            frame = await reader.next_event()
            assert frame is not None and frame.event == "meeting"
            assert frame.json()["data"] == {"status": "ended", "end_cause": "meeting ended"}
            end = await reader.next_event(within_s=5.0)  # FAST: ends 1 s after an ended meeting goes quiet
            assert end is not None and end.event == "end"


async def test_refused_contexts_get_a_clear_page_and_no_data(panel: PanelServer) -> None:
    await seed_sales(panel.store)
    old = now_ms() - 3_600_000
    cases: dict[str, tuple[dict[str, str], int, str]] = {
        "missing": ({}, 401, "Open this app from the Apps panel of a Zoom meeting"),
        "forged": ({"X-Zoom-App-Context": encrypt_context(context_payload(SALES_MID), "another-apps-secret")},
                   403, "was not issued for this app"),
        "expired": ({"X-Zoom-App-Context": panel.context(SALES_MID, ts=old)}, 401, "has expired"),
        "unparseable": ({"X-Zoom-App-Context": "%%%not-a-context%%%"}, 400, "could not be read"),
        "no_meeting": ({"X-Zoom-App-Context": panel.context(None, typ="panel")}, 403, "inside a meeting"),
    }
    async with panel.client() as client:
        for state, (headers, status, message) in cases.items():
            response = await client.get("/zoomapp/", headers=headers)
            assert response.status_code == status, state
            check_headers(response)
            assert f'data-state="{state}"' in response.text and message in response.text, state
            assert session_of(response.text) == "", state
            assert not any(word in response.text for word in SALES_WORDS), state
            # The same context posted by the web client's page is refused alike.
            if "X-Zoom-App-Context" in headers:
                posted = await client.post("/zoomapp/session", json={"context": headers["X-Zoom-App-Context"]})
                assert posted.status_code == status and posted.json()["error"] == state, state
                check_headers(posted)


async def test_event_route_needs_this_bridges_session(panel: PanelServer) -> None:
    await seed_sales(panel.store)
    async with panel.client() as client:
        token = await open_panel(client, panel.context(SALES_MID))
        body, _, _ = token.partition(".")
        for auth in (None, f"Bearer {TOKEN}", f"Bearer {body}.forged", "Basic abc"):
            headers = {"Authorization": auth} if auth else {}
            response = await client.get("/zoomapp/api/events", headers=headers)
            assert response.status_code == 401, auth
            check_headers(response)
            assert "Acme" not in response.text
        # The panel session is no key to the dashboard's API either.
        assert (await client.get("/api/meetings", headers={"Authorization": f"Bearer {token}"})).status_code == 401
        # No meeting id is taken from the request: a query naming another stream changes nothing.
        events = await read_events(client, token, 1)
        assert events[0][1]["meeting"]["topic"] == "Acme renewal call"


async def test_web_client_trades_get_app_context_for_a_session_and_renews_it(panel: PanelServer) -> None:
    await seed_sales(panel.store)
    async with panel.client() as client:
        posted = await client.post("/zoomapp/session", json={"context": panel.context(SALES_MID)})
        assert posted.status_code == 200 and posted.headers["cache-control"] == "no-store"
        check_headers(posted)
        token = posted.json()["session"]
        assert posted.json()["expires_at_ms"] > now_ms()
        renewed = await client.post("/zoomapp/session/renew", headers={"Authorization": f"Bearer {token}"})
        assert renewed.status_code == 200
        [(_, snap)] = await read_events(client, renewed.json()["session"], 1)
        assert snap["meeting"]["topic"] == "Acme renewal call"
        assert (await client.post("/zoomapp/session/renew")).status_code == 401
        assert (await client.post("/zoomapp/session", json={"context": ""})).status_code == 422
        assert (await client.post("/zoomapp/session", json={"context": "x" * 9000})).status_code == 422


async def test_a_meeting_without_a_stream_yet_waits(panel: PanelServer) -> None:
    async with panel.client() as client:
        token = await open_panel(client, panel.context("meeting-not-streaming-yet=="))
        [(name, body)] = await read_events(client, token, 1)
    assert name == "waiting" and "no transcript" in body["reason"]


async def test_assets_and_errors_carry_the_headers(panel: PanelServer) -> None:
    async with panel.client() as client:
        for name, kind in (("panel.js", "text/javascript"), ("panel.css", "text/css"),
                           ("zoom-appssdk.js", "text/javascript"), ("zoom-appssdk-LICENSE.txt", "text/plain")):
            response = await client.get(f"/zoomapp/static/{name}")
            assert response.status_code == 200 and response.headers["content-type"].startswith(kind), name
            check_headers(response)
        sdk = (await client.get("/zoomapp/static/zoom-appssdk.js")).text
        assert "Zoom Apps SDK v0.16.41" in sdk and "export {" in sdk
        licence = (await client.get("/zoomapp/static/zoom-appssdk-LICENSE.txt")).text
        assert "Zoom Video Communications" in licence and "Permission is hereby granted" in licence
        for path, status in (("/zoomapp/static/nope.js", 404), ("/zoomapp/unknown", 404), ("/zoomapp/session", 405)):
            response = await client.get(path)
            assert response.status_code == status, path
            check_headers(response)
        bare = await client.get("/zoomapp")
        assert bare.status_code == 401
        check_headers(bare)
        outside = await client.get("/api/meetings")
        assert "strict-transport-security" not in outside.headers  # only /zoomapp is the app's


async def test_no_client_secret_is_503(panel: PanelServer) -> None:
    panel.secret[0] = ""
    async with panel.client() as client:
        response = await client.get("/zoomapp/", headers={"X-Zoom-App-Context": "anything"})
        assert response.status_code == 503 and "ZOOM_CLIENT_SECRET" in response.text
        check_headers(response)
        assert (await client.post("/zoomapp/session", json={"context": "abc"})).status_code == 503


async def test_a_stream_closes_when_its_session_expires(tmp_path: Path) -> None:
    async with panel_server(tmp_path, session_ttl_s=2.0) as panel:
        await seed_sales(panel.store)
        async with panel.client() as client:
            token = await open_panel(client, panel.context(SALES_MID))
            started = time.monotonic()
            async with client.stream("GET", "/zoomapp/api/events",
                                     headers={"Authorization": f"Bearer {token}"}) as response:
                reader = SseReader(response)
                assert (await reader.next_event()).event == "snapshot"  # type: ignore[union-attr]
                assert await reader.next_event(within_s=5.0) is None  # closed, no `end`: the page reconnects
            assert 1.0 <= time.monotonic() - started < 4.0
            response = await client.get("/zoomapp/api/events", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401 and "expired" in response.json()["detail"]
            check_headers(response)


def test_the_vendored_sdk_is_the_recorded_npm_file() -> None:
    vendor = Path(__file__).resolve().parents[2] / "bridge" / "zoomapp" / "static" / "vendor"
    recorded = (vendor / "README.md").read_text()
    digest = hashlib.sha256((vendor / "zoom-appssdk-0.16.41.es.js").read_bytes()).hexdigest()
    assert f"sha256 of `zoom-appssdk-0.16.41.es.js`: {digest}" in recorded
    assert "Permission is hereby granted" in (vendor / "zoom-appssdk-LICENSE.md").read_text()
