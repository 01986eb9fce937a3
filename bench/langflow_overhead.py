"""Langflow's overhead: `POST /api/v1/run/{endpoint}` per flow with an instant model, beside calling that model
directly, with Langflow as installed (`default`), with settings that cut its work per run (`tuned`, `fast`), and
with the component files of an earlier git revision (`before`), all running at once and measured in turns.

A real Langflow 1.13 (`bridge.langflow_process.LangflowProcess`) and the offline model at latency 0
(`bench.llm_recorder`: `bridge.offline_llm` keeping a copy of each request) run as child processes. Our three flows
(built from the component files by `bridge.flows_build.build_flows`, not read from flows/*.json) plus a minimal Chat
Input -> Chat Output flow are loaded at start-up (`LANGFLOW_LOAD_FLOWS_PATH`); each flow is run with real windows cut
by the bridge's window engine from the bundled sample meetings, one run at a time (warm-up first; the configurations
take turns run by run, so a shared machine's load weighs on each alike), and the model is then called directly with
the very requests Langflow's components sent. Added overhead per flow = flow p50 - direct model p50 x model calls per
run. Where the time of a run goes: `bench.langflow_profile`.

    uv run --no-sync python -m bench.langflow_overhead                  # default, before, tuned, fast; 200 runs each
    uv run --no-sync python -m bench.langflow_overhead --runs 50 --configs tuned fast
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import dataclasses
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import machine, machine_markdown, summary_ms, table, write_results
from bench.replay import replay
from bridge.contracts import parse_insights
from bridge.flows_build import COMPONENT_FILES, NODE_IDS, build_flows
from bridge.langflow_process import LangflowProcess, free_port
from bridge.simulator.transcripts import load_transcript, sample_names

ROOT = Path(__file__).resolve().parent.parent
OUR_FLOWS = ("objection_coach", "meeting_summary", "ticket_creation")
MINIMAL = "bench_chat_echo"
MODEL_KEY = "offline-bench-key"
TARGET_OVERHEAD_MS = 100.0

BASE_ENV = {
    "LANGFLOW_SSRF_ALLOWED_HOSTS": "127.0.0.1",
    "LANGFLOW_PROVIDER_CREDENTIAL_ALLOWED_HOSTS": "http://127.0.0.1",
    "ANTHROPIC_API_KEY": MODEL_KEY,
}


@dataclass(frozen=True)
class LangflowConfig:
    name: str
    env: dict[str, str]
    bake_model_url: bool
    """Put the model URL into the loaded flows instead of a per-run tweak (runs without tweaks can use the warm
    graph registry)."""
    note: str
    hide_empty_text_fields: bool = False
    """Mark the flows' empty text fields `show: false`: Langflow's warm graph registry serves a flow only when no
    field could receive an auto-bound global variable (a visible, empty text field), and ours have several
    (Chat Input's session_id and context_id, ...). Their values stay empty, so runs behave the same."""
    components_rev: str | None = None
    """Build the flows from the component files of this git revision (`--before-rev`) instead of the working tree."""


CONFIGS = {
    "default": LangflowConfig(
        "default", {}, False,
        "Langflow as started by bridge.langflow_process (telemetry off, INFO logs); the model URL as a run tweak, "
        "as the tests and `BRIDGE_LANGFLOW_TWEAKS` pass it."),
    "tuned": LangflowConfig(
        "tuned",
        {
            "LANGFLOW_TRANSACTIONS_STORAGE_ENABLED": "false",  # no transaction rows per component run
            "LANGFLOW_VERTEX_BUILDS_STORAGE_ENABLED": "false",  # no vertex_build rows (UI run history)
            "LANGFLOW_DEACTIVATE_TRACING": "true",
            "LANGFLOW_DISABLE_TRACK_APIKEY_USAGE": "true",  # no api_key row update per request
            "LANGFLOW_WARM_REGISTRY_ENABLED": "true",  # reuse a pre-built graph for runs without tweaks
            "LANGFLOW_LOG_LEVEL": "warning",
        },
        True,
        "transactions, vertex builds, tracing and API-key usage tracking off, warm graph registry on, WARNING "
        "logs; the model URL baked into the loaded flows so runs carry no tweaks."),
}


def ca_directory() -> str | None:
    """A hashed CA directory for OpenSSL (`capath`): `SSL_CERT_DIR` if set, else OpenSSL's default one."""
    for candidate in (os.environ.get("SSL_CERT_DIR"), ssl.get_default_verify_paths().openssl_capath,
                      "/etc/ssl/certs"):
        if candidate and Path(candidate).is_dir():
            return candidate
    return None


# httpx builds an SSL context for every client (`httpx._config.create_ssl_context`): from `SSL_CERT_FILE` when set,
# else `SSL_CERT_DIR`, else certifi's bundle. A file means parsing every CA certificate (~15-45 ms here) per
# context; a directory is looked up lazily (<1 ms). Langflow builds two such clients (sync and async) for the model
# node on every run when its base URL is not the provider's own (`provider_httpx_clients`), as in this benchmark.
FAST_SSL_ENV = {"SSL_CERT_FILE": "", "SSL_CERT_DIR": ca_directory() or ""}

CONFIGS["fast"] = LangflowConfig(
    "fast", {**CONFIGS["tuned"].env, **FAST_SSL_ENV}, True,
    "tuned, plus SSL_CERT_FILE unset and SSL_CERT_DIR set to the system's hashed CA directory, so the httpx "
    "clients Langflow builds for the model on every run load no CA bundle.")
CONFIGS["before"] = LangflowConfig(
    "before", CONFIGS["tuned"].env, True,
    "tuned, with the flows built from the component files of `--before-rev` (the state before the changes "
    "measured here).", components_rev="HEAD")
CONFIGS["warm"] = LangflowConfig(
    "warm", CONFIGS["tuned"].env, True,
    "tuned, plus the flows' empty text fields hidden (show: false) so the warm graph registry can serve them.",
    hide_empty_text_fields=True)


# -- the flows ---------------------------------------------------------------------------------------------------


def _handle(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":")).replace('"', "œ")


