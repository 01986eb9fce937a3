"""Three bridge replicas (real processes) behind one webhook address share the simulator's meetings through Redis and
PostgreSQL, with the flows running in a real Langflow. Mid-meeting one replica is killed (SIGKILL) and another is
drained (SIGTERM); every meeting still completes, every utterance is stored once and windowed once, and no stream is
ever held by two replicas at the same moment (the simulator, like Zoom, refuses a second signaling connection
with status 8: there is none).

The simulator's several webhook URLs stand in for the load balancer in front of the replicas. It re-sends the
lines of the last few seconds after an abrupt socket loss (`redeliver_s`): Zoom documents no re-delivery, but a
killed replica loses what it had read and not yet stored, so the test gives the bridge at-least-once delivery and
checks that it stores each line once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from bridge.flows_build import NODE_IDS
from bridge.rtms.enums import StatusCode, StopReason
from bridge.simulator import MeetingSpec, Simulator
from bridge.simulator.transcripts import load_transcript
from tests.cluster.replicas import ReplicaSet, replica_set
from tests.conftest import ARTIFACTS
from tests.intake.conftest import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET
from tests.intake.live import simulator_config
from tests.langflow.meetings import SAMPLES_DIR
from tests.langflow_server import LangflowServer, OfflineLLMProcess
from tests.pipeline.test_live import flows_file
from tests.waiting import until

pytestmark = [pytest.mark.heavy, pytest.mark.timeout(900)]

MEETINGS = 9
SLICE_MS = 300_000  # five minutes of each sample
SPEED = 5.0  # each meeting lasts about a minute


def replica_env(langflow: LangflowServer, llm: OfflineLLMProcess, flows: Path) -> dict[str, str]:
    return {
        "ZOOM_WEBHOOK_SECRET_TOKEN": WEBHOOK_SECRET, "ZOOM_CLIENT_ID": CLIENT_ID, "ZOOM_CLIENT_SECRET": CLIENT_SECRET,
        "BRIDGE_ALLOWED_HOSTS": "127.0.0.1", "BRIDGE_ALLOW_INSECURE_WS": "true",
        "BRIDGE_BACKOFF_BASE_S": "0.2", "BRIDGE_BACKOFF_CAP_S": "1.0",
        "BRIDGE_LANGFLOW_URL": langflow.base_url, "BRIDGE_LANGFLOW_API_KEY": langflow.api_key,
        "BRIDGE_LANGFLOW_TWEAKS": json.dumps({NODE_IDS["model"]: {"base_url": llm.base_url}}),
        "BRIDGE_FLOWS_CONFIG": str(flows), "BRIDGE_API_TOKEN": "test-token",
        "BRIDGE_LEASE_TTL_S": "2", "BRIDGE_CLUSTER_SWEEP_S": "0.5", "BRIDGE_SHUTDOWN_TIMEOUT_S": "10",
        "BRIDGE_MAX_CONCURRENT_RUNS": "6",
    }


async def holders(replicas: ReplicaSet, stream_ids: list[str]) -> dict[str, str | None]:
    from redis.asyncio import Redis

    from tests.cluster.replicas import REDIS_URL

    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        values = await redis.mget([f"{replicas.prefix}lease:{s}" for s in stream_ids])
    finally:
        await redis.aclose()
    return {s: (v.rpartition(":")[0] if v else None) for s, v in zip(stream_ids, values, strict=True)}


async def wait_for(what: str, check, limit_s: float, every_s: float = 0.25):  # type: ignore[no-untyped-def]
    """`check()`'s first true result, checked every `every_s` until `limit_s` (then TimeoutError naming `what`)."""
    found = None

    async def holds() -> bool:
        nonlocal found
        found = await check()
        return bool(found)

    await until(holds, timeout_s=limit_s, what=what, poll_s=every_s)
    return found


async def stored_lines(replicas: ReplicaSet, stream_ids: list[str]) -> dict[str, int]:
    """The highest line seq stored per stream (0: none yet), from the replicas' shared PostgreSQL store."""
    rows = await replicas.fetch("SELECT stream_id, max(seq) AS n FROM lines WHERE stream_id = ANY($1::text[]) "
                                "GROUP BY stream_id", stream_ids)
    got = {r["stream_id"]: int(r["n"]) for r in rows}
    return {s: got.get(s, 0) for s in stream_ids}


async def lines_grow(replicas: ReplicaSet, stream_ids: list[str], since: dict[str, int], by: int,
                     what: str) -> None:
    """Wait until every stream has stored `by` more lines than `since` (the meetings go on meanwhile)."""

    async def grown() -> bool:
        now = await stored_lines(replicas, stream_ids)
        return all(now[s] >= since.get(s, 0) + by for s in stream_ids)

    await wait_for(what, grown, 120, every_s=0.25)


