"""Edits made in Langflow survive `flows push` (kept and reported; `--force` replaces them after a backup), and
`flows pull` writes them back: an unedited flow pulls to its file byte for byte, an edit diffs as itself. Against
the session's real Langflow, on a copy of the objection coach under its own id and endpoint name."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from bridge.flows_build import render_flow
from bridge.flows_pull import PulledFlow, fetch_flows, write_pulled
from bridge.flows_push import push_flows
from tests.langflow_server import REPO, LangflowServer

NEW_REPLY = "Edited in the UI: ask what they compare us against, then offer the two-week pilot."


def flow_copy(directory: Path) -> dict[str, Any]:
    flow = json.loads((REPO / "flows" / "objection_coach.json").read_text())
    flow.update(id=str(uuid.uuid4()), endpoint_name=f"edits_{uuid.uuid4().hex[:8]}", name="Edits test")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{flow['endpoint_name']}.json").write_text(render_flow(flow))
    return flow


async def pull_flows(url: str, api_key: str, out_dir: Path, name: str) -> list[PulledFlow]:
    """`rtms-langflow flows pull --out out_dir --endpoint name` (its steps, inside this test's event loop)."""
    return write_pulled(out_dir, await fetch_flows(url, api_key, [name]))


def edit_in_langflow(server: LangflowServer, fid: str) -> None:
    with server.client() as http:
        flow = http.get(f"/api/v1/flows/{fid}").json()
        node = next(n for n in flow["data"]["nodes"] if n["data"]["type"] == "RTMSObjectionDetector")
        node["data"]["node"]["template"]["playbook"]["value"][0]["response"] = NEW_REPLY
        assert http.patch(f"/api/v1/flows/{fid}", json={"data": flow["data"]}).status_code == 200


async def test_push_keeps_an_edit_force_backs_it_up_and_pull_round_trips(langflow: LangflowServer,
                                                                         tmp_path: Path) -> None:
    files, state = tmp_path / "flows", tmp_path / "state"
    flow = flow_copy(files)
    path = files / f"{flow['endpoint_name']}.json"
    shipped = path.read_text()
    key = (langflow.base_url, langflow.api_key)
    try:
        assert [p.outcome for p in await push_flows(*key, files, state_dir=state)] == ["created"]
        assert [p.outcome for p in await push_flows(*key, files, state_dir=state)] == ["unchanged"]
        # Unedited: the pull is the file, byte for byte.
        assert [p.changed for p in await pull_flows(*key, files, flow["endpoint_name"])] == [False]
        assert path.read_text() == shipped

        edit_in_langflow(langflow, flow["id"])
        kept = await push_flows(*key, files, state_dir=state)
        assert [p.outcome for p in kept] == ["kept"] and "--force" in kept[0].line()
        with langflow.client() as http:
            assert NEW_REPLY in json.dumps(http.get(f"/api/v1/flows/{flow['id']}").json())

        # The pull diffs as the edit: one line, the new reply.
        pulled_dir = tmp_path / "pulled"
        pulled_dir.mkdir()
        (pulled_dir / path.name).write_text(shipped)
        await pull_flows(*key, pulled_dir, flow['endpoint_name'])
        changed = [(a, b) for a, b in zip(shipped.splitlines(), (pulled_dir / path.name).read_text().splitlines(),
                                          strict=True) if a != b]
        assert len(changed) == 1 and NEW_REPLY in changed[0][1], changed

        forced = await push_flows(*key, files, state_dir=state, force=True)
        assert [p.outcome for p in forced] == ["replaced"] and forced[0].backup is not None
        assert NEW_REPLY in forced[0].backup.read_text()
        assert [p.changed for p in await pull_flows(*key, files, flow["endpoint_name"])] == [False]
        assert path.read_text() == shipped
    finally:
        with langflow.client() as http:
            http.delete(f"/api/v1/flows/{flow['id']}")
