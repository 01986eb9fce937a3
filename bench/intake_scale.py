"""Intake scale: N concurrent simulated meetings at real-time speech rates against one bridge process.

The bridge (`bench.intake_bridge`: the real app under uvicorn, as `rtms-langflow serve` runs it) is a separate
process from the simulator, so its CPU and resident memory are its own. Each meeting replays a `--duration` slice
of one of the bundled samples, starting at a random offset (so lines of different meetings do not land at the same
instant), and the meetings start at `--start-rate` per second, as meetings do (not all in the same instant).

    uv run --no-sync python -m bench.intake_scale                       # 100, 500, 1000 transcript; 100 + audio
    uv run --no-sync python -m bench.intake_scale --scenarios 1000 --duration 120 --start-rate 50
    uv run --no-sync python -m bench.intake_scale --scenarios 100a      # a trailing `a`: 16 kHz L16 audio too

Figures per scenario: lines sent (simulator) and delivered (consumer), keep-alives answered (the bridge's /metrics),
intake latency (frame read by the bridge -> handed to the consumer, p50/p99), lateness against the replay schedule
(simulator's due time -> consumer: adds the simulator's own lag and the kernel), event-loop lag, bridge CPU seconds
and RSS per meeting. Targets (issue 7) are printed as PASS/FAIL lines for the 1000-meeting scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    RESULTS,
    ProcessMeter,
    cpu_pressure_total_us,
    machine,
    machine_markdown,
    raise_nofile,
    run_main,
    table,
    write_results,
)
from bridge.simulator import MeetingReport, MeetingSpec, Simulator, SimulatorConfig
from bridge.simulator.transcripts import Transcript, Utterance, load_transcript, sample_names

CLIENT_ID = "bench-client-id"
CLIENT_SECRET = "bench-client-secret"
WEBHOOK_SECRET = "bench-webhook-secret"
ROOT = Path(__file__).resolve().parent.parent
TARGET_MEETINGS = 1000
TARGET_P99_MS = 50.0
TARGET_MB_PER_MEETING = 2.0


@dataclass(frozen=True)
class Scenario:
    meetings: int
    audio: bool

    @property
    def name(self) -> str:
        return f"{self.meetings}{' + audio' if self.audio else ''}"

    @classmethod
    def parse(cls, text: str) -> Scenario:
        match = re.fullmatch(r"(\d+)(a?)", text.strip())
        if not match or int(match.group(1)) < 1:
            raise argparse.ArgumentTypeError(f"scenario {text!r}: expected N or Na (N meetings, a = with audio)")
        return cls(int(match.group(1)), bool(match.group(2)))


@dataclass
class Samples:
    """Bridge CPU and RSS sampled once a second during a scenario."""

    times: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    streams: list[int] = field(default_factory=list)


# -- meetings -------------------------------------------------------------------------------------------------


def meeting_transcripts(count: int, duration_s: float, seed: int) -> list[Transcript]:
    """`count` slices of `duration_s` from the bundled samples, each from a random offset, re-timed from 1 s."""
    rng = random.Random(seed)
    sources = [load_transcript(name) for name in sample_names()]
    out: list[Transcript] = []
    span_ms = int(duration_s * 1000)
    for _ in range(count):
        source = rng.choice(sources)
        latest = max(0, source.duration_ms - span_ms)
        offset = rng.randrange(0, latest + 1)
        kept = [u for u in source.utterances if u.start_ms >= offset and u.end_ms <= offset + span_ms]
        shift = offset - 1000
        utterances = [Utterance(speaker=u.speaker, user_id=u.user_id, start_ms=u.start_ms - shift,
                                end_ms=u.end_ms - shift, text=u.text) for u in kept]
        out.append(Transcript(meta=source.meta, utterances=utterances))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- the bridge process ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def bridge_process(audio: bool, log_path: Path, profile: Path | None, nice: int = 0) -> Any:
    """The bridge in its own process with only the intake at work: no Langflow URL (no pipeline), the store on a
    throw-away SQLite file (the app opens one either way)."""
    port = free_port()
    db_dir = tempfile.mkdtemp(prefix="bench-intake-")
    env = {**os.environ, "ZOOM_WEBHOOK_SECRET_TOKEN": WEBHOOK_SECRET, "ZOOM_CLIENT_ID": CLIENT_ID,
           "ZOOM_CLIENT_SECRET": CLIENT_SECRET, "BRIDGE_ALLOWED_HOSTS": "127.0.0.1",
           "BRIDGE_ALLOW_INSECURE_WS": "true", "BRIDGE_MEDIA": "audio" if audio else "",
           "BRIDGE_LOG_LEVEL": "INFO", "BRIDGE_LANGFLOW_URL": "", "BRIDGE_API_TOKEN": "",
           "BRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{db_dir}/bench-intake.db"}
    command = [sys.executable, "-m", "bench.intake_bridge", "--port", str(port)]
    if profile is not None:
        command += ["--profile", str(profile)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=ROOT)  # noqa: ASYNC220 - once
        if nice:
            os.setpriority(os.PRIO_PROCESS, proc.pid, nice)
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
                deadline = time.monotonic() + 60
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"the bridge process exited ({proc.returncode}); see {log_path}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(url + "/ready")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the bridge did not get ready in 60 s; see {log_path}")
                    await asyncio.sleep(0.2)
                yield proc, url, client
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(proc.wait, 120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    await asyncio.to_thread(proc.wait, 10)
            shutil.rmtree(db_dir, ignore_errors=True)


def metric(text: str, name: str, labels: str | None = None) -> float:
    """Sum of the samples of one metric in Prometheus text (optionally those whose labels contain `labels`)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] == name and (labels is None or labels in head):
                total += float(value)
    return total


