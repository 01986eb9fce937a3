"""A revoke removes the words everywhere the bridge put them: meetings whose every line carries a marker phrase run
through the bridge (SQLite store) and a real Langflow 1.13 (the flows, the offline model): one is revoked half-way
(stop reason 8 while its runs are out), one after it ended, and the third's account is deauthorized
(`app_deauthorized`). Then every file of both databases (with their
-wal and -shm) is searched byte by byte, and every table of both row by row: the marker is nowhere. Before the purge
the same search finds it in both, so the search looks in the right places."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from bridge.rtms.enums import Product
from bridge.rtms.webhooks import stream_payload
from bridge.simulator import ChaosEvent, MeetingSpec
from bridge.simulator.transcripts import Transcript, load_transcript
from bridge.store.models import StreamAccount
from bridge.store.purge import Purger
from tests.intake.conftest import Collector, signed
from tests.intake.live import LiveBridge, serve_bridge
from tests.langflow_server import LangflowServer, OfflineLLMProcess
from tests.pipeline.test_live import bridge_settings, flows_file, pipeline_of, simulator, store_of

pytestmark = pytest.mark.timeout(900)

MARKER = "zebracorn-quillfeather-5521"


def marked(name: str, marker: str, minutes: float = 4.0) -> Transcript:
    """A sample meeting cut short, every line carrying `marker`."""
    transcript = load_transcript(name).sliced(int(minutes * 60_000))
    return Transcript(meta=transcript.meta, utterances=[
        u.model_copy(update={"text": f"{u.text} {marker}"}) for u in transcript.utterances])


def files_holding(root: Path, marker: str, pattern: str) -> list[str]:
    needle = marker.encode()
    return sorted(str(p.relative_to(root)) for p in root.rglob(pattern) if p.is_file() and needle in p.read_bytes())


def tables_holding(database: Path, marker: str) -> dict[str, int]:
    """Rows of every table of a SQLite file (read-only, beside the server using it) with `marker` in any column."""
    found: dict[str, int] = {}
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]
            if not columns:
                continue
            hit = " OR ".join(f'instr(CAST("{c}" AS TEXT), ?) > 0' for c in columns)
            count = connection.execute(f'SELECT count(*) FROM "{table}" WHERE {hit}',
                                       [marker] * len(columns)).fetchone()[0]
            if count:
                found[table] = count
    finally:
        connection.close()
    return found


def everywhere(bridge_dir: Path, langflow: LangflowServer, marker: str) -> dict[str, object]:
    """Where `marker` still is: database files (bytes), tables (rows), and any other file Langflow wrote."""
    where: dict[str, object] = {
        "bridge files": files_holding(bridge_dir, marker, "bridge.db*"),
        "bridge tables": tables_holding(bridge_dir / "bridge.db", marker),
        "langflow files": files_holding(langflow.workdir, marker, "langflow.db*"),
        "langflow tables": tables_holding(langflow.database_path, marker),
        "langflow other files": [f for f in files_holding(langflow.workdir, marker, "*")
                                 if not f.startswith("langflow.db") and not f.endswith(".log")],
    }
    return {k: v for k, v in where.items() if v}


async def post(live: LiveBridge, event: str, payload: dict[str, object]) -> httpx.Response:
    body, headers = signed(event, payload)
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.post(live.webhook_url, content=body, headers=headers)


async def test_revoke_and_deauthorize_leave_the_words_nowhere(
    langflow: LangflowServer, offline_llm_process: OfflineLLMProcess, tmp_path: Path
) -> None:
    bridge_dir = tmp_path / "bridge"
    bridge_dir.mkdir()
    settings = bridge_settings(langflow.base_url, langflow.api_key, offline_llm_process, bridge_dir / "bridge.db",
                               flows_config=flows_file(tmp_path), langflow_database_file=langflow.database_path)
    revoked_marker, deauth_marker = f"{MARKER}-revoked", f"{MARKER}-deauthorized"
    async with serve_bridge(settings, Collector()) as live:
        purger = live.app.state.bridge.purger
        assert isinstance(purger, Purger)
        purger.settle_ms = 20_000  # the second pass, after runs cut off by the revoke half-way could still write
        pipeline = pipeline_of(live)
        async with simulator(live, speed=60.0) as sim:
            midway = await sim.start_meeting(MeetingSpec(
                transcript=marked("planning_meeting", f"{MARKER}-midway"),
                chaos=[ChaosEvent(kind="stop", at_line=15, stop_reason=8)]))
            revoked = await sim.start_meeting(MeetingSpec(transcript=marked("support_call", revoked_marker)))
            deauthorized = await sim.start_meeting(MeetingSpec(transcript=marked("sales_discovery", deauth_marker)))
            for handle in (revoked, deauthorized):
                report = await handle.wait(timeout=300)
                assert report.lines_sent == report.lines_total
                await live.manager.wait_stream(handle.rtms_stream_id, 30)
            report = await midway.wait(timeout=300)
            assert report.stop_reason == 8 and 0 < report.lines_sent < report.lines_total
        assert await pipeline.wait_idle(300)
        store = store_of(live)
        for handle in (revoked, deauthorized):
            windows = await store.windows(handle.rtms_stream_id)
            assert windows and {w.status for w in windows} == {"done"}

        before = everywhere(bridge_dir, langflow, MARKER)
        print("before the purge:", before)
        assert before.get("bridge tables") and before.get("langflow tables"), before

        response = await post(live, "meeting.rtms_stopped", stream_payload(
            Product.MEETING, revoked.instance_id, revoked.rtms_stream_id, stop_reason=8))
        assert response.json() == {"status": "revoked"}
        async with store.engine.connect() as conn:
            account = (await conn.execute(StreamAccount.__table__.select().where(
                StreamAccount.stream_id == deauthorized.rtms_stream_id))).one().account_id
        response = await post(live, "app_deauthorized", {
            "user_data_retention": "false", "account_id": account, "user_id": "z9jkdsfsdfjhdkfjQ",
            "signature": "827edc3452044f0bc86bdd5684afb7d1e6becfa1a767f24df1b287853cf73000",
            "deauthorization_time": "2026-12-04T13:52:28.632Z", "client_id": "ADZ9k9bTWmGUoUbECUKU_a"})
        assert response.status_code == 200 and response.json() == {"status": "deauthorized"}
        assert await purger.wait_done(180)
        failures = {stage: live.metric("rtms_purge_failures_total", stage=stage)
                    for stage in ("delete", "langflow", "copies", "store")}
        print("purge passes that failed and were retried:", failures)

        after = everywhere(bridge_dir, langflow, MARKER)
        print("after the purge:", after)
        assert after == {}
        for handle in (midway, revoked, deauthorized):
            assert await store.get_meeting(handle.rtms_stream_id) is None
        assert live.metric("rtms_purges_total", kind="stream") == 3
        assert live.metric("rtms_purges_total", kind="account") == 1
        assert live.metric("rtms_purge_copies_kept_total") == 0
