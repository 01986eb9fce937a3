"""Upload (upsert) the flows to a Langflow server: `rtms-langflow flows push`.

Each flow is written under its fixed id with `PUT /api/v1/flows/{id}` (langflow-sdk's `upsert_flow`), so pushing
twice updates in place and the bridge's `endpoint_name`s keep pointing at the same flows. Authentication is the
server's `x-api-key`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.logs import get_logger

log = get_logger(__name__)


class FlowPushError(RuntimeError):
    """A flow could not be read or uploaded; the message names the flow and the server's answer."""


@dataclass(frozen=True)
class PushedFlow:
    endpoint_name: str
    flow_id: str
    created: bool


def load_flow_files(flows_dir: Path) -> dict[str, dict[str, Any]]:
    """The flow JSONs in `flows_dir`, keyed by file stem; each must carry `id`, `name`, `data` and `endpoint_name`."""
    flows: dict[str, dict[str, Any]] = {}
    for path in sorted(flows_dir.glob("*.json")):
        try:
            flow = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FlowPushError(f"{path}: not a readable flow JSON ({exc})") from exc
        missing = [key for key in ("id", "name", "data", "endpoint_name") if not flow.get(key)]
        if missing:
            raise FlowPushError(f"{path}: missing {', '.join(missing)}")
        flows[path.stem] = flow
    if not flows:
        raise FlowPushError(f"no flow JSON files in {flows_dir}")
    return flows


async def push_flows(
    url: str, api_key: str, flows_dir: Path | None = None, timeout_s: float = 60.0
) -> list[PushedFlow]:
    """Upsert the flows of `flows_dir` (or freshly built ones when None) to the Langflow server at `url`."""
    from langflow_sdk import AsyncLangflowClient
    from langflow_sdk.exceptions import LangflowError
    from langflow_sdk.models import FlowCreate

    if flows_dir is None:
        from bridge.flows_build import build_flows

        flows = build_flows()
    else:
        flows = load_flow_files(flows_dir)
    pushed: list[PushedFlow] = []
    async with AsyncLangflowClient(url, api_key=api_key, timeout=timeout_s) as client:
        for name, flow in flows.items():
            payload = FlowCreate(
                name=flow["name"],
                description=flow.get("description"),
                data=flow["data"],
                endpoint_name=flow["endpoint_name"],
                tags=flow.get("tags"),
                icon=flow.get("icon"),
            )
            try:
                saved, created = await client.upsert_flow(flow["id"], payload)
            except LangflowError as exc:
                raise FlowPushError(f"{name}: {url} refused the flow: {exc}") from exc
            log.info("flows.pushed", extra={"flow": flow["endpoint_name"], "created": created})
            pushed.append(PushedFlow(flow["endpoint_name"], str(saved.id), bool(created)))
    return pushed

