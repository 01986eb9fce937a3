"""Write flows as they are in Langflow back to JSON files: `rtms-langflow flows pull`, so edits made in the UI can be
reviewed and committed. A file that exists is the base: unchanged parts are written exactly as before (see
`bridge.flow_json.pulled`), so an unedited flow pulls to the same bytes and an edit diffs as itself."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bridge.flow_json import pulled
from bridge.flows_build import render_flow
from bridge.flows_push import FlowPushError


@dataclass(frozen=True)
class PulledFlow:
    endpoint_name: str
    path: Path
    changed: bool


def _read(path: Path) -> dict[str, Any] | None:
    try:
        base = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise FlowPushError(f"{path}: not a readable flow JSON ({exc}); move it away to pull afresh") from None
    return base if isinstance(base, dict) else None


async def fetch_flows(url: str, api_key: str, endpoint_names: list[str], timeout_s: float = 60.0,
                      ) -> dict[str, dict[str, Any]]:
    """The named flows as Langflow serves them (`GET /api/v1/flows/{id}`), by endpoint name."""
    async with httpx.AsyncClient(base_url=url.rstrip("/"), headers={"x-api-key": api_key}, timeout=timeout_s,
                                 trust_env=False) as http:
        listing = await http.get("/api/v1/flows/", params={"get_all": "true", "header_flows": "true"})
        if listing.status_code != 200:
            raise FlowPushError(f"{url} answered HTTP {listing.status_code} listing flows: {listing.text[:300]}")
        ids = {f.get("endpoint_name"): f["id"] for f in listing.json() if isinstance(f, dict) and f.get("id")}
        missing = [n for n in endpoint_names if n not in ids]
        if missing:
            raise FlowPushError(f"no flow with endpoint name {', '.join(missing)} on {url}")
        flows: dict[str, dict[str, Any]] = {}
        for name in endpoint_names:
            response = await http.get(f"/api/v1/flows/{ids[name]}")
            if response.status_code != 200:
                raise FlowPushError(f"{name}: {url} answered HTTP {response.status_code}: {response.text[:300]}")
            flows[name] = response.json()
    return flows


def write_pulled(out_dir: Path, flows: dict[str, dict[str, Any]]) -> list[PulledFlow]:
    """Write `<out_dir>/<endpoint_name>.json` for each flow, on top of the file there (`flow_json.pulled`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[PulledFlow] = []
    for name, remote in flows.items():
        path = out_dir / f"{name}.json"
        before = path.read_text(encoding="utf-8") if path.exists() else None
        text = render_flow(pulled(remote, _read(path)))
        if text != before:
            path.write_text(text, encoding="utf-8")
        done.append(PulledFlow(name, path, text != before))
    return done


def pull_flows(url: str, api_key: str, out_dir: Path, endpoint_names: list[str] | None = None,
               timeout_s: float = 60.0) -> list[PulledFlow]:
    """Pull the named flows (default: those with a file in `out_dir`) into `out_dir`."""
    names = endpoint_names or sorted(p.stem for p in out_dir.glob("*.json"))
    if not names:
        raise FlowPushError(f"nothing to pull: no flow JSON files in {out_dir} and no --endpoint given")
    return write_pulled(out_dir, asyncio.run(fetch_flows(url, api_key, names, timeout_s)))