async def test_three_replicas_survive_a_kill_and_a_drain(
    langflow: LangflowServer, offline_llm_process: OfflineLLMProcess, tmp_path: Path
) -> None:
    samples = [load_transcript(SAMPLES_DIR / f"{n}.jsonl").sliced(SLICE_MS)
               for n in ("sales_discovery", "support_call", "planning_meeting")]
    specs = [MeetingSpec(transcript=samples[i % 3], name=f"m{i}") for i in range(MEETINGS)]
    env = replica_env(langflow, offline_llm_process, flows_file(tmp_path))
    async with replica_set(ARTIFACTS / "replicas", env) as replicas:
        for name in ("r1", "r2", "r3"):
            replicas.add(name)
        await replicas.start_all()
        config = simulator_config(
            replicas.replicas[0].webhook_url,
            extra_webhook_urls=tuple(r.webhook_url for r in replicas.replicas[1:]),
            speed=SPEED, keepalive_interval_s=2.0, signaling_reconnect_window_s=60.0,
            media_reconnect_window_s=60.0, redeliver_s=5.0, webhook_retry_schedule_s=(1.0, 2.0, 4.0))
        async with Simulator(config) as sim:
            handles = await sim.start_meetings(specs)
            ids = [h.rtms_stream_id for h in handles]
            by_name = {r.name: r for r in replicas.replicas}

            async def all_held() -> dict[str, str | None] | None:
                now = await holders(replicas, ids)
                return now if all(now.values()) else None

            placed = await wait_for("every stream held", all_held, 30)
            spread = Counter(placed.values())
            assert len(spread) == 3, f"streams not spread over the replicas: {spread}"

            await lines_grow(replicas, ids, {}, 7, "every meeting a fifth through (7 lines stored)")
            placed = await holders(replicas, ids)
            victim = max(("r1", "r2", "r3"), key=lambda r: list(placed.values()).count(r))
            orphaned = [s for s, r in placed.items() if r == victim]
            before_kill = await stored_lines(replicas, orphaned)
            killed_at = time.monotonic()
            by_name[victim].kill()

            async def taken_over() -> bool:
                now = await holders(replicas, orphaned)
                return all(r is not None and r != victim for r in now.values())

            await wait_for("the killed replica's streams taken over", taken_over, 30, every_s=0.1)
            takeover_s = time.monotonic() - killed_at

            await lines_grow(replicas, orphaned, before_kill, 5, "the taken-over meetings going on (5 lines more)")
            placed = await holders(replicas, ids)
            survivors = [r for r in ("r1", "r2", "r3") if r != victim]
            drained = max(survivors, key=lambda r: list(placed.values()).count(r))
            handed = [s for s, r in placed.items() if r == drained]
            by_name[drained].terminate()
            # uvicorn re-raises SIGTERM once its graceful shutdown is over: -15 is a clean exit here
            assert await by_name[drained].wait_exit(60) in (0, -15)

            reports = await asyncio.gather(*(h.wait(timeout=240) for h in handles))

        last = by_name[next(r for r in survivors if r != drained)]

        async def finished() -> bool:
            rows = await replicas.fetch("SELECT count(*) AS n FROM meetings WHERE status = 'ended'")
            return bool(rows[0]["n"] == MEETINGS and not await replicas.redis_keys("lease:*"))

        await wait_for("every meeting ended and processed", finished, 240, every_s=0.5)
        assert last.alive

        # The simulator's side: every meeting ran to its natural end, every line written; no second connection.
        for spec, report in zip(specs, reports, strict=True):
            assert report.complete, (spec.name, report.lines_sent, report.lines_total, report.errors)
            assert report.stop_reason == StopReason.MEETING_ENDED, (spec.name, report.stop_reason)
            duplicates = [r for r in report.rejected_handshakes
                          if r.status_code in (StatusCode.DUPLICATE_SIGNAL_REQUEST,
                                               StatusCode.DUPLICATE_MEDIA_DATA_CONNECTION)]
            assert not duplicates, (spec.name, duplicates)
        for stream_id in orphaned + handed:
            report = reports[ids.index(stream_id)]
            assert report.signaling_connections >= 2, (stream_id, "was not reconnected")

        # The store's side: each line once, numbered without gaps; every window done, none overlapping another.
        for spec, stream_id, report in zip(specs, ids, reports, strict=True):
            lines = await replicas.fetch(
                "SELECT seq, user_id, start_ms, text FROM lines WHERE stream_id = $1 ORDER BY seq", stream_id)
            assert [r["seq"] for r in lines] == list(range(1, report.lines_total + 1)), spec.name
            said = Counter((str(u.user_id), u.text) for u in spec.transcript.utterances)
            stored = Counter((r["user_id"], r["text"]) for r in lines)
            assert stored == said, spec.name
            windows = await replicas.fetch(
                "SELECT flow, seq, first_line_seq, last_line_seq, status FROM windows WHERE stream_id = $1 "
                "ORDER BY flow, first_line_seq", stream_id)
            assert windows, spec.name
            assert {w["status"] for w in windows} == {"done"}, (spec.name, Counter(w["status"] for w in windows))
            for flow in {w["flow"] for w in windows}:
                spans = [(w["first_line_seq"], w["last_line_seq"]) for w in windows if w["flow"] == flow]
                for (_, end), (start, _) in itertools.pairwise(spans):
                    assert start > end, (spec.name, flow, spans)  # no line sent to a flow twice
        insights = await replicas.fetch("SELECT count(*) AS n FROM insights")
        assert insights[0]["n"] > 0

        records = {r.name: r.log_records() for r in replicas.replicas}
        claimed = [rec for recs in records.values() for rec in recs if rec.get("event") == "stream claimed"]
        assert sum(1 for rec in claimed if rec.get("takeover")) >= len(orphaned) + len(handed)
        assert any(rec.get("event") == "replica drained" for rec in records[drained])
        (ARTIFACTS / "replicas" / "summary.json").write_text(json.dumps({
            "meetings": MEETINGS, "spread": dict(spread), "killed": victim, "orphaned": len(orphaned),
            "takeover_s": round(takeover_s, 2), "drained": drained, "handed_over": len(handed),
            "lines": sum(r.lines_total for r in reports),
            "redelivered": sum(r.lines_redelivered for r in reports)}, indent=2))


