"""Each component in-process: instantiated with keyword arguments, output methods called directly.

The LLM components talk to a real LangChain ChatAnthropic pointed at the offline model (a real Messages API on
loopback); the Ticket Creator talks to doubles of Jira, Zendesk, GitHub and a webhook speaking their wire formats.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from lfx.schema.data import Data

from bridge.contracts import parse_insights
from bridge.flows_build import shared_helpers_drift, sync_shared_helpers, window_schema_drift
from tests.langflow.components import BUNDLE_DIR, load
from tests.langflow.conftest import close_model
from tests.langflow.meetings import (
    SALES_CALL,
    SALES_EXPECTED,
    SALES_PARTICIPANTS,
    T0,
    Line,
    MeetingRun,
    sample_names,
    sample_run,
)
from tests.langflow.ticket_systems import EMAIL, TOKEN, ServedApp, TicketSystems

tw, ms, od, te, tc, io = (
    load(n)
    for n in [
        "transcript_window",
        "meeting_summarizer",
        "objection_detector",
        "ticket_extractor",
        "ticket_creator",
        "insights_output",
    ]
)


def sales_run(flow: str, **kwargs: Any) -> MeetingRun:
    return MeetingRun(SALES_CALL, flow=flow, participants=SALES_PARTICIPANTS, **kwargs)


def window_data(window: Any) -> Data:
    return tw.TranscriptWindowComponent(window_json=window.to_json()).build_window()


def insights_text(window: Data, result: Data) -> str:
    component = io.InsightsOutputComponent(window=window, result=result)
    text: str = component.build_insights_message().text
    return text


# --- Transcript Window -----------------------------------------------------------------------------------------


def test_transcript_window_renders_speakers_and_times() -> None:
    window = next(sales_run("meeting_summary", window_size=3).windows())
    component = tw.TranscriptWindowComponent(window_json=window.to_json())
    text = component.build_transcript().text
    assert text.splitlines()[0] == "Test meeting (meeting), window 0 (count)"
    assert "[+00:00] Sam Rivera: Thanks for making the time today, Pat." in text
    assert component.status == "window 0: 3 new utterance(s)"
    assert component.build_window().data == json.loads(window.to_json())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "invalid window: (root): the input is empty"),
        ("hello there", "invalid window: (root): not JSON"),
        ('{"meeting": {}}', "invalid window: meeting.id: field required"),
    ],
)
def test_transcript_window_rejects_bad_input(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        tw.TranscriptWindowComponent(window_json=raw).build_window()


# --- Objection Detector ----------------------------------------------------------------------------------------


async def test_objection_detector_finds_each_objection_once(chat_model: Any) -> None:
    run = sales_run("objection_coach")
    for window in run.windows():
        data = window_data(window)
        detector = od.ObjectionDetectorComponent(window=data, llm=chat_model)
        run.fold(insights_text(data, await detector.detect_objections()))
    found = {o.category: o for o in run.all_objections()}
    assert set(found) == set(SALES_EXPECTED["objections"])
    for category, quote in SALES_EXPECTED["objections"].items():
        assert quote.lower() in found[category].quote.lower()
        assert found[category].speaker == "Pat Kim" and found[category].at_ms > T0
        assert found[category].suggested_reply
    assert all(doc.usage is not None and doc.usage.model_calls == 1 for doc in run.insights)  # one call a window
    # The same meeting again, with everything already raised: nothing is repeated.
    again = sales_run("objection_coach", raised=list(run.raised))
    for window in again.windows():
        data = window_data(window)
        result = await od.ObjectionDetectorComponent(window=data, llm=chat_model).detect_objections()
        assert result.data["objections"] == []


async def test_objection_detector_playbook_threshold_and_text_mode(chat_model: Any) -> None:
    window = next(sales_run("objection_coach", window_size=10).windows())
    data = window_data(window)
    playbook = [{"category": "incumbent", "cues": "already use, salesforce", "response": "Ask what is missing."}]
    detector = od.ObjectionDetectorComponent(window=data, llm=chat_model, playbook=playbook, min_confidence=0.5)
    result = (await detector.detect_objections()).data
    assert [o["category"] for o in result["objections"]] == ["incumbent"]
    assert result["objections"][0]["suggested_reply"] == "Ask what is missing."
    strict = od.ObjectionDetectorComponent(window=data, llm=chat_model, min_confidence=0.95)
    assert (await strict.detect_objections()).data["objections"] == []
    assert "below confidence" in strict.status
    tools = await od.ObjectionDetectorComponent(window=data, llm=chat_model).detect_objections()
    text = await od.ObjectionDetectorComponent(window=data, llm=chat_model, use_tool_calling=False).detect_objections()
    assert text.data["objections"] == tools.data["objections"] and len(tools.data["objections"]) == 3


class RecordingModel:
    """A LanguageModel double: keeps each request (system message, header JSON, context and new lines) and answers
    with the given objections."""

    def __init__(self, objections: list[dict[str, Any]] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.objections = objections or []

    def bind_tools(self, tools: list[Any], tool_choice: str | None = None) -> RecordingModel:
        return self

    async def ainvoke(self, messages: list[tuple[str, Any]], config: Any = None) -> Any:
        from langchain_core.messages import AIMessage

        body = re.search(r"<window_data>\n(.*)\n</window_data>", messages[-1][1], re.DOTALL)
        assert body is not None
        header, *rest = body.group(1).split("\n")
        sections: dict[str, list[str]] = {"context": [], "new": []}
        current = None
        for line in rest:
            if line in ("context:", "new:"):
                current = line[:-1]
            else:
                assert current is not None
                sections[current].append(line)
        self.requests.append({"system": messages[0][1], "data": json.loads(header), **sections})
        call = {"name": "report_objections", "args": {"objections": self.objections}, "id": "call_1"}
        usage = {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}
        return AIMessage(content="", tool_calls=[call], usage_metadata=usage)


def prospect_window(*texts: str, context: int = 0) -> Data:
    """One window of the prospect's `texts` (after `context` earlier lines of small talk by the host)."""
    lines = [Line("Sam Rivera", "101", i * 5000, i * 5000 + 4000, f"Small talk number {i}.") for i in range(context)]
    lines += [Line("Pat Kim", "202", (context + i) * 5000, (context + i) * 5000 + 4000, t) for i, t in enumerate(texts)]
    run = MeetingRun(
        lines, flow="objection_coach", participants=SALES_PARTICIPANTS, window_size=len(texts), context_size=context
    )
    return window_data(list(run.windows())[-1])


