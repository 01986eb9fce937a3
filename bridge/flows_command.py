"""`rtms-langflow flows`: regenerate the flow JSONs from `components/` (`build`), or upsert them into a running
Langflow server (`push`), so the flows a lead edits in the UI start from the component code in this repository."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from pathlib import Path

from bridge.logs import configure_logging


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="Write flows/*.json from the components' current source.",
                               description="Write flows/*.json from the components' current source.")
    build.add_argument("--out", type=Path, default=Path("flows"), help="directory to write (default: flows)")
    build.add_argument("--components", type=Path, default=None,
                       help="component bundle to embed (default: components/zoom_rtms of this checkout)")
    build.add_argument("--model", default=None, help="Anthropic model name set in the flows' model nodes")

    push = actions.add_parser("push", help="Upload (upsert) the flows to a Langflow server.",
                              description="Upload (upsert) the flows to a Langflow server under their fixed ids, "
                                          "so pushing again updates them in place.")
    push.add_argument("--url", default=os.environ.get("LANGFLOW_URL", "http://127.0.0.1:7860"),
                      help="Langflow base URL (default: LANGFLOW_URL or http://127.0.0.1:7860)")
    push.add_argument("--api-key", default=os.environ.get("LANGFLOW_API_KEY", ""),
                      help="Langflow API key (default: LANGFLOW_API_KEY)")
    push.add_argument("--flows-dir", type=Path, default=None,
                      help="push these flow JSONs instead of building them from the components")
    push.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default: 60)")


def run(args: argparse.Namespace) -> int:
    configure_logging("WARNING")
    if args.action == "build":
        return _build(args)
    return _push(args)


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
    for path in written:
        print(path)
    return 0


def _push(args: argparse.Namespace) -> int:
    from bridge.flows_push import FlowPushError, push_flows
    from bridge.settings import BadSetting, check_http_url

    try:
        from_env = os.environ.get("LANGFLOW_URL") == args.url
        check_http_url("--url (from LANGFLOW_URL)" if from_env else "--url", args.url)
    except BadSetting as exc:
        print(f"rtms-langflow flows push: {exc}", file=sys.stderr)
        return 2
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        print(f"rtms-langflow flows push: --timeout: must be a finite number > 0, got {args.timeout}",
              file=sys.stderr)
        return 2
    if not args.api_key:
        print("rtms-langflow flows push: no API key (--api-key or LANGFLOW_API_KEY)", file=sys.stderr)
        return 2
    if args.flows_dir is not None and not args.flows_dir.is_dir():
        print(f"rtms-langflow flows push: {args.flows_dir} is not a directory", file=sys.stderr)
        return 2
    try:
        pushed = asyncio.run(push_flows(args.url, args.api_key, args.flows_dir, args.timeout))
    except FlowPushError as exc:
        print(f"rtms-langflow flows push: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"rtms-langflow flows push: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    for flow in pushed:
        print(f"{'created' if flow.created else 'updated'} {flow.endpoint_name} ({flow.flow_id})")
    return 0
