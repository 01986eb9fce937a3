"""A dedicated venv holding Zoom's official `rtms` SDK, kept apart from the project's venv and lock file.

The wheel exists only for CPython 3.10-3.13 on Linux x86_64 with glibc >= 2.34 (and macOS arm64, which the interop
test does not use), so it cannot be a project dependency. `ensure_sdk_python()` builds the venv with uv on first use
and reuses it afterwards; where the wheel cannot be had it raises `SdkUnavailable` with a one-line reason that the
test hands to `pytest.skip()`, so the output says why the interop test did not run.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

SDK_REQUIREMENT = "rtms==1.1.0"
SDK_VERSION = "1.1.0"
SUPPORTED_PYTHONS = ((3, 10), (3, 11), (3, 12), (3, 13))
MIN_GLIBC = (2, 34)
REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_TIMEOUT_S = 120
INSTALL_TIMEOUT_S = 300
CHECK_TIMEOUT_S = 60
# Printed by the venv's python when the SDK imports; anything else means the venv must be rebuilt.
_CHECK_CODE = "import importlib.metadata as m, rtms, rtms._rtms; print('rtms-ok', m.version('rtms'))"


class SdkUnavailable(Exception):
    """The official SDK cannot run here; `str()` is a one-line reason fit for `pytest.skip()`."""


def default_cache_dir() -> Path:
    return REPO_ROOT / ".cache" / "rtms-sdk"


def platform_problem(system: str, machine: str, libc: str, libc_version: str, python: tuple[int, int]) -> str | None:
    """Why the `rtms` wheel cannot be installed on this platform, or None when it can."""
    if system != "Linux" or machine not in ("x86_64", "AMD64"):
        return f"the rtms wheel is built for Linux x86_64 only, this is {system} {machine}"
    if libc != "glibc":
        return f"the rtms wheel needs glibc >= 2.34, this system's C library is {libc or 'unknown'}"
    try:
        have = tuple(int(part) for part in libc_version.split(".")[:2])
    except ValueError:
        return f"cannot read the glibc version {libc_version!r}; the rtms wheel needs >= 2.34"
    if have < MIN_GLIBC:
        return f"the rtms wheel needs glibc >= 2.34, this system has {libc_version}"
    if python not in SUPPORTED_PYTHONS:
        return f"the rtms wheel is built for CPython 3.10-3.13, the SDK venv would be {python[0]}.{python[1]}"
    return None


def current_platform_problem() -> str | None:
    libc, libc_version = platform.libc_ver()
    return platform_problem(
        platform.system(), platform.machine(), libc, libc_version, (sys.version_info[0], sys.version_info[1])
    )


def find_uv() -> list[str]:
    """The command that runs uv: `uv` on PATH, else `python -m uv` when the uv package is importable."""
    exe = shutil.which("uv")
    if exe:
        return [exe]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    raise SdkUnavailable("uv is neither on PATH nor importable (python -m uv); cannot build the rtms SDK venv")


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _sdk_works(python: Path, cwd: Path) -> bool:
    if not python.exists():
        return False
    try:
        done = subprocess.run(
            [str(python), "-c", _CHECK_CODE],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            env=_clean_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and f"rtms-ok {SDK_VERSION}" in done.stdout


def _clean_env() -> dict[str, str]:
    """The environment minus what would make a child python or uv look at the project's venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _run_uv(uv: list[str], args: list[str], timeout_s: float, what: str) -> None:
    env = _clean_env()
    env["UV_PYTHON_DOWNLOADS"] = "never"  # only registries are reachable; never fetch an interpreter
    try:
        done = subprocess.run([*uv, *args], capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        raise SdkUnavailable(f"{what} took longer than {timeout_s:.0f} s") from exc
    except OSError as exc:
        raise SdkUnavailable(f"{what} could not start uv: {exc}") from exc
    if done.returncode != 0:
        raise SdkUnavailable(f"{what} failed: {_last_line(done.stderr or done.stdout)}")


def ensure_sdk_python(cache_dir: Path | None = None) -> Path:
    """Return the python of a venv with `rtms==1.1.0` importable, building it under `cache_dir` if needed.

    Raises `SdkUnavailable` (one-line reason) where the wheel cannot be installed.
    """
    problem = current_platform_problem()
    if problem:
        raise SdkUnavailable(problem)
    cache = (cache_dir or default_cache_dir()).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / "venv"
    python = _venv_python(venv)
    # One builder at a time (parallel test workers share the cache); the others wait and then reuse.
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _sdk_works(python, cache):
            return python
        uv = find_uv()
        if venv.exists():
            shutil.rmtree(venv)
        # The interpreter running the tests is a supported CPython (checked above): build the venv on it.
        _run_uv(
            uv, ["venv", "--quiet", "--python", sys.executable, str(venv)], VENV_TIMEOUT_S, "creating the rtms SDK venv"
        )
        _run_uv(
            uv,
            ["pip", "install", "--quiet", "--python", str(python), SDK_REQUIREMENT],
            INSTALL_TIMEOUT_S,
            f"installing {SDK_REQUIREMENT}",
        )
        if not _sdk_works(python, cache):
            raise SdkUnavailable(f"{SDK_REQUIREMENT} installed but `import rtms` fails in {venv}")
        return python