async def test_objection_detector_sends_lean_lines_of_the_customer_only() -> None:
    answer = {
        "category": "Timing",
        "quote": "check with my boss first",
        "utterance_id": "meeting-1-u5",
        "confidence": 0.8,
    }
    model = RecordingModel([answer])
    data = prospect_window("Honestly the PRICES look steep.", "And we have to check with my boss first.", context=4)
    detector = od.ObjectionDetectorComponent(window=data, llm=model)
    result = (await detector.detect_objections()).data
    [request] = model.requests
    assert request["data"] == {
        "task": "objections",
        "meeting": {"product": "meeting", "topic": "Test meeting"},
        "raised_objections": [],
    }
    # One line of context (the host's, marked internal), then the customer's new lines, one line each.
    assert request["context"] == ["[meeting-1-u3|internal] Sam Rivera: Small talk number 3."]
    assert request["new"] == [
        "[meeting-1-u4] Pat Kim: Honestly the PRICES look steep.",
        "[meeting-1-u5] Pat Kim: And we have to check with my boss first.",
    ]
    [objection] = result["objections"]
    cards = {row["category"]: row for row in od.playbook_rows(od.DEFAULT_PLAYBOOK)}
    assert objection["category"] == "timing" and objection["suggested_reply"] == cards["timing"]["response"]
    assert result["usage"] == {
        "model_calls": 1,
        "input_tokens": 100,
        "output_tokens": 10,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert detector.status == "1 objection(s) in 2 customer utterance(s)"


async def test_objection_detector_system_prompt_is_the_same_every_window() -> None:
    # Nothing per window before the cache breakpoint: the playbook and examples are in the system prompt, which
    # does not change between windows; switched off, the prompt is the short one without examples.
    model = RecordingModel()
    for texts in [("It is too expensive.",), ("We already use another tool.", "And it works.")]:
        await od.ObjectionDetectorComponent(window=prospect_window(*texts), llm=model).detect_objections()
    first, second = (r["system"] for r in model.requests)
    assert first == second and isinstance(first, str)  # not an Anthropic model: no marker
    assert "- price | too expensive" in first and "Worked examples." in first
    lean = RecordingModel()
    await od.ObjectionDetectorComponent(
        window=prospect_window("It is too expensive."), llm=lean, cache_prompt=False
    ).detect_objections()
    assert "Worked examples." not in lean.requests[0]["system"] and "- price | too expensive" in first


async def test_objection_detector_asks_only_about_the_customer_side() -> None:
    # The host's words alone, or those of someone the lead marked internal, do not cost a call.
    model = RecordingModel()
    lines = [
        Line("Sam Rivera", "101", 0, 4000, "Our price went up this year, I'm afraid."),
        Line("Tom Okafor (Harborline)", "303", 5000, 9000, "I'm worried about the rollout on our side."),
    ]
    run = MeetingRun(lines, flow="objection_coach", participants=SALES_PARTICIPANTS, window_size=2)
    data = window_data(list(run.windows())[-1])
    detector = od.ObjectionDetectorComponent(window=data, llm=model, internal_side="(harborline)")
    assert (await detector.detect_objections()).data["usage"] is None
    assert model.requests == [] and detector.status == "0 new customer character(s) in 2 utterance(s): not asked"
    unmarked = od.ObjectionDetectorComponent(window=data, llm=model)
    await unmarked.detect_objections()
    assert model.requests[0]["new"] == [
        "[meeting-1-u1] Tom Okafor (Harborline): I'm worried about the rollout on our side."
    ]
    assert model.requests[0]["context"] == [
        "[meeting-1-u0|internal] Sam Rivera: Our price went up this year, I'm afraid."
    ]


async def test_objection_detector_cue_gate_is_opt_in() -> None:
    model = RecordingModel()
    data = prospect_window("Sounds good, let's look at the dashboard.", "We run twelve teams in three offices.")
    await od.ObjectionDetectorComponent(window=data, llm=model).detect_objections()
    assert len(model.requests) == 1
    detector = od.ObjectionDetectorComponent(window=data, llm=model, ask_only_on_cue=True)
    result = (await detector.detect_objections()).data
    assert len(model.requests) == 1
    assert result == {"kind": "objections", "objections": [], "errors": [], "usage": None}
    assert detector.status == "no cue phrase in 2 new customer utterance(s): model not asked"
    assert parse_insights(insights_text(data, Data(data=result))).usage is None
    worried = prospect_window("I\u2019m a bit worried about the rollout.")
    await od.ObjectionDetectorComponent(window=worried, llm=model, ask_only_on_cue=True).detect_objections()
    assert len(model.requests) == 2
    gated = od.ObjectionDetectorComponent(window=worried, llm=model, general_cues="", ask_only_on_cue=True)
    await gated.detect_objections()
    assert len(model.requests) == 2


@pytest.mark.parametrize(
    ("cue", "text", "said"),
    [
        ("price", "the prices went up", True),
        ("price", "enterprise plan", False),
        ("concern", "we are concerned", True),
        ("SOC 2", "do you have a soc-2 report", True),
        ("don't think", "i don\u2019t think so", True),
        ("don't think", "i dont think so", True),
        ("sign off", "who can sign-off on this", True),
        ("risk", "asterisk", False),
        ("", "anything", False),
    ],
)
def test_objection_cues_match_whole_words(cue: str, text: str, said: bool) -> None:
    assert od._said([cue], [text.lower().replace("\u2019", "'")]) is said


# --- Output that does not parse is reported ---------------------------------------------------------------------


def misbehaving_model_app(answer: dict[str, Any]) -> FastAPI:
    """An Anthropic Messages endpoint that answers the given content blocks, whatever is asked."""
    app = FastAPI()

    @app.post("/v1/messages")
    async def messages(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            {
                "id": "msg_bad",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": answer["content"],
                "stop_reason": answer["stop_reason"],
                "stop_sequence": None,
                "usage": {"input_tokens": 7, "output_tokens": 3},
            }
        )

    return app


@pytest.fixture
async def bad_models() -> AsyncIterator[dict[str, Any]]:
    from langchain_anthropic import ChatAnthropic

    answers = {
        "prose": {
            "content": [{"type": "text", "text": "I think there were no objections."}],
            "stop_reason": "end_turn",
        },
        "wrong_shape": {
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "report_objections",
                    "input": {
                        "objections": [{"category": "price", "quote": "too expensive", "confidence": "high"}, "oops"]
                    },
                }
            ],
            "stop_reason": "tool_use",
        },
        "invented_quote": {
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "report_objections",
                    "input": {
                        "objections": [
                            {
                                "category": "price",
                                "quote": "never said this",
                                "utterance_id": "nope",
                                "confidence": 0.9,
                                "suggested_reply": "x",
                            }
                        ]
                    },
                }
            ],
            "stop_reason": "tool_use",
        },
    }
    models: dict[str, Any] = {}
    servers = [ServedApp(misbehaving_model_app(answer)) for answer in answers.values()]
    for name, server in zip(answers, servers, strict=True):
        url = await server.__aenter__()
        models[name] = ChatAnthropic(model="claude-haiku-4-5-20251001", api_key="k", base_url=url, max_retries=0)
    try:
        yield models
    finally:
        for model in models.values():
            await close_model(model)
        for server in servers:
            await server.__aexit__()


