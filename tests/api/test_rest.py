"""The REST routes over real HTTP: token rules, shapes, 404s; the dashboard's files and headers."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import httpx
import pytest

from bridge import __version__
from bridge.api.auth import AuthResult, bearer_from_header, check_token
from bridge.api.redact import redact_query_token
from bridge.dashboard import ASSETS
from tests.api.conftest import (
    PLANNING,
    SALES,
    SALES_LINES,
    TOKEN,
    ApiServer,
    api_server,
    now_ms,
    seed_planning,
    seed_sales,
)

ROUTES = ["/api/info", "/api/meetings", f"/api/meetings/{SALES}", f"/api/meetings/{SALES}/transcript",
          f"/api/meetings/{SALES}/insights", f"/api/meetings/{SALES}/events"]


def test_token_decision() -> None:
    from pydantic import SecretStr

    assert check_token(SecretStr(""), "anything") is AuthResult.DISABLED
    assert check_token(SecretStr("s3cret"), None) is AuthResult.MISSING
    assert check_token(SecretStr("s3cret"), "s3cret") is AuthResult.OK
    assert check_token(SecretStr("s3cret"), "s3cret ") is AuthResult.INVALID
    assert check_token(SecretStr("s3cret"), "s3") is AuthResult.INVALID
    assert check_token(SecretStr("sécret"), "sécret") is AuthResult.OK  # non-ASCII tokens compare too
    assert bearer_from_header("Bearer abc") == "abc"
    assert bearer_from_header("bearer  abc ") == "abc"
    assert bearer_from_header("Basic abc") is None
    assert bearer_from_header("Bearer") is None
    assert bearer_from_header(None) is None


async def test_every_route_needs_the_token(api: ApiServer) -> None:
    await seed_sales(api.store)
    async with api.client(token=None) as client:
        for path in ROUTES:
            await _refused_without_token(client, path)


async def _refused_without_token(client: httpx.AsyncClient, path: str) -> None:
    missing = await client.get(path)
    assert missing.status_code == 401, path
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json() == {"detail": "bearer token required"}
    wrong = await client.get(path, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401, path
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert TOKEN not in wrong.text
    basic = await client.get(path, headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401, path
    async with client.stream("GET", path, params={"token": TOKEN}) as by_query:
        # EventSource cannot set headers: only the events route takes ?token=.
        assert by_query.status_code == (200 if path.endswith("/events") else 401), path


async def test_empty_token_setting_disables_the_api(tmp_path: Path) -> None:
    async with api_server(tmp_path, token="") as server, server.client(token=None) as client:
        await seed_sales(server.store)
        for path in ROUTES:
            for headers in ({}, {"Authorization": "Bearer anything"}):
                response = await client.get(path, params={"token": "anything"}, headers=headers)
                assert response.status_code == 503, path
                assert response.json() == {"detail": "api_token not configured"}
        assert (await client.get("/")).status_code == 200  # the page itself holds no data


async def test_info(api: ApiServer) -> None:
    async with api.client() as client:
        response = await client.get("/api/info")
    assert response.status_code == 200
    assert response.json() == {"model": "offline", "version": __version__}
    assert response.headers["cache-control"] == "no-store"


async def test_info_defaults_and_extras(tmp_path: Path) -> None:
    async with api_server(tmp_path, info={"flows": ["objection_coach"]}) as server, server.client() as client:
        body = (await client.get("/api/info")).json()
    assert body == {"model": "unknown", "version": __version__, "flows": ["objection_coach"]}


async def test_meetings_list_and_detail(api: ApiServer) -> None:
    start = await seed_sales(api.store)
    await seed_planning(api.store)
    async with api.client() as client:
        listing = await client.get("/api/meetings")
        detail = await client.get(f"/api/meetings/{SALES}")
        paged = await client.get("/api/meetings", params={"limit": 1, "offset": 1})
        bad = await client.get("/api/meetings", params={"limit": 0})
    assert listing.status_code == 200
    meetings = listing.json()["meetings"]
    assert {m["id"] for m in meetings} == {SALES, PLANNING}
    by_id = {m["id"]: m for m in meetings}
    assert by_id[SALES]["status"] == "live" and by_id[SALES]["topic"] == "Acme renewal call"
    assert by_id[PLANNING]["status"] == "ended" and by_id[PLANNING]["end_cause"] == "meeting ended"
    assert set(by_id[SALES]) == {"id", "instance_id", "product", "topic", "host_name", "host_id", "status",
                                 "state", "state_detail", "started_at_ms", "ended_at_ms", "end_cause",
                                 "stop_reason", "created_at_ms", "updated_at_ms"}
    assert by_id[SALES]["host_name"] == "Dana Host" and by_id[SALES]["state"] == "live"
    assert len(paged.json()["meetings"]) == 1
    assert bad.status_code == 422

    body = detail.json()
    assert body["id"] == SALES and body["instance_id"] == "inst-sales==" and body["started_at_ms"] == start
    assert {(p["name"], p["role"]) for p in body["participants"]} == {("Dana Host", "host"),
                                                                      ("Sam Buyer", "participant")}
    figures = body["figures"]
    assert figures["lines"] == 4
    assert figures["windows"] == 2 and figures["windows_done"] == 2 and figures["windows_failed"] == 0
    assert figures["latency_p50_ms"] is not None and figures["latency_p95_ms"] >= figures["latency_p50_ms"]
    assert figures["model_calls"] == 2
    assert (figures["input_tokens"], figures["output_tokens"]) == (2400, 600)
    assert figures["insight_delay_p50_ms"] is not None and figures["insight_delay_p50_ms"] > 0
    assert set(figures["per_flow"]) == {"objection_coach", "meeting_summary"}


async def test_transcript_pages(api: ApiServer) -> None:
    await seed_sales(api.store)
    async with api.client() as client:
        full = (await client.get(f"/api/meetings/{SALES}/transcript")).json()
        page = (await client.get(f"/api/meetings/{SALES}/transcript", params={"after_seq": 1, "limit": 2})).json()
        too_big = await client.get(f"/api/meetings/{SALES}/transcript", params={"limit": 100_000})
    assert full["meeting_id"] == SALES and full["last_seq"] == 4
    assert [(line["seq"], line["speaker"], line["text"]) for line in full["lines"]] == [
        (i, speaker, text) for i, (speaker, _, text) in enumerate(SALES_LINES, start=1)]
    assert set(full["lines"][0]) == {"seq", "speaker", "user_id", "start_ms", "end_ms", "text"}
    assert [line["seq"] for line in page["lines"]] == [2, 3] and page["last_seq"] == 4
    assert too_big.status_code == 422


async def test_insights(api: ApiServer) -> None:
    await seed_sales(api.store)
    async with api.client() as client:
        body = (await client.get(f"/api/meetings/{SALES}/insights")).json()
    assert body["meeting_id"] == SALES
    summary = body["summary"]
    assert summary["kind"] == "summary" and summary["flow"] == "meeting_summary"
    assert summary["payload"]["decisions"][0]["text"] == "Send a pricing comparison"
    objections = {o["key"]: o for o in body["insights"]}
    assert sorted(objections) == ["incumbent-contract", "price-budget"]
    price = objections["price-budget"]
    assert price["kind"] == "objections" and price["flow"] == "objection_coach"
    assert price["payload"]["suggested_reply"].startswith("Let's look at the cost")
    assert price["payload"]["confidence"] == 0.86 and price["quote"] == SALES_LINES[1][2]
    [ticket] = body["tickets"]
    assert ticket["key"] == "pricing-comparison" and ticket["title"] == "Send pricing comparison"
    assert ticket["status"] == "created" and ticket["priority"] == "high" and ticket["owner"] == "Dana Host"
    assert ticket["external"] == {"system": "github", "id": "42", "url": "https://github.com/acme/sales/issues/42",
                                  "status": "created"}


async def test_unknown_meeting_is_404_naming_it(api: ApiServer) -> None:
    async with api.client() as client:
        for suffix in ("", "/transcript", "/insights", "/events"):
            response = await client.get(f"/api/meetings/no-such-stream{suffix}")
            assert response.status_code == 404, suffix
            assert response.json() == {"detail": "meeting 'no-such-stream' not found"}


async def test_dashboard_files(api: ApiServer) -> None:
    async with api.client(token=None) as client:
        page = await client.get("/")
        script = await client.get("/static/dashboard.js")
        style = await client.get("/static/dashboard.css")
        icon = await client.get("/static/favicon.svg")
        missing = await client.get("/static/../settings.py")
        unknown = await client.get("/static/secrets.txt")
        index_as_asset = await client.get("/static/index.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert missing.status_code == 404 and unknown.status_code == 404 and index_as_asset.status_code == 404


def test_dashboard_is_self_contained() -> None:
    """Shipped in the package, nothing loaded from elsewhere, no data written as HTML."""
    folder = resources.files("bridge.dashboard").joinpath("static")
    texts = {name: folder.joinpath(name).read_text("utf-8") for name in ASSETS}
    for name, text in texts.items():
        assert "://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', ""), name  # no absolute URL
        assert 'src="//' not in text and 'href="//' not in text, name
        assert "@import" not in text and "fonts." not in text, name
    script = texts["dashboard.js"]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink


async def test_query_token_stays_out_of_the_access_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert redact_query_token("/api/m/x/events?token=abc&b=1") == "/api/m/x/events?token=***&b=1"
    assert redact_query_token("/api/m/x/events?a=1&TOKEN=abc") == "/api/m/x/events?a=1&TOKEN=***"
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    async with api_server(tmp_path, access_log=True) as server, server.client(token=None) as client:
        await seed_planning(server.store)
        async with client.stream("GET", f"/api/meetings/{PLANNING}/events", params={"token": TOKEN}) as response:
            assert response.status_code == 200
        await client.get("/api/info", params={"token": "a-wrong-one"})
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/events?token=***" in line for line in access), access
    assert not any(TOKEN in line or "a-wrong-one" in line for line in access), access


@pytest.mark.parametrize(("raw", "expected"), [
    ("/e?%74oken=abc&b=1", "/e?%74oken=***&b=1"),  # a query parser decodes the name to `token`
    ("/e?%54%4F%4B%45%4E=abc", "/e?%54%4F%4B%45%4E=***"),
    ("/e?a=1;token=abc", "/e?a=1;token=***"),  # `;` separates parameters for some parsers
    ("/e;token=abc?b=1", "/e;token=***"),  # a path parameter: masked to the end, not guessed at
    ("/e?tok%65n=abc#x", "/e?tok%65n=***#x"),
    ("/e?access_token=abc", "/e?access_token=***"),
    ("/e?tokens=abc&b=token", "/e?tokens=abc&b=token"),  # other names and values are left alone
])
def test_redaction_sees_through_encoded_names_and_semicolons(raw: str, expected: str) -> None:
    assert redact_query_token(raw) == expected


def test_redaction_masks_the_configured_token_wherever_it_appears() -> None:
    secret = "s3cret/+token"
    for text in (f"/x/{secret}", "/x?q=s3cret%2F%2Btoken", "/x?q=s3cret%2f%2btoken", "/x?q=%73%33cret%2F%2Btoken"):
        assert "s3cret" not in redact_query_token(text, (secret,)), text


async def test_encoded_token_spellings_stay_out_of_the_access_log(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    async with api_server(tmp_path, access_log=True) as server, server.client(token=None) as client:
        await seed_planning(server.store)
        for query in (f"?%74oken={TOKEN}", f"?a=1;token={TOKEN}", f"?t%6Fken={TOKEN}&x=1"):
            await client.get(f"/api/meetings/{PLANNING}/insights{query}")
        await client.get(f"/api/info;token={TOKEN}")
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(access) >= 4, access
    assert not any(TOKEN in line for line in access), access


@pytest.mark.parametrize(("path", "param"), [
    ("/api/meetings", "offset"), (f"/api/meetings/{SALES}/transcript", "after_seq"),
    ("/api/meetings", "limit"), (f"/api/meetings/{SALES}/transcript", "limit"),
])
@pytest.mark.parametrize("value", [str(10**20), str(2**63), "9" * 5000, "-" + "9" * 30])
async def test_numbers_beyond_64_bits_are_a_422_naming_the_parameter(api: ApiServer, path: str, param: str,
                                                                     value: str) -> None:
    await seed_sales(api.store)
    async with api.client() as client:
        response = await client.get(path, params={param: value})
        assert response.status_code == 422, response.text
        assert param in response.text
        largest = await client.get(path, params={param: str(2**63 - 1)} if param != "limit" else {})
        assert largest.status_code == 200, largest.text


async def test_topic_host_and_honest_states(api: ApiServer) -> None:
    """The topic of a `*.started` webhook names a meeting stored without one; `state` tells a normal end from an
    error, a revocation and a bridge stop."""
    store = api.store
    cases = {  # stream: (end_cause, stop_reason, expected state)
        "s-normal": ("terminated", 6, "ended"), "s-stopped": ("stopped", None, "ended"),
        "s-error": ("terminated", 24, "error"), "s-gave-up": ("gave_up", None, "error"),
        "s-revoked": ("stopped", 23, "revoked"), "s-shutdown": ("shutdown", None, "interrupted"),
    }
    for stream, (cause, reason, _) in cases.items():
        await store.upsert_meeting(stream, instance_id=f"inst-{stream}", product="meeting")
        await store.set_meeting_status(stream, "ended", ended_at_ms=now_ms(), end_cause=cause)
        if reason is not None:
            await store.set_stop_reason(stream, reason)
    await store.upsert_meeting("s-live", instance_id="inst-live", product="meeting")
    await store.save_meeting_name("inst-live", product="meeting", topic="Weekly sync", host_id="h1",
                                  start_time_ms=1_796_400_000_000)
    async with api.client() as client:
        meetings = {m["id"]: m for m in (await client.get("/api/meetings")).json()["meetings"]}
        detail = (await client.get("/api/meetings/s-live")).json()
        snapshot = ""
        async with client.stream("GET", "/api/meetings/s-live/events", params={"token": TOKEN}) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    snapshot = line
                    break
    for stream, (_, _, state) in cases.items():
        assert meetings[stream]["state"] == state, stream
        assert meetings[stream]["state_detail"] and "terminated" not in meetings[stream]["state_detail"]
    assert meetings["s-normal"]["state_detail"] == "meeting ended"
    assert meetings["s-live"]["topic"] == detail["topic"] == "Weekly sync"
    assert detail["host_id"] == "h1" and detail["state"] == "live"
    assert meetings["s-live"]["started_at_ms"] == 1_796_400_000_000
    assert '"topic":"Weekly sync"' in snapshot
