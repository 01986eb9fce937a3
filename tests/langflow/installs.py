"""Langflow environments without this project, for the components-path and wheel-install tests.

A "clean Langflow" is a venv whose site-packages links to every package of the project's environment except this
project's own distribution: Langflow is there, the bundle is not (no editable `.pth`, no dist-info). One such env
gets `LANGFLOW_COMPONENTS_PATH=components`; another gets the project's wheel through `uv pip install`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from tests.langflow_server import REPO, LangflowServer

PROJECT_FILES = ("rtms_langflow-", "_editable_impl_rtms_langflow.pth")


class UvMissing(RuntimeError):
    """uv (to build and install the wheel) is not available: the install tests skip."""


@dataclass
class Installs:
    wheel: Path
    inline: LangflowServer
    installed: LangflowServer

    def servers(self) -> list[LangflowServer]:
        return [self.inline, self.installed]


def uv_command() -> list[str] | None:
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return [candidate]
    base = getattr(sys, "_base_executable", sys.executable)
    probe = subprocess.run([base, "-m", "uv", "--version"], capture_output=True, check=False)
    return [base, "-m", "uv"] if probe.returncode == 0 else None


def clean_env_vars() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def clean_langflow_env(target: Path) -> Path:
    """Make the clean env at `target` and return its python (checked: Langflow imports, this project does not)."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(target)], check=True, timeout=120)
    site = next(target.glob("lib/python3*/site-packages"))
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.startswith(PROJECT_FILES) or (site / entry.name).exists():
            continue
        (site / entry.name).symlink_to(entry)
    python = target / "bin" / "python"
    check = (
        "import importlib.util, importlib.metadata as m, sys\n"
        "assert importlib.util.find_spec('rtms_langflow_ext') is None, 'project importable'\n"
        "assert importlib.util.find_spec('bridge') is None, 'repository on sys.path'\n"
        "try:\n    m.distribution('rtms-langflow')\nexcept m.PackageNotFoundError:\n    pass\n"
        "else:\n    sys.exit('rtms-langflow is installed')\n"
        "import langflow, lfx_anthropic\n"
    )
    subprocess.run([str(python), "-c", check], check=True, cwd=target, env=clean_env_vars(), timeout=120)
    return python


def prepare_installs(root: Path) -> Installs:
    """Build the wheel, make both clean envs, install the wheel into one; servers are created, not started."""
    uv = uv_command()
    if uv is None:
        raise UvMissing("uv is needed to build and install the wheel and was not found (UV, PATH, python -m uv)")
    subprocess.run(
        [*uv, "build", "--wheel", "--out-dir", str(root / "dist"), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((root / "dist").glob("rtms_langflow-*.whl"))
    inline_python = clean_langflow_env(root / "inline-env")
    wheel_python = clean_langflow_env(root / "wheel-env")
    subprocess.run(
        [*uv, "pip", "install", "--python", str(wheel_python), "--no-deps", "--offline", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    inline = LangflowServer(
        workdir=root / "inline-server",
        python=inline_python,
        backend_only=True,
        env_overrides={
            "LANGFLOW_COMPONENTS_PATH": str(REPO / "components"),
            "LANGFLOW_LOAD_FLOWS_PATH": str(REPO / "flows"),
        },
    )
    installed = LangflowServer(workdir=root / "wheel-server", python=wheel_python, backend_only=True)
    return Installs(wheel=wheel, inline=inline, installed=installed)