async def test_output_that_does_not_parse_is_reported(bad_models: dict[str, Any]) -> None:
    data = window_data(next(sales_run("objection_coach", window_size=10).windows()))
    for name, expected in [
        ("prose", "model answer did not parse"),
        ("wrong_shape", "confidence must be a number"),
        ("invented_quote", "its quote is not in the new customer utterances"),
    ]:
        detector = od.ObjectionDetectorComponent(window=data, llm=bad_models[name])
        result = await detector.detect_objections()
        assert result.data["objections"] == []
        messages = [error["message"] for error in result.data["errors"]]
        assert any(expected in message for message in messages), (name, messages)
        assert "problem(s)" in detector.status
        doc = parse_insights(insights_text(data, result))
        assert doc.errors and doc.errors[0].stage == "objection_detector"
    summarizer = ms.MeetingSummarizerComponent(window=data, llm=bad_models["prose"])
    summary = await summarizer.build_summary()
    assert summary.data["summary"] is None and "did not parse" in summary.data["errors"][0]["message"]


# --- Meeting Summarizer ----------------------------------------------------------------------------------------


async def test_summary_rolls_forward_with_bounded_input(chat_model: Any, offline_llm: Any) -> None:
    run = sales_run("meeting_summary", window_size=5)
    sizes = []
    for window in run.windows():
        data = window_data(window)
        before = offline_llm.stats.input_tokens
        summarizer = ms.MeetingSummarizerComponent(window=data, llm=chat_model, max_summary_chars=600)
        run.fold(insights_text(data, await summarizer.build_summary()))
        sizes.append(offline_llm.stats.input_tokens - before)
    first, second = run.insights
    assert first.summary is not None and second.summary is not None
    assert second.summary.text.startswith(first.summary.text[:40])
    assert len(second.summary.key_points) > len(first.summary.key_points)
    assert [d.quote for d in second.summary.decisions] == [
        "We decided on a two week pilot for your team, starting Monday."
    ]
    assert second.summary.open_questions[-1].quote == "How do we handle single sign-on during the pilot?"
    assert all(p.speaker for p in second.summary.key_points)
    # Only the previous summary and the new utterances are sent: the second call is not the sum of both windows.
    assert sizes[1] < 2 * sizes[0]


