"""Where the time of one Langflow run of each of our flows goes (issue 7, "Langflow's overhead").

Both views use the flows built from the component sources (`bench.langflow_overhead.flows_dir`: our three plus Chat
Input -> Chat Output) and the offline model at latency 0 (`bench.llm_recorder`), one run at a time on real windows
cut by the window engine from the bundled samples.

* In-process (always, unless `--skip-in-process`): what `POST /api/v1/run` does once the flow row is read, with
  lfx's own APIs: the flow's data through `process_tweaks`, `Graph.from_payload` (every node's component built from
  its embedded code), then `run_graph`. Timers are wrapped around lfx's steps (nothing of lfx or of the components
  is changed): per vertex, the evaluation of its code (`eval_custom_component_code`: parse, compile and exec the
  node's source), the construction of the component, its output method (our component's code, or the built-in's)
  and, inside that, the model call (langchain `ainvoke`, and the HTTP request to the model); plus the SSL contexts
  created (the httpx clients Langflow builds for a model base URL other than the provider's) and the garbage
  collector's pauses. `--compare-rev REV` also runs the component files of a git revision, in turns with the
  working tree's; `--fast-ssl` uses the SSL environment of the `fast` configuration. Langflow's HTTP layer,
  authentication, flow lookup, job rows, and its full component registry are not in this view.
* `--server`: real Langflows 1.13 (`--configs`, as in `bench.langflow_overhead`), sampled by py-spy while they serve
  the runs. py-spy is not a dependency of the project: pass how to start it (`--py-spy "uvx py-spy"` runs it from a
  throw-away environment). Each sample's stack is put in one bucket (evaluating component code, building the model
  client, our components' code, ...; see `BUCKETS`), and the CPU time per run in each bucket is reported. The raw
  stacks (collapsed, for flamegraph.pl or speedscope) are written beside the results as
  `langflow_profile_<config>_<flow>.prof` (not committed).

    uv run --no-sync python -m bench.langflow_profile --compare-rev HEAD --fast-ssl        # in-process, ~5 min
    uv run --no-sync python -m bench.langflow_profile --server --py-spy "uvx py-spy"        # + tuned and fast servers
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import contextvars
import copy
import gc
import json
import os
import re
import shlex
import signal
import ssl
import statistics
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import RESULTS, machine, machine_markdown, table, write_results
from bench.langflow_overhead import (
    BASE_ENV,
    CONFIGS,
    FAST_SSL_ENV,
    MINIMAL,
    OUR_FLOWS,
    FlowFigures,
    Target,
    components_at,
    first_text,
    flows_dir,
    model_process,
    run_once,
    sample_windows,
    start_langflow,
)
from bridge.contracts import parse_insights

FLOWS = (MINIMAL, *OUR_FLOWS)
OUR_PREFIX = "RTMS"  # node types of our components (RTMSTranscriptWindow, ...)

# -- in-process ----------------------------------------------------------------------------------------------------

_VERTEX: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_vertex", default=None)


class Probe:
    """Durations of one run, keyed by (what, vertex id)."""

    def __init__(self) -> None:
        self.times: dict[tuple[str, str | None], float] = defaultdict(float)
        self.counts: Counter[str] = Counter()
        self._gc_started: float | None = None

    def add(self, what: str, seconds: float) -> None:
        self.times[what, _VERTEX.get()] += seconds
        self.counts[what] += 1

    def total(self, what: str, vertices: set[str] | None = None) -> float:
        return sum(s for (w, v), s in self.times.items() if w == what and (vertices is None or v in vertices))

    def gc_callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started is not None:
            self.times["gc", None] += time.perf_counter() - self._gc_started
            self.counts["gc"] += 1
            self._gc_started = None


class Instruments:
    """Timers wrapped around lfx's, langchain's and httpx's functions; `probe` is the run being measured."""

    def __init__(self) -> None:
        self.probe = Probe()
        self._undo: list[Callable[[], None]] = []

    def _patch(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, make(original))
        self._undo.append(lambda: setattr(owner, name, original))

    def _timed(self, what: str) -> Callable[[Any], Any]:
        def make(original: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.probe.add(what, time.perf_counter() - start)

            return wrapper

        return make

    def _timed_async(self, what: str, vertex_of: Callable[..., str | None] | None = None) -> Callable[[Any], Any]:
        def make(original: Any) -> Any:
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _VERTEX.set(vertex_of(*args, **kwargs)) if vertex_of is not None else None
                start = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    self.probe.add(what, time.perf_counter() - start)
                    if token is not None:
                        _VERTEX.reset(token)

            return wrapper

        return make

    def install(self) -> None:
        from langchain_core.language_models.chat_models import BaseChatModel
        from lfx.custom.custom_component.component import Component
        from lfx.interface.initialize import loading

        def instantiate(original: Any) -> Any:
            def wrapper(vertex: Any, *args: Any, **kwargs: Any) -> Any:
                token = _VERTEX.set(vertex.id)
                start = time.perf_counter()
                try:
                    return original(vertex, *args, **kwargs)
                finally:
                    self.probe.add("instantiate", time.perf_counter() - start)
                    _VERTEX.reset(token)

            return wrapper

        def output_vertex(component: Any, *_: Any, **__: Any) -> str | None:
            vertex = getattr(component, "_vertex", None)
            return getattr(vertex, "id", None) or type(component).__name__

        self._patch(loading, "instantiate_class", instantiate)  # Vertex.instantiate_component looks it up per call
        self._patch(loading, "eval_custom_component_code", self._timed("eval"))  # instantiate_class's global
        self._patch(Component, "_get_output_result", self._timed_async("method", output_vertex))
        self._patch(BaseChatModel, "ainvoke", self._timed_async("model_call"))
        self._patch(httpx.AsyncClient, "send", self._timed_async("model_http"))
        self._patch(ssl, "create_default_context", self._timed("ssl_context"))  # httpx calls ssl.create_default_...
        gc.callbacks.append(self._gc)
        self._undo.append(lambda: gc.callbacks.remove(self._gc))

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        self.probe.gc_callback(phase, info)

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 2) if values else None


