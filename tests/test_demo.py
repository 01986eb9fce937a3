"""`rtms-langflow demo` end to end, as a user runs it: a subprocess that starts its own Langflow, the offline model,
the bridge and the simulator, replays a short meeting and prints the insights; then Ctrl-C in the middle of a
second run (which reuses the first one's data directory). Both check that no process of the demo is left.

The meeting is an excerpt of the bundled sales call (its opening, the price and competitor objections, and the
commitments at the end), re-timed to under four minutes and replayed at 20x.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.simulator.transcripts import Transcript, dumps_jsonl, load_transcript
from tests.langflow_server import REPO
from tests.waiting import until_sync

pytestmark = pytest.mark.timeout(900)

RUN_TIMEOUT_S = 840.0


def excerpt() -> Transcript:
    sales = load_transcript("sales")
    picked = sales.utterances[:3] + sales.utterances[48:60] + sales.utterances[96:107]
    out, clock = [], 0
    for u in picked:
        start = clock + 800
        out.append(u.model_copy(update={"start_ms": start, "end_ms": start + u.end_ms - u.start_ms}))
        clock = out[-1].end_ms
    return Transcript(meta=sales.meta, utterances=out)


# -- processes ---------------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process; None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[1]), fields[19]


def descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of every live process below `root`; the start time tells a reused pid apart."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info is not None:
                parents.setdefault(info[0], []).append((int(entry.name), info[1]))
    found: set[tuple[int, str]] = set()
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child[0])
    return found


def alive(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    return {(pid, start) for pid, start in processes if (_stat(pid) or (0, ""))[1] == start}


def working_in(directory: Path) -> list[int]:
    """Processes whose working directory is under `directory` (Langflow runs in the data directory)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = Path(os.readlink(entry / "cwd"))
            except OSError:
                continue
            if cwd == directory or directory in cwd.parents:
                out.append(int(entry.name))
    return [pid for pid in out if _stat(pid) is not None]


class DemoRun:
    """The demo as a subprocess: its output collected line by line, its process tree sampled while it runs."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "LANGFLOW_", "BRIDGE_"))}
        env["PYTHONUNBUFFERED"] = "1"
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "demo", *args],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        )
        self.lines: list[str] = []
        self.seen: set[tuple[int, str]] = set()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def sample(self) -> None:
        self.seen |= descendants(self.proc.pid)

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """The first match of `pattern` in the output, waiting for it to be printed."""

        def printed_or_exited() -> bool:
            self.sample()
            return re.search(pattern, self.output) is not None or self.proc.poll() is not None

        with contextlib.suppress(TimeoutError):
            until_sync(printed_or_exited, timeout_s=timeout_s, poll_s=0.2)
        found = re.search(pattern, self.output)
        if found:
            return found
        raise AssertionError(f"no {pattern!r} in the demo's output (exit {self.proc.poll()}):\n{self.output}")

    def wait(self, timeout_s: float) -> int:
        def exited() -> bool:
            self.sample()
            return self.proc.poll() is not None

        with contextlib.suppress(TimeoutError):
            until_sync(exited, timeout_s=timeout_s, poll_s=0.2)
        if self.proc.poll() is None:
            self.kill()
            raise AssertionError(f"the demo did not exit within {timeout_s:.0f} s:\n{self.output}")
        self._reader.join(timeout=10)
        return self.proc.returncode

    def kill(self) -> None:
        """Last resort for a failed test: nothing may outlive it."""
        self.sample()
        for pid, _ in alive(self.seen):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One working directory for both runs, so the second reuses the first one's `tmp` data directory."""
    home = tmp_path_factory.mktemp("demo")
    (home / "excerpt.jsonl").write_text(dumps_jsonl(excerpt()), encoding="utf-8")
    yield home
    log = home / "tmp" / "langflow" / "langflow.log"
    if log.exists():
        artifacts = REPO / "tests" / "artifacts"
        artifacts.mkdir(exist_ok=True)
        (artifacts / "demo-langflow.log").write_bytes(log.read_bytes())


