"""Replicas: streams per replica, and the takeover time after one replica is killed (issue 8).

R bridge replicas run as real processes (`python -m bridge.cli serve`, started by the replica tests' harness
`tests.cluster.replicas`: a fresh PostgreSQL database and Redis key prefix per run, every replica killed at the end)
with no Langflow URL, so only the intake and the cluster coordination work. N transcript-only meetings replay at
real-time speed (each a `--duration` slice of a bundled sample from a random offset, as `bench.intake_scale` does),
started at `--start-rate` per second; the simulator spreads their webhooks over every replica's URL (a load balancer)
and re-sends the last `--redeliver` seconds of lines after an abrupt socket loss.

    uv run --no-sync python -m bench.replicas                                  # 300 meetings, 3 replicas, TTL 10 s
    uv run --no-sync python -m bench.replicas --meetings 150 --duration 180 --kill-at 60 --lease-ttl 10 3

Per run (one per `--lease-ttl`):

1. Once every stream's lease is held: streams per replica (the `{prefix}lease:{stream}` keys), and each replica's CPU
   (% of a core) and RSS (MB per stream held, above its idle RSS), sampled once a second until the kill.
2. At `--kill-at` seconds after the first meeting started, the replica holding the most streams gets SIGKILL. Per
   orphaned stream: the time from the kill until a survivor holds its lease (Redis polled every 50 ms; checked
   against the survivor's own `stream claimed` log line), and until the simulator (Zoom's side) sees the stream
   streaming again: a media connection accepted after the kill that carries transcripts and is in the streaming
   state (the client's CLIENT_READY_ACK came on its new signaling connection; checked every 10 ms, in this
   process). p50/p95/max of both, and how the orphans spread over the survivors. Then the survivors' CPU with the
   orphans added, until the first meeting ends.
3. At the end: every meeting's report complete (lines_sent == lines_total), no handshake refused with status 8 or
   16 (a second holder dialling a stream someone holds), and the utterances delivered to the consumer (the sum
   over replicas of `rtms_events_total{type="utterance"}`, each replica's /metrics scraped once a second and the
   victim's once more just before the kill). That counts deliveries to the consumer queue: lines re-sent after the
   kill and delivered by the survivor are counted again, lines the victim delivered between its last scrape and
   the kill are not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from redis.asyncio import Redis

from bench.common import (
    RESULTS,
    ProcessMeter,
    cpu_pressure_total_us,
    machine,
    machine_markdown,
    raise_nofile,
    run_main,
    summary_ms,
    table,
    write_results,
)
from bench.intake_scale import CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET, meeting_transcripts, metric
from bridge.rtms.enums import MediaType, StatusCode, StopReason
from bridge.simulator import MeetingHandle, MeetingReport, MeetingSpec, Simulator, SimulatorConfig
from bridge.simulator.stream import Stream
from bridge.simulator.transcripts import Transcript
from tests.cluster.replicas import REDIS_URL, Replica, ReplicaSet, replica_set

ROOT = Path(__file__).resolve().parent.parent
LOGS = RESULTS / "replicas-logs"
POLL_S = 0.05  # Redis
SIM_POLL_S = 0.01  # the simulator's state
SAMPLE_S = 1.0
DUPLICATE_CODES = (int(StatusCode.DUPLICATE_SIGNAL_REQUEST), int(StatusCode.DUPLICATE_MEDIA_DATA_CONNECTION))


@dataclass
class Sample:
    t: float
    cpu_s: float
    rss: int


@dataclass
class Watch:
    """One replica: its process meter, CPU/RSS samples and the last /metrics it answered."""

    replica: Replica
    meter: ProcessMeter
    samples: list[Sample] = field(default_factory=list)
    metrics: str = ""
    scraped_at: float | None = None
    idle_rss: int = 0


# -- sampling and scraping ----------------------------------------------------------------------------------------


async def scrape(client: httpx.AsyncClient, watch: Watch) -> None:
    if not watch.replica.alive:
        return
    with contextlib.suppress(httpx.HTTPError):
        response = await client.get(watch.replica.url + "/metrics")
        if response.status_code == 200:
            watch.metrics, watch.scraped_at = response.text, time.monotonic()


def sample(watch: Watch) -> None:
    if not watch.replica.alive:
        return
    with contextlib.suppress(psutil.Error):
        watch.samples.append(Sample(time.monotonic(), watch.meter.cpu_s(), watch.meter.rss_bytes()))


async def sample_loop(client: httpx.AsyncClient, watches: list[Watch]) -> None:
    while True:
        for watch in watches:
            sample(watch)
        await asyncio.gather(*(scrape(client, w) for w in watches))
        await asyncio.sleep(SAMPLE_S)


def cpu_pct(watch: Watch, since: float, until: float) -> float | None:
    """% of one core between two moments (first and last sample inside the window)."""
    inside = [s for s in watch.samples if since <= s.t <= until]
    if len(inside) < 2 or inside[-1].t - inside[0].t < 2.0:
        return None
    return round(100 * (inside[-1].cpu_s - inside[0].cpu_s) / (inside[-1].t - inside[0].t), 1)


def mean_rss(watch: Watch, since: float, until: float) -> float | None:
    inside = [s.rss for s in watch.samples if since <= s.t <= until]
    return sum(inside) / len(inside) if inside else None


# -- who holds what, who streams ----------------------------------------------------------------------------------


async def holders(redis: Redis, prefix: str, stream_ids: list[str]) -> dict[str, str | None]:
    """Stream -> the replica named in its lease (`{replica}:{token}`), None while nobody holds it."""
    values = await redis.mget([f"{prefix}lease:{s}" for s in stream_ids]) if stream_ids else []
    return {s: (str(v).rpartition(":")[0] if v else None) for s, v in zip(stream_ids, values, strict=True)}


def streaming_again(stream: Stream | None, media_before: int) -> bool:
    """Zoom's side: a media connection accepted since the kill carries transcripts and is streaming (the client's
    CLIENT_READY_ACK came on its signaling connection), so the stream's lines flow again."""
    return stream is not None and stream.media_connections > media_before and any(
        link.alive and link.media.streaming and link.media.carries(MediaType.TRANSCRIPT) for link in stream.media)