async def test_a_paused_replica_comes_back_and_stands_down(
    langflow: LangflowServer, offline_llm_process: OfflineLLMProcess, tmp_path: Path
) -> None:
    """SIGSTOP past the lease TTL, then SIGCONT: the other replica has taken the streams over (the simulator refuses
    it with status 8 while the paused one's sockets are still open, so the two never hold a stream together); the
    paused one, back, finds its leases gone, closes its sockets and writes nothing more."""
    samples = [load_transcript(SAMPLES_DIR / f"{n}.jsonl").sliced(180_000) for n in ("sales_discovery", "support_call")]
    specs = [MeetingSpec(transcript=samples[i % 2], name=f"p{i}") for i in range(4)]
    env = replica_env(langflow, offline_llm_process, flows_file(tmp_path))
    async with replica_set(ARTIFACTS / "replicas-pause", env) as replicas:
        for name in ("a", "b"):
            replicas.add(name)
        await replicas.start_all()
        config = simulator_config(
            replicas.replicas[0].webhook_url, extra_webhook_urls=(replicas.replicas[1].webhook_url,),
            speed=SPEED, keepalive_interval_s=2.0, signaling_reconnect_window_s=60.0, media_reconnect_window_s=60.0,
            redeliver_s=30.0, webhook_retry_schedule_s=(1.0, 2.0, 4.0))
        async with Simulator(config) as sim:
            handles = await sim.start_meetings(specs)
            ids = [h.rtms_stream_id for h in handles]

            async def all_held() -> dict[str, str | None] | None:
                now = await holders(replicas, ids)
                return now if all(now.values()) else None

            placed = await wait_for("every stream held", all_held, 30)
            await lines_grow(replicas, ids, {}, 5, "every meeting under way (5 lines stored)")
            paused = {r.name: r for r in replicas.replicas}["a"]
            theirs = [s for s, r in placed.items() if r == "a"]
            assert theirs
            assert paused.process is not None
            paused.process.send_signal(signal.SIGSTOP)
            try:
                async def taken() -> bool:
                    return all(r == "b" for r in (await holders(replicas, theirs)).values())

                at_takeover = await stored_lines(replicas, theirs)
                await wait_for("the paused replica's leases taken", taken, 30, every_s=0.1)
                await lines_grow(replicas, theirs, at_takeover, 2, "the paused replica's meetings going on elsewhere")
            finally:
                paused.process.send_signal(signal.SIGCONT)
            reports = await asyncio.gather(*(h.wait(timeout=240) for h in handles))

        async def finished() -> bool:
            rows = await replicas.fetch("SELECT count(*) AS n FROM meetings WHERE status = 'ended'")
            return bool(rows[0]["n"] == len(specs) and not await replicas.redis_keys("lease:*"))

        await wait_for("every meeting ended and processed", finished, 240, every_s=0.5)
        assert paused.alive
        for spec, stream_id, report in zip(specs, ids, reports, strict=True):
            assert report.complete, (spec.name, report.lines_sent, report.lines_total, report.errors)
            lines = await replicas.fetch("SELECT seq FROM lines WHERE stream_id = $1 ORDER BY seq", stream_id)
            assert [r["seq"] for r in lines] == list(range(1, report.lines_total + 1)), spec.name
        events = [rec.get("event") for rec in paused.log_records()]
        assert {"leases not renewed in time: standing down every stream", "lease lost: standing down"} & set(events)