async def sample_loop(meter: ProcessMeter, client: httpx.AsyncClient, url: str, out: Samples) -> None:
    while True:
        out.times.append(time.monotonic())
        out.rss.append(meter.rss_bytes())
        out.cpu.append(meter.cpu_s())
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            out.streams.append(int(metric((await client.get(url + "/metrics")).text, "rtms_active_streams")))
        await asyncio.sleep(1.0)


# -- one scenario ---------------------------------------------------------------------------------------------


async def run_scenario(sc: Scenario, args: argparse.Namespace) -> dict[str, Any]:
    transcripts = meeting_transcripts(sc.meetings, args.duration, args.seed)
    label = f"{sc.meetings}{'a' if sc.audio else ''}"
    log_path = RESULTS / f"intake_bridge_{label}.log"
    profile = RESULTS / f"intake_bridge_{label}.prof" if args.profile else None
    ramp = sc.meetings / args.start_rate
    print(f"\n== {sc.name} meetings: {args.duration:g} s each, started over {ramp:g} s", flush=True)
    async with bridge_process(sc.audio, log_path, profile, args.bridge_nice) as (proc, url, client):
        meter = ProcessMeter(proc.pid)
        me = ProcessMeter(os.getpid())
        await client.get(url + "/bench/stats")  # starts the loop-lag probe
        await asyncio.sleep(2.0)
        base_rss, base_cpu, my_cpu0 = meter.rss_bytes(), meter.cpu_s(), me.cpu_s()
        psi0, load0 = cpu_pressure_total_us(), os.getloadavg()[0]
        config = SimulatorConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_secret=WEBHOOK_SECRET,
                                 webhook_url=url + "/webhook", speed=1.0, webhook_timeout_s=10.0,
                                 webhook_retry_schedule_s=(2.0, 5.0, 10.0))
        samples = Samples()
        http = httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=50))
        started = time.monotonic()
        sampler = asyncio.create_task(sample_loop(meter, client, url, samples))
        try:
            async with Simulator(config, http_client=http) as sim:
                handles = []
                for index, transcript in enumerate(transcripts):
                    spec = MeetingSpec(transcript=transcript, audio=sc.audio, name=f"bench-{index}")
                    handles.append(await sim.start_meeting(spec))
                    await asyncio.sleep(max(0.0, started + (index + 1) / args.start_rate - time.monotonic()))
                ramped = time.monotonic()
                print(f"   all {sc.meetings} started after {ramped - started:.1f} s", flush=True)
                limit = started + args.duration + ramp + 180 - time.monotonic()
                _, _pending = await asyncio.wait([asyncio.ensure_future(h.wait()) for h in handles], timeout=limit)
                unfinished = sum(1 for h in handles if not h.done)
                if unfinished:  # the simulator stops them (stop reason 17) on close; they count as incomplete
                    print(f"   {unfinished} meetings still running {limit:.0f} s after the last start: stopped",
                          flush=True)
            reports: list[MeetingReport] = [h.report for h in handles if h.report is not None]
            ended = time.monotonic()
            deadline = time.monotonic() + 60
            window = {"since": ramped + 2, "until": started + args.duration - 2}
            while True:  # the consumer may still be draining after the simulator's last webhook
                stats = (await client.get(url + "/bench/stats", params=window)).json()
                if sum(stats["consumer"]["ended"].values()) >= sc.meetings or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            metrics_text = (await client.get(url + "/metrics")).text
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            await http.aclose()
        cpu_total = meter.cpu_s() - base_cpu
        my_cpu = me.cpu_s() - my_cpu0
        psi1 = cpu_pressure_total_us()
        pressure = None if psi0 is None or psi1 is None else round(
            100 * (psi1 - psi0) / 1e6 / (time.monotonic() - started + 2.0), 1)
    return summarize(sc, args, transcripts, reports, stats, metrics_text, samples,
                     base_rss=base_rss, cpu_total=cpu_total, sim_cpu=my_cpu, started=started, ramped=ramped,
                     ended=ended, unfinished=unfinished, machine_load={"cpu_pressure_some_pct": pressure,
                                                "load1_start": round(load0, 2),
                                                "load1_end": round(os.getloadavg()[0], 2)})