def minimal_flow(template_flow: dict[str, Any]) -> dict[str, Any]:
    """Chat Input -> Chat Output, with the same node templates (and message-storage settings) as our flows."""
    nodes = {n["id"]: n for n in template_flow["data"]["nodes"]}
    chat_in = copy.deepcopy(nodes[NODE_IDS["chat_input"]])
    chat_out = copy.deepcopy(nodes[NODE_IDS["chat_output"]])
    chat_in["id"] = chat_in["data"]["id"] = "ChatInput-bench"
    chat_out["id"] = chat_out["data"]["id"] = "ChatOutput-bench"
    chat_out["position"] = {"x": 400, "y": 0}
    source = {"dataType": "ChatInput", "id": chat_in["id"], "name": "message", "output_types": ["Message"]}
    target_field = chat_out["data"]["node"]["template"]["input_value"]
    target = {"fieldName": "input_value", "id": chat_out["id"], "inputTypes": target_field["input_types"],
              "type": target_field["type"]}
    edge = {"id": f"reactflow__edge-{chat_in['id']}{_handle(source)}-{chat_out['id']}{_handle(target)}",
            "source": chat_in["id"], "target": chat_out["id"], "sourceHandle": _handle(source),
            "targetHandle": _handle(target), "data": {"sourceHandle": source, "targetHandle": target},
            "animated": False, "className": "", "selected": False}
    return {"id": "6a0c5d1e-0b5e-4c36-9d1f-7f9e0b1e2c01", "name": "Bench: Chat echo",
            "description": "Chat Input -> Chat Output (benchmark baseline).", "endpoint_name": MINIMAL,
            "data": {"nodes": [chat_in, chat_out], "edges": [edge], "viewport": {"x": 0, "y": 0, "zoom": 1}}}


def hide_empty_text_fields(flow: dict[str, Any]) -> int:
    """`show: false` on every field Langflow's warm registry treats as a possible global-variable target."""
    from langflow.api.global_variable_fields import is_global_variable_eligible_field

    hidden = 0
    for node in flow["data"]["nodes"]:
        for name, spec in node["data"]["node"]["template"].items():
            eligible = is_global_variable_eligible_field(spec) and isinstance(spec.get("display_name"), str)
            if name != "_type" and eligible:
                spec["show"] = False
                hidden += 1
    return hidden


def components_at(rev: str, into: Path) -> Path:
    """The component files as they are in git revision `rev` (read with `git show`; nothing in the checkout changes)."""
    into.mkdir(parents=True, exist_ok=True)
    for name in COMPONENT_FILES.values():
        source = subprocess.run(["git", "show", f"{rev}:components/zoom_rtms/{name}"], cwd=ROOT, check=True,
                                capture_output=True).stdout
        (into / name).write_bytes(source)
    return into


