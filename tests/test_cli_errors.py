"""Every bad setting and option, through the real command (`rtms-langflow ...` as a child process, the way a user
runs it): exit status 2, one line on stderr naming the setting or option and what is wrong, no traceback.

The commands run concurrently (a few at a time) once per module; each row of the table then checks its result.
Nothing here reaches the network beyond loopback: the unreachable database and Redis are closed loopback ports.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "rtms-langflow"
TIMEOUT_S = 120.0
PARALLEL = 4
# Each command starts a Python process (about 1.5 s of CPU): on a loaded machine the table takes minutes.
pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    names: str  # what the line must name (the setting or the option)
    words: str = ""  # and a word of what is wrong
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    returncode: int | None
    stdout: str
    stderr: str


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _cases(tmp: Path, busy: int, closed: int) -> list[Case]:
    (tmp / "bad.toml").write_text("[flows.summary\nkind = 'summary'\n")
    (tmp / "bad-values.toml").write_text("[flows.summary]\nkind = 3\n")
    (tmp / "empty.toml").write_text("")
    (tmp / "not-a-ca.pem").write_text("this is no certificate\n")
    url = "http://127.0.0.1:9/webhook"
    pg_closed = f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/test"
    serve = ["serve", "--port", "0"]
    return [
        Case("db malformed", serve, "BRIDGE_DATABASE_URL", "URL", {"BRIDGE_DATABASE_URL": "nonsense"}),
        Case("db unsupported", serve, "BRIDGE_DATABASE_URL", "mysql", {"BRIDGE_DATABASE_URL": "mysql://h/db"}),
        Case("db unreachable", serve, "BRIDGE_DATABASE_URL", "cannot open", {"BRIDGE_DATABASE_URL": pg_closed}),
        Case("db sqlite dir missing", serve, "BRIDGE_DATABASE_URL", "does not exist",
             {"BRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/no/such/dir/x.db"}),
        Case("redis unreachable", serve, "BRIDGE_REDIS_URL", "cannot reach",
             {"BRIDGE_REDIS_URL": f"redis://127.0.0.1:{closed}/0", "BRIDGE_DATABASE_URL": pg_closed}),
        Case("redis not a redis url", serve, "BRIDGE_REDIS_URL", "redis://",
             {"BRIDGE_REDIS_URL": "http://127.0.0.1:6379", "BRIDGE_DATABASE_URL": pg_closed}),
        Case("redis with sqlite", serve, "BRIDGE_DATABASE_URL", "PostgreSQL",
             {"BRIDGE_REDIS_URL": "redis://127.0.0.1:6379/0"}),
        Case("tweaks not json", serve, "BRIDGE_LANGFLOW_TWEAKS", "JSON", {"BRIDGE_LANGFLOW_TWEAKS": "{bad"}),
        Case("flows file missing", serve, "BRIDGE_FLOWS_CONFIG", "not a readable file",
             {"BRIDGE_FLOWS_CONFIG": str(tmp / "missing.toml")}),
        Case("flows bad toml", serve, "BRIDGE_FLOWS_CONFIG", "TOML", {"BRIDGE_FLOWS_CONFIG": str(tmp / "bad.toml")}),
        Case("flows bad values", serve, "BRIDGE_FLOWS_CONFIG", "summary",
             {"BRIDGE_FLOWS_CONFIG": str(tmp / "bad-values.toml")}),
        Case("flows empty", serve, "BRIDGE_FLOWS_CONFIG", "no [flows",
             {"BRIDGE_FLOWS_CONFIG": str(tmp / "empty.toml"), "BRIDGE_LANGFLOW_URL": "http://127.0.0.1:9"}),
        Case("ca bundle not pem", serve, "BRIDGE_CA_BUNDLE", "PEM", {"BRIDGE_CA_BUNDLE": str(tmp / "not-a-ca.pem")}),
        Case("ca bundle missing", serve, "BRIDGE_CA_BUNDLE", "not a readable file",
             {"BRIDGE_CA_BUNDLE": str(tmp / "none.pem")}),
        Case("langflow url", serve, "BRIDGE_LANGFLOW_URL", "not an http", {"BRIDGE_LANGFLOW_URL": "not a url"}),
        Case("port busy option", ["serve", "--port", str(busy)], "--port", "in use"),
        Case("port busy setting", ["serve"], "BRIDGE_PORT", "in use", {"BRIDGE_PORT": str(busy)}),
        Case("port out of range", ["serve", "--port", "99999"], "--port", "65535"),
        Case("port not a number", ["serve"], "BRIDGE_PORT", "integer", {"BRIDGE_PORT": "eighty"}),
        Case("host 256.1.1.1", [*serve, "--host", "256.1.1.1"], "--host", "256.1.1.1"),
        Case("host setting", serve, "BRIDGE_HOST", "bind", {"BRIDGE_HOST": "256.1.1.1"}),
        Case("env file missing", [*serve, "--env-file", str(tmp / "missing.env")], "--env-file", "does not exist"),
        Case("backoff cap below base", serve, "BRIDGE_BACKOFF_CAP_S", "BRIDGE_BACKOFF_BASE_S",
             {"BRIDGE_BACKOFF_CAP_S": "0.1"}),
        Case("credentials missing", serve, "ZOOM_CLIENT_ID", "missing", {"ZOOM_CLIENT_ID": ""}),
        Case("simulate speed inf", ["simulate", "--webhook-url", url, "--speed", "inf"], "--speed", "finite"),
        Case("simulate webhook url", ["simulate", "--webhook-url", "not a url"], "--webhook-url", "http"),
        Case("simulate host", ["simulate", "--webhook-url", url, "--host", "256.1.1.1"], "--host", "256.1.1.1"),
        Case("simulate port busy", ["simulate", "--webhook-url", url, "--port-signaling", str(busy)],
             "--port-signaling", "in use"),
        Case("simulate retry inf", ["simulate", "--webhook-url", url, "--retry-schedule", "1,inf"],
             "--retry-schedule", "finite"),
        Case("simulate transcript", ["simulate", "--webhook-url", url, "--transcript", str(tmp / "none.vtt")],
             "--transcript", "none.vtt"),
        Case("flows push url", ["flows", "push", "--url", "not a url", "--api-key", "k"], "--url", "not a url"),
        Case("flows push timeout", ["flows", "push", "--api-key", "k", "--timeout", "inf"], "--timeout", "finite"),
        Case("flows push no key", ["flows", "push", "--url", "http://127.0.0.1:9"], "--api-key", "no API key",
             {"LANGFLOW_API_KEY": ""}),
        Case("demo speed inf", ["demo", "--speed", "inf"], "--speed", "finite"),
    ]


async def _run(case: Case, cwd: Path, base_env: dict[str, str], gate: asyncio.Semaphore) -> Outcome:
    async with gate:
        proc = await asyncio.create_subprocess_exec(
            str(BIN), *case.argv, cwd=cwd, env={**base_env, **case.env},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(TIMEOUT_S):
                out, err = await proc.communicate()
        except TimeoutError:  # it did not stop: kill it and report what it said
            proc.kill()
            out, err = await proc.communicate()
            return Outcome(None, out.decode(errors="replace"), err.decode(errors="replace"))
        return Outcome(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Case, Outcome]]]:
    assert BIN.exists(), f"{BIN} missing: run `uv sync` first"
    tmp = tmp_path_factory.mktemp("cli-errors")
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("BRIDGE_", "ZOOM_", "LANGFLOW_", "ANTHROPIC_"))}
    base_env.update({"ZOOM_WEBHOOK_SECRET_TOKEN": "wh", "ZOOM_CLIENT_ID": "cid", "ZOOM_CLIENT_SECRET": "cs",
                     "BRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/store.db", "NO_COLOR": "1"})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cases = _cases(tmp, busy.getsockname()[1], _closed_port())

        async def run_all() -> list[Outcome]:
            gate = asyncio.Semaphore(PARALLEL)
            return await asyncio.gather(*(_run(case, tmp, base_env, gate) for case in cases))

        results = asyncio.run(run_all())
    yield {case.id: (case, result) for case, result in zip(cases, results, strict=True)}


def _ids() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        return [c.id for c in _cases(Path(tmp), 1, 2)]


@pytest.mark.parametrize("case_id", _ids())
def test_bad_setting_is_one_line_naming_it(outcomes: dict[str, tuple[Case, Outcome]], case_id: str) -> None:
    case, result = outcomes[case_id]
    shown = f"exit {result.returncode}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}"
    assert result.returncode == 2, shown
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, shown
    (line,) = lines
    assert line.startswith("rtms-langflow"), shown
    assert case.names in line, shown
    assert case.words.lower() in line.lower(), shown
    assert result.stdout.strip() == "", shown


def test_no_output_holds_a_traceback(outcomes: dict[str, tuple[Case, Outcome]]) -> None:
    """Whatever else a row says, none of them may show a stack: not as text, not inside a JSON log line."""
    offenders = [case.id for case, result in outcomes.values()
                 if any(marker in result.stdout + result.stderr
                        for marker in ("Traceback", 'File "', "\\n  File ", '"exc":', "exc_type"))]
    assert offenders == []
