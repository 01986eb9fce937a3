"""A real Langflow server for the test suite: started as a child process, hermetic, torn down with no leftovers.

The process handling lives in `bridge.langflow_process` (the demo uses it too): everything Langflow writes goes
under one temporary directory, authentication is an API key from the environment plus a superuser for the browser,
no `LANGFLOW_*` variable of the caller leaks in, and stopping kills the whole process group.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bridge.langflow_process import LangflowProcess, free_port
from tests.waiting import until_sync

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = float(os.environ.get("RTMS_TEST_LANGFLOW_STARTUP_S", "240"))

__all__ = ["REPO", "STARTUP_TIMEOUT_S", "LangflowServer", "OfflineLLMProcess", "free_port", "running"]


@dataclass
class LangflowServer(LangflowProcess):
    """`bridge.langflow_process.LangflowProcess` with a blocking `start()` and small HTTP helpers for tests."""

    api_key: str = field(default_factory=lambda: "lf-test-" + secrets.token_urlsafe(16))

    def start(self) -> LangflowServer:
        """Spawn and wait until ready (stopping the child on failure); a `stop()` from another thread interrupts."""
        self.spawn()
        self.wait_ready(STARTUP_TIMEOUT_S)
        return self

    # -- small HTTP helpers --------------------------------------------------------------------------------------

    def client(self, timeout_s: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"x-api-key": self.api_key}, timeout=timeout_s)

    def palette(self) -> dict[str, Any]:
        with self.client() as client:
            response = client.get("/api/v1/all")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result


@contextlib.contextmanager
def running(server: LangflowServer) -> Iterator[LangflowServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


class OfflineLLMProcess:
    """`python -m bridge.offline_llm` as a child process, for servers that must reach it from another process."""

    def __init__(self, workdir: Path, latency_ms: int = 0) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.latency_ms = latency_ms
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> OfflineLLMProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "bridge.offline_llm",
            "--port",
            str(self.port),
            "--latency-ms",
            str(self.latency_ms),
            "--log-level",
            "WARNING",
        ]
        with (self.workdir / "offline_llm.log").open("wb") as log:
            self.process = subprocess.Popen(
                cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        process = self.process
        with httpx.Client(timeout=2) as client:

            def serving() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"offline LLM exited with {process.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    return client.get(f"{self.base_url}/stats").status_code == 200
                return False

            try:
                until_sync(serving, timeout_s=timeout_s, poll_s=0.1, what="the offline LLM to start")
            except BaseException:
                self.stop()
                raise
        return self

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/stats", timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