def flows_dir(into: Path, model_url: str | None, *, hide_fields: bool = False,
              components_dir: Path | None = None) -> Path:
    """Our three flows (built from the component sources, or those in `components_dir`) plus the minimal one, as
    files for Langflow to load."""
    flows = build_flows(components_dir)
    flows[MINIMAL] = minimal_flow(flows["objection_coach"])
    if hide_fields:
        for flow in flows.values():
            hide_empty_text_fields(flow)
    if model_url is not None:
        for flow in flows.values():
            for node in flow["data"]["nodes"]:
                if node["id"] == NODE_IDS["model"]:
                    node["data"]["node"]["template"]["base_url"]["value"] = model_url
    into.mkdir(parents=True, exist_ok=True)
    for name, flow in flows.items():
        (into / f"{name}.json").write_text(json.dumps(flow), encoding="utf-8")
    return into


async def sample_windows(limit_per_flow: int) -> dict[str, list[str]]:
    """Real windows (JSON) the window engine cuts from the bundled samples, per flow."""
    out: dict[str, list[str]] = {flow: [] for flow in OUR_FLOWS}
    for name in sample_names():
        result = await replay(load_transcript(name), meeting_id=f"bench-{name}")
        for sent in result.windows:
            out[sent.flow].append(sent.draft.payload)
    return {flow: payloads[:limit_per_flow] for flow, payloads in out.items()}


# -- processes ---------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def model_process(workdir: Path, *extra: str) -> Any:
    """The offline model with the request recorder in its own process (`extra`: more `bench.llm_recorder` flags)."""
    port = free_port()
    log = (workdir / "llm.log").open("wb")
    command = [sys.executable, "-m", "bench.llm_recorder", "--port", str(port), "--keep", "400", *extra]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log, stdin=subprocess.DEVNULL)  # noqa: ASYNC220
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=30,
                                     headers={"x-api-key": MODEL_KEY}) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/stats")).status_code == 200:
                        break
                if proc.poll() is not None:
                    raise RuntimeError(f"the model process exited ({proc.returncode})")
                await asyncio.sleep(0.1)
            yield url, client
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, 10)
        if proc.poll() is None:
            proc.kill()
        log.close()


# -- measuring ---------------------------------------------------------------------------------------------------


def first_text(response: dict[str, Any]) -> str | None:
    try:
        results = response["outputs"][0]["outputs"][0]["results"]
        text = results["message"]["text"]
    except (KeyError, IndexError, TypeError):
        return None
    return text if isinstance(text, str) else None


@dataclass
class FlowFigures:
    runs: list[float] = field(default_factory=list)
    failures: int = 0
    bad_answers: int = 0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    direct: list[float] = field(default_factory=list)


@dataclass
class Target:
    """One running Langflow configuration."""

    cfg: LangflowConfig
    lf: LangflowProcess
    client: httpx.AsyncClient
    tweaks: dict[str, Any]


async def run_once(target: Target, flow: str, window: str, figures: FlowFigures, *, record: bool) -> None:
    body: dict[str, Any] = {"input_value": window, "session_id": f"bench-stream:{flow}"}
    if target.tweaks and flow != MINIMAL:
        body["tweaks"] = target.tweaks
    start = time.perf_counter()
    try:
        response = await target.client.post(f"/api/v1/run/{flow}", json=body)
    except httpx.HTTPError:
        figures.failures += 1
        return
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        figures.failures += 1
        if figures.failures <= 3:
            print(f"   {target.cfg.name} {flow}: HTTP {response.status_code}: {response.text[:300]}", flush=True)
        return
    if record:
        figures.runs.append(elapsed)
    if flow != MINIMAL:
        try:
            parse_insights(first_text(response.json()) or "")
        except ValueError:
            figures.bad_answers += 1


async def run_flow(targets: list[Target], llm: httpx.AsyncClient, flow: str, inputs: list[str], *, warmup: int,
                   runs: int) -> tuple[dict[str, FlowFigures], list[float]]:
    """The configurations take turns run by run (the order rotating), so load that comes and goes on a shared
    machine weighs on each alike; then the model alone with the requests the components sent."""
    figures = {t.cfg.name: FlowFigures() for t in targets}
    for i in range(warmup):
        for t in targets:
            await run_once(t, flow, inputs[i % len(inputs)], figures[t.cfg.name], record=False)
    await llm.post("/stats/reset")
    await llm.post("/bench/reset")
    for i in range(runs):
        for k in range(len(targets)):
            t = targets[(i + k) % len(targets)]
            await run_once(t, flow, inputs[(warmup + i) % len(inputs)], figures[t.cfg.name], record=True)
    stats = (await llm.get("/stats")).json()
    for f in figures.values():  # every configuration runs the same flows on the same windows
        f.model_calls = stats["calls"] // len(targets)
        f.input_tokens = stats["input_tokens"] // len(targets)
        f.output_tokens = stats["output_tokens"] // len(targets)
    direct: list[float] = []
    if flow != MINIMAL:
        recorded = [body for bodies in (await llm.get("/bench/requests")).json().values() for body in bodies]
        for i in range(runs if recorded else 0):
            start = time.perf_counter()
            response = await llm.post("/v1/messages", json=recorded[i % len(recorded)])
            if response.status_code == 200:
                direct.append(time.perf_counter() - start)
    for f in figures.values():
        f.direct = direct
    return figures, direct