async def test_summary_of_an_empty_window_keeps_the_previous_one(chat_model: Any) -> None:
    window = next(sales_run("meeting_summary").windows())
    doc = json.loads(window.to_json())
    doc["utterances"] = []
    doc["state"]["summary"] = {"text": "Earlier.", "key_points": [], "decisions": [], "open_questions": []}
    data = tw.TranscriptWindowComponent(window_json=json.dumps(doc)).build_window()
    result = await ms.MeetingSummarizerComponent(window=data, llm=chat_model).build_summary()
    assert result.data["summary"]["text"] == "Earlier." and result.data["usage"] is None


# --- Ticket Extractor ------------------------------------------------------------------------------------------


async def test_ticket_extractor_items_keys_and_tracking(chat_model: Any) -> None:
    run = sales_run("ticket_creation")
    for window in run.windows():
        data = window_data(window)
        run.fold(insights_text(data, await te.TicketExtractorComponent(window=data, llm=chat_model).extract_tickets()))
    tickets = run.all_tickets()
    by_quote = {
        quote: next(t for t in tickets if quote.lower() in t.quote.lower()) for quote in SALES_EXPECTED["tickets"]
    }
    for quote, kind in SALES_EXPECTED["tickets"].items():
        assert by_quote[quote].kind == kind
    pricing = by_quote["I'll send you the pricing comparison by Friday"]
    assert pricing.owner == "Sam Rivera" and pricing.due == "2025-10-10"  # said on Thursday 2025-10-09 (UTC)
    assert by_quote["Pat, can you share one of the reports that fails?"].owner == "Pat Kim"
    assert len({t.key for t in tickets}) == len(tickets)
    # A retry of the same windows yields the same keys; with the items tracked, nothing is extracted again.
    retry = sales_run("ticket_creation")
    for window in retry.windows():
        data = window_data(window)
        retry.fold(
            insights_text(data, await te.TicketExtractorComponent(window=data, llm=chat_model).extract_tickets())
        )
    assert [t.key for t in retry.all_tickets()] == [t.key for t in tickets]
    tracked = sales_run("ticket_creation", tracked=list(run.tracked))
    for window in tracked.windows():
        result = await te.TicketExtractorComponent(window=window_data(window), llm=chat_model).extract_tickets()
        assert result.data["tickets"] == []


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("Friday", "2025-10-10"),
        ("tomorrow", "2025-10-10"),
        ("end of day tomorrow", "2025-10-10"),
        ("first thing tomorrow", "2025-10-10"),
        ("end of week", "2025-10-10"),
        ("this week", "2025-10-10"),
        ("today", "2025-10-09"),
        ("this morning", "2025-10-09"),
        ("next Monday", "2025-10-13"),
        ("next week", "2025-10-13"),
        ("Thursday", "2025-10-16"),
        ("Thursday the twenty-third", "2025-10-23"),
        ("Tuesday the twenty-third", "2025-12-23"),
        ("Friday the twelfth", "2025-12-12"),
        ("Monday the thirteenth", "2025-10-13"),
        ("the week of the twentieth", "2025-10-24"),
        ("end of the month", "2025-10-31"),
        ("October 20th", "2025-10-20"),
        ("Jan 5", "2026-01-05"),
        ("2025-12-01", "2025-12-01"),
        ("after the offsite", "after the offsite"),
        (None, None),
    ],
)
def test_due_dates_resolve_relative_to_when_they_were_said(phrase: str | None, expected: str | None) -> None:
    assert te.resolve_due(phrase, T0) == expected  # T0 is Thursday 2025-10-09 UTC


