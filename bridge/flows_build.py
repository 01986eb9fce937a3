"""Build the three flow JSONs (`meeting_summary`, `objection_coach`, `ticket_creation`) from the component sources.

Each flow is Chat Input -> Transcript Window -> agent component(s) fed by Langflow's Anthropic node -> Insights
Output -> Chat Output. Node templates are made the way Langflow's palette makes them (`create_component_template`),
so the embedded code is byte-for-byte the component file and the editor shows no "update available" badge; the
flows carry what the editor needs (positions, string handles, edge ids) and fixed flow and node ids, so tweaks and
upserts address the same nodes in every build. The Anthropic node reads its key from the `ANTHROPIC_API_KEY` global
variable. Building is pure apart from reading the component files; `write_flows` writes them.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bridge.logs import get_logger

log = get_logger(__name__)
_T = TypeVar("_T")

BUNDLE = "zoom_rtms"
DEFAULT_MODEL = "claude-haiku-4-5-20251001"
ANTHROPIC_KEY_VARIABLE = "ANTHROPIC_API_KEY"
_FLOW_NAMESPACE = uuid.UUID("6f1c2a8e-3b7d-4e59-9a41-52d0c8e7b310")

# Fixed node ids (the `<Type>-<5 chars>` shape Langflow uses): tweak keys for the bridge and the tests.
NODE_IDS = {
    "chat_input": "ChatInput-zrtms",
    "window": "RTMSTranscriptWindow-zrtms",
    "model": "AnthropicModel-zrtms",
    "summarizer": "RTMSMeetingSummarizer-zrtms",
    "objections": "RTMSObjectionDetector-zrtms",
    "extractor": "RTMSTicketExtractor-zrtms",
    "creator": "RTMSTicketCreator-zrtms",
    "insights": "RTMSInsightsOutput-zrtms",
    "chat_output": "ChatOutput-zrtms",
}

COMPONENT_FILES = {
    "window": "transcript_window.py",
    "summarizer": "meeting_summarizer.py",
    "objections": "objection_detector.py",
    "extractor": "ticket_extractor.py",
    "creator": "ticket_creator.py",
    "insights": "insights_output.py",
}


@dataclass(frozen=True)
class FlowSpec:
    endpoint_name: str
    name: str
    description: str
    agents: tuple[tuple[str, str], ...]
    """(node role, output name) in order; the last one's output feeds Insights Output."""


FLOWS: dict[str, FlowSpec] = {
    "meeting_summary": FlowSpec(
        "meeting_summary",
        "Zoom RTMS: Meeting Summary",
        "Rolling meeting summary (key points, decisions, open questions) from each new transcript window.",
        (("summarizer", "summary"),),
    ),
    "objection_coach": FlowSpec(
        "objection_coach",
        "Zoom RTMS: Objection Coach",
        "Spots sales objections as they are raised and suggests replies from an editable playbook.",
        (("objections", "objections"),),
    ),
    "ticket_creation": FlowSpec(
        "ticket_creation",
        "Zoom RTMS: Ticket Creation",
        "Extracts action items, bugs and tickets and files them in Jira, Zendesk, GitHub or a webhook (dry run "
        "until configured).",
        (("extractor", "tickets"), ("creator", "created")),
    ),
}


def flow_id(endpoint_name: str) -> str:
    """Fixed per endpoint name, but shaped as a version-4 UUID: Langflow 1.13 refuses to create a flow with a
    version-5 id (it reserves those for public execution histories), so the name-derived bytes get version 4 bits."""
    derived = uuid.uuid5(_FLOW_NAMESPACE, f"rtms-langflow/flows/{endpoint_name}")
    return str(uuid.UUID(bytes=derived.bytes, version=4))


def default_components_dir() -> Path:
    """`components/zoom_rtms` of a source checkout, or the copy inside the installed extension package."""
    import rtms_langflow_ext

    return rtms_langflow_ext.bundle_dir()