async def profile_in_process(variants: dict[str, dict[str, dict[str, Any]]], windows: dict[str, list[str]],
                             runs: int, warmup: int) -> dict[str, dict[str, Any]]:
    """Each flow of each variant (label -> flows), the variants taking turns run by run."""
    from lfx.graph.graph.base import Graph
    from lfx.processing.process import process_tweaks, run_graph
    from lfx.utils.flow_validation import ensure_component_hash_lookups_loaded

    await ensure_component_hash_lookups_loaded()
    from lfx.interface.components import component_cache

    if component_cache.all_types_dict is None:
        # A server's component registry knows every node type of our flows (the extension bundle is loaded at
        # start-up). Without them lfx's flow migration (`migrate_flow_payload`) would look each type up with
        # difflib on every run, which the server does not do.
        types = {n["data"]["type"] for flows in variants.values() for f in flows.values() for n in f["data"]["nodes"]}
        component_cache.all_types_dict = {"bench": {kind: {} for kind in types}}
    instruments = Instruments()
    instruments.install()
    out: dict[str, dict[str, Any]] = {label: {} for label in variants}
    try:
        for name in FLOWS:
            inputs = windows[OUR_FLOWS[0]] if name == MINIMAL else windows[name]
            per_run: dict[str, list[dict[str, Any]]] = {label: [] for label in variants}
            bad = dict.fromkeys(variants, 0)
            for i in range(warmup + runs):
                for label, flows in variants.items():
                    flow = flows[name]
                    instruments.probe = probe = Probe()
                    graph_data = process_tweaks(copy.deepcopy(flow["data"]), {}, stream=False)
                    start = time.perf_counter()
                    graph = Graph.from_payload(graph_data, flow_id=flow["id"], flow_name=flow["name"])
                    built = time.perf_counter()
                    results = await run_graph(graph, input_value=inputs[i % len(inputs)], input_type="chat",
                                              output_type="chat", session_id=f"bench-profile:{name}",
                                              fallback_to_env_vars=True)
                    end = time.perf_counter()
                    if i < warmup:
                        continue
                    if name != MINIMAL:
                        try:
                            parse_insights(first_text({"outputs": [r.model_dump() for r in results]}) or "")
                        except ValueError:
                            bad[label] += 1
                    per_run[label].append(_run_figures(flow, probe, start, built, end))
            for label, flows in variants.items():
                out[label][name] = summary = _summarize(flows[name], per_run[label], runs, bad[label])
                s = summary["p50_ms"]
                print(f"   {label} {name}: total p50 {s['total']} ms = from_payload {s['from_payload']} (code eval "
                      f"{s['eval']}, construct {s['construct']}) + run {s['run']} (our code {s['our_code']}, model "
                      f"construction {s['model_construction']} of which SSL {s['ssl_contexts_ms']}, model call "
                      f"{s['model_call']} of which HTTP {s['model_http']}); gc {s['gc']}", flush=True)
    finally:
        instruments.uninstall()
    return out


