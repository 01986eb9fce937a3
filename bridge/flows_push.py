"""Upload the flows to a Langflow server without overwriting anyone's edits: `rtms-langflow flows push` and the demo.

Each flow goes under its fixed id (`PUT /api/v1/flows/{id}`), so the bridge's `endpoint_name`s keep pointing at
the same flows. Before writing, the flow in Langflow is compared with what we last pushed there: a state file keeps
the fingerprint (`bridge.flow_json.fingerprint`) of every version we pushed, per flow id, and
`bridge/flows_shipped.json` those of every version of the bundled flows this project shipped (`flows build` adds
new ones), so an upgrade also replaces flows that an older version loaded and nobody changed since. A flow whose
fingerprint is neither was changed in Langflow (or came from elsewhere): it is kept and reported, unless `force`,
which first saves it to a backup JSON file. Authentication is the server's `x-api-key`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from bridge.flow_json import fingerprint
from bridge.logs import get_logger

log = get_logger(__name__)

Outcome = Literal["created", "updated", "unchanged", "kept", "replaced"]
KEEP_FINGERPRINTS = 50


class FlowPushError(RuntimeError):
    """A flow could not be read or uploaded; the message names the flow and the server's answer."""


@dataclass(frozen=True)
class PushedFlow:
    endpoint_name: str
    flow_id: str
    outcome: Outcome
    backup: Path | None = None

    @property
    def created(self) -> bool:
        return self.outcome == "created"

    def line(self) -> str:
        """What happened, in one line for the person who asked."""
        name = f"{self.endpoint_name} ({self.flow_id})"
        if self.outcome == "kept":
            return (f"kept {name}: it was changed in Langflow since rtms-langflow last wrote it, so your version "
                    "stays (--force replaces it and keeps a backup)")
        if self.outcome == "replaced":
            return f"replaced {name}: your edited version is saved in {self.backup}"
        return f"{self.outcome} {name}"


SHIPPED = "flows_shipped.json"


