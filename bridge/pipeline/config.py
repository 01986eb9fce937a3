"""The flows configuration: which Langflow flows run for each meeting, on which triggers, with which tweaks.

A TOML file (the bundled `flows.toml`, or `BRIDGE_FLOWS_CONFIG`) with a `[runner]` table (the window send loop,
circuit breaker), `[defaults]` and one `[flows.<endpoint_name>]` table per flow, so adding a flow is a
configuration change.
Every error names the file, the flow and the key (`flows.toml: flow 'objection_coach': triggers.turn.min_chars:
...`), because a typo here would otherwise silently run nothing.

Tweaks name the node they change by its component type (`RTMSObjectionDetector`, the component's stable `name`:
every node of that type), by node id (`RTMSObjectionDetector-zrtms`), or by display name. Node ids are generated,
so a flow rebuilt from the palette has new ones: `resolve_tweaks` maps the keys onto the ids the flow actually has,
and an id the flow no longer has falls back to its type (the part before the last `-`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bridge.contracts import InsightKind

__all__ = [
    "BUNDLED_CONFIG",
    "FlowConfig",
    "FlowsConfig",
    "FlowsConfigError",
    "MeetingSide",
    "RunnerConfig",
    "Triggers",
    "TurnTrigger",
    "load_flows_config",
    "parse_flows_config",
    "resolve_tweaks",
]

BUNDLED_CONFIG = "flows.toml"
Tweaks = dict[str, dict[str, Any]]


class FlowsConfigError(ValueError):
    """A flows file that cannot be used; the message names the file, the flow and the key."""

    def __init__(self, source: str, message: str, *, flow: str | None = None, key: str | None = None) -> None:
        self.source, self.flow, self.key = source, flow, key
        where = source + (f": flow {flow!r}" if flow else "") + (f": {key}" if key else "")
        super().__init__(f"{where}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TurnTrigger(_Strict):
    non_host: bool = True
    min_chars: int = Field(default=20, ge=0)
    quiet_s: float = Field(default=2.0, gt=0)
    max_per_hour: float | None = Field(default=None, gt=0)
    """At most so many turn windows per hour of meeting time (a token bucket holding `burst`): when the customer
    side talks more, its turns wait and go together in the next window; nothing is dropped."""
    burst: int = Field(default=2, ge=1, le=100)


class Triggers(_Strict):
    turn: TurnTrigger | None = None
    interval_s: float | None = Field(default=None, gt=0)
    utterances: int | None = Field(default=None, ge=1)
    final: bool = True

    @model_validator(mode="after")
    def _some(self) -> Triggers:
        if self.turn is None and self.interval_s is None and self.utterances is None and not self.final:
            raise ValueError("no trigger: set turn, interval_s, utterances or final")
        return self


class MeetingSide(_Strict):
    internal: list[str] = Field(default_factory=list)
    """Who is on our side besides the host: names or parts of names (e.g. "Tom Okafor", "(Harborline)"), matched
    case-insensitively. Their turns trigger no objection window and the components never analyse them as the
    customer's."""

    @field_validator("internal")
    @classmethod
    def _no_blank(cls, marks: list[str]) -> list[str]:
        if any(not mark.strip() for mark in marks):
            raise ValueError("an empty mark would match every name")
        return marks


class RunnerConfig(_Strict):
    retries: int = Field(default=3, ge=1, le=20)
    """No longer used (a warning says so when set): `window_attempts` and `window_deadline_s` bound every send."""
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_cap_s: float = Field(default=8.0, gt=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=30.0, gt=0)
    window_attempts: int = Field(default=20, ge=1, le=1000)
    window_deadline_s: float = Field(default=600.0, gt=0)
    tick_s: float = Field(default=1.0, gt=0)


class _FlowDefaults(_Strict):
    timeout_s: float = Field(default=90.0, gt=0)
    context_utterances: int = Field(default=3, ge=0, le=50)
    max_pending: int = Field(default=200, ge=1, le=10_000)
    tweaks: Tweaks = Field(default_factory=dict)


class FlowConfig(_Strict):
    """One flow, with the defaults already applied."""

    name: str = Field(min_length=1)
    kind: InsightKind
    timeout_s: float = Field(gt=0)
    context_utterances: int = Field(ge=0, le=50)
    max_pending: int = Field(ge=1, le=10_000)
    tweaks: Tweaks = Field(default_factory=dict)
    triggers: Triggers

    @model_validator(mode="after")
    def _room_for_count(self) -> FlowConfig:
        if self.triggers.utterances is not None and self.triggers.utterances > self.max_pending:
            raise ValueError(f"max_pending ({self.max_pending}) is below triggers.utterances "
                             f"({self.triggers.utterances}): the count trigger could never fire")
        return self


class FlowsConfig(_Strict):
    source: str
    runner: RunnerConfig
    flows: dict[str, FlowConfig]
    meeting: MeetingSide = MeetingSide()

    def tweaks_for(self, flow: str, extra: Tweaks | None = None) -> Tweaks:
        """The flow's tweaks with `extra` (the bridge's `langflow_tweaks` setting) merged under them per node."""
        merged: Tweaks = {node: dict(values) for node, values in (extra or {}).items()}
        for node, values in self.flows[flow].tweaks.items():
            merged.setdefault(node, {}).update(values)
        return merged


