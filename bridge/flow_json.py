"""What a flow *is*, apart from what the editor adds to it: the fingerprint that tells an edited flow from the one we
pushed, and the file a pulled flow becomes.

Langflow's editor saves more than the user changed: each node's rendered size (`measured`), selection and drag
state, a `last_updated` stamp, template keys of its own (`_frontend_node_*`, `is_refresh`), `None` defaults on
outputs, the viewport it was left at, and integral floats written back as ints. None of that is an edit, so none of
it counts in the fingerprint or shows up in a pulled file. Everything else does: a field value, a node moved, an
edge added. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["FILE_KEYS", "fingerprint", "normalized", "pulled"]

FILE_KEYS = ("id", "name", "description", "endpoint_name", "icon", "is_component", "tags", "data")
"""The flow fields a flow file carries, in its order (what `flows build` writes)."""

_EDITOR_KEYS = frozenset({
    "measured", "selected", "dragging", "positionAbsolute", "width", "height", "resizing", "last_updated",
    "_frontend_node_flow_id", "_frontend_node_folder_id", "is_refresh", "formatter",
})
_EDITOR_NONE_KEYS = frozenset({"required_inputs", "loop_types", "options"})
"""Keys the editor adds with a `None` value (on outputs); a `None` there says nothing."""


def _editor_only(key: str, value: Any) -> bool:
    return key in _EDITOR_KEYS or (value is None and key in _EDITOR_NONE_KEYS)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if not _editor_only(k, v)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalized(flow: dict[str, Any]) -> dict[str, Any]:
    """The flow's content: the file's fields only, no viewport, no editor state."""
    content = {key: flow.get(key) for key in FILE_KEYS}
    data = dict(content.get("data") or {})
    data.pop("viewport", None)
    content["data"] = data
    result: dict[str, Any] = _canonical(content)
    return result


def fingerprint(flow: dict[str, Any]) -> str:
    """sha256 of the normalized flow: equal for a flow and the same flow saved back by the editor."""
    text = json.dumps(normalized(flow), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _by_id(items: list[Any]) -> dict[str, Any] | None:
    if items and all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items):
        return {i["id"]: i for i in items}
    return None


def _merge(base: Any, remote: Any) -> Any:
    """`remote`, written the way `base` writes what did not change: base's key order, base's number types, no
    editor-only keys base does not have, list items matched by `id`."""
    if isinstance(base, dict) and isinstance(remote, dict):
        out = {k: _merge(base[k], remote[k]) for k in base if k in remote}
        out.update({k: _canonical(v) for k, v in remote.items() if k not in base and not _editor_only(k, v)})
        return out
    if isinstance(base, list) and isinstance(remote, list):
        base_ids = _by_id(base)
        if base_ids is not None and _by_id(remote) is not None:
            return [_merge(base_ids[r["id"]], r) if r["id"] in base_ids else _canonical(r) for r in remote]
        if len(base) == len(remote):
            return [_merge(b, r) for b, r in zip(base, remote, strict=True)]
        return _canonical(remote)
    numbers = (int, float)
    if (isinstance(base, numbers) and isinstance(remote, numbers) and not isinstance(base, bool)
            and not isinstance(remote, bool) and base == remote):
        return base
    return _canonical(remote) if base != remote else base


def pulled(remote: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The file for a flow as Langflow has it. With `base` (the file as it is), what did not change is written
    exactly as before, so pulling an unedited flow gives the file byte for byte and an edit diffs as itself."""
    content = {key: remote.get(key) for key in FILE_KEYS}
    data = dict(content.get("data") or {})
    if base is None:
        result: dict[str, Any] = _canonical(content)
        return result
    base_data = base.get("data") or {}
    if "viewport" in base_data:  # where the editor was left is not an edit
        data["viewport"] = base_data["viewport"]
    content["data"] = data
    merged: dict[str, Any] = _merge(base, content)
    return merged