def shipped_fingerprints() -> dict[str, list[str]]:
    """Fingerprints of every bundled flow version this project shipped, per flow id."""
    from importlib import resources

    try:
        raw = json.loads(resources.files("bridge").joinpath(SHIPPED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    flows = raw.get("flows") if isinstance(raw, dict) else None
    return {str(k): [str(f) for f in v] for k, v in flows.items()} if isinstance(flows, dict) else {}


def record_shipped(flows: list[dict[str, Any]], path: Path) -> None:
    """Add the fingerprints of `flows` to the shipped list at `path` (`flows build` does, for the bundled flows)."""
    try:
        known: dict[str, list[str]] = json.loads(path.read_text(encoding="utf-8"))["flows"]
    except (OSError, ValueError, KeyError):
        known = {}
    for flow in flows:
        fps = known.setdefault(str(flow["id"]), [])
        if fingerprint(flow) not in fps:
            fps.append(fingerprint(flow))
    path.write_text(json.dumps({"flows": known}, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def default_state_dir() -> Path:
    """`$XDG_STATE_HOME/rtms-langflow` (`~/.local/state/rtms-langflow`): where pushes are remembered."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rtms-langflow"


class PushState:
    """The fingerprints of the versions we pushed, per flow id, in `<dir>/pushed-flows.json`; backups beside it.

    Fingerprints from any server count: a flow whose content is one we shipped was not edited, wherever it was."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "pushed-flows.json"
        self.backups = directory / "flow-backups"
        self._pushed: dict[str, list[str]] = {}
        self._shipped = shipped_fingerprints()
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise FlowPushError(f"{self.path}: not a readable state file ({exc}); move it away to start afresh, "
                                "which makes every existing flow count as edited") from None
        flows = raw.get("flows") if isinstance(raw, dict) else None
        if not isinstance(flows, dict):
            raise FlowPushError(f"{self.path}: expected {{\"flows\": {{flow id: [fingerprints]}}}}")
        self._pushed = {str(k): [str(f) for f in v] for k, v in flows.items() if isinstance(v, list)}

    def ours(self, flow_id: str, fp: str) -> bool:
        return fp in self._pushed.get(flow_id, []) or fp in self._shipped.get(flow_id, [])

    def record(self, flow_id: str, fp: str) -> None:
        known = [f for f in self._pushed.get(flow_id, []) if f != fp] + [fp]
        self._pushed[flow_id] = known[-KEEP_FINGERPRINTS:]
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"flows": self._pushed}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def backup(self, flow: dict[str, Any]) -> Path:
        self.backups.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.backups / f"{flow.get('endpoint_name') or flow.get('id')}-{stamp}.json"
        n = 1
        while path.exists():
            n += 1
            path = path.with_name(f"{flow.get('endpoint_name') or flow.get('id')}-{stamp}-{n}.json")
        path.write_text(json.dumps(flow, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def load_flow_files(flows_dir: Path) -> dict[str, dict[str, Any]]:
    """The flow JSONs in `flows_dir`, keyed by file stem; each must carry `id`, `name`, `data` and `endpoint_name`."""
    flows: dict[str, dict[str, Any]] = {}
    for path in sorted(flows_dir.glob("*.json")):
        try:
            flow = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FlowPushError(f"{path}: not a readable flow JSON ({exc})") from exc
        if not isinstance(flow, dict):
            raise FlowPushError(f"{path}: not a flow (expected a JSON object)")
        missing = [key for key in ("id", "name", "data", "endpoint_name") if not flow.get(key)]
        if missing:
            raise FlowPushError(f"{path}: missing {', '.join(missing)}")
        flows[path.stem] = flow
    if not flows:
        raise FlowPushError(f"no flow JSON files in {flows_dir}")
    return flows


def _payload(flow: dict[str, Any]) -> dict[str, Any]:
    return {key: flow.get(key) for key in ("name", "description", "data", "endpoint_name", "tags", "icon")}


async def _answer(response: httpx.Response, name: str, url: str) -> Any:
    if response.status_code >= 400:
        raise FlowPushError(f"{name}: {url} answered HTTP {response.status_code}: {response.text[:300]}")
    return response.json()


async def push_flows(
    url: str, api_key: str, flows_dir: Path | None = None, timeout_s: float = 60.0, *,
    state_dir: Path | None = None, force: bool = False,
) -> list[PushedFlow]:
    """Write the flows of `flows_dir` (or freshly built ones when None) to the Langflow server at `url`, except
    those changed there since we last wrote them (unless `force`: then after a backup)."""
    if flows_dir is None:
        from bridge.flows_build import build_flows

        flows = build_flows()
    else:
        flows = load_flow_files(flows_dir)
    state = PushState(state_dir or default_state_dir())
    pushed: list[PushedFlow] = []
    async with httpx.AsyncClient(base_url=url.rstrip("/"), headers={"x-api-key": api_key}, timeout=timeout_s,
                                 trust_env=False) as http:
        for name, flow in flows.items():
            fid = str(flow["id"])
            wanted = fingerprint(flow)
            response = await http.get(f"/api/v1/flows/{fid}")
            current = None if response.status_code == 404 else await _answer(response, name, url)
            backup: Path | None = None
            if current is None:
                outcome: Outcome = "created"
            else:
                have = fingerprint(current)
                if have == wanted:
                    state.record(fid, wanted)
                    pushed.append(PushedFlow(flow["endpoint_name"], fid, "unchanged"))
                    continue
                if not state.ours(fid, have) and not force:
                    log.info("flows.kept_edited", extra={"flow": flow["endpoint_name"]})
                    pushed.append(PushedFlow(flow["endpoint_name"], fid, "kept"))
                    continue
                outcome = "updated"
                if not state.ours(fid, have):
                    backup = state.backup(current)
                    outcome = "replaced"
            answer = await http.put(f"/api/v1/flows/{fid}", json=_payload(flow))
            await _answer(answer, name, url)
            state.record(fid, wanted)
            log.info("flows.pushed", extra={"flow": flow["endpoint_name"], "outcome": outcome})
            pushed.append(PushedFlow(flow["endpoint_name"], fid, outcome, backup))
    return pushed