def assert_nothing_left(run: DemoRun, home: Path) -> None:
    left = alive(run.seen)
    assert not left, f"processes of the demo still running: {sorted(left)}"
    assert working_in(home) == [], "a process still runs in the demo's data directory"


def test_demo_replays_a_meeting_end_to_end(demo_home: Path) -> None:
    run = DemoRun(demo_home, "--transcript", "excerpt.jsonl", "--speed", "20", "--exit-when-done",
                  "--data-dir", "tmp")
    try:
        status = run.wait(RUN_TIMEOUT_S)
    finally:
        if run.proc.poll() is None:
            run.kill()
    out = run.output
    elapsed = time.monotonic() - run.started
    ready = re.search(r"Langflow ready in (\d+) s", out)
    print(f"demo: exit {status} in {elapsed:.0f} s, Langflow cold start {ready[1] if ready else '?'} s")
    assert status == 0, out
    assert "OFFLINE" in out and "rule-based" in out
    assert re.search(r"Dashboard \(watch live\): http://127\.0\.0\.1:\d+/#token=[\w-]{20,}", out), out
    live, _, end = out.partition("End of meeting:")
    # Printed as they arrived, before the end summary: each kind of insight at least once.
    assert "] OBJECTION  price" in live and "Suggested reply:" in live, out
    assert "] TICKET     action_item:" in live, out
    assert "] SUMMARY    updated:" in live, out
    counts = re.search(r"Objections \((\d+)\):.*Tickets \((\d+)\):", end, re.S)
    assert counts and int(counts[1]) >= 2 and int(counts[2]) >= 3, end
    assert "Key points:" in end and "Figures: 26 lines" in end, end
    assert "Stopped: nothing of the demo is left running." in out
    assert run.seen, "the demo started no process at all?"
    assert_nothing_left(run, demo_home)
    data = demo_home / "tmp"
    assert (data / "langflow" / "langflow.db").is_file() and (data / "bridge.db").is_file()
    assert oct((data / "credentials.json").stat().st_mode & 0o777) == "0o600"


def test_ctrl_c_mid_meeting_stops_everything(demo_home: Path) -> None:
    """The second run reuses the data directory; SIGINT while the meeting replays stops every part of it."""
    reused = (demo_home / "tmp" / "langflow" / "langflow.db").is_file()  # unless this test runs alone
    run = DemoRun(demo_home, "--transcript", "sales", "--speed", "1", "--data-dir", "tmp")
    try:
        url = run.wait_for(r"Dashboard \(watch live\): (http://127\.0\.0\.1:\d+)/#token=([\w-]+)", RUN_TIMEOUT_S)
        run.wait_for(r"Meeting started", 60)
        # The dashboard says the model is the offline one; the API wants the printed token.
        with httpx.Client(base_url=url[1], timeout=10, trust_env=False) as http:
            assert http.get("/api/info").status_code == 401
            info = http.get("/api/info", headers={"authorization": f"Bearer {url[2]}"})
            assert info.status_code == 200 and info.json()["model"] == "offline", info.text
            assert http.get("/").status_code == 200
        # the meeting is streaming: Langflow, the bridge, the simulator and the model all run
        def langflow_below() -> bool:
            run.sample()
            return len(run.seen) >= 2

        with contextlib.suppress(TimeoutError):
            until_sync(langflow_below, timeout_s=60, poll_s=0.2)
        assert len(run.seen) >= 2, f"expected Langflow and its worker below the demo, saw {run.seen}"
        run.proc.send_signal(signal.SIGINT)
        status = run.wait(90)
    finally:
        if run.proc.poll() is None:
            run.kill()
    out = run.output
    ready = re.search(r"Langflow ready in (\d+) s", out)
    print(f"demo: Langflow {'warm' if reused else 'cold'} start {ready[1] if ready else '?'} s; stopped with "
          f"status {status}")
    assert ("(reused: Langflow has its database already" in out) == reused, out
    assert "SIGINT: stopping everything" in out, out
    assert status == 130, out
    assert "End of meeting:" not in out
    assert "Stopped: nothing of the demo is left running." in out
    assert_nothing_left(run, demo_home)