def _handle(data: dict[str, Any]) -> str:
    """The editor's string form of a handle: compact JSON with sorted keys and `œ` for quotes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).replace('"', "œ")


_AST_RACE = "AST constructor recursion depth mismatch"


def _retry_ast_race(build: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Call `build` again when CPython 3.11's `ast.parse` race hit it.

    On CPython 3.11 the AST constructor's depth counter is kept per interpreter, not per thread (see CPython
    gh-106905), so lfx's `ast.parse` of a component's code can fail spuriously while another thread parses too
    (3.11's tracebacks do). Seen once in CI; the same call succeeds when repeated.
    """
    for attempt in range(3):
        try:
            return build(*args, **kwargs)
        except Exception as exc:
            chain: BaseException | None = exc
            while chain is not None and not (isinstance(chain, SystemError) and _AST_RACE in str(chain)):
                chain = chain.__cause__ or chain.__context__
            if chain is None or attempt == 2:
                raise
            log.warning("flows.ast_race_retry", extra={"attempt": attempt + 1})
    raise AssertionError("unreachable")


class _Templates:
    """Palette-identical node templates, built once per `build_flows` call."""

    def __init__(self, components_dir: Path) -> None:
        from lfx.components.input_output import ChatInput, ChatOutput
        from lfx.custom.utils import create_component_template
        from lfx_anthropic.components.anthropic.anthropic import AnthropicModelComponent

        self.templates: dict[str, dict[str, Any]] = {}
        self.types: dict[str, str] = {}
        for role, filename in COMPONENT_FILES.items():
            path = components_dir / filename
            code = path.read_text(encoding="utf-8")
            template, instance = _retry_ast_race(create_component_template, {"code": code, "output_types": []})
            template["metadata"]["module"] = f"{BUNDLE}.{path.stem}"
            self.templates[role] = template
            self.types[role] = instance.name
        for role, cls in (("chat_input", ChatInput), ("chat_output", ChatOutput), ("model", AnthropicModelComponent)):
            template, instance = _retry_ast_race(
                create_component_template, component_extractor=cls(), module_name=cls.__module__
            )
            self.templates[role] = template
            self.types[role] = instance.name

    def node(self, role: str, x: float, y: float) -> dict[str, Any]:
        template = copy.deepcopy(self.templates[role])
        node_id = NODE_IDS[role]
        return {
            "id": node_id,
            "type": "genericNode",
            "position": {"x": x, "y": y},
            "data": {
                "id": node_id,
                "type": self.types[role],
                "node": template,
                "showNode": True,
                "selected_output": None,
            },
        }


def _edge(nodes: dict[str, dict[str, Any]], source: str, output: str, target: str, field: str) -> dict[str, Any]:
    source_node, target_node = nodes[source], nodes[target]
    outputs = {o["name"]: o for o in source_node["data"]["node"]["outputs"]}
    if output not in outputs:
        raise ValueError(f"{source_node['id']} has no output {output!r}")
    target_field = target_node["data"]["node"]["template"].get(field)
    if target_field is None:
        raise ValueError(f"{target_node['id']} has no input {field!r}")
    source_handle = {
        "dataType": source_node["data"]["type"],
        "id": source_node["id"],
        "name": output,
        "output_types": outputs[output]["types"],
    }
    target_handle = {
        "fieldName": field,
        "id": target_node["id"],
        "inputTypes": target_field.get("input_types") or [],
        "type": target_field["type"],
    }
    source_string, target_string = _handle(source_handle), _handle(target_handle)
    return {
        "id": f"reactflow__edge-{source_node['id']}{source_string}-{target_node['id']}{target_string}",
        "source": source_node["id"],
        "target": target_node["id"],
        "sourceHandle": source_string,
        "targetHandle": target_string,
        "data": {"sourceHandle": source_handle, "targetHandle": target_handle},
        "animated": False,
        "className": "",
        "selected": False,
    }


def _set(node: dict[str, Any], field: str, value: Any, **extra: Any) -> None:
    entry = node["data"]["node"]["template"][field]
    entry["value"] = value
    entry.update(extra)


