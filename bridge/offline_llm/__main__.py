"""`python -m bridge.offline_llm --port 8765`: serve the offline model until interrupted."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from bridge.logs import configure_logging
from bridge.offline_llm.server import OfflineLLMConfig, create_app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.offline_llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency-ms", type=int, default=0, help="fixed delay before each answer")
    parser.add_argument("--api-key", default=None, help="require exactly this x-api-key (default: any non-empty)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="the prompt cache's 5-minute lifetime runs on wall time x this (default 1.0)",
    )
    parser.add_argument(
        "--manual-clock",
        action="store_true",
        help='the cache\'s clock is set by POST /clock {"now_ms": N} (replays on a virtual clock)',
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    app = create_app(
        OfflineLLMConfig(
            latency_ms=args.latency_ms,
            api_key=args.api_key,
            time_scale=args.time_scale,
            manual_clock=args.manual_clock,
        )
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
