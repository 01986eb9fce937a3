"""A flow a lead rebuilt (every node id new, as the palette makes them) and a flow whose model a lead swapped for
Langflow's OpenAI component both run through the bridge's own runner with the bridge's tweaks, unchanged: tweaks
name component types (`RTMSObjectionDetector`, `AnthropicModel`, `OpenAIModel`) and the runner maps them onto the
flow's node ids. The OpenAI node talks to the offline model's Chat Completions endpoint (the double that speaks
OpenAI's wire format, checked against the `openai` client in test_openai_wire.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from bridge.flows_build import FLOWS, _edge, _Templates, build_flow, default_components_dir
from bridge.pipeline.config import RunnerConfig, load_flows_config
from bridge.pipeline.langflow_runner import LangflowRunner
from tests.langflow.meetings import SALES_CALL, SALES_EXPECTED, SALES_PARTICIPANTS, MeetingRun
from tests.langflow_server import LangflowServer, OfflineLLMProcess


def bridge_tweaks(llm: OfflineLLMProcess) -> dict[str, dict[str, Any]]:
    """What the bridge sends for objection_coach: the flows file's tweaks over the keyless demo's model tweaks."""
    extra = {"AnthropicModel": {"base_url": llm.base_url},
             "OpenAIModel": {"openai_api_base": f"{llm.base_url}/v1", "api_key": "offline-openai-test-key"}}
    return load_flows_config().tweaks_for("objection_coach", extra)


def rebuilt(swap_model: bool) -> dict[str, Any]:
    """objection_coach with new node ids (as dragged from the palette), optionally with an OpenAI model node."""
    templates = _Templates(default_components_dir())
    flow = build_flow(FLOWS["objection_coach"], templates)
    if swap_model:
        from lfx.custom.utils import create_component_template
        from lfx_openai.components.openai.openai_chat_model import OpenAIModelComponent

        template, _ = create_component_template(component_extractor=OpenAIModelComponent(),
                                                module_name=OpenAIModelComponent.__module__)
        template["template"]["model_name"]["value"] = "gpt-4o-mini"
        template["template"]["api_key"].update(value="", load_from_db=False)
        nodes = {n["id"]: n for n in flow["data"]["nodes"]}
        anthropic = nodes.pop("AnthropicModel-zrtms")
        model = {"id": "OpenAIModel-zrtms", "type": "genericNode", "position": anthropic["position"],
                 "data": {"id": "OpenAIModel-zrtms", "type": "OpenAIModel", "node": template, "showNode": True,
                          "selected_output": "model_output"}}
        nodes[model["id"]] = model
        flow["data"]["edges"] = [e for e in flow["data"]["edges"] if e["source"] != "AnthropicModel-zrtms"]
        flow["data"]["edges"].append(_edge(nodes, "OpenAIModel-zrtms", "model_output", "RTMSObjectionDetector-zrtms",
                                           "llm"))
        flow["data"]["nodes"] = list(nodes.values())
    text = json.dumps(flow)
    for node in flow["data"]["nodes"]:
        kind = node["data"]["type"]
        text = text.replace(f"{kind}-zrtms", f"{kind}-{uuid.uuid4().hex[:5]}")
    new: dict[str, Any] = json.loads(text)
    new.update(id=str(uuid.uuid4()), endpoint_name=f"rebuilt_{uuid.uuid4().hex[:8]}", name="Rebuilt coach")
    assert "zrtms" not in json.dumps(new["data"]["nodes"][0]["id"])
    return new


@pytest.mark.parametrize("swap_model", [False, True], ids=["palette-ids", "openai-model"])
async def test_rebuilt_flow_runs_with_the_bridges_tweaks(swap_model: bool, langflow: LangflowServer,
                                                         offline_llm_process: OfflineLLMProcess) -> None:
    flow = rebuilt(swap_model)
    with langflow.client() as http:
        created = http.post("/api/v1/flows/", json=flow)
        assert created.status_code == 201, created.text
    before = offline_llm_process.stats()["calls"]
    runner = LangflowRunner(langflow.base_url, langflow.api_key, RunnerConfig(retries=1))
    run = MeetingRun(SALES_CALL, flow=flow["endpoint_name"], meeting_id=f"rebuilt-{swap_model}",
                     participants=SALES_PARTICIPANTS)
    try:
        for window in run.windows():
            result = await runner.run(flow["endpoint_name"], window.to_json(), stream_id=run.meeting_id,
                                      timeout_s=120, tweaks=bridge_tweaks(offline_llm_process))
            run.fold(result.insights.model_dump_json())
    finally:
        await runner.aclose()
        with langflow.client() as http:
            http.delete(f"/api/v1/flows/{flow['id']}")
    found = {o.category for o in run.all_objections()}
    assert found == set(SALES_EXPECTED["objections"]), found
    assert offline_llm_process.stats()["calls"] > before  # the offline model answered, through the swapped node
