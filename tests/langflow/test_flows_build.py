"""The flow JSONs: generated from the component files, current, editor-ready, with fixed ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.flows_build import (
    ANTHROPIC_KEY_VARIABLE,
    DEFAULT_MODEL,
    FLOWS,
    NODE_IDS,
    _retry_ast_race,
    build_flows,
    flow_id,
)
from tests.langflow.components import BUNDLE_DIR
from tests.langflow_server import REPO

FLOWS_DIR = REPO / "flows"
BUNDLE_TYPES = {
    "RTMSTranscriptWindow": "transcript_window.py",
    "RTMSMeetingSummarizer": "meeting_summarizer.py",
    "RTMSObjectionDetector": "objection_detector.py",
    "RTMSTicketExtractor": "ticket_extractor.py",
    "RTMSTicketCreator": "ticket_creator.py",
    "RTMSInsightsOutput": "insights_output.py",
}


@pytest.fixture(scope="module")
def committed() -> dict[str, dict[str, Any]]:
    return {name: json.loads((FLOWS_DIR / f"{name}.json").read_text()) for name in FLOWS}


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    return build_flows()


def test_committed_flows_are_what_the_build_makes(committed: dict[str, Any], built: dict[str, Any]) -> None:
    for name in FLOWS:
        assert committed[name] == built[name], f"flows/{name}.json is stale: run `rtms-langflow flows build`"


def test_embedded_code_is_the_component_source(committed: dict[str, Any]) -> None:
    seen = set()
    for flow in committed.values():
        for node in flow["data"]["nodes"]:
            kind = node["data"]["type"]
            if kind in BUNDLE_TYPES:
                source = (BUNDLE_DIR / BUNDLE_TYPES[kind]).read_text()
                assert node["data"]["node"]["template"]["code"]["value"] == source, f"{flow['name']}: {kind}"
                seen.add(kind)
    assert seen == set(BUNDLE_TYPES)


def test_fixed_ids_endpoints_and_the_anthropic_node(committed: dict[str, Any]) -> None:
    for name, flow in committed.items():
        assert flow["id"] == flow_id(name) and flow["endpoint_name"] == name
        ids = {node["id"] for node in flow["data"]["nodes"]}
        assert {NODE_IDS[r] for r in ("chat_input", "window", "model", "insights", "chat_output")} <= ids
        model = next(n for n in flow["data"]["nodes"] if n["id"] == NODE_IDS["model"])
        template = model["data"]["node"]["template"]
        assert template["api_key"]["value"] == ANTHROPIC_KEY_VARIABLE and template["api_key"]["load_from_db"]
        assert template["base_url"]["value"] == "https://api.anthropic.com"
        assert template["model_name"]["value"] == DEFAULT_MODEL in template["model_name"]["options"]
        assert model["data"]["selected_output"] == "model_output"
        for node in flow["data"]["nodes"]:
            assert node["type"] == "genericNode" and {"x", "y"} <= set(node["position"])
            assert node["data"]["id"] == node["id"]


def test_edges_carry_consistent_editor_handles(committed: dict[str, Any]) -> None:
    for flow in committed.values():
        nodes = {node["id"]: node["data"] for node in flow["data"]["nodes"]}
        targets = set()
        for edge in flow["data"]["edges"]:
            source, target = edge["data"]["sourceHandle"], edge["data"]["targetHandle"]
            assert json.loads(edge["sourceHandle"].replace("œ", '"')) == source
            assert json.loads(edge["targetHandle"].replace("œ", '"')) == target
            assert (
                edge["id"]
                == f"reactflow__edge-{edge['source']}{edge['sourceHandle']}-{edge['target']}{edge['targetHandle']}"
            )
            output = next(o for o in nodes[edge["source"]]["node"]["outputs"] if o["name"] == source["name"])
            field = nodes[edge["target"]]["node"]["template"][target["fieldName"]]
            assert source["output_types"] == output["types"] and target["inputTypes"] == field["input_types"]
            compatible = {"Data": "JSON"}
            assert any(
                compatible.get(t, t) in {compatible.get(i, i) for i in field["input_types"]} for t in output["types"]
            )
            targets.add((edge["target"], target["fieldName"]))
        # Every required connection input of every node is wired.
        for node_id, data in nodes.items():
            for name, field in data["node"]["template"].items():
                if isinstance(field, dict) and field.get("required") and field.get("type") == "other":
                    assert (node_id, name) in targets, f"{flow['name']}: {node_id}.{name} is not connected"


def test_build_retries_cpython_ast_race_only() -> None:
    # CPython 3.11's AST depth counter is shared across threads; lfx wraps the SystemError in an HTTPException.
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            try:
                raise SystemError("AST constructor recursion depth mismatch (before=168, after=187)")
            except SystemError as exc:
                raise RuntimeError("Error building Component") from exc
        return "template"

    assert _retry_ast_race(flaky) == "template"
    assert len(calls) == 2

    def broken() -> str:
        calls.append(1)
        raise SystemError("something else")

    calls.clear()
    with pytest.raises(SystemError, match="something else"):
        _retry_ast_race(broken)
    assert len(calls) == 1