def _run_figures(flow: dict[str, Any], probe: Probe, start: float, built: float, end: float) -> dict[str, Any]:
    nodes = [(n["id"], n["data"]["type"]) for n in flow["data"]["nodes"]]
    ours = {vid for vid, kind in nodes if kind.startswith(OUR_PREFIX)}
    model_vertices = {vid for vid, kind in nodes if "Model" in kind and not kind.startswith(OUR_PREFIX)}
    methods = probe.total("method")
    return {
        "total": end - start,
        "from_payload": built - start,
        "run": end - built,
        "eval": probe.total("eval"),
        "construct": probe.total("instantiate") - probe.total("eval"),
        "methods": methods,
        "run_outside_methods": (end - built) - methods,
        "our_code": probe.total("method", ours) - probe.total("model_call", ours),
        "builtin_io_code": probe.total("method", {v for v, _ in nodes} - ours - model_vertices),
        "model_construction": probe.total("method", model_vertices),
        "ssl_contexts_ms": probe.total("ssl_context"),
        "ssl_contexts": probe.counts["ssl_context"],
        "model_call": probe.total("model_call"),
        "model_http": probe.total("model_http"),
        "gc": probe.total("gc"),
        "vertices": {vid: {"eval": probe.times.get(("eval", vid), 0.0),
                           "construct": probe.times.get(("instantiate", vid), 0.0)
                           - probe.times.get(("eval", vid), 0.0),
                           "method": probe.times.get(("method", vid), 0.0),
                           "model_call": probe.times.get(("model_call", vid), 0.0)}
                     for vid, _ in nodes},
    }


def _summarize(flow: dict[str, Any], per_run: list[dict[str, Any]], runs: int, bad: int) -> dict[str, Any]:
    keys = [k for k in per_run[0] if k not in ("vertices", "ssl_contexts")]
    summary: dict[str, Any] = {k: _p50([r[k] for r in per_run]) for k in keys}
    summary["ssl_contexts_per_run"] = statistics.median(r["ssl_contexts"] for r in per_run)
    vertices = [{"vertex": node["id"], "type": node["data"]["type"],
                 **{k: _p50([r["vertices"][node["id"]][k] for r in per_run])
                    for k in ("eval", "construct", "method", "model_call")},
                 "code_chars": len(_node_code(flow, node["id"]))}
                for node in flow["data"]["nodes"]]
    return {"runs": runs, "bad_answers": bad, "p50_ms": summary, "vertices": vertices}


def _node_code(flow: dict[str, Any], vertex_id: str) -> str:
    for node in flow["data"]["nodes"]:
        if node["id"] == vertex_id:
            return str(node["data"]["node"]["template"].get("code", {}).get("value") or "")
    return ""


# -- the server under py-spy ---------------------------------------------------------------------------------------

