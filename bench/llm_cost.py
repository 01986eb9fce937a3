"""LLM cost per meeting hour: the bridge's windowing against the public samples' strategy, on the same meetings.

Ours: each meeting is replayed through the bridge's window engine (`bridge.pipeline.windowing`, the bundled
flows.toml; `bench.replay`: lines arrive at their end time, a fixed model latency on a virtual clock) and every
window is run through a real Langflow 1.13 with our three flows, the model being the offline one
(`bench.llm_recorder` around `bridge.offline_llm`), whose `/stats` counts calls and input/output tokens. Answers are
folded into the next windows as the pipeline does, and the planted objections and tickets of the bundled samples
(`*.expected.json`) are looked for in what the flows answered.

Baseline (what the public RTMS + LLM samples do): every transcript line triggers one call carrying the last 10
lines joined by spaces, without speaker names, sent to the same offline model's Messages API.

Meetings: the three bundled samples, the four AMI meetings of /work/shared/data/qmsum-ami/ (when present; real
meetings, no planted items) and an hour-long meeting made by joining the samples and ES2004a.

    uv run --no-sync python -m bench.llm_cost                    # everything (about 2,000 Langflow runs)
    uv run --no-sync python -m bench.llm_cost --no-ami           # samples and the joined hour only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import machine, machine_markdown, table, write_results
from bench.langflow_overhead import CONFIGS, MODEL_KEY, first_text, model_process, start_langflow
from bench.replay import AnyInsights, Replay, joined, replay
from bridge.contracts import ObjectionInsights, TicketInsights, parse_insights
from bridge.pipeline.windowing import WindowDraft
from bridge.simulator.expected import ExpectedItems, load_expected
from bridge.simulator.transcripts import Transcript, load_transcript, sample_names

AMI_DIR = Path("/work/shared/data/qmsum-ami")
BASELINE_LINES = 10
BASELINE_SYSTEM = ("You are a meeting assistant. Read the latest part of the meeting transcript and point out any "
                   "customer objection with a suggested reply, any action item or ticket, and summarise briefly.")
TARGET_RATIO = 10.0
TARGET_ALERT_S = 3.0


@dataclass
class Meeting:
    name: str
    transcript: Transcript
    expected: list[ExpectedItems] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return self.transcript.duration_ms / 3_600_000


def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def quoted(expected: str, found: str) -> bool:
    """The same loose quote match as the flow tests: one normalised text inside the other."""
    a, b = norm(expected), norm(found)
    return bool(a and b) and (a in b or b in a)


def meetings(with_ami: bool) -> list[Meeting]:
    out = [Meeting(name, load_transcript(name), [load_expected(name)]) for name in sample_names()]
    ami = sorted(AMI_DIR.glob("ES2004*.json")) if AMI_DIR.is_dir() else []
    if with_ami:
        out += [Meeting(f"AMI {p.stem}", load_transcript(p)) for p in ami]
    parts = [m.transcript for m in out[:3]] + [load_transcript(p) for p in ami[:1]]
    out.append(Meeting("joined hour (3 samples" + (" + AMI ES2004a)" if ami else ")"), joined(parts),
                       [e for m in out[:3] for e in m.expected]))
    return out


# -- the two strategies ------------------------------------------------------------------------------------------


CUE_GATE_TWEAK = {"RTMSObjectionDetector-zrtms": {"ask_only_on_cue": True}}


class LangflowAnswers:
    def __init__(self, client: httpx.AsyncClient, meeting_id: str,
                 tweaks: dict[str, dict[str, Any]] | None = None) -> None:
        self.client = client
        self.meeting_id = meeting_id
        self.tweaks = tweaks or {}
        self.runs = 0
        self.failures = 0
        self.run_s = 0.0

    async def __call__(self, flow: str, draft: WindowDraft) -> AnyInsights | None:
        body: dict[str, Any] = {"input_value": draft.payload, "session_id": f"{self.meeting_id}:{flow}"}
        if flow == "objection_coach" and self.tweaks:
            body["tweaks"] = self.tweaks
        start = time.perf_counter()
        self.runs += 1
        try:
            response = await self.client.post(f"/api/v1/run/{flow}", json=body)
            response.raise_for_status()
            return parse_insights(first_text(response.json()) or "")
        except (httpx.HTTPError, ValueError):
            self.failures += 1
            return None
        finally:
            self.run_s += time.perf_counter() - start


async def baseline(llm: httpx.AsyncClient, transcript: Transcript) -> int:
    """One call per line with the last 10 lines as plain text; returns the failed calls."""
    failed = 0
    texts = [u.text for u in transcript.utterances]
    for i in range(len(texts)):
        prompt = " ".join(texts[max(0, i + 1 - BASELINE_LINES): i + 1])
        body = {"model": "claude-haiku-4-5-20251001", "max_tokens": 1024, "system": BASELINE_SYSTEM,
                "messages": [{"role": "user", "content": prompt}]}
        response = await llm.post("/v1/messages", json=body)
        failed += response.status_code != 200
    return failed


# -- judging -----------------------------------------------------------------------------------------------------


def planted(meeting: Meeting, result: Replay, latency_ms: int) -> dict[str, Any]:
    """Which planted objections and tickets the flows reported, and each objection's utterance -> alert delay."""
    if not meeting.expected:
        return {}
    objections_found: list[dict[str, Any]] = []
    missing_objections: list[str] = []
    for expected in meeting.expected:
        for item in expected.objections:
            spoken = meeting.transcript.find(item.quote)
            hit = next((w for w in result.by_flow("objection_coach")
                        if isinstance(w.insights, ObjectionInsights)
                        and any(quoted(item.quote, o.quote) and o.category == item.category
                                for o in w.insights.objections)), None)
            if hit is None or spoken is None:
                missing_objections.append(f"{expected.sample}: {item.category}: {item.quote[:60]}")
                continue
            objections_found.append({"sample": expected.sample, "category": item.category,
                                     "delay_ms": hit.done_ms - spoken.end_ms,
                                     "wait_ms": hit.done_ms - spoken.end_ms - latency_ms})
    tickets = [t for w in result.by_flow("ticket_creation") if isinstance(w.insights, TicketInsights)
               for t in w.insights.tickets]
    missing_tickets = [f"{e.sample}: {t.kind}: {t.quote[:60]}" for e in meeting.expected for t in e.tickets
                       if not any(quoted(t.quote, found.quote) for found in tickets)]
    planted_objections = sum(len(e.objections) for e in meeting.expected)
    planted_tickets = sum(len(e.tickets) for e in meeting.expected)
    delays = sorted(o["delay_ms"] for o in objections_found)
    return {"objections_planted": planted_objections, "objections_found": len(objections_found),
            "tickets_planted": planted_tickets, "tickets_found": planted_tickets - len(missing_tickets),
            "missing_objections": missing_objections, "missing_tickets": missing_tickets,
            "alert_delay_ms": {"median": delays[len(delays) // 2] if delays else None,
                               "max": delays[-1] if delays else None},
            "objection_delays": objections_found}


def per_hour(value: float, hours: float) -> float:
    return round(value / hours, 1) if hours else 0.0


async def measure(meeting: Meeting, lf: httpx.AsyncClient, llm: httpx.AsyncClient,
                  args: argparse.Namespace) -> dict[str, Any]:
    await llm.post("/stats/reset")
    answers = LangflowAnswers(lf, f"bench-{norm(meeting.name).replace(' ', '-')}",
                              CUE_GATE_TWEAK if args.cue_gate else None)
    started = time.monotonic()
    result = await replay(meeting.transcript, answers, latency_ms=args.latency_ms, meeting_id=answers.meeting_id)
    ours = (await llm.get("/stats")).json()
    ours_wall = time.monotonic() - started
    await llm.post("/stats/reset")
    failed = await baseline(llm, meeting.transcript)
    base = (await llm.get("/stats")).json()
    hours = meeting.hours
    row = {
        "meeting": meeting.name,
        "minutes": round(hours * 60, 1),
        "lines": len(meeting.transcript.utterances),
        "ours": {"windows": len(result.windows),
                 "windows_by_flow": {f: len(result.by_flow(f)) for f in
                                     ("objection_coach", "meeting_summary", "ticket_creation")},
                 "calls": ours["calls"], "input_tokens": ours["input_tokens"],
                 "output_tokens": ours["output_tokens"], "by_task": ours["by_task"],
                 "calls_per_hour": per_hour(ours["calls"], hours),
                 "input_tokens_per_hour": per_hour(ours["input_tokens"], hours),
                 "output_tokens_per_hour": per_hour(ours["output_tokens"], hours),
                 "langflow_runs": answers.runs, "langflow_failures": answers.failures,
                 "langflow_mean_run_ms": round(1000 * answers.run_s / answers.runs, 1) if answers.runs else None,
                 "wall_s": round(ours_wall, 1)},
        "baseline": {"calls": base["calls"], "input_tokens": base["input_tokens"],
                     "output_tokens": base["output_tokens"], "failed": failed,
                     "calls_per_hour": per_hour(base["calls"], hours),
                     "input_tokens_per_hour": per_hour(base["input_tokens"], hours),
                     "output_tokens_per_hour": per_hour(base["output_tokens"], hours),
                     "alert_delay_ms": args.latency_ms},
    }
    row["ratio_calls"] = round(base["calls"] / ours["calls"], 2) if ours["calls"] else None
    row["ratio_input_tokens"] = round(base["input_tokens"] / ours["input_tokens"], 2) if ours["input_tokens"] else None
    row["planted"] = planted(meeting, result, args.latency_ms)
    return row


def verdicts(rows: list[dict[str, Any]], latency_ms: int) -> list[str]:
    lines = []
    total_ours = sum(r["ours"]["calls"] for r in rows)
    total_base = sum(r["baseline"]["calls"] for r in rows)
    tok_ours = sum(r["ours"]["input_tokens"] for r in rows)
    tok_base = sum(r["baseline"]["input_tokens"] for r in rows)
    calls_ratio = total_base / total_ours if total_ours else 0.0
    tokens_ratio = tok_base / tok_ours if tok_ours else 0.0
    lines.append(f"{'PASS' if calls_ratio >= TARGET_RATIO else 'FAIL'}: calls {calls_ratio:.2f}x fewer than the "
                 f"baseline over all meetings (target >= {TARGET_RATIO:g}x)")
    lines.append(f"{'PASS' if tokens_ratio >= TARGET_RATIO else 'FAIL'}: input tokens {tokens_ratio:.2f}x fewer than "
                 f"the baseline over all meetings (target >= {TARGET_RATIO:g}x)")
    judged = [r for r in rows if r["planted"]]
    planted_o = sum(r["planted"]["objections_planted"] for r in judged)
    found_o = sum(r["planted"]["objections_found"] for r in judged)
    lines.append(f"{'PASS' if planted_o and found_o == planted_o else 'FAIL'}: planted objections found "
                 f"{found_o}/{planted_o}")
    planted_t = sum(r["planted"]["tickets_planted"] for r in judged)
    found_t = sum(r["planted"]["tickets_found"] for r in judged)
    lines.append(f"{'PASS' if found_t == planted_t else 'FAIL'}: planted tickets found {found_t}/{planted_t} "
                 "(informational: the issue's target names objections)")
    delays = [d["delay_ms"] for r in judged for d in r["planted"]["objection_delays"]]
    limit = TARGET_ALERT_S * 1000 + latency_ms
    worst = max(delays) if delays else None
    lines.append(f"{'PASS' if delays and worst is not None and worst <= limit else 'FAIL'}: objection alerts within "
                 f"{TARGET_ALERT_S:g} s + model latency ({latency_ms} ms): worst {worst} ms over {len(delays)} "
                 "alerts (Langflow's own overhead not included)")
    return lines


def markdown(m: dict[str, Any], rows: list[dict[str, Any]], lines: list[str], args: argparse.Namespace) -> str:
    table_rows = []
    for r in rows:
        o, b, p = r["ours"], r["baseline"], r["planted"]
        found = (f"{p['objections_found']}/{p['objections_planted']}, {p['tickets_found']}/{p['tickets_planted']}"
                 if p else "-")
        delay = f"{p['alert_delay_ms']['median']} / {p['alert_delay_ms']['max']}" if p else "-"
        table_rows.append([r["meeting"], r["minutes"], o["calls_per_hour"], b["calls_per_hour"], r["ratio_calls"],
                           o["input_tokens_per_hour"], b["input_tokens_per_hour"], r["ratio_input_tokens"],
                           o["output_tokens_per_hour"], b["output_tokens_per_hour"], found, delay])
    headers = ["meeting", "min", "ours calls/h", "baseline calls/h", "calls ratio", "ours in tok/h",
               "baseline in tok/h", "in-token ratio", "ours out tok/h", "baseline out tok/h",
               "objections, tickets found", "alert delay ms median / max"]
    return ("# LLM cost per meeting hour\n\n" + machine_markdown(m)
            + "\nOurs: bundled flows.toml windows through Langflow (tuned settings) to the offline model; baseline: "
              f"one call per line with the last {BASELINE_LINES} lines as plain text. Model latency for the delays: "
              f"{args.latency_ms} ms (virtual clock; alert delay = utterance end -> answer).\n\n"
            + table(headers, table_rows) + "\n" + "\n".join(f"- {line}" for line in lines) + "\n")


async def main_async(args: argparse.Namespace) -> int:
    m = machine()
    chosen = meetings(args.ami)
    work = Path(tempfile.mkdtemp(prefix="bench-llm-cost-"))
    rows = []
    try:
        async with model_process(work) as (model_url, llm):
            lf = start_langflow(CONFIGS["tuned"], work, model_url)
            try:
                await lf.wait_ready_async(timeout_s=900)
                async with httpx.AsyncClient(base_url=lf.base_url, headers={"x-api-key": lf.api_key}, timeout=120,
                                             trust_env=False) as client:
                    for meeting in chosen:
                        row = await measure(meeting, client, llm, args)
                        rows.append(row)
                        o, b, p = row["ours"], row["baseline"], row["planted"]
                        print(f"{meeting.name} ({row['minutes']} min): ours {o['calls']} calls, {o['input_tokens']} "
                              f"in / {o['output_tokens']} out tokens ({o['langflow_failures']} failed runs); baseline "
                              f"{b['calls']} calls, {b['input_tokens']} in / {b['output_tokens']} out; ratios calls "
                              f"{row['ratio_calls']}, input tokens {row['ratio_input_tokens']}"
                              + (f"; objections {p['objections_found']}/{p['objections_planted']}, tickets "
                                 f"{p['tickets_found']}/{p['tickets_planted']}, alert delay median/max "
                                 f"{p['alert_delay_ms']['median']}/{p['alert_delay_ms']['max']} ms" if p else ""),
                              flush=True)
            finally:
                await asyncio.to_thread(lf.stop)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = verdicts(rows, args.latency_ms)
    print("\n" + "\n".join(lines))
    data = {"benchmark": "llm_cost", "machine": m, "load_average_at_end": list(os.getloadavg()),
            "settings": {"model_latency_ms": args.latency_ms, "baseline_lines": BASELINE_LINES,
                         "baseline_system_prompt": BASELINE_SYSTEM, "model": "bridge.offline_llm (rule-based)",
                         "our_path": "window engine -> Langflow /api/v1/run (tuned settings) -> offline model",
                         "model_key": MODEL_KEY, "objection_cue_gate": args.cue_gate},
            "meetings": rows, "targets": lines}
    json_path, md_path = write_results(args.output, data, markdown(m, rows, lines, args))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.llm_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=int, default=800, help="model latency for the delays (default 800)")
    parser.add_argument("--no-ami", dest="ami", action="store_false", help="skip the four AMI meetings")
    parser.add_argument("--cue-gate", action="store_true",
                        help="switch the Objection Detector's `ask_only_on_cue` on (a run tweak; default: off, as "
                             "the bundled flow)")
    parser.add_argument("--output", default="llm_cost", help="results file name in bench/results/")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
