"""Tweaks name components by type (their stable `name`) and still work by node id, also on a flow rebuilt from the
palette with new ids: `resolve_tweaks` maps them onto the flow's actual nodes."""

from __future__ import annotations

import json

from bridge.pipeline.config import FlowNode, load_flows_config, resolve_tweaks
from bridge.pipeline.flow_nodes import nodes_of
from tests.langflow_server import REPO

BUNDLED = nodes_of(json.loads((REPO / "flows" / "objection_coach.json").read_text())["data"])
REBUILT = [FlowNode("ChatInput-a1b2c", ("ChatInput",), "Chat Input"),
           FlowNode("RTMSObjectionDetector-Xy12Z", ("RTMSObjectionDetector",), "Objection Detector"),
           FlowNode("AnthropicModel-Q9w8e", ("AnthropicModel",), "Anthropic"),
           FlowNode("AnthropicModel-k7J6h", ("AnthropicModel",), "Anthropic")]
# How Langflow 1.13 saves a node dragged from the palette when its component comes from an extension.
PALETTE_NODE = {"id": "ext:zoom_rtms:ObjectionDetectorComponent@official-SG3Or", "data": {
    "type": "ext:zoom_rtms:ObjectionDetectorComponent@official",
    "node": {"name": "RTMSObjectionDetector", "display_name": "Objection Detector",
             "metadata": {"component_class_name": "ObjectionDetectorComponent"}}}}


def test_bundled_node_types_are_the_component_names() -> None:
    assert {n.types[0] for n in BUNDLED} >= {"RTMSObjectionDetector", "AnthropicModel", "RTMSTranscriptWindow"}


def test_a_node_dragged_from_the_palette_is_found_by_its_component_name_and_old_id() -> None:
    nodes = nodes_of({"nodes": [PALETTE_NODE]})
    for key in ("RTMSObjectionDetector", "RTMSObjectionDetector-zrtms", "ObjectionDetectorComponent"):
        resolved, unmatched = resolve_tweaks({key: {"max_objections": 25}}, nodes)
        assert resolved == {PALETTE_NODE["id"]: {"max_objections": 25}} and unmatched == [], key


def test_a_type_key_reaches_every_node_of_that_type() -> None:
    resolved, unmatched = resolve_tweaks({"AnthropicModel": {"base_url": "http://127.0.0.1:9"}}, REBUILT)
    assert resolved == {"AnthropicModel-Q9w8e": {"base_url": "http://127.0.0.1:9"},
                        "AnthropicModel-k7J6h": {"base_url": "http://127.0.0.1:9"}}
    assert unmatched == []


def test_an_old_node_id_key_follows_its_type_on_a_rebuilt_flow() -> None:
    resolved, _ = resolve_tweaks({"RTMSObjectionDetector-zrtms": {"max_objections": 25}}, REBUILT)
    assert resolved == {"RTMSObjectionDetector-Xy12Z": {"max_objections": 25}}
    same, _ = resolve_tweaks({"RTMSObjectionDetector-zrtms": {"max_objections": 25}}, BUNDLED)
    assert same == {"RTMSObjectionDetector-zrtms": {"max_objections": 25}}


def test_an_id_key_wins_over_a_type_key_and_names_pass_through() -> None:
    tweaks = {"AnthropicModel-Q9w8e": {"temperature": 0.5}, "AnthropicModel": {"temperature": 0.1, "x": 1},
              "Objection Detector": {"max_objections": 3}, "NoSuchThing": {"y": 2}}
    resolved, unmatched = resolve_tweaks(tweaks, REBUILT)
    assert resolved["AnthropicModel-Q9w8e"] == {"temperature": 0.5, "x": 1}
    assert resolved["AnthropicModel-k7J6h"] == {"temperature": 0.1, "x": 1}
    assert resolved["Objection Detector"] == {"max_objections": 3}
    assert unmatched == ["NoSuchThing"]


def test_the_bundled_flows_file_resolves_onto_the_bundled_flows() -> None:
    config = load_flows_config()
    for name in config.flows:
        nodes = nodes_of(json.loads((REPO / "flows" / f"{name}.json").read_text())["data"])
        resolved, unmatched = resolve_tweaks(config.tweaks_for(name), nodes)
        assert unmatched == [] and resolved and set(resolved) <= {n.id for n in nodes}
