"""The demo's parts that need no Langflow: start-up phases from a log, the process-group stop, the data directory,
the printed insights, and the errors a user gets before anything heavy starts."""

from __future__ import annotations

import io
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient  # imported here, not in a test: see bridge.flows_build._retry_ast_race
from pydantic import SecretStr

from bridge.demo.console import Console, clock, format_end_summary, format_insight, format_ticket, summary_at_ms
from bridge.demo.datadir import DataDirBusy, DemoDir, RunningDemo
from bridge.demo.replay import MAX_QUEUED, ReplayQueue, add_replay_routes
from bridge.langflow_process import LangflowProcess, LangflowStartError, startup_phase
from bridge.store import InsightRecord, TicketRecord
from tests.waiting import until_sync

T0 = 1_760_000_000_000

LOG = """agent_card passed to DefaultRequestHandlerV2: ...
✓ Initializing Langflow
✓ Checking Environment
✓ Starting Core Services
✓ Connecting Database
✓ Loading Components
[info] CORS: Using permissive defaults
INFO Running upgrade  -> 260dbcc8b680, Adds tables
[info] telemetry_writer started (outbox=...)
[info] Initializing agentic global variables...
[info] Loading flow from file: objection_coach.json
[info] Creating new flow: 644cc15d with endpoint name objection_coach
✓ Launching Langflow
"""


def test_startup_phase_follows_the_log() -> None:
    def upto(marker: str) -> str:
        return startup_phase(LOG[: LOG.index(marker) + len(marker)])

    assert startup_phase("") == "importing Langflow"
    assert startup_phase("agent_card passed") == "importing Langflow"
    assert upto("✓ Checking Environment") == "starting core services"
    assert upto("✓ Loading Components") == "starting the web server"
    assert upto("Running upgrade") == "creating the database (first run)"
    assert upto("telemetry_writer started") == "loading the component types"
    assert upto("Loading flow from file") == "loading the flows"
    assert startup_phase(LOG) == "ready"
    # A second run creates no database: the phase goes straight on.
    warm = LOG.replace("INFO Running upgrade  -> 260dbcc8b680, Adds tables\n", "")
    assert startup_phase(warm[: warm.index("[info] CORS")]) == "starting the web server"


# -- the process group ---------------------------------------------------------------------------------------------


def fake_python(tmp_path: Path, body: str) -> Path:
    """An executable standing in for `python -m langflow run ...` (it ignores its arguments)."""
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_stop_kills_the_whole_group(tmp_path: Path) -> None:
    # The "CLI" ignores SIGTERM and has two children that ignore it too: only SIGKILL of the group ends them.
    python = fake_python(tmp_path, "trap '' TERM\n(trap '' TERM; sleep 300) &\n(trap '' TERM; sleep 300) &\n"
                                   "echo $$ > pids; sleep 300")
    lf = LangflowProcess(workdir=tmp_path / "lf", python=python)
    lf.spawn()
    assert lf.pid is not None
    until_sync((tmp_path / "lf" / "pids").exists, timeout_s=10, what="the fake CLI to start its children")
    group = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _alive(int(p.name))
             and _pgid(int(p.name)) == lf.pid]
    assert len(group) >= 3, group
    started = time.monotonic()
    lf.stop(timeout_s=1.0)
    assert time.monotonic() - started < 8
    # SIGKILL is sent; the kernel takes a moment to end orphans on a loaded machine
    until_sync(lambda: not any(_alive(pid) for pid in group), timeout_s=10, what="the whole group to end")
    assert lf.process is None and lf.pgid is None


def test_a_langflow_that_exits_names_its_log(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "echo 'Error: address already in use'; exit 3")
    lf = LangflowProcess(workdir=tmp_path / "lf", python=python)
    lf.spawn()
    with pytest.raises(LangflowStartError) as failure:
        lf.wait_ready(timeout_s=30, poll_s=0.05)
    message = str(failure.value)
    assert "exited with status 3" in message and str(lf.log_path) in message
    assert "address already in use" in message
    assert lf.process is None


def test_a_langflow_that_never_answers_times_out_and_is_stopped(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "echo '✓ Initializing Langflow'; sleep 300")
    lf = LangflowProcess(workdir=tmp_path / "lf", python=python)
    lf.spawn()
    pid = lf.pid
    phases: list[str] = []
    with pytest.raises(LangflowStartError, match="did not become ready within 1 s"):
        lf.wait_ready(timeout_s=1, on_progress=lambda _s, phase: phases.append(phase), poll_s=0.05)
    assert "starting core services" in phases
    assert pid is not None and not _alive(pid)