EDITED_REPLY = "EDITED in Langflow: ask which line item worries them and offer the two-week pilot first."


def edit_price_reply(langflow_url: str, api_key: str) -> None:
    """What a lead does in the editor, through Langflow's API: a new suggested reply for price objections."""
    with httpx.Client(base_url=langflow_url, headers={"x-api-key": api_key}, timeout=30, trust_env=False) as http:
        flows = http.get("/api/v1/flows/", params={"get_all": "true", "header_flows": "true"}).json()
        fid = next(f["id"] for f in flows if f.get("endpoint_name") == "objection_coach")
        flow = http.get(f"/api/v1/flows/{fid}").json()
        node = next(n for n in flow["data"]["nodes"] if n["data"]["type"] == "RTMSObjectionDetector")
        rows = node["data"]["node"]["template"]["playbook"]["value"]
        next(r for r in rows if r["category"] == "price")["response"] = EDITED_REPLY
        assert http.patch(f"/api/v1/flows/{fid}", json={"data": flow["data"]}).status_code == 200


def test_an_edit_is_replayed_pulled_and_survives_a_restart(demo_home: Path, tmp_path: Path) -> None:
    """A lead edits the playbook in the running demo's Langflow, replays a meeting (`demo replay`) and sees the new
    reply; `flows pull --demo-dir` shows the edit as the only change; the next demo start keeps the edit."""
    run = DemoRun(demo_home, "--transcript", "excerpt.jsonl", "--speed", "20", "--data-dir", "tmp")
    try:
        run.wait_for(r"Still serving the dashboard", RUN_TIMEOUT_S)
        running = json.loads((demo_home / "tmp" / "running.json").read_text())
        edit_price_reply(running["langflow_url"], running["langflow_api_key"])
        cli = [sys.executable, "-m", "bridge.cli"]
        asked = subprocess.run([*cli, "demo", "replay", "--transcript", "excerpt.jsonl", "--data-dir", "tmp"],
                               cwd=demo_home, capture_output=True, text=True, timeout=60)
        assert asked.returncode == 0 and "Queued" in asked.stdout, asked.stderr
        run.wait_for(r"(?s)End of meeting.*End of meeting.*Dashboard:", RUN_TIMEOUT_S)
        second = run.output.split("End of meeting:")[2]
        assert "EDITED in Langflow" in " ".join(second.split()), run.output

        shutil.copytree(REPO / "flows", tmp_path / "flows")
        pulled = subprocess.run([*cli, "flows", "pull", "--demo-dir", "tmp", "--out", str(tmp_path / "flows")],
                                cwd=demo_home, capture_output=True, text=True, timeout=120)
        assert pulled.returncode == 0, pulled.stderr
        before = (REPO / "flows" / "objection_coach.json").read_text().splitlines()
        after = (tmp_path / "flows" / "objection_coach.json").read_text().splitlines()
        changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
        assert len(changed) == 1 and EDITED_REPLY in changed[0][1], changed
        run.proc.send_signal(signal.SIGINT)
        assert run.wait(90) == 0, run.output
    finally:
        if run.proc.poll() is None:
            run.kill()
    assert not (demo_home / "tmp" / "running.json").exists()

    again = DemoRun(demo_home, "--transcript", "excerpt.jsonl", "--speed", "20", "--exit-when-done",
                    "--data-dir", "tmp")
    try:
        status = again.wait(RUN_TIMEOUT_S)
    finally:
        if again.proc.poll() is None:
            again.kill()
    out = again.output
    assert status == 0, out
    assert re.search(r"Flows: kept objection_coach \([-0-9a-f]+\): it was changed in Langflow", out), out
    assert "EDITED in Langflow" in " ".join(out.split("End of meeting:")[1].split()), out
    assert_nothing_left(again, demo_home)