def _quiet_on_open(model_node: dict[str, Any]) -> None:
    """Nothing on the Anthropic node asks the server to refresh it when the editor opens the flow.

    The editor sends an update request on open for every field marked `real_time_refresh` that has a value and no
    options: here the API key (the global-variable name) and the API URL. The node's `update_build_config` then
    calls `len()` on the key, which is None while no `ANTHROPIC_API_KEY` variable exists ("Error getting model
    names: object of type 'NoneType' has no len()"), and with a key it asks api.anthropic.com for its model list,
    which fails offline. Unmarked, neither field triggers anything on open; the model list has its options
    already and its refresh button still asks when clicked."""
    template = model_node["data"]["node"]["template"]
    for field in ("api_key", "base_url"):
        template[field]["real_time_refresh"] = False


def build_flow(spec: FlowSpec, templates: _Templates, model: str = DEFAULT_MODEL) -> dict[str, Any]:
    column = 420.0
    nodes: dict[str, dict[str, Any]] = {
        "chat_input": templates.node("chat_input", 0, 0),
        "window": templates.node("window", column, 0),
        "model": templates.node("model", column, 420),
    }
    for index, (role, _) in enumerate(spec.agents):
        nodes[role] = templates.node(role, column * (2 + index), 60)
    last = column * (2 + len(spec.agents))
    nodes["insights"] = templates.node("insights", last, 0)
    nodes["chat_output"] = templates.node("chat_output", last + column, 0)

    _set(nodes["model"], "api_key", ANTHROPIC_KEY_VARIABLE, load_from_db=True)
    _set(nodes["model"], "model_name", model)
    _set(nodes["model"], "max_tokens", 2048)
    _quiet_on_open(nodes["model"])
    # The Anthropic node shows one output at a time: select the Language Model one the agents are wired to.
    nodes["model"]["data"]["selected_output"] = "model_output"
    for output in nodes["model"]["data"]["node"]["outputs"]:
        if output["name"] == "model_output":
            output["selected"] = output["types"][0]
    nodes["chat_input"]["data"]["node"]["template"]["input_value"]["value"] = ""
    # The state a flow needs travels in the window, so Langflow's message history is not needed: keep transcripts
    # and insights out of Langflow's database (the Playground still shows the current run).
    for role in ("chat_input", "chat_output"):
        _set(nodes[role], "should_store_message", False)
    if "creator" in nodes:
        # A literal token until the user picks a global variable in the editor (which sets load_from_db again).
        _set(nodes["creator"], "api_token", "", load_from_db=False)

    edges = [
        _edge(nodes, "chat_input", "message", "window", "window_json"),
    ]
    previous: tuple[str, str] | None = None
    for role, output in spec.agents:
        if previous is None:
            edges.append(_edge(nodes, "window", "window", role, "window"))
            edges.append(_edge(nodes, "model", "model_output", role, "llm"))
        else:
            edges.append(_edge(nodes, previous[0], previous[1], role, "tickets"))
            edges.append(_edge(nodes, "window", "window", role, "window"))
        previous = (role, output)
    assert previous is not None
    edges.append(_edge(nodes, "window", "window", "insights", "window"))
    edges.append(_edge(nodes, previous[0], previous[1], "insights", "result"))
    edges.append(_edge(nodes, "insights", "insights", "chat_output", "input_value"))
    return {
        "id": flow_id(spec.endpoint_name),
        "name": spec.name,
        "description": spec.description,
        "endpoint_name": spec.endpoint_name,
        "icon": None,
        "is_component": False,
        "tags": ["zoom-rtms"],
        "data": {"nodes": list(nodes.values()), "edges": edges, "viewport": {"x": 40, "y": 120, "zoom": 0.55}},
    }


def build_flows(components_dir: Path | None = None, model: str = DEFAULT_MODEL) -> dict[str, dict[str, Any]]:
    """The three flows keyed by endpoint name, built from the component files in `components_dir`."""
    templates = _Templates(components_dir or default_components_dir())
    return {name: build_flow(spec, templates, model) for name, spec in FLOWS.items()}