@dataclass
class Takeover:
    """Seconds from the kill, per orphaned stream (and for the victim's heartbeat)."""

    lapsed: dict[str, float] = field(default_factory=dict)  # its lease key gone (nobody holds it)
    held: dict[str, tuple[float, str]] = field(default_factory=dict)  # a survivor's lease: when, who
    streaming: dict[str, float] = field(default_factory=dict)  # Zoom's side streams it again
    heartbeat_gone: float | None = None  # the victim's `{prefix}replica:{name}` key expired


async def watch_takeover(redis: Redis, prefix: str, sim: Simulator, victim: str, orphans: list[str],
                         media_before: dict[str, int], killed_at: float, limit_s: float) -> Takeover:
    """Until every orphan is held by a survivor and streaming again (or `limit_s`): Redis polled every 50 ms, the
    simulator's state (in this process, cheap) every 10 ms."""
    out = Takeover()
    deadline = killed_at + limit_s
    next_redis = 0.0
    while (len(out.held) < len(orphans) or len(out.streaming) < len(orphans)) and time.monotonic() < deadline:
        if time.monotonic() >= next_redis and len(out.held) < len(orphans):
            next_redis = time.monotonic() + POLL_S
            now_held = await holders(redis, prefix, [s for s in orphans if s not in out.held])
            beat = await redis.exists(f"{prefix}replica:{victim}") if out.heartbeat_gone is None else 1
            now = time.monotonic() - killed_at
            if not beat:
                out.heartbeat_gone = now
            for stream_id, holder in now_held.items():
                if holder is None:
                    out.lapsed.setdefault(stream_id, now)
                elif holder != victim:
                    out.lapsed.setdefault(stream_id, now)  # lapsed and taken within one poll
                    out.held[stream_id] = (now, holder)
        now = time.monotonic() - killed_at
        for stream_id in orphans:
            if stream_id not in out.streaming and streaming_again(sim.owner(stream_id), media_before[stream_id]):
                out.streaming[stream_id] = now
        await asyncio.sleep(SIM_POLL_S)
    return out