# (bucket, pattern over one frame); a sample goes to the first bucket any of its frames matches.
BUCKETS: tuple[tuple[str, str], ...] = (
    ("model client construction (SSRF-pinned httpx clients, SSL contexts)",
     r"^(provider_httpx_clients|install_anthropic_ssrf_clients|create_ssl_context|create_default_context) "),
    ("evaluating component code (lfx: parse, compile, exec per vertex)", r"^eval_custom_component_code "),
    ("model call (langchain, Anthropic SDK, HTTP client)",
     r"^(BaseChatModel\.(ainvoke|agenerate|_agenerate_with_cache)|RunnableBinding\.ainvoke) "),
    ("model construction (ChatAnthropic)", r"^AnthropicModelComponent\.build_model "),
    ("our components' code", r"^@ours "),
    ("built-in components' code (Chat Input/Output)", r"^@builtin "),
    ("constructing components", r"^instantiate_class "),
    ("graph build, other (from_payload: edges, params)", r"^Graph\.from_payload "),
    ("running vertices, other (lfx: params, results, events, artifacts)",
     r"^(Graph\.build_vertex|Vertex\.build|Graph\.arun|Graph\._run|Graph\.process) "),
    ("jobs and database (job rows, flow and variable reads)",
     r"(^JobService\.|aiosqlite/|sqlalchemy/|sqlmodel/|^session_scope )"),
    ("HTTP request handling (FastAPI, auth, JSON)", r"(fastapi/|starlette/|uvicorn/|langflow/api/)"),
)


def code_names(flows: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Top-level function and class names in every node's embedded code -> '@ours' or '@builtin'."""
    names: dict[str, str] = {}
    for flow in flows.values():
        for node in flow["data"]["nodes"]:
            kind = node["data"]["type"]
            if "Model" in kind and not kind.startswith(OUR_PREFIX):
                continue
            tag = "@ours" if kind.startswith(OUR_PREFIX) else "@builtin"
            with contextlib.suppress(SyntaxError):
                for item in ast.parse(_node_code(flow, node["id"])).body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                        names.setdefault(item.name, tag)
    return names


# A sample whose innermost frame is one of these is a thread waiting (the event loop in epoll, an idle worker
# thread, aiosqlite's connection thread on its queue): py-spy does not always see that as idle.
IDLE_LEAF = re.compile(
    r"^(EpollSelector\.select|KqueueSelector\.select|_worker|_connection_worker_thread|Condition\.wait|"
    r"Thread\._wait_for_tstate_lock|Queue\.get|SimpleQueue\.get) "
)
IDLE = "idle (event loop and worker threads waiting)"


def bucket_of(frames: list[str], names: dict[str, str]) -> str:
    if frames and IDLE_LEAF.search(frames[-1]):
        return IDLE
    tagged = []
    for frame in frames:
        tagged.append(frame)
        if "(<string>" in frame:
            tag = names.get(frame.split(" ", 1)[0].split(".", 1)[0])
            if tag:
                tagged.append(f"{tag} {frame}")
    for bucket, pattern in BUCKETS:
        regex = re.compile(pattern)
        if any(regex.search(frame) for frame in tagged):
            return bucket
    return "other (asyncio, threads, logging, ...)"


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def worker_pid(pid: int) -> int:
    """The Langflow process that serves requests: the leaf of `langflow run`'s tree with the most memory."""
    import psutil

    root = psutil.Process(pid)
    leaves = [p for p in root.children(recursive=True) if not p.children()] or [root]
    return max(leaves, key=lambda p: p.memory_info().rss).pid


async def profile_server(args: argparse.Namespace, work: Path, windows: dict[str, list[str]]) -> dict[str, Any]:
    """One Langflow per configuration (started together), sampled one configuration and flow at a time."""
    out: dict[str, Any] = {}
    async with model_process(work) as (model_url, _llm):
        configs = [CONFIGS[name] for name in args.configs]
        servers = [start_langflow(cfg, work, model_url) for cfg in configs]
        try:
            await asyncio.gather(*(lf.wait_ready_async(timeout_s=900) for lf in servers))
            for cfg, lf in zip(configs, servers, strict=True):
                assert lf.pid is not None
                pid = worker_pid(lf.pid)
                print(f"== {cfg.name}: ready in {lf.startup_s:.0f} s; sampling worker pid {pid}", flush=True)
                # The flows exactly as that Langflow loaded them, for the code names of the buckets.
                loaded = work / f"flows-{cfg.name}"
                names = code_names({p.stem: json.loads(p.read_text(encoding="utf-8")) for p in loaded.glob("*.json")})
                async with httpx.AsyncClient(base_url=lf.base_url, headers={"x-api-key": lf.api_key}, timeout=120,
                                             trust_env=False) as client:
                    tweaks = {} if cfg.bake_model_url else {"AnthropicModel-zrtms": {"base_url": model_url}}
                    target = Target(cfg, lf, client, tweaks)
                    out[cfg.name] = {name: await _sample_flow(args, target, name, windows, names, pid)
                                     for name in FLOWS}
        finally:
            for lf in servers:
                lf.stop()
    return out


async def _sample_flow(args: argparse.Namespace, target: Target, name: str, windows: dict[str, list[str]],
                       names: dict[str, str], pid: int) -> dict[str, Any]:
    inputs = windows[OUR_FLOWS[0]] if name == MINIMAL else windows[name]
    figures = FlowFigures()
    for i in range(args.warmup):
        await run_once(target, name, inputs[i % len(inputs)], figures, record=False)
    raw = RESULTS / f"langflow_profile_{target.cfg.name}_{name}.prof"
    command = [*shlex.split(args.py_spy), "record", "--pid", str(pid), "--rate", str(args.rate), "--format", "raw",
               "--nonblocking", "--output", str(raw)]
    log = raw.with_suffix(".log").open("wb")
    spy = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,  # noqa: ASYNC220
                           start_new_session=True)
    try:
        await asyncio.sleep(3)  # py-spy attaches
        started = time.perf_counter()
        for i in range(args.runs):
            await run_once(target, name, inputs[(args.warmup + i) % len(inputs)], figures, record=True)
        elapsed = time.perf_counter() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(spy.pid, signal.SIGINT)
        try:
            await asyncio.to_thread(spy.wait, 60)
        except subprocess.TimeoutExpired:
            os.killpg(spy.pid, signal.SIGKILL)
        log.close()
    stacks = read_collapsed(raw) if raw.exists() else []
    buckets: Counter[str] = Counter()
    for frames, count in stacks:
        buckets[bucket_of(frames, names)] += count
    idle = buckets.pop(IDLE, 0)
    samples = sum(buckets.values())
    per_run_ms = {b: round(n / args.rate / max(1, len(figures.runs)) * 1000, 1) for b, n in buckets.most_common()}
    wall = _p50(figures.runs)
    print(f"   {target.cfg.name} {name}: {len(figures.runs)} runs, p50 {wall} ms under py-spy, {samples} samples; "
          "CPU ms per run: " + ", ".join(f"{b} {ms}" for b, ms in per_run_ms.items()), flush=True)
    return {"runs": len(figures.runs), "failures": figures.failures, "wall_p50_ms": wall,
            "wall_mean_ms": round(elapsed / max(1, args.runs) * 1000, 1), "samples": samples, "idle_samples": idle,
            "cpu_ms_per_run": per_run_ms, "raw_stacks": raw.name}


