"""`rtms-langflow flows`: regenerate the flow JSONs from `components/` (`build`), write them to a running Langflow
server without overwriting edits made there (`push`), or write the flows as they are in Langflow back to JSON files
(`pull`), so the flows a lead edits in the UI start from the component code here and their edits can come back."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from pathlib import Path

from bridge.logs import configure_logging

_SERVER_HELP = "Langflow base URL (default: LANGFLOW_URL or http://127.0.0.1:7860)"


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help=_SERVER_HELP)
    parser.add_argument("--api-key", default=None, help="Langflow API key (default: LANGFLOW_API_KEY)")
    parser.add_argument("--demo-dir", type=Path, default=None, metavar="DIR",
                        help="talk to the Langflow of the demo running on DIR (e.g. .rtms-demo): its URL and API "
                             "key are read from there")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default: 60)")


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="Write flows/*.json from the components' current source.",
                               description="Write flows/*.json from the components' current source.")
    build.add_argument("--out", type=Path, default=Path("flows"), help="directory to write (default: flows)")
    build.add_argument("--components", type=Path, default=None,
                       help="component bundle to embed (default: components/zoom_rtms of this checkout)")
    build.add_argument("--model", default=None, help="Anthropic model name set in the flows' model nodes")

    push = actions.add_parser(
        "push", help="Write the flows to a Langflow server, keeping any flow edited there.",
        description="Write the flows to a Langflow server under their fixed ids. A flow changed in Langflow since "
                    "rtms-langflow last wrote it is kept as it is (and reported) unless --force, which saves it to "
                    "a backup JSON file first.")
    _server_options(push)
    push.add_argument("--flows-dir", type=Path, default=None,
                      help="push these flow JSONs instead of building them from the components")
    push.add_argument("--force", action="store_true",
                      help="also replace flows edited in Langflow (each is saved to a backup file first)")
    push.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                      help="where what was pushed is remembered and backups go (default: the --demo-dir, else "
                           "$XDG_STATE_HOME/rtms-langflow)")

    pull = actions.add_parser(
        "pull", help="Write the flows as they are in Langflow back to JSON files.",
        description="Write the flows as they are in Langflow to <out>/<endpoint_name>.json. Parts that did not "
                    "change are written exactly as in the existing file, so `git diff` shows only the edits.")
    _server_options(pull)
    pull.add_argument("--out", type=Path, default=Path("flows"), help="directory to write (default: flows)")
    pull.add_argument("--endpoint", action="append", default=None, metavar="NAME",
                      help="pull this flow (by endpoint name; repeatable; default: each flow with a file in --out)")


def run(args: argparse.Namespace) -> int:
    configure_logging("WARNING")
    if args.action == "build":
        return _build(args)
    return _push(args) if args.action == "push" else _pull(args)


def _build(args: argparse.Namespace) -> int:
    from bridge.flows_build import DEFAULT_MODEL, write_flows

    components = args.components
    if components is not None and not components.is_dir():
        print(f"rtms-langflow flows build: {components} is not a directory", file=sys.stderr)
        return 2
    try:
        written = write_flows(args.out, components, args.model or DEFAULT_MODEL)
    except (OSError, ValueError) as exc:
        print(f"rtms-langflow flows build: {exc}", file=sys.stderr)
        return 1
    if components is None and args.out.resolve() == (Path(__file__).resolve().parents[1] / "flows"):
        # The bundled flows of this checkout: remember this version as shipped, so upgrades may replace it.
        import json

        from bridge.flows_push import SHIPPED, record_shipped

        record_shipped([json.loads(p.read_text(encoding="utf-8")) for p in written],
                       Path(__file__).resolve().parent / SHIPPED)
    for path in written:
        print(path)
    return 0


def _server(args: argparse.Namespace) -> tuple[str, str] | str:
    """(url, api key), or the problem."""
    from bridge.settings import BadSetting, check_http_url

    url, key = args.url, args.api_key
    if args.demo_dir is not None:
        from bridge.demo.datadir import DemoDir

        running = DemoDir(args.demo_dir).running()
        if running is None:
            return f"no demo is running on {args.demo_dir} (start it with `rtms-langflow demo`)"
        url, key = url or running.langflow_url, key or running.langflow_api_key
    from_env = not url and "LANGFLOW_URL" in os.environ
    url = url or os.environ.get("LANGFLOW_URL", "http://127.0.0.1:7860")
    key = key or os.environ.get("LANGFLOW_API_KEY", "")
    try:
        check_http_url("--url (from LANGFLOW_URL)" if from_env else "--url", url)
    except BadSetting as exc:
        return str(exc)
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        return f"--timeout: must be a finite number > 0, got {args.timeout}"
    if not key:
        return "no API key (--api-key, LANGFLOW_API_KEY or --demo-dir)"
    return url, key


def _push(args: argparse.Namespace) -> int:
    from bridge.flows_push import FlowPushError, push_flows

    server = _server(args)
    if isinstance(server, str):
        print(f"rtms-langflow flows push: {server}", file=sys.stderr)
        return 2
    if args.flows_dir is not None and not args.flows_dir.is_dir():
        print(f"rtms-langflow flows push: {args.flows_dir} is not a directory", file=sys.stderr)
        return 2
    url, key = server
    try:
        pushed = asyncio.run(push_flows(url, key, args.flows_dir, args.timeout,
                                        state_dir=args.state_dir or args.demo_dir, force=args.force))
    except FlowPushError as exc:
        print(f"rtms-langflow flows push: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"rtms-langflow flows push: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    for flow in pushed:
        print(flow.line())
    return 0


def _pull(args: argparse.Namespace) -> int:
    from bridge.flows_pull import pull_flows
    from bridge.flows_push import FlowPushError

    server = _server(args)
    if isinstance(server, str):
        print(f"rtms-langflow flows pull: {server}", file=sys.stderr)
        return 2
    url, key = server
    try:
        pulled = pull_flows(url, key, args.out, args.endpoint, args.timeout)
    except FlowPushError as exc:
        print(f"rtms-langflow flows pull: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"rtms-langflow flows pull: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    for flow in pulled:
        print(f"{'wrote' if flow.changed else 'unchanged'} {flow.path}")
    return 0