def flow_row(flow: str, f: FlowFigures, runs: int) -> dict[str, Any]:
    run = summary_ms(f.runs)
    direct = summary_ms(f.direct)
    calls_per_run = f.model_calls / runs if runs else 0.0
    overhead = None
    if run["p50_ms"] is not None:
        overhead = run["p50_ms"] - (direct["p50_ms"] or 0.0) * calls_per_run
    return {"flow": flow, "run": run, "direct_model": direct, "model_calls_per_run": round(calls_per_run, 2),
            "input_tokens_per_run": round(f.input_tokens / runs, 1) if runs else None,
            "output_tokens_per_run": round(f.output_tokens / runs, 1) if runs else None,
            "overhead_p50_ms": None if overhead is None else round(overhead, 2),
            "failures": f.failures, "bad_answers": f.bad_answers}


def start_langflow(cfg: LangflowConfig, work: Path, model_url: str) -> LangflowProcess:
    """Spawn Langflow with the flows auto-loaded at start-up (`LANGFLOW_LOAD_FLOWS_PATH`): `push_flows` (PUT
    /api/v1/flows/{id}) is refused by Langflow 1.13 for our fixed uuid5 flow ids ("UUID5 flow IDs are reserved for
    public execution histories"), while the auto-load keeps them."""
    components = None if cfg.components_rev is None else components_at(cfg.components_rev,
                                                                        work / f"components-{cfg.name}")
    flows = flows_dir(work / f"flows-{cfg.name}", model_url if cfg.bake_model_url else None,
                      hide_fields=cfg.hide_empty_text_fields, components_dir=components)
    lf = LangflowProcess(workdir=work / cfg.name,
                         env_overrides={**BASE_ENV, **cfg.env, "LANGFLOW_LOAD_FLOWS_PATH": str(flows)})
    print(f"== {cfg.name}: starting Langflow ({lf.workdir})", flush=True)
    lf.spawn()
    return lf


