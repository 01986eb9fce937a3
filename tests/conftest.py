"""Shared by every test directory: the offline model as a child process and real Langflow servers, started in the
background as soon as the tests that need them are collected (tests/langflow, tests/pipeline)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.langflow.installs import Installs, UvMissing, prepare_installs
from tests.langflow_server import REPO, LangflowServer, OfflineLLMProcess

ARTIFACTS = REPO / "tests" / "artifacts"
OFFLINE_KEY = "offline-test-key"


@pytest.fixture(scope="session")
def offline_llm_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineLLMProcess]:
    process = OfflineLLMProcess(tmp_path_factory.mktemp("offline-llm")).start()
    try:
        yield process
    finally:
        process.stop()


# --- Langflow servers, started in the background as soon as the tests that need them are collected ---------------
# A Langflow start takes 40-60 s on 2 cores and is mostly one busy core: starting the session server and the two
# install-check servers together, while the in-process tests run, keeps the whole suite within its time budget.


class _Background:
    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="langflow-start")
        self.jobs: dict[str, Future[Any]] = {}
        self.servers: list[LangflowServer] = []
        self.closing = False
        self.root = Path(tempfile.mkdtemp(prefix="rtms-langflow-tests-"))

    def launch(self, name: str) -> Future[Any]:
        if name not in self.jobs:
            target = {"langflow": self._session_server, "installs": self._installs}[name]
            self.jobs[name] = self.pool.submit(target, self.root / name)
        return self.jobs[name]

    def _session_server(self, workdir: Path) -> LangflowServer:
        """The full Langflow (UI included) from the project's environment, where the editable install of this
        project exposes the bundle as an extension; the three flows are auto-loaded from `flows/`."""
        server = LangflowServer(
            workdir=workdir,
            env_overrides={
                "LANGFLOW_LOAD_FLOWS_PATH": str(REPO / "flows"),
                "LANGFLOW_SSRF_ALLOWED_HOSTS": "127.0.0.1",
                "LANGFLOW_PROVIDER_CREDENTIAL_ALLOWED_HOSTS": "http://127.0.0.1",
                "ANTHROPIC_API_KEY": OFFLINE_KEY,
            },
        )
        return self._start(server)

    def _installs(self, root: Path) -> Installs:
        installs = prepare_installs(root)
        other = self.pool.submit(self._start, installs.inline)
        self._start(installs.installed)
        other.result()
        return installs

    def _start(self, server: LangflowServer) -> LangflowServer:
        if self.closing:
            raise RuntimeError("the test session is ending")
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        self.closing = True
        for server in list(self.servers):  # interrupts starts in progress: their wait loop sees the exit
            server.stop()
        self.pool.shutdown(wait=True, cancel_futures=True)
        for server in self.servers:  # and whatever a job started meanwhile
            server.stop()
        for server in self.servers:
            stem = server.workdir.name
            if server.log_path.exists():
                ARTIFACTS.mkdir(exist_ok=True)
                shutil.copyfile(server.log_path, ARTIFACTS / f"langflow-{stem}.log")
        shutil.rmtree(self.root, ignore_errors=True)


_background: _Background | None = None


def _jobs() -> _Background:
    global _background
    if _background is None:
        _background = _Background()
    return _background


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need a Langflow server run late, so everything else runs while the servers start; `heavy` load
    tests run last, when no Langflow start competes with them for the two cores."""
    items.sort(key=lambda item: (item.get_closest_marker("heavy") is not None,
                                 bool({"langflow", "installs"} & set(getattr(item, "fixturenames", ())))))


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.getoption("collectonly"):
        return
    wanted = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    for name in ("langflow", "installs"):
        if name in wanted:
            _jobs().launch(name)


def pytest_sessionfinish(session: pytest.Session) -> None:
    global _background
    if _background is not None:
        _background.close()
        _background = None


@pytest.fixture(scope="session")
def langflow() -> LangflowServer:
    server: LangflowServer = _jobs().launch("langflow").result(timeout=900)
    return server


@pytest.fixture(scope="session")
def installs() -> Installs:
    try:
        result: Installs = _jobs().launch("installs").result(timeout=900)
    except UvMissing as exc:
        pytest.skip(str(exc))
    return result