# -- output --------------------------------------------------------------------------------------------------------

IN_PROCESS_COLUMNS = (
    ("total", "total"), ("from_payload", "from_payload"), ("eval", "code eval"), ("construct", "construct"),
    ("run", "run"), ("our_code", "our code"), ("builtin_io_code", "Chat In/Out code"),
    ("model_construction", "model construction"), ("ssl_contexts_ms", "of which SSL contexts"),
    ("model_call", "model call"), ("model_http", "of which HTTP"), ("run_outside_methods", "run outside methods"),
    ("gc", "gc"),
)


def markdown(m: dict[str, Any], data: dict[str, Any]) -> str:
    parts = ["# Where a Langflow run's time goes\n\n", machine_markdown(m), "\n"]
    inproc = data.get("in_process")
    if inproc:
        parts.append(f"In-process (lfx `Graph.from_payload` + `run_graph`, {data['settings']['runs']} runs per flow "
                     "after warm-up, the component variants in turns), p50 ms per run:\n\n")
        rows = [[label, name, *(flows[name]["p50_ms"].get(key) for key, _ in IN_PROCESS_COLUMNS)]
                for label, flows in inproc.items() for name in flows]
        parts.append(table(["components", "flow", *(label for _, label in IN_PROCESS_COLUMNS)], rows))
        parts.append("\nPer vertex, p50 ms (code eval = Langflow parsing, compiling and executing the node's "
                     "embedded source, on every run):\n\n")
        rows = [[label, name, v["type"], v["code_chars"], v["eval"], v["construct"], v["method"], v["model_call"]]
                for label, flows in inproc.items() for name in flows for v in flows[name]["vertices"]]
        parts.append(table(["components", "flow", "vertex", "code chars", "code eval", "construct", "output method",
                            "of which model call"], rows))
    server = data.get("server")
    if server:
        columns = [(cfg, flow) for cfg, flows in server.items() for flow in flows]
        buckets = sorted({b for cfg, flow in columns for b in server[cfg][flow]["cpu_ms_per_run"]},
                         key=lambda b: -sum(server[c][f]["cpu_ms_per_run"].get(b, 0) for c, f in columns))
        parts.append(f"\nReal Langflow sampled by py-spy at {data['settings']['rate']} Hz, "
                     f"{data['settings']['runs']} runs per flow: CPU ms per run by bucket (all threads, waiting "
                     "threads left out; the wall p50 is with py-spy attached):\n\n")
        rows = [[b, *(server[c][f]["cpu_ms_per_run"].get(b) for c, f in columns)] for b in buckets]
        rows.append(["total CPU ms per run", *(round(sum(server[c][f]["cpu_ms_per_run"].values()), 1)
                                                for c, f in columns)])
        rows.append(["wall p50 ms", *(server[c][f]["wall_p50_ms"] for c, f in columns)])
        parts.append(table(["bucket", *(f"{c}: {f}" for c, f in columns)], rows))
    return "".join(parts)