def test_environment_is_hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFLOW_DATABASE_URL", "postgresql://elsewhere")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "a-real-key")
    lf = LangflowProcess(workdir=tmp_path, env_overrides={"ANTHROPIC_API_KEY": "offline"})
    env = lf.environment()
    assert env["LANGFLOW_DATABASE_URL"] == f"sqlite:///{tmp_path / 'langflow.db'}"
    assert env["ANTHROPIC_API_KEY"] == "offline"
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True" and env["LANGFLOW_API_KEY_SOURCE"] == "env"
    from cryptography.fernet import Fernet

    Fernet(env["LANGFLOW_SECRET_KEY"].encode())  # a valid Fernet key, or this raises


# -- the data directory -------------------------------------------------------------------------------------------


def test_data_dir_keeps_credentials_and_admits_one_demo(tmp_path: Path) -> None:
    first = DemoDir(tmp_path / "d").open()
    creds = first.credentials()
    assert oct((tmp_path / "d" / "credentials.json").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(DataDirBusy, match=f"pid {os.getpid()}"):
        DemoDir(tmp_path / "d").open()
    first.close()
    second = DemoDir(tmp_path / "d").open()
    assert second.credentials() == creds
    second.close()


def test_an_orphaned_langflow_is_stopped_by_the_next_run(tmp_path: Path) -> None:
    data = DemoDir(tmp_path / "d")
    data.langflow_dir.mkdir(parents=True)
    orphan = subprocess.Popen(["sleep", "300"], cwd=data.langflow_dir, start_new_session=True)
    try:
        assert data.stop_orphaned_langflow() == [orphan.pid]
        assert orphan.wait(timeout=20) == -signal.SIGTERM
        assert data.stop_orphaned_langflow() == []
    finally:
        orphan.kill()
        orphan.wait()


# -- what is printed ----------------------------------------------------------------------------------------------


def insight(kind: str, key: str, payload: dict[str, object], at_ms: int | None, quote: str | None = None,
            n: int = 1) -> InsightRecord:
    return InsightRecord(id=n, stream_id="s", flow="f", kind=kind, key=key, payload=payload, at_ms=at_ms,
                         quote=quote, window_id=1, created_at_ms=T0, updated_at_ms=T0)


def ticket(title: str, status: str | None, at_ms: int, n: int = 1) -> TicketRecord:
    return TicketRecord(id=n, stream_id="s", key=f"t{n}", flow="ticket_creation", kind="action_item", title=title,
                        payload={"owner": "Tom Okafor", "due": "2025-09-17", "priority": "high"}, at_ms=at_ms,
                        external_system="webhook" if status else None, external_id="42" if status else None,
                        external_url="http://tickets.example/42" if status == "created" else None,
                        external_status=status, window_id=1, created_at_ms=T0, updated_at_ms=T0)


OBJECTION = insight("objection", "price-1", {"category": "price", "speaker": "Marisol Vega",
                                             "suggested_reply": "Reframe on value."}, T0 + 376_000,
                    quote="Forty-two dollars a tech is a lot more than we were expecting.")
SUMMARY = insight("summary", "meeting_summary", {
    "text": "Pricing came up.", "key_points": [{"text": "Budget is 40k", "at_ms": T0 + 300_000}],
    "decisions": [{"text": "Pilot", "at_ms": T0 + 700_000}], "open_questions": []}, None, n=2)


def test_clock() -> None:
    assert clock(None) == "--:--" and clock(-1) == "--:--"
    assert clock(0) == "00:00" and clock(376_999) == "06:16" and clock(3_723_000) == "1:02:03"


def test_insights_print_with_meeting_time_speaker_and_reply() -> None:
    text = format_insight(OBJECTION, T0)
    assert text.startswith("[06:16] OBJECTION  price\n")
    assert "Marisol Vega: \u201cForty-two dollars a tech" in text and "Suggested reply: Reframe on value." in text
    assert summary_at_ms(SUMMARY) == T0 + 700_000
    summary = format_insight(SUMMARY, T0)
    assert summary.startswith("[11:40] SUMMARY    updated: 1 key point, 1 decision, 0 open questions")
    assert format_ticket(ticket("Send the SOC 2 report", "dry_run", T0 + 60_000), T0) == (
        "[01:00] TICKET     action_item: Send the SOC 2 report\n"
        "             owner Tom Okafor, due 2025-09-17, priority high · dry run: not filed")
    assert "filed: http://tickets.example/42" in format_ticket(ticket("x", "created", T0), T0)


def test_end_summary() -> None:
    text = format_end_summary(title="Sales call", length_ms=850_000, insights=[SUMMARY, OBJECTION],
                              tickets=[ticket("Send pricing", "dry_run", T0 + 1000)], figures=None, t0_ms=T0)
    assert "End of meeting: Sales call (14:10)" in text
    assert "Summary:\n  Pricing came up.\n  Key points:\n    - Budget is 40k\n  Decisions:\n    - Pilot" in text
    assert "Objections (1):\n  [06:16] price: \u201cForty-two dollars" in text and "reply: Reframe on value." in text
    assert "Tickets (1):\n  [action_item] Send pricing (dry run: not filed)" in text
    empty = format_end_summary(title="t", length_ms=0, insights=[], tickets=[], figures=None, t0_ms=None)
    assert "Summary: none" in empty and "Objections (0):" in empty and "Tickets (0):" in empty


# -- errors before anything heavy starts ----------------------------------------------------------------------------


def demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "LANGFLOW_"))}
    return subprocess.run([sys.executable, "-m", "bridge.cli", "demo", "--data-dir", "d", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = demo(tmp_path, "--port", str(port), "--exit-when-done")
    assert result.returncode == 1, result
    assert f"port {port} on 127.0.0.1 is busy" in result.stdout and "--port 0" in result.stdout
    assert not (tmp_path / "d" / "langflow").exists(), "nothing was started"


def test_a_bad_transcript_is_a_usage_error(tmp_path: Path) -> None:
    result = demo(tmp_path, "--transcript", "nope.txt")
    assert result.returncode == 2
    assert "--transcript: nope.txt: unknown transcript format" in result.stderr
    result = demo(tmp_path, "--transcript", "board-meeting")
    assert result.returncode == 2 and "or a sample name (planning, sales, support)" in result.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rewrites_one_line_on_a_terminal_and_is_sparse_elsewhere() -> None:
    term = _Terminal()
    console = Console(term)
    console.status("  Langflow:   1 s · importing Langflow", key="importing Langflow")
    console.status("  Langflow:   2 s · importing Langflow", key="importing Langflow")
    console.line("Langflow ready")
    assert term.getvalue() == ("\r\033[K  Langflow:   1 s · importing Langflow\r\033[K  Langflow:   2 s · importing "
                               "Langflow\r\033[KLangflow ready\n")
    pipe = io.StringIO()
    console = Console(pipe)
    for second, phase in ((1, "importing Langflow"), (2, "importing Langflow"), (3, "loading the flows")):
        console.status(f"  Langflow: {second} s · {phase}", key=phase, every_s=60)
    console.line("Langflow ready")
    assert pipe.getvalue() == ("  Langflow: 1 s · importing Langflow\n  Langflow: 3 s · loading the flows\n"
                               "Langflow ready\n")


def test_replay_routes_queue_a_meeting_behind_the_token(tmp_path: Path) -> None:
    app, replays = FastAPI(), ReplayQueue()
    add_replay_routes(app, SecretStr("tok"), replays)
    auth = {"Authorization": "Bearer tok"}
    with TestClient(app) as http:
        assert http.post("/api/demo/replay", json={"transcript": "sales"}).status_code == 401
        assert "sales" in http.get("/api/demo", headers=auth).json()["transcripts"]
        answer = http.post("/api/demo/replay", json={"transcript": "support"}, headers=auth)
        assert answer.status_code == 202 and answer.json()["position"] == 1
        bad = http.post("/api/demo/replay", json={"transcript": str(tmp_path / "nope.jsonl")}, headers=auth)
        assert bad.status_code == 422 and "nope.jsonl" in bad.json()["detail"]
        for _ in range(MAX_QUEUED - 1):
            http.post("/api/demo/replay", json={"transcript": "sales"}, headers=auth)
        assert http.post("/api/demo/replay", json={"transcript": "sales"}, headers=auth).status_code == 429
    assert replays.queue.get_nowait()[0] == "support"

    data = DemoDir(tmp_path)
    assert data.running() is None
    data.write_running(RunningDemo(pid=os.getpid(), langflow_url="http://127.0.0.1:1", langflow_api_key="k",
                                   bridge_url="http://127.0.0.1:2", api_token="t"))
    assert data.running() is not None and oct(data.running_path.stat().st_mode & 0o777) == "0o600"
    data.clear_running()
    assert data.running() is None
