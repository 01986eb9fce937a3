"""Langflow's capacity for many meetings: flow runs offered at the rate N meetings make them, against Langflow with
1 and with 2 workers side by side, and from the measured CPU per run and memory per worker, what 1,000 meetings need.

The per-meeting rate comes from the shipped `bridge/pipeline/flows.toml` as it is when the benchmark runs: the
bridge's window engine (`bench.replay`) cuts the bundled sample meetings with it, giving runs per meeting-hour and
the mix of flows; the plan uses the larger of that and the issue's planning figure (240 runs per meeting-hour,
`--plan-runs-per-hour`). Both Langflows run as a deployment would (`bridge.langflow_process`: PostgreSQL database of
their own, Redis job queue and cache, the `fast` settings of `bench.langflow_overhead`), with the offline model
(`python -m bridge.offline_llm`, Anthropic wire format) behind the flows. Load is open-loop: runs start on schedule
whether or not earlier ones have answered, as meetings do not wait for Langflow. Steps of rising rate go to each
server in turns (1 worker, then 2, then the next step) so a shared machine's load weighs on both alike; a server
leaves the ladder at its first step over the latency budget (p95) or with failures.

Figures: runs/s sustained within the budget, Langflow CPU seconds per run (all its processes, from /proc: runs per
second per core = 1 / that), RSS per worker. Sizing: cores = 1,000 x rate per meeting x CPU per run (one gunicorn
worker per core), memory = workers x RSS per worker + the master.

    uv run --no-sync python -m bench.langflow_capacity                  # ~2 min of load after Langflow starts
    uv run --no-sync python -m bench.langflow_capacity --rates 1 2 4 8 --step-s 20 --budget-s 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import machine, machine_markdown, percentile, table, write_results
from bench.langflow_overhead import BASE_ENV, CONFIGS, OUR_FLOWS, flows_dir
from bench.replay import replay
from bridge.langflow_process import LangflowProcess, SharedBackends, child_pids, free_port, scratch_postgres
from bridge.simulator.transcripts import load_transcript, sample_names

ROOT = Path(__file__).resolve().parent.parent
MEETINGS_TARGET = 1000
PLAN_RUNS_PER_HOUR = 240.0  # issue 16: a meeting makes up to ~240 flow runs per hour after the token-economy work
REDIS_DBS = {1: (8, 9), 2: (10, 11)}  # (queue, cache) Redis databases per worker count: this benchmark's own


# -- the offered load --------------------------------------------------------------------------------------------


@dataclass
class Cadence:
    runs_per_hour: float
    """Runs per meeting-hour the shipped flows.toml makes on the bundled samples."""
    mix: dict[str, float]
    """Share of each flow in those runs."""
    windows: dict[str, list[str]]
    """Real windows (JSON) per flow, to send."""
    meeting_hours: float


async def cadence() -> Cadence:
    windows: dict[str, list[str]] = {flow: [] for flow in OUR_FLOWS}
    hours = 0.0
    for name in sample_names():
        transcript = load_transcript(name)
        result = await replay(transcript, meeting_id=f"cap-{name}")
        utterances = transcript.utterances
        hours += (max(u.end_ms for u in utterances) - min(u.start_ms for u in utterances)) / 3_600_000
        for sent in result.windows:
            windows.setdefault(sent.flow, []).append(sent.draft.payload)
    total = sum(len(v) for v in windows.values())
    return Cadence(runs_per_hour=total / hours, mix={f: len(v) / total for f, v in windows.items() if v},
                   windows={f: v for f, v in windows.items() if v}, meeting_hours=hours)


# -- processes ---------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def offline_model(workdir: Path) -> Any:
    """`python -m bridge.offline_llm` as a child process; yields its base URL."""
    port = free_port()
    with (workdir / "offline_llm.log").open("wb") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once
            [sys.executable, "-m", "bridge.offline_llm", "--port", str(port), "--log-level", "WARNING"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{url}/stats")).status_code == 200:
                        break
                if proc.poll() is not None:
                    raise RuntimeError(f"the offline model exited ({proc.returncode})")
                await asyncio.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, 10)
        if proc.poll() is None:
            proc.kill()


def tree(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def tree_cpu_s(pid: int) -> float:
    total = 0.0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def rss_mb(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        return round(float(psutil.Process(pid).memory_info().rss) / 2**20, 1)
    return 0.0


# -- measuring ---------------------------------------------------------------------------------------------------


@dataclass
class Step:
    rate: float
    seconds: float
    offered: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    def p(self, q: float) -> float | None:
        value = percentile(self.latencies, q)
        return None if value is None else round(value, 3)

    def row(self) -> dict[str, Any]:
        done = len(self.latencies)
        return {"offered_runs_per_s": self.rate, "offered": self.offered, "answered": done, "failures": self.failures,
                "answered_per_s": round(done / self.wall_s, 2) if self.wall_s else None,
                "p50_s": self.p(50), "p95_s": self.p(95), "cpu_s": round(self.cpu_s, 2),
                "cpu_s_per_run": round(self.cpu_s / done, 4) if done else None}


@dataclass
class Server:
    workers: int
    lf: LangflowProcess
    client: httpx.AsyncClient | None = None
    steps: list[Step] = field(default_factory=list)
    saturated: bool = False
    memory: dict[str, Any] = field(default_factory=dict)


async def one_run(server: Server, flow: str, window: str, meeting: int, step: Step) -> None:
    assert server.client is not None
    started = time.perf_counter()
    try:
        response = await server.client.post(f"/api/v1/run/{flow}",
                                            json={"input_value": window, "session_id": f"cap-m{meeting}:{flow}"})
    except httpx.HTTPError:
        step.failures += 1
        return
    if response.status_code == 200:
        step.latencies.append(time.perf_counter() - started)
    else:
        step.failures += 1


async def drive(server: Server, load: Cadence, rate: float, seconds: float, rng: random.Random) -> Step:
    """Open loop: run i starts at i / rate seconds, its flow drawn by the cadence's mix, for one of
    rate x 3600 / runs-per-hour meetings (each its own session)."""
    step = Step(rate, seconds)
    meetings = max(1, round(rate * 3600 / load.runs_per_hour))
    flows, weights = list(load.mix), list(load.mix.values())
    cpu0, t0 = tree_cpu_s(server.lf.pid or 0), time.perf_counter()
    tasks = []
    count = int(rate * seconds)
    for i in range(count):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        flow = rng.choices(flows, weights)[0]
        window = rng.choice(load.windows[flow])
        tasks.append(asyncio.create_task(one_run(server, flow, window, i % meetings, step)))
    step.offered = count
    await asyncio.gather(*tasks)
    step.wall_s = time.perf_counter() - t0
    step.cpu_s = tree_cpu_s(server.lf.pid or 0) - cpu0
    return step


def within(step: Step, budget_s: float) -> bool:
    p95 = step.p(95)
    return step.failures == 0 and p95 is not None and p95 <= budget_s


async def warm(server: Server, load: Cadence, seconds: float, rng: random.Random) -> Step:
    """Unrecorded load first, open loop at 2 runs/s per worker: every worker builds every flow once (a first run
    compiles the components, seconds of CPU) before the ladder starts. gunicorn's workers share one socket, so only
    concurrent load reaches all of them."""
    return await drive(server, load, 2.0 * server.workers, seconds, rng)


def prepare(workers: int, database_url: str, work: Path, model_url: str, config: str) -> Server:
    flows = flows_dir(work / "flows", model_url)
    queue_db, cache_db = REDIS_DBS[workers]
    lf = LangflowProcess(workdir=work / f"langflow-{workers}w", backend_only=True, workers=workers,
                         shared=SharedBackends(database_url, queue_db=queue_db, cache_db=cache_db),
                         env_overrides={**BASE_ENV, **CONFIGS[config].env, "LANGFLOW_LOAD_FLOWS_PATH": str(flows)})
    return Server(workers, lf)


async def measure(args: argparse.Namespace, load: Cadence, work: Path, model_url: str) -> list[Server]:
    rng = random.Random(16)
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for workers in (1, 2):
            url = await stack.enter_async_context(scratch_postgres(args.pg_admin_url, prefix=f"lf_cap{workers}w"))
            server = prepare(workers, url, work, model_url, args.config)
            assert server.lf.shared is not None
            stack.push_async_callback(server.lf.shared.flush_redis)
            stack.callback(server.lf.stop)
            servers.append(server)
        print("migrating the databases, then starting Langflow with 1 and 2 workers ...", flush=True)
        await asyncio.gather(*(asyncio.to_thread(s.lf.migrate) for s in servers))
        for s in servers:
            s.lf.spawn()
        await asyncio.gather(*(s.lf.wait_ready_async(timeout_s=900) for s in servers))
        for s in servers:
            s.client = await stack.enter_async_context(httpx.AsyncClient(
                base_url=s.lf.base_url, headers={"x-api-key": s.lf.api_key}, timeout=args.budget_s * 10,
                trust_env=False, limits=httpx.Limits(max_connections=500, max_keepalive_connections=100)))
            before = {pid: psutil.Process(pid).cpu_times() for pid in s.lf.worker_pids()}
            warmed = await warm(s, load, args.warmup_s, rng)
            busy = {pid: round(sum(psutil.Process(pid).cpu_times()[:2]) - sum(t[:2]), 1) for pid, t in before.items()}
            print(f"   {s.workers} worker(s): ready in {s.lf.startup_s:.0f} s; warm-up {warmed.row()['answered']}/"
                  f"{warmed.offered} answered, CPU s per worker {busy}", flush=True)
        for rate in args.rates:
            for s in servers:
                if s.saturated:
                    continue
                step = await drive(s, load, rate, args.step_s, rng)
                s.steps.append(step)
                row = step.row()
                print(f"   {s.workers}w {rate:g} runs/s: answered {row['answered']}/{row['offered']} "
                      f"(failures {row['failures']}), p50 {row['p50_s']} s p95 {row['p95_s']} s, "
                      f"CPU {row['cpu_s_per_run']} s/run", flush=True)
                s.saturated = not within(step, args.budget_s)
            if all(s.saturated for s in servers):
                break
        for s in servers:
            pid = s.lf.pid or 0
            s.memory = {"master_mb": round(sum(rss_mb(p) for p in [pid, *child_pids(pid)]), 1),
                        "workers_mb": [rss_mb(p) for p in s.lf.worker_pids()]}
        return servers


def plan(servers: list[Server], load: Cadence, args: argparse.Namespace) -> dict[str, Any]:
    """Sizing for 1,000 meetings, two ways: by CPU (every core busy: a floor) and by the highest step each server
    held within the budget (rate per worker: what to deploy). Memory: workers x RSS per worker, plus one master
    (the `langflow run` process and gunicorn's master) per instance of that many workers."""
    rate_per_meeting = max(load.runs_per_hour, args.plan_runs_per_hour) / 3600
    needed = MEETINGS_TARGET * rate_per_meeting
    out: dict[str, Any] = {"runs_per_s_needed": round(needed, 1),
                           "rate_per_meeting_per_h": round(rate_per_meeting * 3600, 1)}
    for s in servers:
        ok = [st for st in s.steps if within(st, args.budget_s)]
        best = max(ok, key=lambda st: st.rate) if ok else None
        cpu_per_run = (sum(st.cpu_s for st in ok) / sum(len(st.latencies) for st in ok)) if ok else None
        workers_mb = s.memory["workers_mb"]
        per_worker = max(workers_mb) if workers_mb else None
        per_worker_rate = best.rate / s.workers if best else None
        workers = math.ceil(needed / per_worker_rate) if per_worker_rate else None
        instances = math.ceil(workers / s.workers) if workers else None
        out[f"{s.workers}w"] = {
            "max_rate_within_budget": best.rate if best else None,
            "meetings_per_server_within_budget": round(best.rate / rate_per_meeting) if best else None,
            "cpu_s_per_run": None if cpu_per_run is None else round(cpu_per_run, 4),
            "runs_per_s_per_core": None if cpu_per_run is None else round(1 / cpu_per_run, 2),
            "rss_per_worker_mb": per_worker, "master_mb": s.memory["master_mb"],
            "cores_for_1000_cpu_floor": None if cpu_per_run is None else round(needed * cpu_per_run, 1),
            "workers_for_1000_within_budget": workers,
            "memory_gb_for_1000": None if workers is None or instances is None or per_worker is None else
            round((workers * per_worker + instances * s.memory["master_mb"]) / 1024, 1),
        }
    return out


def markdown(m: dict[str, Any], load: Cadence, servers: list[Server], sizing: dict[str, Any],
             args: argparse.Namespace) -> str:
    rows = []
    for s in servers:
        for st in s.steps:
            r = st.row()
            rows.append([f"{s.workers}", r["offered_runs_per_s"], r["offered"], r["answered"], r["failures"],
                         r["answered_per_s"], r["p50_s"], r["p95_s"], r["cpu_s_per_run"],
                         "yes" if within(st, args.budget_s) else "no"])
    steps = table(["workers", "offered runs/s", "offered", "answered", "failures", "answered/s", "p50 s", "p95 s",
                   "CPU s/run", f"p95 <= {args.budget_s:g} s"], rows)
    plan_rows = [[k.removesuffix("w"), v["max_rate_within_budget"], v["meetings_per_server_within_budget"],
                  v["runs_per_s_per_core"], v["rss_per_worker_mb"], v["master_mb"], v["cores_for_1000_cpu_floor"],
                  v["workers_for_1000_within_budget"], v["memory_gb_for_1000"]]
                 for k, v in sizing.items() if isinstance(v, dict)]
    sizing_table = table(["workers", "max runs/s within budget", "meetings at that rate", "runs/s per core",
                          "RSS per worker MB", "master MB", "cores for 1,000 (CPU floor)",
                          "workers (= cores) for 1,000 within budget", "memory GB for 1,000"], plan_rows)
    mix = ", ".join(f"{f} {share:.0%}" for f, share in load.mix.items())
    return ("# Langflow capacity: 1 and 2 workers, and what 1,000 meetings need\n\n" + machine_markdown(m)
            + f"\nLoad average at the end: {m.get('load_average_at_end')}. Configuration `{args.config}` "
            f"({CONFIGS[args.config].note}), PostgreSQL + Redis, offline model at latency 0.\n\n"
            f"Cadence from the shipped flows.toml on the bundled samples ({load.meeting_hours:.2f} meeting-hours): "
            f"{load.runs_per_hour:.0f} runs per meeting-hour ({mix}); planned with "
            f"{sizing['rate_per_meeting_per_h']:g} runs per meeting-hour (the larger of that and "
            f"{args.plan_runs_per_hour:g}), so 1,000 meetings make {sizing['runs_per_s_needed']:g} runs/s. "
            f"Latency budget: p95 <= {args.budget_s:g} s per run (the objection alert requirement; Langflow's share "
            f"of it here, the model answers at once). Steps of {args.step_s:g} s, open loop, the servers in turns.\n\n"
            + steps + "\n" + sizing_table
            + "\nCPU s/run is the CPU of all Langflow processes (master and workers) per answered run over the steps "
            "within budget; runs/s per core = 1 / that. Cores for 1,000 (CPU floor) = runs/s needed x CPU s/run, every "
            "core busy. Workers for 1,000 within budget = runs/s needed / (max runs/s within budget / workers), one "
            "gunicorn worker per core: the figure to deploy (the ladder's steps make it conservative). Memory = those "
            "workers x RSS per worker + one master (CLI + gunicorn master) per instance of that many workers. "
            "On a shared machine the absolute rates are "
            "a floor; the CPU per run and the 1- vs 2-worker ratio are the figures to plan with.\n")


async def main_async(args: argparse.Namespace) -> int:
    m = machine()
    work = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    try:
        load = await cadence()
        print(f"cadence: {load.runs_per_hour:.0f} runs per meeting-hour on the samples; mix "
              + ", ".join(f"{f} {s:.0%}" for f, s in load.mix.items()), flush=True)
        async with offline_model(work) as model_url:
            servers = await measure(args, load, work, model_url)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    m["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    sizing = plan(servers, load, args)
    for key, value in sizing.items():
        print(f"{key}: {value}")
    data = {"benchmark": "langflow_capacity", "machine": m,
            "settings": {"rates": args.rates, "step_s": args.step_s, "budget_s": args.budget_s, "config": args.config,
                         "warmup_s": args.warmup_s, "model_latency_ms": 0,
                         "plan_runs_per_hour": args.plan_runs_per_hour},
            "cadence": {"runs_per_meeting_hour": round(load.runs_per_hour, 1), "mix": load.mix,
                        "meeting_hours": round(load.meeting_hours, 3)},
            "servers": [{"workers": s.workers, "startup_s": round(s.lf.startup_s, 1),
                         "memory": s.memory, "steps": [st.row() for st in s.steps]}
                        for s in servers],
            "plan": sizing}
    json_path, md_path = write_results(args.output, data, markdown(m, load, servers, sizing, args))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.langflow_capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[1, 2, 4, 6, 8, 12, 16],
                        help="offered runs per second, in rising steps (default 1 2 4 6 8 12 16)")
    parser.add_argument("--step-s", type=float, default=15.0, help="seconds per step (default 15)")
    parser.add_argument("--budget-s", type=float, default=3.0, help="p95 latency budget per run (default 3 s)")
    parser.add_argument("--warmup-s", type=float, default=20.0,
                        help="seconds of unrecorded load per server before the steps (default 20)")
    parser.add_argument("--config", default="fast", choices=sorted(CONFIGS),
                        help="Langflow settings from bench.langflow_overhead (default fast)")
    parser.add_argument("--plan-runs-per-hour", type=float, default=PLAN_RUNS_PER_HOUR,
                        help="planning floor for runs per meeting-hour (default 240, issue 16)")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL where a database per server is created and dropped")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--output", default="langflow_capacity", help="results file name in bench/results/")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
