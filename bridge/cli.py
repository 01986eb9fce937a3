"""The `rtms-langflow` command. Each subcommand lives in its own module exposing `configure(parser)` and
`run(args) -> int`; modules are imported only when their subcommand is on the command line, so `--help` and
light commands stay fast."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol, cast

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("bridge.simulator.command", "Run a local fake Zoom that speaks RTMS (webhooks + WebSockets)."),
    "serve": ("bridge.serve_command", "Run the bridge: RTMS webhooks and streams in, Langflow flows out."),
    "flows": ("bridge.flows_command",
              "Build the flow JSONs from components/, push them to a Langflow server, or pull edits back."),
    "demo": ("bridge.demo", "Run the whole product locally: Langflow, the bridge and a simulated meeting."),
}


class _Parser(argparse.ArgumentParser):
    """A usage error is one line naming the option and what is wrong (exit 2), not the usage text plus the line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


class Subcommand(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


def _load(name: str) -> Subcommand:
    return cast(Subcommand, importlib.import_module(SUBCOMMANDS[name][0]))


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rtms-langflow",
        description="Live AI agents on Zoom meetings: Zoom RTMS transcripts windowed into Langflow flows.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            _load(name).configure(child)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(selected if selected in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    from bridge.settings import BadSetting

    try:
        return _load(args.command).run(args)
    except BadSetting as exc:  # a subcommand's option or setting found unusable after parsing
        print(f"rtms-langflow {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
