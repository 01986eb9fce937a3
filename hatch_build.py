"""Wheel layout for the Langflow extension (see `rtms_langflow_ext.py`).

A regular wheel gets the package `rtms_langflow_ext/` = the root module as `__init__.py`, `extension.json` and the
component bundle, so Langflow finds the manifest among the wheel's files. Editable installs get nothing extra: they
expose the source tree itself, where Langflow follows the entry point to the root module and the manifest beside
it (copies would go stale while the components are edited).
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ExtensionLayoutHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        build_data["force_include"].update(
            {
                "rtms_langflow_ext.py": "rtms_langflow_ext/__init__.py",
                "extension.json": "rtms_langflow_ext/extension.json",
                "components/zoom_rtms": "rtms_langflow_ext/components/zoom_rtms",
            }
        )