def render_flow(flow: dict[str, Any]) -> str:
    return json.dumps(flow, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


SHARED_START = "# --- shared model-call helpers"
SHARED_END = "# --- end of shared helpers ---\n"
SHARED_USERS = ("objection_detector.py", "meeting_summarizer.py", "ticket_extractor.py")


def shared_block() -> str:
    """The helpers block of `bridge/components_shared.py`, markers included."""
    text = (Path(__file__).with_name("components_shared.py")).read_text(encoding="utf-8")
    return text[text.index(SHARED_START) :]


def _block_span(source: str, name: str) -> tuple[int, int]:
    try:
        start = source.index(SHARED_START)
        return start, source.index(SHARED_END, start) + len(SHARED_END)
    except ValueError:
        raise ValueError(f"{name} has no shared helpers block (the markers {SHARED_START!r} ...)") from None


def sync_shared_helpers(components_dir: Path) -> list[Path]:
    """Copy the shared helpers into the component files whose copy differs; returns the files rewritten."""
    block = shared_block()
    changed = []
    for name in SHARED_USERS:
        path = components_dir / name
        source = path.read_text(encoding="utf-8")
        start, end = _block_span(source, name)
        if source[start:end] != block:
            path.write_text(source[:start] + block + source[end:], encoding="utf-8")
            changed.append(path)
    if changed:
        log.info("flows.shared_helpers_copied", extra={"files": [p.name for p in changed]})
    return changed


SCHEMA_START = "# --- window JSON Schema"
SCHEMA_END = "# --- end of window JSON Schema ---\n"
SCHEMA_USER = "transcript_window.py"


def schema_block() -> str:
    """The Transcript Window's copy of docs/schemas/window.schema.json (without titles and descriptions, which
    validation does not read), as a Python literal between the markers."""
    from bridge.contracts import render_json_schemas

    def lean(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: lean(v) for k, v in node.items() if not (k in ("title", "description") and isinstance(v, str))}
        return [lean(v) for v in node] if isinstance(node, list) else node

    text = json.dumps(lean(json.loads(render_json_schemas()["window.schema.json"])), separators=(",", ":"))
    chunks = [text[i : i + 100] for i in range(0, len(text), 100)]
    body = "".join(f"    {chunk!r}\n" for chunk in chunks)
    return (
        f"{SCHEMA_START} (docs/schemas/window.schema.json, copied in by `rtms-langflow flows build`) ---\n"
        f"WINDOW_JSON_SCHEMA: dict[str, Any] = json.loads(\n{body})\n{SCHEMA_END}"
    )


def _schema_span(source: str) -> tuple[int, int]:
    try:
        start = source.index(SCHEMA_START)
        return start, source.index(SCHEMA_END, start) + len(SCHEMA_END)
    except ValueError:
        raise ValueError(f"{SCHEMA_USER} has no window JSON Schema block (the markers {SCHEMA_START!r} ...)") from None


def sync_window_schema(components_dir: Path) -> bool:
    """Copy the window JSON Schema into the Transcript Window when its copy differs; True when rewritten."""
    path = components_dir / SCHEMA_USER
    source = path.read_text(encoding="utf-8")
    start, end = _schema_span(source)
    block = schema_block()
    if source[start:end] == block:
        return False
    path.write_text(source[:start] + block + source[end:], encoding="utf-8")
    return True


def window_schema_drift(components_dir: Path) -> bool:
    source = (components_dir / SCHEMA_USER).read_text(encoding="utf-8")
    start, end = _schema_span(source)
    return source[start:end] != schema_block()


def shared_helpers_drift(components_dir: Path) -> list[str]:
    """The component files whose helpers block differs from `bridge/components_shared.py`."""
    block = shared_block()
    out = []
    for name in SHARED_USERS:
        source = (components_dir / name).read_text(encoding="utf-8")
        start, end = _block_span(source, name)
        if source[start:end] != block:
            out.append(name)
    return out


def write_flows(out_dir: Path, components_dir: Path | None = None, model: str = DEFAULT_MODEL) -> list[Path]:
    """Write `<endpoint_name>.json` for each flow into `out_dir`; returns the paths written. The shared helpers are
    copied into a source checkout's component files first (an installed, read-only bundle is used as it is)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = components_dir or default_components_dir()
    try:
        sync_shared_helpers(bundle)
        sync_window_schema(bundle)
    except OSError as exc:
        log.warning("flows.shared_helpers_not_copied", extra={"error": str(exc)})
    components_dir = bundle
    written = []
    for name, flow in build_flows(components_dir, model).items():
        path = out_dir / f"{name}.json"
        path.write_text(render_flow(flow), encoding="utf-8")
        written.append(path)
    return written
