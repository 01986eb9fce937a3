"""Edit detection and pulled files without a server: the fingerprint ignores what Langflow's editor adds on its own,
a pulled unedited flow is the file byte for byte, and an edit diffs as itself. The editor's additions used here are
the ones a real Langflow 1.13 editor saved for our objection_coach flow (measured sizes, selection, `last_updated`,
template keys of its own, `None` output defaults, ints for integral floats, a new viewport)."""

from __future__ import annotations

import copy
import json
from typing import Any

from bridge.flow_json import fingerprint, pulled
from bridge.flows_build import render_flow
from tests.langflow_server import REPO


def bundled(name: str = "objection_coach") -> tuple[str, dict[str, Any]]:
    text = (REPO / "flows" / f"{name}.json").read_text(encoding="utf-8")
    return text, json.loads(text)


def as_served(flow: dict[str, Any]) -> dict[str, Any]:
    """The flow as `GET /api/v1/flows/{id}` serves it after the editor saved it without any edit."""
    served = copy.deepcopy(flow)
    served.update({"user_id": "u", "folder_id": "f", "updated_at": "2026-12-04T16:54:35+00:00", "webhook": False,
                   "version_token": "t", "access_type": "PRIVATE", "locked": False, "mcp_enabled": False})
    for node in served["data"]["nodes"]:
        node["selected"] = False
        node["measured"] = {"width": 320, "height": 207}
        node["position"] = {k: int(v) for k, v in node["position"].items()}
        inner = node["data"]["node"]
        inner["last_updated"] = "2026-12-04T16:54:29.932Z"
        inner["template"]["_frontend_node_flow_id"] = {"value": flow["id"]}
        inner["template"]["is_refresh"] = False
        for output in inner["outputs"]:
            output.update({"required_inputs": None, "loop_types": None, "options": None})
    served["data"]["viewport"] = {"x": 20, "y": 177.76, "zoom": 0.64}
    return served


def detector(flow: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = next(n for n in flow["data"]["nodes"] if n["data"]["type"] == "RTMSObjectionDetector")
    return node


def test_the_editor_saving_an_unedited_flow_is_not_an_edit() -> None:
    _, flow = bundled()
    assert fingerprint(as_served(flow)) == fingerprint(flow)


def test_an_edit_changes_the_fingerprint() -> None:
    _, flow = bundled()
    edited = as_served(flow)
    playbook = detector(edited)["data"]["node"]["template"]["playbook"]
    playbook["value"][0]["response"] = "Our pilot is free for two weeks."
    assert fingerprint(edited) != fingerprint(flow)
    moved = as_served(flow)
    detector(moved)["position"]["x"] += 40
    assert fingerprint(moved) != fingerprint(flow)


def test_pulling_an_unedited_flow_gives_the_file_byte_for_byte() -> None:
    for name in ("objection_coach", "meeting_summary", "ticket_creation"):
        text, flow = bundled(name)
        assert render_flow(pulled(as_served(flow), flow)) == text
        assert render_flow(pulled(flow, flow)) == text


def test_pulling_an_edit_diffs_as_the_edit_only() -> None:
    text, flow = bundled()
    edited = as_served(flow)
    playbook = detector(edited)["data"]["node"]["template"]["playbook"]
    old_reply = playbook["value"][0]["response"]
    playbook["value"][0]["response"] = "Our pilot is free for two weeks."
    after = render_flow(pulled(edited, flow))
    changed = [(a, b) for a, b in zip(text.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 1
    assert json.dumps(old_reply)[1:-1] in changed[0][0] and "Our pilot is free for two weeks." in changed[0][1]


def test_a_flow_pulled_without_a_file_is_its_content() -> None:
    _, flow = bundled()
    fresh = pulled(as_served(flow))
    assert list(fresh) == ["id", "name", "description", "endpoint_name", "icon", "is_component", "tags", "data"]
    assert fingerprint(fresh) == fingerprint(flow)
    assert "measured" not in fresh["data"]["nodes"][0]


def test_every_bundled_flow_version_is_recorded_as_shipped() -> None:
    """`flows build` records the bundled flows' fingerprints, so an upgrade may replace a flow nobody edited."""
    from bridge.flows_push import shipped_fingerprints

    shipped = shipped_fingerprints()
    for name in ("objection_coach", "meeting_summary", "ticket_creation"):
        _, flow = bundled(name)
        assert fingerprint(flow) in shipped.get(flow["id"], []), f"{name}: run `rtms-langflow flows build`"