# --- Ticket Creator --------------------------------------------------------------------------------------------


async def extracted_tickets(chat_model: Any) -> tuple[Data, Data]:
    data = window_data(next(sales_run("ticket_creation", window_size=10).windows()))
    return data, await te.TicketExtractorComponent(window=data, llm=chat_model).extract_tickets()


SYSTEM_SETTINGS = {
    "jira": {"email": EMAIL, "project": "OPS"},
    "zendesk": {"email": EMAIL},
    "github": {"project": "acme/support"},
    "webhook": {},
}


@pytest.mark.parametrize("system", ["jira", "zendesk", "github", "webhook"])
async def test_ticket_creator_creates_once_per_key(
    system: str, chat_model: Any, ticket_systems: tuple[TicketSystems, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGFLOW_SSRF_ALLOWED_HOSTS", "127.0.0.1")
    state, url = ticket_systems
    window, tickets = await extracted_tickets(chat_model)
    base = url + {"jira": "/jira", "zendesk": "/zendesk", "github": "/github", "webhook": "/hook"}[system]

    def creator() -> Any:
        return tc.TicketCreatorComponent(
            tickets=tickets,
            window=window,
            system=system,
            dry_run=False,
            base_url=base,
            api_token=TOKEN,
            **SYSTEM_SETTINGS[system],
        )

    first_component = creator()
    first = await asyncio.to_thread(first_component.create_tickets)
    statuses = [t["external"]["status"] for t in first.data["tickets"]]
    assert statuses == ["created"] * len(tickets.data["tickets"]) and first.data["errors"] == []
    assert first_component.status == f"{system}: {len(statuses)} created"
    stored = {
        "jira": state.jira,
        "zendesk": state.zendesk,
        "github": state.github,
        "webhook": list(state.webhook.values()),
    }[system]
    assert len(stored) == len(statuses)
    # A retry (same window, or the bridge re-running it after a failure) finds every ticket instead of filing it again.
    second = await asyncio.to_thread(creator().create_tickets)
    assert [t["external"]["status"] for t in second.data["tickets"]] == ["existing"] * len(statuses)
    assert [t["external"]["id"] for t in second.data["tickets"]] == [t["external"]["id"] for t in first.data["tickets"]]
    assert len(stored) == len(statuses)
    doc = parse_insights(insights_text(window, second))
    assert doc.kind == "tickets" and all(t.external and t.external.system == system for t in doc.tickets)


async def test_ticket_creator_content_on_the_wire(
    chat_model: Any, ticket_systems: tuple[TicketSystems, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGFLOW_SSRF_ALLOWED_HOSTS", "127.0.0.1")
    state, url = ticket_systems
    window, tickets = await extracted_tickets(chat_model)
    component = tc.TicketCreatorComponent(
        tickets=tickets,
        window=window,
        system="jira",
        dry_run=False,
        base_url=url + "/jira",
        api_token=TOKEN,
        email=EMAIL,
        project="OPS",
    )
    await asyncio.to_thread(component.create_tickets)
    pricing = next(i["fields"] for i in state.jira if "pricing" in i["fields"]["summary"].lower())
    assert pricing["issuetype"] == {"name": "Task"} and pricing["duedate"] == "2025-10-10"
    text = " ".join(c["content"][0]["text"] for c in pricing["description"]["content"])
    assert "Said by Sam Rivera" in text and "Owner: Sam Rivera" in text and "rtms-langflow key: tkt-" in text
    bug = next(i["fields"] for i in state.jira if "csv export" in i["fields"]["summary"].lower())
    assert bug["issuetype"] == {"name": "Bug"} and "rtms-bug" in bug["labels"]


async def test_ticket_creator_dry_run_failures_and_guards(
    chat_model: Any, ticket_systems: tuple[TicketSystems, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = ticket_systems
    window, tickets = await extracted_tickets(chat_model)
    dry = tc.TicketCreatorComponent(tickets=tickets, window=window, system="github", base_url=url + "/github")
    result = await asyncio.to_thread(dry.create_tickets)
    assert {t["external"]["status"] for t in result.data["tickets"]} == {"dry_run"} and state.requests == []
    # Loopback is refused unless the operator allowlists it (Langflow's SSRF policy). The allowlist is set to
    # another host rather than unset: Langflow's settings service may have cached an earlier test's value.
    monkeypatch.setenv("LANGFLOW_SSRF_ALLOWED_HOSTS", "192.0.2.1")
    guarded = tc.TicketCreatorComponent(
        tickets=tickets, system="webhook", dry_run=False, base_url=url + "/hook", api_token=TOKEN
    )
    with pytest.raises(ValueError, match="SSRF"):
        await asyncio.to_thread(guarded.create_tickets)
    monkeypatch.setenv("LANGFLOW_SSRF_ALLOWED_HOSTS", "127.0.0.1")
    with pytest.raises(ValueError, match="needs an API token"):
        tc.TicketCreatorComponent(tickets=tickets, system="jira", dry_run=False, base_url=url).create_tickets()
    # A failing ticket system: the item keeps no external reference and the failure is reported by name.
    state.fail_creates = 1
    failing = tc.TicketCreatorComponent(
        tickets=tickets, window=window, system="webhook", dry_run=False, base_url=url + "/hook", api_token=TOKEN
    )
    result = await asyncio.to_thread(failing.create_tickets)
    assert result.data["tickets"][0]["external"] is None
    assert result.data["errors"][0]["message"].startswith("webhook: webhook post failed: HTTP 503")
    assert [t["external"]["status"] for t in result.data["tickets"][1:]] == ["created"] * (
        len(result.data["tickets"]) - 1
    )
    assert "1 failed" in failing.status


def test_ticket_creator_shows_the_fields_of_the_chosen_system() -> None:
    component = tc.TicketCreatorComponent()
    config = component.to_frontend_node()["data"]["node"]["template"]
    updated = component.update_build_config(config, "github", "system")
    assert updated["project"]["show"] and not updated["email"]["show"] and not updated["issue_type"]["show"]


# --- Insights Output -------------------------------------------------------------------------------------------


def test_insights_output_moves_items_that_break_the_contract_to_errors() -> None:
    window = window_data(next(sales_run("objection_coach").windows()))
    good = {
        "key": "obj-1",
        "category": "price",
        "quote": "too expensive",
        "speaker": "Pat",
        "at_ms": T0,
        "confidence": 0.8,
        "suggested_reply": "Reframe on value.",
    }
    bad = {**good, "key": "obj-2", "confidence": 3}
    result = Data(data={"kind": "objections", "objections": [good, bad], "errors": [], "usage": None})
    component = io.InsightsOutputComponent(window=window, result=result)
    doc = parse_insights(component.build_insights_message().text)
    assert [o.key for o in doc.objections] == ["obj-1"]  # type: ignore[union-attr]
    assert doc.errors[0].message == "objections.1 dropped: confidence: expected a number from 0 to 1"
    assert component.status == "objections: 1 item(s), 1 error(s)"
    with pytest.raises(ValueError, match="kind 'minutes'"):
        io.InsightsOutputComponent(window=window, result=Data(data={"kind": "minutes"})).build_insights_message()


def test_llm_components_carry_the_shared_helpers_as_written_once() -> None:
    # bridge/components_shared.py is the one source; `flows build` copies it into the three component files.
    assert shared_helpers_drift(BUNDLE_DIR) == [], "run `rtms-langflow flows build`"


def test_the_transcript_window_checks_against_the_contracts_json_schema() -> None:
    # Its copy of docs/schemas/window.schema.json is current; `flows build` refreshes it.
    assert not window_schema_drift(BUNDLE_DIR), "run `rtms-langflow flows build`"
    assert tw.WINDOW_JSON_SCHEMA["properties"]["schema"]["const"] == "rtms-langflow/window@1"


def test_the_build_copies_the_shared_helpers_into_the_component_files(tmp_path: Any) -> None:
    for path in BUNDLE_DIR.glob("*.py"):
        (tmp_path / path.name).write_text(path.read_text())
    stale = tmp_path / "ticket_extractor.py"
    stale.write_text(
        stale.read_text().replace("def _squash(text: str) -> str:", "def _squash(text: str) -> str:  # old")
    )
    assert shared_helpers_drift(tmp_path) == ["ticket_extractor.py"]
    assert sync_shared_helpers(tmp_path) == [stale]
    assert (
        shared_helpers_drift(tmp_path) == [] and stale.read_text() == (BUNDLE_DIR / "ticket_extractor.py").read_text()
    )


# --- The sample meetings: every planted objection and ticket is found -------------------------------------------


def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def quoted(expected: str, found: str) -> bool:
    """The item points at the planted line: one quote contains the other (models may quote more or less)."""
    return norm(expected) in norm(found) or norm(found) in norm(expected)


@pytest.mark.skipif(not sample_names(), reason="bridge/simulator/samples/ has no sample meetings yet")
@pytest.mark.parametrize("name", sample_names() or ["none"])
async def test_sample_meetings_in_process(name: str, chat_model: Any) -> None:
    agents = [
        ("objection_coach", od.ObjectionDetectorComponent, "detect_objections"),
        ("ticket_creation", te.TicketExtractorComponent, "extract_tickets"),
        ("meeting_summary", ms.MeetingSummarizerComponent, "build_summary"),
    ]
    runs = {}
    for flow, component, method in agents:
        run, expected = sample_run(name, flow, window_size=6)
        for window in run.windows():
            data = window_data(window)
            result = await getattr(component(window=data, llm=chat_model), method)()
            doc = run.fold(insights_text(data, result))
            assert doc.errors == []
        runs[flow] = run
    objections = runs["objection_coach"].all_objections()
    for planted in expected.get("objections", []):
        match = [o for o in objections if quoted(planted["quote"], o.quote)]
        assert match, planted
        assert match[0].category == planted["category"] and match[0].speaker == planted["speaker"]
    tickets = runs["ticket_creation"].all_tickets()
    for planted in expected.get("tickets", []):
        match = [t for t in tickets if quoted(planted["quote"], t.quote)]
        assert match, planted
        assert match[0].kind == {"task": "ticket"}.get(planted["kind"], planted["kind"]), planted
        if planted["kind"] == "action_item":
            assert (match[0].owner, match[0].due) == (planted["owner"], planted["due"]), planted
    summary = runs["meeting_summary"].insights[-1].summary
    assert summary is not None and summary.text


# --- Prompt caching on the wire (the offline model accounts the cache from the requests it receives) -----------


def marked(offline_llm: Any) -> int:
    """Requests the offline model received with a cache breakpoint, over all tasks."""
    return sum(u.calls_with_cache_marker for u in offline_llm.stats.usage_by_task.values())


async def test_objection_prompt_is_cached_on_the_wire(chat_model: Any, offline_llm: Any) -> None:
    # Instructions, playbook and worked examples cross Haiku 4.5's 4,096-token minimum: the first call writes the
    # cache, the next windows of the meeting read it; the summarizer's short prompt carries no marker by default.
    windows = list(sales_run("objection_coach", window_size=4).windows())[:3]
    usages = []
    for window in windows:
        result = await od.ObjectionDetectorComponent(window=window_data(window), llm=chat_model).detect_objections()
        usages.append(result.data["usage"])
    assert marked(offline_llm) == 3
    written = usages[0]["cache_write_tokens"]
    assert written >= 4096 and usages[0]["cache_read_tokens"] == 0
    assert [u["cache_read_tokens"] for u in usages[1:]] == [written, written]
    assert all(u["cache_write_tokens"] == 0 for u in usages[1:])
    summary = await ms.MeetingSummarizerComponent(window=window_data(windows[0]), llm=chat_model).build_summary()
    assert summary.data["usage"]["cache_read_tokens"] == summary.data["usage"]["cache_write_tokens"] == 0
    assert marked(offline_llm) == 3
    lean = od.ObjectionDetectorComponent(window=window_data(windows[1]), llm=chat_model, cache_prompt=False)
    assert (await lean.detect_objections()).data["usage"]["cache_read_tokens"] == 0
    assert marked(offline_llm) == 3
