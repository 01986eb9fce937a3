"""Load the bundle's component files as modules, the way Langflow's loader does (by path, one module per file)."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

BUNDLE_DIR = Path(__file__).resolve().parents[2] / "components" / "zoom_rtms"
FILES = [
    "transcript_window",
    "meeting_summarizer",
    "objection_detector",
    "ticket_extractor",
    "ticket_creator",
    "insights_output",
]


@cache
def load(stem: str) -> ModuleType:
    name = f"_rtms_test_components.{stem}"
    spec = importlib.util.spec_from_file_location(name, BUNDLE_DIR / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