def log_time(record: dict[str, Any]) -> float | None:
    with contextlib.suppress(KeyError, ValueError, TypeError):
        return dt.datetime.strptime(str(record["ts"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()
    return None


def takeover_claims(replicas: list[Replica]) -> list[tuple[float, str, str, str]]:
    """Every `stream claimed` log line with `takeover` true: (wall time, replica, stream id, registry state). The
    replicas' own clocks (ms resolution, this machine's clock): a cross-check of the 50 ms Redis polling."""
    out = []
    for replica in replicas:
        for record in replica.log_records():
            if record.get("event") == "stream claimed" and record.get("takeover"):
                at = log_time(record)
                if at is not None:
                    out.append((at, replica.name, str(record.get("stream_id")), str(record.get("state"))))
    return sorted(out)


# -- one run ------------------------------------------------------------------------------------------------------


def code_state() -> dict[str, Any]:
    """The commit and whether the tree had local changes (the bridge changes often), and a digest of the cluster
    code the replicas ran."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    digest = hashlib.sha256()
    for path in sorted((ROOT / "bridge" / "cluster").glob("*.py")):
        digest.update(path.read_bytes())
    return {"git_head": git("rev-parse", "--short", "HEAD"), "local_changes": bool(git("status", "--porcelain")),
            "bridge_cluster_sha256": digest.hexdigest()[:16]}


def replica_env(ttl_s: float, sweep_s: float) -> dict[str, str]:
    return {"ZOOM_WEBHOOK_SECRET_TOKEN": WEBHOOK_SECRET, "ZOOM_CLIENT_ID": CLIENT_ID,
            "ZOOM_CLIENT_SECRET": CLIENT_SECRET, "BRIDGE_ALLOWED_HOSTS": "127.0.0.1",
            "BRIDGE_ALLOW_INSECURE_WS": "true", "BRIDGE_LEASE_TTL_S": f"{ttl_s:g}",
            "BRIDGE_CLUSTER_SWEEP_S": f"{sweep_s:g}", "BRIDGE_LOG_LEVEL": "INFO"}


async def wait_until(check: Any, limit_s: float, every_s: float = 0.25) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every_s)
    return bool(await check())


async def run_once(args: argparse.Namespace, ttl_s: float) -> dict[str, Any]:
    transcripts = meeting_transcripts(args.meetings, args.duration, args.seed)
    workdir = LOGS / f"ttl{ttl_s:g}"
    shutil.rmtree(workdir, ignore_errors=True)
    ramp_s = args.meetings / args.start_rate
    print(f"\n== lease TTL {ttl_s:g} s: {args.replicas} replicas, {args.meetings} meetings of {args.duration:g} s "
          f"started over {ramp_s:g} s, kill at {args.kill_at:g} s (logs in {workdir})", flush=True)
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    client = httpx.AsyncClient(trust_env=False, timeout=5.0)
    http = httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=50))
    sampler: asyncio.Task[None] | None = None
    try:
        async with replica_set(workdir, replica_env(ttl_s, args.sweep)) as rs:
            for index in range(args.replicas):
                rs.add(f"r{index + 1}")
            await rs.start_all()
            watches = [Watch(r, ProcessMeter(r.process.pid)) for r in rs.replicas if r.process is not None]
            by_name = {w.replica.name: w for w in watches}
            await asyncio.sleep(2.0)
            for watch in watches:
                watch.idle_rss = watch.meter.rss_bytes()
            me = ProcessMeter(os.getpid())
            my_cpu0, psi0, load0 = me.cpu_s(), cpu_pressure_total_us(), os.getloadavg()[0]
            sampler = asyncio.create_task(sample_loop(client, watches))
            config = SimulatorConfig(
                client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_secret=WEBHOOK_SECRET,
                webhook_url=watches[0].replica.webhook_url,
                extra_webhook_urls=tuple(w.replica.webhook_url for w in watches[1:]),
                speed=1.0, webhook_timeout_s=10.0, webhook_retry_schedule_s=(2.0, 5.0, 10.0),
                redeliver_s=args.redeliver)
            async with Simulator(config, http_client=http) as sim:
                result = await drive(args, ttl_s, rs, sim, redis, client, watches, by_name, transcripts)
            result["simulator_cpu_s"] = round(me.cpu_s() - my_cpu0, 1)
            psi1 = cpu_pressure_total_us()
            elapsed = time.monotonic() - result.pop("_started")
            result["machine_load"] = {
                "cpu_pressure_some_pct": None if psi0 is None or psi1 is None
                else round(100 * (psi1 - psi0) / 1e6 / elapsed, 1),
                "load1_start": round(load0, 2), "load1_end": round(os.getloadavg()[0], 2)}
            return result
    finally:
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        await http.aclose()
        await client.aclose()
        await redis.aclose()


async def drive(args: argparse.Namespace, ttl_s: float, rs: ReplicaSet, sim: Simulator, redis: Redis,
                client: httpx.AsyncClient, watches: list[Watch], by_name: dict[str, Watch],
                transcripts: list[Transcript]) -> dict[str, Any]:
    names = [w.replica.name for w in watches]
    started = time.monotonic()
    handles: list[MeetingHandle] = []
    for index, transcript in enumerate(transcripts):
        handles.append(await sim.start_meeting(MeetingSpec(transcript=transcript, name=f"bench-{index}")))
        await asyncio.sleep(max(0.0, started + (index + 1) / args.start_rate - time.monotonic()))
    ramped = time.monotonic()
    ids = [h.rtms_stream_id for h in handles]
    print(f"   all {len(ids)} started after {ramped - started:.1f} s", flush=True)

    async def all_held() -> bool:
        return all((await holders(redis, rs.prefix, ids)).values())

    held_ok = await wait_until(all_held, max(30.0, args.kill_at - (ramped - started) - 5))
    all_held_at = time.monotonic()
    placed = await holders(redis, rs.prefix, ids)
    spread_held = {n: sum(1 for v in placed.values() if v == n) for n in names}
    print(f"   {'every stream held' if held_ok else 'NOT every stream held'} after {all_held_at - started:.1f} s: "
          f"{spread_held}", flush=True)

    # Steady phase until the kill.
    await asyncio.sleep(max(0.0, started + args.kill_at - time.monotonic()))
    placed = await holders(redis, rs.prefix, ids)
    spread_at_kill = {n: sum(1 for v in placed.values() if v == n) for n in names}
    victim = max(names, key=lambda n: spread_at_kill[n])
    orphans = [s for s, r in placed.items() if r == victim]
    media_before = {}
    for stream_id in orphans:
        stream = sim.owner(stream_id)
        media_before[stream_id] = stream.media_connections if stream is not None else 0
    await scrape(client, by_name[victim])  # its last count of utterances, just before it dies
    victim_scraped_at = by_name[victim].scraped_at
    killed_wall = time.time()
    killed_at = time.monotonic()
    by_name[victim].replica.kill()
    print(f"   killed {victim} (SIGKILL) at {killed_at - started:.1f} s holding {len(orphans)} streams; "
          f"spread {spread_at_kill}", flush=True)
    limit_s = max(60.0, 3 * ttl_s + 45.0)
    takeover = await watch_takeover(redis, rs.prefix, sim, victim, orphans, media_before, killed_at, limit_s)
    taken, streaming = takeover.held, takeover.streaming
    all_streaming_at = time.monotonic()
    lease_s = [v[0] for v in taken.values()]
    stream_s = list(streaming.values())
    print(f"   taken over {len(taken)}/{len(orphans)}: lease held by a survivor p50 "
          f"{summary_ms(lease_s)['p50_ms']} ms, max {summary_ms(lease_s)['max_ms']} ms; streaming again "
          f"{len(streaming)}/{len(orphans)}: p50 {summary_ms(stream_s)['p50_ms']} ms, "
          f"max {summary_ms(stream_s)['max_ms']} ms", flush=True)

    # Every meeting runs to its end; then the survivors let their streams go.
    limit = started + args.duration + (ramped - started) + 180 - time.monotonic()
    waiters = [asyncio.ensure_future(h.wait()) for h in handles]
    _, pending = await asyncio.wait(waiters, timeout=max(1.0, limit))
    for waiter in pending:
        waiter.cancel()
    unfinished = len(pending)
    ended = time.monotonic()
    survivors = [w for w in watches if w.replica.name != victim]

    async def released() -> bool:
        return not await rs.redis_keys("lease:*")

    leases_released = await wait_until(released, 30.0, every_s=0.5)
    await asyncio.sleep(SAMPLE_S)
    await asyncio.gather(*(scrape(client, w) for w in survivors))

    reports: list[MeetingReport] = [h.report for h in handles if h.report is not None]
    return summarize(args, ttl_s, names, transcripts, reports, ids, watches, by_name, victim, orphans,
                     takeover, unfinished, started=started, ramped=ramped, all_held_at=all_held_at,
                     held_ok=held_ok, spread_held=spread_held, spread_at_kill=spread_at_kill,
                     killed_at=killed_at, killed_wall=killed_wall, victim_scraped_at=victim_scraped_at,
                     all_streaming_at=all_streaming_at, ended=ended, leases_released=leases_released)


def summarize(args: argparse.Namespace, ttl_s: float, names: list[str], transcripts: list[Transcript],
              reports: list[MeetingReport], ids: list[str], watches: list[Watch], by_name: dict[str, Watch],
              victim: str, orphans: list[str], takeover: Takeover, unfinished: int, *, started: float,
              ramped: float, all_held_at: float, held_ok: bool,
              spread_held: dict[str, int], spread_at_kill: dict[str, int], killed_at: float, killed_wall: float,
              victim_scraped_at: float | None, all_streaming_at: float, ended: float,
              leases_released: bool) -> dict[str, Any]:
    taken, streaming = takeover.held, takeover.streaming
    steady = (all_held_at + 2.0, killed_at - 0.5)
    after = (all_streaming_at + 2.0, started + args.duration - 2.0)
    per_replica: list[dict[str, Any]] = []
    for name in names:
        w = by_name[name]
        rss = mean_rss(w, *steady)
        streams = spread_at_kill[name]
        utterances = metric(w.metrics, "rtms_events_total", 'type="utterance"')
        per_replica.append({
            "replica": name, "killed": name == victim, "streams_held": streams,
            "cpu_pct_steady": cpu_pct(w, *steady),
            "cpu_pct_after_takeover": None if name == victim else cpu_pct(w, *after),
            "streams_after_takeover": None if name == victim
            else streams + sum(1 for v in taken.values() if v[1] == name),
            "cpu_s_total": round(w.samples[-1].cpu_s - w.samples[0].cpu_s, 1) if len(w.samples) >= 2 else None,
            "rss_idle_mb": round(w.idle_rss / 2**20, 1),
            "rss_steady_mb": None if rss is None else round(rss / 2**20, 1),
            "rss_mb_per_stream": None if rss is None or not streams else round((rss - w.idle_rss) / 2**20 / streams,
                                                                                3),
            "utterances_delivered": int(utterances),
            "takeovers": int(metric(w.metrics, "rtms_cluster_takeovers_total")),
            "claims": int(metric(w.metrics, "rtms_cluster_claims_total")),
            "leases_lost": int(metric(w.metrics, "rtms_cluster_leases_lost_total")),
            "webhooks_forwarded": int(metric(w.metrics, "rtms_cluster_forwarded_total")),
            "duplicate_lines_dropped": int(metric(w.metrics, "rtms_transcript_duplicates_dropped_total")),
            "reconnects": int(metric(w.metrics, "rtms_reconnects_total")),
        })
    claims = takeover_claims([w.replica for w in watches])
    claim_log: dict[str, float] = {}
    for at, _, stream_id, state in claims:  # each orphan's first claim after the kill
        if stream_id in takeover.held and state == "live" and at >= killed_wall:
            claim_log.setdefault(stream_id, at - killed_wall)
    # Takeover claims of streams whose meeting was over (registry state `stopping`/`ended`): not orphans of the kill.
    late = [(name, stream_id, state) for _, name, stream_id, state in claims if state != "live"]
    dial_s = [streaming[s] - claim_log[s] for s in orphans if s in streaming and s in claim_log]
    by_id = {r.rtms_stream_id: r for r in reports}
    duplicates = [(r.name, h.socket, h.status_code) for r in reports for h in r.rejected_handshakes
                  if h.status_code in DUPLICATE_CODES]
    other_rejections = Counter(f"{h.socket}:{h.status_code}" for r in reports for h in r.rejected_handshakes
                               if h.status_code not in DUPLICATE_CODES)
    lines_total = sum(len(t.utterances) for t in transcripts)
    delivered = sum(p["utterances_delivered"] for p in per_replica)
    lines_sent = sum(r.lines_sent for r in reports)
    redelivered = sum(r.lines_redelivered for r in reports)
    return {
        "lease_ttl_s": ttl_s,
        "sweep_s": args.sweep,
        "replicas": len(names),
        "meetings": len(ids),
        "meeting_duration_s": args.duration,
        "ramp_s": round(ramped - started, 1),
        "all_held": held_ok,
        "all_held_after_s": round(all_held_at - started, 1),
        "spread_when_all_held": spread_held,
        "spread_at_kill": spread_at_kill,
        "steady_window_s": [round(steady[0] - started, 1), round(steady[1] - started, 1)],
        "after_takeover_window_s": [round(after[0] - started, 1), round(after[1] - started, 1)],
        "per_replica": per_replica,
        "kill": {
            "victim": victim,
            "killed_after_s": round(killed_at - started, 1),
            "orphaned": len(orphans),
            "taken_over": len(taken),
            "streaming_again": len(streaming),
            "victim_heartbeat_gone_s": None if takeover.heartbeat_gone is None
            else round(takeover.heartbeat_gone, 2),
            "lease_lapsed": summary_ms(takeover.lapsed.values()),
            "lapsed_to_held": summary_ms(taken[s][0] - takeover.lapsed[s] for s in taken if s in takeover.lapsed),
            "lease_held_by_survivor": summary_ms(v[0] for v in taken.values()),
            "streaming_again_after": summary_ms(streaming.values()),
            "claimed_per_survivor_log": summary_ms(claim_log.values()),
            "claim_to_streaming": summary_ms(dial_s),
            "orphans_per_survivor": dict(Counter(v[1] for v in taken.values())),
            "not_reconnected": sorted(by_id[s].name for s in orphans
                                      if s in by_id and by_id[s].signaling_connections < 2),
            "victim_metrics_age_at_kill_s": None if victim_scraped_at is None
            else round(killed_at - victim_scraped_at, 3),
        },
        "takeover_claims_of_finished_streams": len(late),
        "takeover_claims_of_finished_streams_examples": late[:10],
        "meetings_complete": sum(1 for r in reports if r.complete),
        "meetings_incomplete": sorted(r.name for r in reports if not r.complete)[:20],
        "meetings_unfinished_in_time": unfinished,
        "stop_reasons": {str(k): v for k, v in Counter(r.stop_reason for r in reports).items()},
        "meetings_ended_normally": sum(1 for r in reports if r.stop_reason == StopReason.MEETING_ENDED),
        "duplicate_handshakes": len(duplicates),
        "duplicate_handshake_examples": duplicates[:10],
        "other_rejected_handshakes": dict(other_rejections),
        "webhook_failures": sum(1 for r in reports for w in r.webhooks if not w.delivered),
        "simulator_errors": sorted({e for r in reports for e in r.errors})[:10],
        "lines_total": lines_total,
        "lines_sent": lines_sent,
        "lines_redelivered": redelivered,
        "utterances_delivered": delivered,
        "delivered_minus_total": delivered - lines_total,
        "leases_released_at_end": leases_released,
        "wall_s": round(ended - started, 1),
        "_started": started,
    }


# -- output -------------------------------------------------------------------------------------------------------


def fmt_summary(s: dict[str, Any]) -> str:
    if not s["n"]:
        return "-"
    return f"{s['p50_ms'] / 1000:.2f} / {s['p95_ms'] / 1000:.2f} / {s['max_ms'] / 1000:.2f}"


def fmt_ms(s: dict[str, Any]) -> str:
    return "-" if not s["n"] else f"{s['p50_ms']:.0f} / {s['max_ms']:.0f}"


def markdown(m: dict[str, Any], code: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    headers = ["lease TTL s", "replicas", "meetings", "streams per replica (at kill)", "killed (streams)",
               "orphans per survivor", "meetings complete", "duplicate handshakes (8/16)",
               "lines total / sent / re-sent", "utterances delivered", "takeover claims of finished streams"]
    rows = []
    for r in runs:
        k = r["kill"]
        rows.append([r["lease_ttl_s"], r["replicas"], r["meetings"],
                     " / ".join(f"{n}: {v}" for n, v in r["spread_at_kill"].items()),
                     f"{k['victim']} ({k['orphaned']})",
                     ", ".join(f"{n}: {c}" for n, c in sorted(k["orphans_per_survivor"].items())),
                     f"{r['meetings_complete']}/{r['meetings']}", r["duplicate_handshakes"],
                     f"{r['lines_total']} / {r['lines_sent']} / {r['lines_redelivered']}",
                     r["utterances_delivered"], r["takeover_claims_of_finished_streams"]])
    take_headers = ["lease TTL s", "orphaned", "victim's heartbeat gone s", "lease lapsed s",
                    "lease held by a survivor s", "claimed (survivor's log) s", "lapsed -> held ms p50 / max",
                    "streaming again s", "claim -> streaming ms p50 / max"]
    take_rows = []
    for r in runs:
        k = r["kill"]
        take_rows.append([r["lease_ttl_s"], k["orphaned"], k["victim_heartbeat_gone_s"],
                          fmt_summary(k["lease_lapsed"]), fmt_summary(k["lease_held_by_survivor"]),
                          fmt_summary(k["claimed_per_survivor_log"]), fmt_ms(k["lapsed_to_held"]),
                          fmt_summary(k["streaming_again_after"]), fmt_ms(k["claim_to_streaming"])])
    out = ["# Replicas: streams per replica, takeover after a kill\n\n", machine_markdown(m),
           f"\nCode: commit {code['git_head']}{' with local changes' if code['local_changes'] else ''} "
           f"(bridge/cluster digest {code['bridge_cluster_sha256']}).\n",
           "\nAbsolute figures are noisy: the machine has 2 cores shared with other test runs, and the replicas, "
           "the simulator (the fake Zoom, in the benchmark's process), Redis and PostgreSQL all run on it. "
           "*Utterances delivered*: the sum over replicas of `rtms_events_total{type=\"utterance\"}`, i.e. "
           "deliveries to the consumer queue: lines the simulator re-sent after the kill (`--redeliver`) and a "
           "survivor delivered again count twice, lines the killed replica delivered after its last scrape (just "
           "before the kill) are missing. No Langflow: nothing is stored or deduplicated downstream. *Takeover claims "
           "of finished streams*: `stream claimed` log lines with `takeover` true whose registry state was not "
           "`live` (a stream whose meeting had ended, claimed again), not orphans of the kill.\n\n",
           table(headers, rows),
           "\nTakeover, per orphaned stream, seconds after the SIGKILL (p50 / p95 / max). *Lease lapsed*: its Redis "
           "lease key gone; *held by a survivor*: the key names a survivor (both polled every 50 ms); *claimed "
           "(log)*: the survivor's own `stream claimed` log line (ms timestamps), a cross-check of the polling; "
           "*streaming again*: the simulator (Zoom's side) has accepted a new transcript media connection for the "
           "stream and it streams (the client sent CLIENT_READY_ACK; checked every 10 ms); *claim -> streaming*: "
           "from the log line to streaming again (dial, handshakes, ready).\n\n",
           table(take_headers, take_rows)]
    per_headers = ["lease TTL s", "replica", "streams", "CPU % steady", "streams after takeover",
                   "CPU % after takeover", "RSS idle MB", "RSS steady MB", "RSS MB per stream",
                   "utterances delivered", "takeovers", "leases lost", "webhooks forwarded"]
    per_rows = []
    for r in runs:
        for p in r["per_replica"]:
            per_rows.append([r["lease_ttl_s"], p["replica"] + (" (killed)" if p["killed"] else ""),
                             p["streams_held"], p["cpu_pct_steady"], p["streams_after_takeover"],
                             p["cpu_pct_after_takeover"], p["rss_idle_mb"], p["rss_steady_mb"],
                             p["rss_mb_per_stream"], p["utterances_delivered"], p["takeovers"], p["leases_lost"],
                             p["webhooks_forwarded"]])
    out += ["\nPer replica (CPU: % of one core over the steady phase, all streams held, before the kill; after: "
            "the survivors once every orphan streams again, until the first meeting ends; RSS per stream: mean RSS "
            "over the steady phase minus idle RSS, over the streams held):\n\n", table(per_headers, per_rows)]
    loads = "; ".join(f"TTL {r['lease_ttl_s']:g} s: CPU pressure {r['machine_load']['cpu_pressure_some_pct']} %, "
                      f"simulator CPU {r['simulator_cpu_s']} s" for r in runs)
    out.append(f"\nMachine during the runs (Linux PSI, share of the time some task waited for a core): {loads}.\n")
    return "".join(out)


def report_run(r: dict[str, Any]) -> None:
    k = r["kill"]
    print(f"   meetings complete {r['meetings_complete']}/{r['meetings']} (stopped normally "
          f"{r['meetings_ended_normally']}), duplicate handshakes (8/16) {r['duplicate_handshakes']}, other "
          f"rejections {r['other_rejected_handshakes']}, webhook failures {r['webhook_failures']}\n"
          f"   lines total {r['lines_total']}, sent {r['lines_sent']}, re-sent {r['lines_redelivered']}; "
          f"utterances delivered (sum over replicas) {r['utterances_delivered']} "
          f"({r['delivered_minus_total']:+d} against the total); takeover claims of finished streams "
          f"{r['takeover_claims_of_finished_streams']}\n"
          f"   kill: {k['victim']} held {k['orphaned']}; its heartbeat gone after {k['victim_heartbeat_gone_s']} s; "
          f"lease lapsed (s) {fmt_summary(k['lease_lapsed'])}, lapsed -> held ms {fmt_ms(k['lapsed_to_held'])}; "
          f"lease held by a survivor (s) "
          f"{fmt_summary(k['lease_held_by_survivor'])}, streaming again {fmt_summary(k['streaming_again_after'])}, "
          f"claimed (log) {fmt_summary(k['claimed_per_survivor_log'])}, claim -> streaming ms "
          f"{fmt_ms(k['claim_to_streaming'])}; orphans per survivor "
          f"{k['orphans_per_survivor']}", flush=True)
    for p in r["per_replica"]:
        print(f"   {p['replica']}{' (killed)' if p['killed'] else ''}: {p['streams_held']} streams, CPU "
              f"{p['cpu_pct_steady']} % steady, {p['cpu_pct_after_takeover']} % after takeover "
              f"({p['streams_after_takeover']} streams), RSS idle {p['rss_idle_mb']} MB, steady "
              f"{p['rss_steady_mb']} MB, {p['rss_mb_per_stream']} MB per stream, utterances "
              f"{p['utterances_delivered']}", flush=True)


async def main_async(args: argparse.Namespace) -> int:
    raise_nofile(16384)  # the replicas inherit it
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    m = machine()
    code = code_state()
    runs: list[dict[str, Any]] = []
    for ttl_s in args.lease_ttl:
        run = await run_once(args, ttl_s)
        runs.append(run)
        report_run(run)
        data = {"benchmark": "replicas", "machine": m, "code": code, "load_average_at_end": list(os.getloadavg()),
                "settings": {"meetings": args.meetings, "replicas": args.replicas, "duration_s": args.duration,
                             "start_rate_per_s": args.start_rate, "lease_ttl_s": args.lease_ttl,
                             "sweep_s": args.sweep, "kill_at_s": args.kill_at, "redeliver_s": args.redeliver,
                             "seed": args.seed, "poll_s": POLL_S,
                             "simulator": "benchmark's process (uvloop); replicas: python -m bridge.cli serve, "
                                          "no Langflow, PostgreSQL store, Redis"},
                "runs": runs}
        json_path, md_path = write_results(args.output, data, markdown(m, code, runs))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meetings", type=int, default=300)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--duration", type=float, default=240.0, help="seconds each meeting lasts (default 240)")
    parser.add_argument("--start-rate", type=float, default=20.0, help="meetings started per second (default 20)")
    parser.add_argument("--lease-ttl", type=float, nargs="+", default=[10.0],
                        help="BRIDGE_LEASE_TTL_S; several values: one run each, side by side (default 10)")
    parser.add_argument("--sweep", type=float, default=1.0, help="BRIDGE_CLUSTER_SWEEP_S (default 1, the default)")
    parser.add_argument("--kill-at", type=float, default=90.0,
                        help="seconds after the first meeting started when the busiest replica is killed")
    parser.add_argument("--redeliver", type=float, default=5.0,
                        help="the simulator re-sends this many seconds of lines after a socket loss (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", default="replicas", help="results file name in bench/results/")
    args = parser.parse_args()
    if args.replicas < 2:
        parser.error("--replicas must be at least 2 (one is killed)")
    ramp = args.meetings / args.start_rate
    if args.kill_at < ramp + 10:
        parser.error(f"--kill-at must leave 10 s of steady state after the {ramp:g} s ramp")
    if args.kill_at + 3 * max(args.lease_ttl) + 20 > args.duration:
        parser.error("--duration must outlast the kill by 3 lease TTLs + 20 s (the takeover happens mid-meeting)")
    return run_main(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
