"""Options, signal handling and exit status of `rtms-langflow demo`.

Exit status: 0 when the meeting was replayed and processed (also after Ctrl-C once it was), 1 when something failed
(Langflow did not start, a port is busy, windows failed), 2 for bad options, 128 + the signal (130 for Ctrl-C, 143
for SIGTERM) when stopped before the end.
Ctrl-C or SIGTERM stops everything in order; a second Ctrl-C kills Langflow at once instead of waiting for it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.simulator.transcripts import TranscriptError, load_transcript, sample_names

if TYPE_CHECKING:  # the session pulls in uvicorn, the store and the simulator: only once options are checked
    from bridge.demo.session import DemoOptions

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):  # also refuses inf and nan
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {text}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the whole product on this machine: a local Langflow 1.13 with the three flows, the bridge, and a "
        "simulated Zoom meeting replayed into it. Insights print as they arrive; the dashboard URL (with its "
        "token) shows them live. Without ANTHROPIC_API_KEY the flows use a local offline rule-based model server; "
        "with it, Claude."
    )
    parser.epilog = (
        "Everything listens on 127.0.0.1 only. The data directory keeps Langflow's database and the bridge's store "
        "between runs, so the second run starts faster; delete it to start afresh. Ctrl-C stops everything."
    )
    add = parser.add_argument
    add("action", nargs="?", choices=["run", "replay"], default="run",
        help="run (default): start the demo; replay: make the demo running on --data-dir play another meeting "
        "(--transcript), e.g. after editing a flow")
    add("--transcript", default="sales", metavar="NAME|PATH",
        help=f"the meeting to replay: a bundled sample ({', '.join(sample_names())}) or a .jsonl, .vtt, .srt or "
        "AMI .json file (default: %(default)s, the sales discovery call)")
    add("--speed", type=_positive_float, default=4.0, metavar="N",
        help="replay N times faster than real time (default: %(default)s: the 14-minute sales call takes about "
        "3.5 minutes)")
    add("--data-dir", type=Path, default=Path(".rtms-demo"), metavar="DIR",
        help="where Langflow's database, the bridge's store and the logs are kept (default: %(default)s)")
    add("--port", type=_port, default=0, metavar="PORT",
        help="the bridge's (and dashboard's) port on 127.0.0.1 (default: 0, any free port)")
    add("--langflow-port", type=_port, default=0, metavar="PORT",
        help="Langflow's port on 127.0.0.1 (default: 0, any free port)")
    add("--exit-when-done", action="store_true",
        help="stop once the meeting is over and summarized, instead of serving the dashboard until Ctrl-C")
    add("--flows-config", type=Path, default=None, metavar="TOML",
        help="the flows configuration (triggers, tweaks) instead of the bundled one")
    add("--langflow-timeout", type=_positive_float, default=300.0, metavar="S",
        help="how long Langflow may take to start (default: %(default)s)")
    add("--settle-timeout", type=_positive_float, default=180.0, metavar="S",
        help="how long to wait after the meeting for its last windows (default: %(default)s)")
    add("--force-flows", action="store_true",
        help="replace flows edited in the demo's Langflow with the bundled ones (each edited flow is saved to "
        "DATA_DIR/flow-backups/ first); without it an edited flow is kept and the demo says so")
    add("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level on the terminal; the data directory's demo.log gets INFO and up (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    if args.action == "replay":
        return _ask_replay(args)
    try:
        transcript = load_transcript(args.transcript)
    except TranscriptError as exc:
        print(f"rtms-langflow demo: --transcript: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not transcript.utterances:
        print(f"rtms-langflow demo: --transcript {args.transcript}: no utterances", file=sys.stderr)
        return EXIT_USAGE
    from bridge.demo.session import DemoOptions

    options = DemoOptions(
        transcript=transcript, transcript_name=str(args.transcript), speed=args.speed, data_dir=args.data_dir,
        port=args.port, langflow_port=args.langflow_port, exit_when_done=args.exit_when_done,
        langflow_timeout_s=args.langflow_timeout, settle_timeout_s=args.settle_timeout,
        anthropic_api_key=os.environ.get("ANTHROPIC_API_KEY", "").strip() or None, flows_config=args.flows_config,
        log_level=args.log_level, force_flows=args.force_flows,
    )
    return asyncio.run(_main(options))


def _ask_replay(args: argparse.Namespace) -> int:
    """`demo replay`: ask the demo running on --data-dir to play --transcript next."""
    import httpx

    from bridge.demo.datadir import DemoDir

    running = DemoDir(args.data_dir).running()
    if running is None:
        print(f"rtms-langflow demo replay: no demo is running on {args.data_dir} (start one with `rtms-langflow "
              "demo`, or pass its --data-dir)", file=sys.stderr)
        return EXIT_FAILED
    name = args.transcript
    if name not in sample_names() and Path(name).exists():
        name = str(Path(name).resolve())  # the demo may run in another directory
    try:
        response = httpx.post(f"{running.bridge_url}/api/demo/replay", json={"transcript": name}, timeout=30,
                              headers={"Authorization": f"Bearer {running.api_token}"}, trust_env=False)
    except httpx.HTTPError as exc:
        print(f"rtms-langflow demo replay: cannot reach the demo at {running.bridge_url}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if response.status_code != 202:
        detail = response.json().get("detail") if "json" in response.headers.get("content-type", "") else ""
        print(f"rtms-langflow demo replay: the demo refused (HTTP {response.status_code}): {detail or response.text}",
              file=sys.stderr)
        return EXIT_USAGE if response.status_code == 422 else EXIT_FAILED
    answer = response.json()
    print(f"Queued {answer['title']!r} in the demo on {args.data_dir}; its insights print in the demo's terminal and "
          "show on the dashboard.")
    return EXIT_OK


async def _main(options: DemoOptions) -> int:
    from bridge.demo.console import Console
    from bridge.demo.datadir import DataDirBusy
    from bridge.demo.session import DemoError, DemoSession

    console = Console()
    session = DemoSession(options, console)
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            console.line(f"\n{signal.Signals(signum).name}: stopping everything (Ctrl-C again to kill Langflow "
                         "at once)…")
            task.cancel()
        else:
            console.line("Killing Langflow now…")
            session.force_stop()

    handled = (signal.SIGINT, signal.SIGTERM)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        status = await session.run()
    except asyncio.CancelledError:
        if not received:
            raise
        task.uncancel()
        status = EXIT_OK if session.finished else 128 + received[0]
    except (DemoError, DataDirBusy) as exc:
        console.line(f"rtms-langflow demo: {exc}")
        status = EXIT_FAILED
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    console.line("Stopped: nothing of the demo is left running.")
    return status