def summarize(sc: Scenario, args: argparse.Namespace, transcripts: list[Transcript], reports: list[MeetingReport],
              stats: dict[str, Any], metrics_text: str, samples: Samples, *, base_rss: int, cpu_total: float,
              sim_cpu: float, started: float, ramped: float, ended: float, unfinished: int,
              machine_load: dict[str, Any]) -> dict[str, Any]:
    consumer = stats["consumer"]
    lines_total = sum(len(t.utterances) for t in transcripts)
    lines_sent = sum(r.lines_sent for r in reports)
    # Steady state: every meeting live (after the ramp, before the first replay can end).
    steady = [i for i, t in enumerate(samples.times) if ramped + 2 <= t <= started + args.duration - 2]
    peak_rss = max(samples.rss) if samples.rss else base_rss
    steady_cpu_pct = None
    if len(steady) >= 2:
        first, last = steady[0], steady[-1]
        steady_cpu_pct = 100 * (samples.cpu[last] - samples.cpu[first]) / (samples.times[last] - samples.times[first])
    meeting_hours = sum(t.duration_ms for t in transcripts) / 3_600_000
    webhook_failures = sum(1 for r in reports for w in r.webhooks if not w.delivered)
    return {
        "scenario": sc.name,
        "meetings": sc.meetings,
        "audio": sc.audio,
        "meeting_duration_s": args.duration,
        "ramp_s": round(ramped - started, 1),
        "wall_s": round(ended - started, 1),
        "lines_planned": lines_total,
        "lines_sent": lines_sent,
        "lines_delivered": consumer["lines"],
        "lines_lost": lines_sent - consumer["lines"],
        "order_errors": consumer["order_errors"],
        "duplicates_dropped": metric(metrics_text, "rtms_transcript_duplicates_dropped_total"),
        "meetings_incomplete": sum(1 for r in reports if not r.complete) + sc.meetings - len(reports),
        "meetings_unfinished_in_time": unfinished,
        "meetings_ended_in_bridge": consumer["ended"],
        "reconnects": metric(metrics_text, "rtms_reconnects_total"),
        "webhook_failures": webhook_failures,
        "simulator_errors": sorted({e for r in reports for e in r.errors})[:10],
        "keepalives_sent": sum(r.keepalives_sent for r in reports),
        "keepalives_answered_sim": sum(r.keepalives_answered for r in reports),
        "keepalives_answered_bridge": metric(metrics_text, "rtms_keepalives_answered_total"),
        "audio_packets_sent": sum(r.audio_packets_sent for r in reports),
        "queue_full": metric(metrics_text, "rtms_consumer_queue_full_total"),
        "intake_latency": consumer["intake"],
        "intake_latency_steady": consumer["intake_window"],
        "schedule_lateness": consumer["schedule"],
        "loop_lag": stats["loop_lag"],
        "loop_lag_steady": stats["loop_lag_window"],
        "unmatched_arrivals": consumer["unmatched"],
        "bridge_cpu_s": round(cpu_total, 2),
        "bridge_cpu_s_per_meeting": round(cpu_total / sc.meetings, 3),
        "bridge_cpu_s_per_meeting_hour": round(cpu_total / meeting_hours, 2) if meeting_hours else None,
        "bridge_cpu_pct_steady": None if steady_cpu_pct is None else round(steady_cpu_pct, 1),
        "bridge_rss_idle_mb": round(base_rss / 2**20, 1),
        "bridge_rss_peak_mb": round(peak_rss / 2**20, 1),
        "bridge_rss_mb_per_meeting": round((peak_rss - base_rss) / 2**20 / sc.meetings, 3),
        "simulator_cpu_s": round(sim_cpu, 1),
        "peak_streams": max(samples.streams) if samples.streams else None,
        "machine_load": machine_load,
        "stream_end_causes": consumer["ended"],
    }


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    target = next((r for r in results if r["meetings"] == TARGET_MEETINGS and not r["audio"]), None)
    if target is None:
        return [f"(no {TARGET_MEETINGS}-meeting transcript-only scenario in this run: targets not judged)"]
    lost = target["lines_lost"] != 0 or target["lines_sent"] != target["lines_planned"] or target["order_errors"]
    p99 = target["intake_latency"]["p99_ms"]
    steady = target["intake_latency_steady"]["p99_ms"]
    mb = target["bridge_rss_mb_per_meeting"]
    return [
        f"{'FAIL' if lost else 'PASS'}: {TARGET_MEETINGS} meetings, nothing lost "
        f"({target['lines_delivered']}/{target['lines_sent']} lines delivered, {target['lines_planned']} planned)",
        f"{'PASS' if p99 is not None and p99 < TARGET_P99_MS else 'FAIL'}: intake p99 < {TARGET_P99_MS:g} ms over "
        f"every line, start-up included (p99 {p99} ms)",
        f"{'PASS' if steady is not None and steady < TARGET_P99_MS else 'FAIL'}: intake p99 < {TARGET_P99_MS:g} ms "
        f"in steady state, all meetings live (p99 {steady} ms; simulator schedule -> consumer p99 "
        f"{target['schedule_lateness']['p99_ms']} ms over every line)",
        f"{'PASS' if mb < TARGET_MB_PER_MEETING else 'FAIL'}: < {TARGET_MB_PER_MEETING:g} MB per meeting "
        f"({mb} MB)",
    ]


