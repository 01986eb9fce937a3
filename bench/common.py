"""What every benchmark shares: the machine's facts, percentiles, a process's CPU and memory, results files."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import resource
import shlex
import sys
from collections.abc import Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results"


def run_main(main: Coroutine[Any, Any, int]) -> int:
    """Run a benchmark's main coroutine on uvloop when it is installed (the loop uvicorn picks for the bridge),
    else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def machine() -> dict[str, Any]:
    """Cores, memory, date, Python and the exact command, plus the load when the run started (other work on a
    shared 2-core machine skews absolute figures: prefer the ratios)."""
    load1, load5, load15 = os.getloadavg()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "command": "uv run --no-sync python -m " + " ".join(shlex.quote(a) for a in [_module(), *sys.argv[1:]]),
        "load_average_at_start": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "cpu_pressure_at_start": _pressure_line(),
    }


def _pressure_line() -> str | None:
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None


def _module() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_pressure_total_us() -> int | None:
    """Linux PSI: microseconds during which some runnable task waited for a CPU (cumulative), or None."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def raise_nofile(wanted: int) -> int:
    """Raise RLIMIT_NOFILE towards `wanted` (up to the hard limit); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(values_s: Iterable[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max in milliseconds of durations given in seconds."""
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": _r(percentile(ms, 50)), "p95_ms": _r(percentile(ms, 95)),
            "p99_ms": _r(percentile(ms, 99)), "max_ms": _r(max(ms) if ms else None)}


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


class ProcessMeter:
    """CPU seconds (user + system) and resident memory of one process (psutil, i.e. /proc/<pid>/stat|status)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)

    def cpu_s(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        return int(self.process.memory_info().rss)


def write_results(name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """`bench/results/<name>.json` (everything) and `<name>.md` (the short table), overwritten each run."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{name}.json"
    md_path = RESULTS / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    return json_path, md_path


def machine_markdown(m: dict[str, Any]) -> str:
    return (f"Machine: {m['cores']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, Python {m['python']}, "
            f"{m['platform']}; {m['date']}; load average at start {m['load_average_at_start']}.\n\n"
            f"Command: `{m['command']}`\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
