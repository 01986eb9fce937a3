"""The nodes of each flow as Langflow has it now, for `bridge.pipeline.config.resolve_tweaks`: tweaks name components
by type, the run API wants node ids, and a lead may rebuild a flow (new ids) while the bridge runs.

One lookup per flow at most every `ttl_s` (the flow list, then the flow), so an edit is picked up by the next window
after that; when Langflow cannot be asked, the last known nodes (or the tweaks as written) are used and a warning
is logged once per flow.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from bridge.logs import get_logger
from bridge.pipeline.config import FlowNode, Tweaks, resolve_tweaks

__all__ = ["FlowNodes", "nodes_of"]

log = get_logger(__name__)


_EXT_TYPE = re.compile(r"ext:[^:]+:(?P<cls>[^@]+)@.+")


def nodes_of(flow_data: dict[str, Any] | None) -> list[FlowNode]:
    out = []
    for node in (flow_data or {}).get("nodes") or []:
        data = node.get("data") or {}
        inner = data.get("node") or {}
        if not (isinstance(node.get("id"), str) and isinstance(data.get("type"), str)):
            continue
        types = [data["type"], inner.get("name"), (inner.get("metadata") or {}).get("component_class_name")]
        ext = _EXT_TYPE.fullmatch(data["type"])
        if ext:
            types.append(ext["cls"])
        out.append(FlowNode(node["id"], tuple(t for t in types if isinstance(t, str) and t),
                            str(inner.get("display_name") or "")))
    return out


class FlowNodes:
    def __init__(self, client: Any, ttl_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client  # langflow_sdk AsyncClient: list_flows, get_flow
        self.ttl_s = ttl_s
        self.clock = clock
        self._nodes: dict[str, tuple[float, list[FlowNode]]] = {}
        self._warned: set[tuple[str, str]] = set()

    async def _lookup(self, flow: str) -> list[FlowNode] | None:
        cached = self._nodes.get(flow)
        if cached is not None and self.clock() - cached[0] < self.ttl_s:
            return cached[1]
        try:
            headers = await self.client.list_flows(get_all=True, header_flows=True)
            found = next((f for f in headers if flow in (f.endpoint_name, str(f.id))), None)
            nodes = nodes_of((await self.client.get_flow(found.id)).data) if found is not None else []
        except Exception as exc:  # any failure: the run itself will say what is wrong
            self._warn(flow, "lookup", f"cannot read the flow's nodes ({type(exc).__name__}); tweaks sent as written")
            return cached[1] if cached else None
        self._nodes[flow] = (self.clock(), nodes)
        return nodes

    def _warn(self, flow: str, what: str, message: str, level: int = logging.WARNING) -> None:
        if (flow, what) not in self._warned:
            self._warned.add((flow, what))
            log.log(level, "flow tweaks", extra={"flow": flow, "problem": message})

    async def resolve(self, flow: str, tweaks: Tweaks) -> Tweaks:
        if not tweaks:
            return tweaks
        nodes = await self._lookup(flow)
        if not nodes:
            return tweaks
        resolved, unmatched = resolve_tweaks(tweaks, nodes)
        for key in unmatched:
            # Normal for the bridge-wide tweaks (say, for a model type this flow does not use): said once, quietly.
            self._warn(flow, key, f"tweak {key!r} matches no component type, node id or name in the flow",
                       logging.INFO)
        return resolved