async def measure(configs: list[LangflowConfig], work: Path, model_url: str, llm: httpx.AsyncClient,
                  windows: dict[str, list[str]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Start one Langflow per configuration (together), then measure each flow on all of them in turns."""
    servers = [start_langflow(cfg, work, model_url) for cfg in configs]
    async with contextlib.AsyncExitStack() as stack:
        for lf in servers:
            stack.callback(lf.stop)
        await asyncio.gather(*(lf.wait_ready_async(timeout_s=900) for lf in servers))
        print("   ready: " + ", ".join(f"{c.name} in {lf.startup_s:.0f} s" for c, lf in zip(configs, servers,
                                                                                         strict=True)), flush=True)
        targets = []
        for cfg, lf in zip(configs, servers, strict=True):
            client = await stack.enter_async_context(httpx.AsyncClient(
                base_url=lf.base_url, headers={"x-api-key": lf.api_key}, timeout=120, trust_env=False))
            tweaks = {} if cfg.bake_model_url else {NODE_IDS["model"]: {"base_url": model_url}}
            targets.append(Target(cfg, lf, client, tweaks))
        rows: dict[str, list[dict[str, Any]]] = {cfg.name: [] for cfg in configs}
        for flow in (MINIMAL, *OUR_FLOWS):
            inputs = windows[OUR_FLOWS[0]] if flow == MINIMAL else windows[flow]
            figures, _ = await run_flow(targets, llm, flow, inputs, warmup=args.warmup, runs=args.runs)
            for cfg in configs:
                row = flow_row(flow, figures[cfg.name], args.runs)
                rows[cfg.name].append(row)
                print(f"   {cfg.name} {flow}: run p50 {row['run']['p50_ms']} ms p95 {row['run']['p95_ms']} ms; model "
                      f"direct p50 {row['direct_model']['p50_ms']} ms x {row['model_calls_per_run']} calls; overhead "
                      f"p50 {row['overhead_p50_ms']} ms; failures {row['failures']}, bad answers "
                      f"{row['bad_answers']}", flush=True)
        return [{"config": cfg.name, "note": cfg.note, "env": cfg.env, "model_url_as_tweak": not cfg.bake_model_url,
                 "empty_text_fields_hidden": cfg.hide_empty_text_fields,
                 "components": f"git {cfg.components_rev}" if cfg.components_rev else "working tree",
                 "startup_s": round(lf.startup_s, 1),
                 "langflow_rss_mb": _tree_rss(lf.pid), "flows": rows[cfg.name]}
                for cfg, lf in zip(configs, servers, strict=True)]


def _tree_rss(pid: int | None) -> float | None:
    if pid is None:
        return None
    import psutil

    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        return round(total / 2**20, 1)
    return None


def verdicts(configs: list[dict[str, Any]]) -> list[str]:
    lines = []
    for cfg in configs:
        for row in cfg["flows"]:
            if row["flow"] == MINIMAL:
                continue
            over = row["overhead_p50_ms"]
            ok = over is not None and over < TARGET_OVERHEAD_MS and row["failures"] == 0
            lines.append(f"{'PASS' if ok else 'FAIL'}: {cfg['config']}: {row['flow']} adds {over} ms p50 beyond the "
                         f"model's own time (target < {TARGET_OVERHEAD_MS:g} ms)")
    return lines


def markdown(m: dict[str, Any], configs: list[dict[str, Any]], lines: list[str], runs: int) -> str:
    flows = [row["flow"] for row in configs[0]["flows"]] if configs else []
    headers = ["flow"]
    for cfg in configs:
        headers += [f"{cfg['config']} p50 ms", f"{cfg['config']} p95 ms", f"{cfg['config']} overhead p50 ms"]
    headers += ["model direct p50 ms", "model calls/run"]
    rows = []
    for flow in flows:
        row: list[object] = [flow]
        direct: object = None
        calls: object = None
        for cfg in configs:
            r = next(x for x in cfg["flows"] if x["flow"] == flow)
            row += [r["run"]["p50_ms"], r["run"]["p95_ms"], r["overhead_p50_ms"]]
            direct, calls = r["direct_model"]["p50_ms"], r["model_calls_per_run"]
        rows.append([*row, direct, calls])
    notes = "\n".join(f"- `{c['config']}`: {c['note']} Components: {c['components']}. Start-up {c['startup_s']} s, "
                      f"RSS {c['langflow_rss_mb']} MB." for c in configs)
    return ("# Langflow's overhead\n\n" + machine_markdown(m)
            + f"\n{runs} runs per flow and configuration after warm-up, one at a time, the configurations in turns."
            "\n\n" + table(headers, rows) + "\n" + notes + "\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")


async def main_async(args: argparse.Namespace) -> int:
    m = machine()
    work = Path(tempfile.mkdtemp(prefix="bench-langflow-"))
    try:
        windows = await sample_windows(400)
        print("windows per flow: " + ", ".join(f"{k} {len(v)}" for k, v in windows.items()), flush=True)
        async with model_process(work) as (model_url, llm):
            configs = await measure([CONFIGS[name] for name in args.configs], work, model_url, llm, windows, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    lines = verdicts(configs)
    print("\n" + "\n".join(lines))
    data = {"benchmark": "langflow_overhead", "machine": m, "load_average_at_end": list(os.getloadavg()),
            "settings": {"runs": args.runs, "warmup": args.warmup, "model_latency_ms": 0,
                         "windows": {k: len(v) for k, v in windows.items()},
                         "overhead": "flow p50 - direct model p50 x model calls per run"},
            "configs": configs, "targets": lines}
    json_path, md_path = write_results(args.output, data, markdown(m, configs, lines, args.runs))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.langflow_overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200,
                        help="measured runs per flow and configuration (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="runs per flow before measuring (default 20)")
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS),
                        default=["default", "before", "tuned", "fast"],
                        help="Langflow configurations, measured side by side in turns (default: default before "
                        "tuned fast)")
    parser.add_argument("--before-rev", default="HEAD",
                        help="git revision whose component files the `before` configuration runs (default HEAD)")
    parser.add_argument("--keep", action="store_true", help="keep the Langflow work directories (logs)")
    parser.add_argument("--output", default="langflow_overhead", help="results file name in bench/results/")
    args = parser.parse_args()
    rev = subprocess.run(["git", "rev-parse", "--short", args.before_rev], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    CONFIGS["before"] = dataclasses.replace(CONFIGS["before"], components_rev=rev)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())

