"""The flows in a real Langflow server: palette, auto-load, upload, push, and runs through `/api/v1/run`.

One Langflow per session (see conftest): the project's environment, where the editable install exposes the bundle
as an extension, flows auto-loaded from `flows/`, the Anthropic node pointed at the offline model with a tweak of
its base URL (allowed by `LANGFLOW_SSRF_ALLOWED_HOSTS` and `LANGFLOW_PROVIDER_CREDENTIAL_ALLOWED_HOSTS`, the key
coming from the `ANTHROPIC_API_KEY` global variable).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.contracts import parse_insights
from bridge.flows_build import FLOWS, NODE_IDS, flow_id
from bridge.flows_push import push_flows
from tests.langflow.components import BUNDLE_DIR
from tests.langflow.meetings import (
    SALES_CALL,
    SALES_EXPECTED,
    SALES_PARTICIPANTS,
    MeetingRun,
    sample_names,
    sample_run,
)
from tests.langflow.ticket_systems import TOKEN, ServedApp, TicketSystems, create_app
from tests.langflow_server import REPO, LangflowServer, OfflineLLMProcess

BUNDLE_CLASSES = {
    "TranscriptWindowComponent": ("RTMSTranscriptWindow", "transcript_window.py"),
    "MeetingSummarizerComponent": ("RTMSMeetingSummarizer", "meeting_summarizer.py"),
    "ObjectionDetectorComponent": ("RTMSObjectionDetector", "objection_detector.py"),
    "TicketExtractorComponent": ("RTMSTicketExtractor", "ticket_extractor.py"),
    "TicketCreatorComponent": ("RTMSTicketCreator", "ticket_creator.py"),
    "InsightsOutputComponent": ("RTMSInsightsOutput", "insights_output.py"),
}


def model_tweak(llm: OfflineLLMProcess) -> dict[str, Any]:
    return {NODE_IDS["model"]: {"base_url": llm.base_url}}


async def run_meeting(server: LangflowServer, run: MeetingRun, tweaks: dict[str, Any]) -> MeetingRun:
    """Play the bridge: each window through `POST /api/v1/run/{endpoint}`, insights folded into the next window."""
    async with httpx.AsyncClient(base_url=server.base_url, headers={"x-api-key": server.api_key}, timeout=60) as http:
        for window in run.windows():
            response = await http.post(
                f"/api/v1/run/{run.flow}",
                json={"input_value": window.to_json(), "session_id": f"{run.meeting_id}:{run.flow}", "tweaks": tweaks},
            )
            assert response.status_code == 200, response.text
            text = response.json()["outputs"][0]["outputs"][0]["results"]["message"]["text"]
            doc = run.fold(text)
            assert doc.meeting_id == run.meeting_id and doc.window_seq == window.window.seq
            assert doc.errors == [], doc.errors
    return run


def test_palette_has_the_bundle_from_the_editable_install(langflow: LangflowServer) -> None:
    bundle = langflow.palette()["zoom_rtms"]
    assert set(bundle) == {f"ext:zoom_rtms:{cls}@official" for cls in BUNDLE_CLASSES}
    for key, template in bundle.items():
        name, filename = BUNDLE_CLASSES[key.split(":")[2].split("@")[0]]
        assert template["name"] == name and template["extension"] == "rtms-langflow"
        assert template["template"]["code"]["value"] == (BUNDLE_DIR / filename).read_text()
    assert "Extension load error" not in langflow.log_path.read_text(errors="replace")


def test_flows_were_auto_loaded(langflow: LangflowServer) -> None:
    with langflow.client() as client:
        flows = client.get("/api/v1/flows/", params={"get_all": "true", "header_flows": "true"}).json()
    loaded = {f["endpoint_name"]: f["id"] for f in flows if f.get("endpoint_name")}
    assert {name: flow_id(name) for name in FLOWS}.items() <= loaded.items()


async def test_objection_coach_run(langflow: LangflowServer, offline_llm_process: OfflineLLMProcess) -> None:
    run = MeetingRun(SALES_CALL, flow="objection_coach", meeting_id="sales-obj", participants=SALES_PARTICIPANTS)
    await run_meeting(langflow, run, model_tweak(offline_llm_process))
    found = {o.category: o.quote for o in run.all_objections()}
    assert set(found) == set(SALES_EXPECTED["objections"])
    assert all(q.lower() in found[c].lower() for c, q in SALES_EXPECTED["objections"].items())
    assert all(doc.usage and doc.usage.model_calls == 1 for doc in run.insights)


async def test_meeting_summary_run(langflow: LangflowServer, offline_llm_process: OfflineLLMProcess) -> None:
    run = MeetingRun(SALES_CALL, flow="meeting_summary", meeting_id="sales-sum", participants=SALES_PARTICIPANTS)
    await run_meeting(langflow, run, model_tweak(offline_llm_process))
    last = run.insights[-1].summary
    assert last is not None and len(run.insights) == 3
    assert [d.quote for d in last.decisions] == ["We decided on a two week pilot for your team, starting Monday."]
    assert last.key_points and all(p.speaker in {"Sam Rivera", "Pat Kim"} for p in last.key_points)


async def test_ticket_creation_run_files_each_ticket_once(
    langflow: LangflowServer, offline_llm_process: OfflineLLMProcess
) -> None:
    state = TicketSystems()
    async with ServedApp(create_app(state)) as url:
        creator = {"system": "webhook", "dry_run": False, "base_url": f"{url}/hook", "api_token": TOKEN}
        tweaks = {**model_tweak(offline_llm_process), NODE_IDS["creator"]: creator}
        run = MeetingRun(SALES_CALL, flow="ticket_creation", meeting_id="sales-tkt", participants=SALES_PARTICIPANTS)
        await run_meeting(langflow, run, tweaks)
        tickets = run.all_tickets()
        for quote, kind in SALES_EXPECTED["tickets"].items():
            assert any(quote.lower() in t.quote.lower() and t.kind == kind for t in tickets), quote
        assert all(t.external and t.external.status == "created" for t in tickets)
        assert len(state.webhook) == len(tickets)
        # The bridge retries the whole meeting (say, after a crash that lost its state): nothing is filed twice.
        retry = MeetingRun(SALES_CALL, flow="ticket_creation", meeting_id="sales-tkt", participants=SALES_PARTICIPANTS)
        await run_meeting(langflow, retry, tweaks)
        assert [t.external.status for t in retry.all_tickets() if t.external] == ["existing"] * len(tickets)
        assert len(state.webhook) == len(tickets)


async def test_dry_run_by_default(langflow: LangflowServer, offline_llm_process: OfflineLLMProcess) -> None:
    run = MeetingRun(SALES_CALL[:6], flow="ticket_creation", meeting_id="sales-dry", window_size=6)
    await run_meeting(langflow, run, model_tweak(offline_llm_process))
    assert {t.external.status for t in run.all_tickets() if t.external} == {"dry_run"}


def test_a_bad_window_fails_the_run_naming_the_field(langflow: LangflowServer) -> None:
    run = MeetingRun(SALES_CALL, flow="objection_coach")
    doc = json.loads(next(run.windows()).to_json())
    doc["utterances"][1]["start_ms"] = "soon"
    with langflow.client() as client:
        response = client.post("/api/v1/run/objection_coach", json={"input_value": json.dumps(doc)})
    assert response.status_code == 500
    assert "invalid window: utterances.1.start_ms: expected an integer, got string" in response.text


def test_upload_through_the_api_upserts(langflow: LangflowServer, offline_llm_process: OfflineLLMProcess) -> None:
    path = REPO / "flows" / "objection_coach.json"
    with langflow.client() as client:
        for _ in range(2):
            response = client.post(
                "/api/v1/flows/upload/", files={"file": (path.name, path.read_bytes(), "application/json")}
            )
            assert response.status_code == 201, response.text
            assert [f["id"] for f in response.json()] == [flow_id("objection_coach")]
        window = next(MeetingRun(SALES_CALL, flow="objection_coach", window_size=4).windows())
        answer = client.post(
            "/api/v1/run/objection_coach",
            json={"input_value": window.to_json(), "tweaks": model_tweak(offline_llm_process)},
        )
    assert parse_insights(answer.json()["outputs"][0]["outputs"][0]["results"]["message"]["text"]).kind == "objections"


async def test_push_flows_upserts_by_id(langflow: LangflowServer, tmp_path: Path) -> None:
    # One flow missing (a fresh server): push creates it under its fixed id and leaves the others (same content).
    async with httpx.AsyncClient(base_url=langflow.base_url, headers={"x-api-key": langflow.api_key},
                                 timeout=30) as client:
        assert (await client.delete(f"/api/v1/flows/{flow_id('objection_coach')}")).status_code == 200
    pushed = await push_flows(langflow.base_url, langflow.api_key, REPO / "flows", state_dir=tmp_path)
    assert {(p.endpoint_name, p.flow_id, p.outcome) for p in pushed} == {
        (n, flow_id(n), "created" if n == "objection_coach" else "unchanged") for n in FLOWS}
    built = await push_flows(langflow.base_url, langflow.api_key, state_dir=tmp_path)
    assert [p.flow_id for p in built] == [p.flow_id for p in pushed]


# Each sample through the flow it was written for (the in-process tests run every sample through every agent).
SAMPLE_FLOWS = {
    "sales_discovery": "objection_coach",
    "support_call": "ticket_creation",
    "planning_meeting": "meeting_summary",
}


def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def quoted(expected: str, found: str) -> bool:
    return norm(expected) in norm(found) or norm(found) in norm(expected)


@pytest.mark.skipif(not sample_names(), reason="bridge/simulator/samples/ has no sample meetings yet")
@pytest.mark.parametrize("name", [n for n in sample_names() if n in SAMPLE_FLOWS] or ["none"])
async def test_sample_meetings_through_the_server(
    name: str, langflow: LangflowServer, offline_llm_process: OfflineLLMProcess
) -> None:
    run, expected = sample_run(name, SAMPLE_FLOWS[name], window_size=6)
    await run_meeting(langflow, run, model_tweak(offline_llm_process))
    if run.flow == "objection_coach":
        found = run.all_objections()
        for planted in expected["objections"]:
            assert any(quoted(planted["quote"], o.quote) and o.category == planted["category"] for o in found), planted
    elif run.flow == "ticket_creation":
        found_tickets = run.all_tickets()
        for planted in expected["tickets"]:
            assert any(quoted(planted["quote"], t.quote) for t in found_tickets), planted
        assert {t.external.status for t in found_tickets if t.external} == {"dry_run"}
    else:
        summary = run.insights[-1].summary
        assert summary is not None
        decisions = [d.quote for d in summary.decisions]
        assert sum(any(quoted(d["quote"], q) for q in decisions) for d in expected["decisions"]) >= 3
        questions = [q.quote for q in summary.open_questions]
        assert all(any(quoted(q["quote"], f) for f in questions) for q in expected["open_questions"])


def test_no_flow_left_unloaded(langflow: LangflowServer) -> None:
    log = langflow.log_path.read_text(errors="replace")
    for name in FLOWS:
        assert f"Loading flow from file: {name}.json" in log
    assert Path(REPO / "flows").is_dir()