def markdown(m: dict[str, Any], results: list[dict[str, Any]], lines: list[str]) -> str:
    rows = []
    for r in results:
        lat, steady = r["intake_latency"], r["intake_latency_steady"]
        rows.append([r["scenario"], r["lines_sent"], r["lines_delivered"],
                     f"{int(r['keepalives_answered_bridge'])}/{r['keepalives_sent']}",
                     lat["p50_ms"], lat["p99_ms"], steady["p50_ms"], steady["p99_ms"],
                     r["schedule_lateness"]["p99_ms"], r["loop_lag"]["p99_ms"], r["bridge_cpu_pct_steady"],
                     r["bridge_cpu_s_per_meeting_hour"], r["bridge_rss_peak_mb"], r["bridge_rss_mb_per_meeting"],
                     r["machine_load"]["cpu_pressure_some_pct"]])
    headers = ["meetings", "lines sent", "delivered", "keep-alives answered/sent", "intake p50 ms", "intake p99 ms",
               "steady p50 ms", "steady p99 ms", "schedule->consumer p99 ms", "loop lag p99 ms",
               "bridge CPU % (steady)", "CPU s per meeting-hour", "RSS peak MB", "RSS MB per meeting",
               "machine CPU pressure %"]
    note = ("\nIntake latency: frame read by the bridge -> handed to the consumer (the window engine's entry); steady: "
            "lines that arrived while every meeting was live. Machine CPU pressure: share of the time some task "
            "waited for a core (Linux PSI), i.e. how busy the shared machine was.\n\n")
    return ("# Intake scale\n\n" + machine_markdown(m) + note + table(headers, rows)
            + "\n" + "\n".join(f"- {line}" for line in lines) + "\n")