async def main_async(args: argparse.Namespace) -> int:
    m = machine()
    os.environ.update(BASE_ENV)
    windows = await sample_windows(400)
    data: dict[str, Any] = {"benchmark": "langflow_profile", "machine": m,
                            "settings": {"runs": args.runs, "warmup": args.warmup, "configs": args.configs,
                                         "rate": args.rate, "model_latency_ms": 0,
                                         "fast_ssl": args.fast_ssl}}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        work = Path(tmp)
        if not args.skip_in_process:
            saved = {name: os.environ.get(name) for name in FAST_SSL_ENV}
            if args.fast_ssl:
                os.environ.update(FAST_SSL_ENV)
            sources = {"working tree": None}
            if args.compare_rev:
                sources[f"git {args.compare_rev}"] = components_at(args.compare_rev, work / "components")
            async with model_process(work) as (model_url, _llm):
                variants = {}
                for index, (label, components) in enumerate(sources.items()):
                    loaded = flows_dir(work / f"flows-{index}", model_url, components_dir=components)
                    variants[label] = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in loaded.glob("*.json")}
                data["in_process"] = await profile_in_process(variants, windows, args.runs, args.warmup)
            for name, value in saved.items():  # the servers below get their configuration's own environment
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        if args.server:
            (work / "server").mkdir()
            data["server"] = await profile_server(args, work / "server", windows)
    data["load_average_at_end"] = list(os.getloadavg())
    json_path, md_path = write_results(args.output, data, markdown(m, data))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.langflow_profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40, help="measured runs per flow (default 40)")
    parser.add_argument("--warmup", type=int, default=5, help="runs per flow before measuring (default 5)")
    parser.add_argument("--server", action="store_true", help="also profile real Langflows with py-spy")
    parser.add_argument("--skip-in-process", action="store_true", help="only the server view")
    parser.add_argument("--py-spy", default="py-spy", help='how to start py-spy (e.g. "uvx py-spy")')
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second (default 200)")
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["tuned", "fast"],
                        help="Langflow configurations for --server (default tuned fast)")
    parser.add_argument("--compare-rev", help="in-process: also profile the component files of this git revision, "
                        "in turns with the working tree's")
    parser.add_argument("--fast-ssl", action="store_true",
                        help="in-process: the SSL environment of `bench.langflow_overhead`'s fast configuration")
    parser.add_argument("--output", default="langflow_profile", help="results file name in bench/results/")
    args = parser.parse_args()
    if args.compare_rev:
        args.compare_rev = subprocess.run(["git", "rev-parse", "--short", args.compare_rev], check=True, text=True,
                                          capture_output=True).stdout.strip()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
