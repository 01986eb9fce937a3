"""`rtms-langflow simulate` as a user runs it: a separate process, credentials from the environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.simulator import command
from bridge.simulator.transcripts import dumps_jsonl
from tests.simulator.conftest import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET, make_transcript
from tests.simulator.rtms_client import ClientOptions, RtmsTestApp

CREDENTIALS = {
    "ZOOM_WEBHOOK_SECRET_TOKEN": WEBHOOK_SECRET,
    "ZOOM_CLIENT_ID": CLIENT_ID,
    "ZOOM_CLIENT_SECRET": CLIENT_SECRET,
}
REPO = Path(__file__).resolve().parents[2]


async def simulate(args: list[str], env: dict[str, str], cwd: Path, within_s: float = 60.0) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in CREDENTIALS and not k.startswith("PYTHON")}
    clean["PYTHONPATH"] = str(REPO)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.cli",
        "simulate",
        *args,
        env={**clean, **env},
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(within_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_help_documents_every_option() -> None:
    parser = argparse.ArgumentParser()
    command.configure(parser)
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 20
    text = parser.format_help()
    for action in options:
        assert action.help and len(action.help) > 15, action.option_strings
        assert action.option_strings[-1] in text
    for required in (
        "--webhook-url",
        "--transcript",
        "--speed",
        "--meetings",
        "--product",
        "--audio",
        "--media-mode",
        "--chaos",
        "--port-signaling",
        "--port-media",
        "--host",
        "--keepalive-interval",
        "--retry-schedule",
        "--frame-style",
    ):
        assert required in text
    assert "drop_media" in text and "ZOOM_WEBHOOK_SECRET_TOKEN" in text


def test_missing_credentials_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["simulate", "--webhook-url", "http://127.0.0.1:9/webhook"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and all(name in captured.err for name in CREDENTIALS)


def test_bad_chaos_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--webhook-url", "http://x/", "--chaos", "explode@1"])
    assert exited.value.code == 2 and "unknown kind 'explode'" in capsys.readouterr().err


async def test_a_full_run_with_chaos(tmp_path: Path) -> None:
    transcript = make_transcript(5)
    path = tmp_path / "meeting.jsonl"
    path.write_text(dumps_jsonl(transcript), encoding="utf-8")
    async with RtmsTestApp(WEBHOOK_SECRET, ClientOptions(CLIENT_ID, CLIENT_SECRET)) as app:
        code, out, err = await simulate(
            [
                "--webhook-url",
                app.url,
                "--transcript",
                str(path),
                "--speed",
                "50",
                "--meetings",
                "2",
                "--product",
                "webinar",
                "--chaos",
                "drop_media@1",
                "--chaos",
                "duplicate_webhook@2",
                "--retry-schedule",
                "0.05,0.1",
                "--keepalive-interval",
                "1",
                "--signaling-window",
                "5",
                "--media-window",
                "5",
                "--frame-style",
                "styled",
            ],
            CREDENTIALS,
            tmp_path,
        )
        logs = [await client.wait(5) for client in app.clients.values()]
    assert code == 0, err
    reports = [json.loads(line) for line in out.splitlines()]
    assert len(reports) == 2 and len({r["rtms_stream_id"] for r in reports}) == 2
    assert all(r["lines_sent"] == 5 and r["product"] == "webinar" and not r["errors"] for r in reports)
    assert all(r["chaos_applied"] == ["drop_media@1", "duplicate_webhook@2"] for r in reports)
    assert all(log.texts == [u.text for u in transcript.utterances] for log in logs)
    progress = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert {"meeting started", "stream ended", "chaos"} <= {p["event"] for p in progress}
    assert not any("line 0" in line for line in err.splitlines())  # no transcript text in progress logs