async def main_async(args: argparse.Namespace) -> int:
    raise_nofile(16384)
    # The simulator's own progress (and websockets' tracebacks for handshakes a starved peer dropped) would drown
    # the figures; what matters is counted in its reports and the bridge's metrics.
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    m = machine()
    results: list[dict[str, Any]] = []
    for sc in args.scenarios:
        result = await run_scenario(sc, args)
        results.append(result)
        lat, late, load = result["intake_latency"], result["schedule_lateness"], result["machine_load"]
        print(f"   lines sent {result['lines_sent']}, delivered {result['lines_delivered']}, "
              f"keep-alives answered {int(result['keepalives_answered_bridge'])}/{result['keepalives_sent']}\n"
              f"   intake p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms; steady state "
              f"p50 {result['intake_latency_steady']['p50_ms']} ms, p99 {result['intake_latency_steady']['p99_ms']} "
              f"ms (n={result['intake_latency_steady']['n']}); "
              f"schedule->consumer p99 {late['p99_ms']} ms; loop lag p99 {result['loop_lag']['p99_ms']} ms\n"
              f"   bridge CPU {result['bridge_cpu_s']} s ({result['bridge_cpu_pct_steady']} % of a core steady), "
              f"RSS idle {result['bridge_rss_idle_mb']} MB, peak {result['bridge_rss_peak_mb']} MB, "
              f"{result['bridge_rss_mb_per_meeting']} MB per meeting\n"
              f"   machine: CPU pressure (some task waiting for a core) {load['cpu_pressure_some_pct']} % of the time, "
              f"load {load['load1_start']} -> {load['load1_end']}",
              flush=True)
        write(args, m, results, final=False)
    write(args, m, results, final=True)
    return 0


def write(args: argparse.Namespace, m: dict[str, Any], results: list[dict[str, Any]], *, final: bool) -> None:
    """Results so far (after each scenario, so a later failure loses nothing), the targets judged at the end."""
    lines = verdicts(results)
    if final:
        print("\n" + "\n".join(lines))
    data = {"benchmark": "intake_scale", "machine": m, "load_average_at_end": list(os.getloadavg()),
            "settings": {"duration_s": args.duration, "start_rate_per_s": args.start_rate, "seed": args.seed,
                         "bridge_nice": args.bridge_nice,
                         "simulator": "same process as this command (uvloop), bridge in its own process (uvicorn)"},
            "scenarios": results, "targets": lines}
    json_path, md_path = write_results(args.output, data, markdown(m, results, lines))
    if final:
        print(f"\nwrote {json_path} and {md_path}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intake_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=Scenario.parse, nargs="+",
                        default=[Scenario(100, False), Scenario(500, False), Scenario(1000, False),
                                 Scenario(100, True)],
                        help="meeting counts; a trailing a adds 16 kHz L16 audio (default: 100 500 1000 100a)")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds each meeting lasts (default 180)")
    parser.add_argument("--start-rate", type=float, default=20.0,
                        help="meetings started per second (default 20: 1000 meetings start over 50 s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bridge-nice", type=int, default=0, metavar="N",
                        help="scheduling priority of the bridge process (e.g. -10 on a machine shared with other "
                             "work, so the bridge is measured as if the machine were its own; default 0)")
    parser.add_argument("--profile", action="store_true", help="run the bridge under cProfile (slower; .prof files)")
    parser.add_argument("--output", default="intake_scale", help="results file name in bench/results/")
    args = parser.parse_args()
    return run_main(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