@dataclass(frozen=True)
class FlowNode:
    """What tweaks can name a node by: its id, its display name, and its component's names (`types`: the node
    type, e.g. `RTMSObjectionDetector` in our flows but `ext:zoom_rtms:ObjectionDetectorComponent@official` when
    dragged from the palette, the component's stable `name`, and its class name)."""

    id: str
    types: tuple[str, ...]
    display_name: str = ""


def resolve_tweaks(tweaks: Tweaks, nodes: list[FlowNode]) -> tuple[Tweaks, list[str]]:
    """`tweaks` keyed by the flow's own node ids (display names stay: Langflow resolves those), and the keys that
    matched no node. A key naming a node's id wins over one naming its component."""
    ids = {n.id for n in nodes}
    names = {n.display_name for n in nodes if n.display_name}
    by_type: dict[str, list[str]] = {}
    for node in nodes:
        for name in dict.fromkeys(node.types):
            by_type.setdefault(name, []).append(node.id)
    resolved: Tweaks = {}
    unmatched: list[str] = []
    exact: list[tuple[str, dict[str, Any]]] = []
    for key, values in tweaks.items():
        if key in ids or (key in names and key not in by_type):
            exact.append((key, values))
            continue
        targets = by_type.get(key) or by_type.get(key.rsplit("-", 1)[0] if "-" in key else "", [])
        if not targets:
            unmatched.append(key)
        for node_id in targets:
            resolved.setdefault(node_id, {}).update(values)
    for key, values in exact:
        resolved.setdefault(key, {}).update(values)
    return resolved, unmatched


def _key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(table)"


def _problem(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    return _key(tuple(first["loc"])), first["msg"]


_FLOW_KEYS = {"kind", "triggers", *_FlowDefaults.model_fields}
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def parse_flows_config(text: str, source: str = BUNDLED_CONFIG) -> FlowsConfig:
    """Parse and check a flows file's text; `source` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FlowsConfigError(source, f"not valid TOML ({exc})") from None
    unknown = set(data) - {"runner", "defaults", "flows", "meeting"}
    if unknown:
        raise FlowsConfigError(source, "unknown table (expected runner, defaults, flows, meeting)",
                               key=sorted(unknown)[0])
    try:
        meeting = MeetingSide.model_validate(data.get("meeting", {}))
    except ValidationError as exc:
        key, msg = _problem(exc)
        raise FlowsConfigError(source, msg, key=f"meeting.{key}") from None
    try:
        runner = RunnerConfig.model_validate(data.get("runner", {}))
    except ValidationError as exc:
        key, msg = _problem(exc)
        raise FlowsConfigError(source, msg, key=f"runner.{key}") from None
    try:
        defaults = _FlowDefaults.model_validate(data.get("defaults", {}))
    except ValidationError as exc:
        key, msg = _problem(exc)
        raise FlowsConfigError(source, msg, key=f"defaults.{key}") from None
    tables = data.get("flows", {})
    if not isinstance(tables, dict) or not tables:
        raise FlowsConfigError(source, "no [flows.<endpoint_name>] table: nothing would run", key="flows")
    flows: dict[str, FlowConfig] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise FlowsConfigError(source, "must be a table", flow=name)
        if not set(name) <= _NAME_OK:
            raise FlowsConfigError(source, "an endpoint name has letters, digits, '_' and '-' only", flow=name)
        extra = sorted(set(table) - _FLOW_KEYS)
        if extra:
            raise FlowsConfigError(source, f"unknown key (known: {', '.join(sorted(_FLOW_KEYS))})", flow=name,
                                   key=extra[0])
        for required in ("kind", "triggers"):
            if required not in table:
                raise FlowsConfigError(source, "missing", flow=name, key=required)
        tweaks: Tweaks = {node: dict(values) for node, values in defaults.tweaks.items()}
        raw_tweaks = table.get("tweaks", {})
        if not isinstance(raw_tweaks, dict) or not all(isinstance(v, dict) for v in raw_tweaks.values()):
            raise FlowsConfigError(source, "must be a table of component type (or node id) = { field = value }",
                                   flow=name, key="tweaks")
        for node, values in raw_tweaks.items():
            tweaks.setdefault(node, {}).update(values)
        merged = {**defaults.model_dump(exclude={"tweaks"}), **table, "tweaks": tweaks, "name": name}
        try:
            flows[name] = FlowConfig.model_validate(merged)
        except ValidationError as exc:
            key, msg = _problem(exc)
            raise FlowsConfigError(source, msg, flow=name, key=key) from None
    return FlowsConfig(source=source, runner=runner, flows=flows, meeting=meeting)


def load_flows_config(path: Path | None = None) -> FlowsConfig:
    """The file at `path`, or the bundled `bridge/pipeline/flows.toml`."""
    if path is None:
        text = resources.files("bridge.pipeline").joinpath(BUNDLED_CONFIG).read_text(encoding="utf-8")
        return parse_flows_config(text, BUNDLED_CONFIG)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowsConfigError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    return parse_flows_config(text, str(path))

