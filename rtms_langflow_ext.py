"""Langflow extension entry point of rtms-langflow: the `zoom_rtms` component bundle.

Langflow finds installed extensions through the `langflow.extensions` entry point and the `extension.json` next to
the module it names (it locates the module without importing it). In a source checkout, and in the editable
install `uv sync` makes, this module sits at the repository root beside `extension.json` and
`components/zoom_rtms/`. In a wheel, the build hook (`hatch_build.py`) turns it into the package
`rtms_langflow_ext/` holding the same manifest and bundle, so the same relative layout holds in both.
"""

from __future__ import annotations

from pathlib import Path

BUNDLE = "zoom_rtms"


def extension_root() -> Path:
    """The directory holding `extension.json`."""
    return Path(__file__).resolve().parent


def bundle_dir() -> Path:
    """The directory of the component files (`components/zoom_rtms`)."""
    return extension_root() / "components" / BUNDLE
