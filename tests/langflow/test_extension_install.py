"""The two ways the bundle reaches a Langflow that does not have this project installed.

* `LANGFLOW_COMPONENTS_PATH=components`: Langflow loads `components/zoom_rtms/` as an inline bundle (`@extra`).
* A wheel of this project installed with `uv pip install`: Langflow finds `rtms_langflow_ext/extension.json` among
  the distribution's files and loads the bundle as an installed extension (`@official`), with no path setting.

(The editable install that `uv sync` makes is the third way; the session server of `test_flows_server.py` runs on
it.) Both servers here run from a "clean Langflow" environment: a venv whose site-packages links to every package
of the project's environment except this project's own distribution, so Langflow is there and the bundle is not.
Both servers start in the background as soon as the tests are collected (see conftest).
"""

from __future__ import annotations

import zipfile

from bridge.flows_build import FLOWS
from tests.langflow.installs import Installs
from tests.langflow_server import REPO

BUNDLE_CLASSES = {
    "TranscriptWindowComponent",
    "MeetingSummarizerComponent",
    "ObjectionDetectorComponent",
    "TicketExtractorComponent",
    "TicketCreatorComponent",
    "InsightsOutputComponent",
}


def test_the_wheel_ships_the_extension_package(installs: Installs) -> None:
    names = set(zipfile.ZipFile(installs.wheel).namelist())
    assert {"rtms_langflow_ext/__init__.py", "rtms_langflow_ext/extension.json"} <= names
    assert {
        f"rtms_langflow_ext/components/zoom_rtms/{p.name}" for p in (REPO / "components" / "zoom_rtms").glob("*.py")
    } <= names
    assert not any(name.startswith("components/") for name in names), "no generic top-level `components` package"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(installs.wheel).read(entry_points).decode()
    assert "[langflow.extensions]\nrtms-langflow = rtms_langflow_ext" in text


def test_components_path_loads_the_inline_bundle(installs: Installs) -> None:
    server = installs.inline
    bundle = server.palette()["zoom_rtms"]
    assert set(bundle) == {f"ext:zoom_rtms:{cls}@extra" for cls in BUNDLE_CLASSES}
    assert all(template.get("extension") == "zoom_rtms" for template in bundle.values())
    log = server.log_path.read_text(errors="replace")
    assert "Extension load error" not in log
    for name in FLOWS:
        assert f"Loading flow from file: {name}.json" in log


def test_wheel_install_loads_the_extension_without_a_path(installs: Installs) -> None:
    server = installs.installed
    assert "LANGFLOW_COMPONENTS_PATH" not in server.environment()
    bundle = server.palette()["zoom_rtms"]
    assert set(bundle) == {f"ext:zoom_rtms:{cls}@official" for cls in BUNDLE_CLASSES}
    assert {template["extension"] for template in bundle.values()} == {"rtms-langflow"}
    installed = next(server.python.parent.parent.glob("lib/python3*/site-packages/rtms_langflow_ext"))
    assert not installed.is_symlink() and (installed / "extension.json").is_file()
    assert "Extension load error" not in server.log_path.read_text(errors="replace")
