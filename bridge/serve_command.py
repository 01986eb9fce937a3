"""`rtms-langflow serve`: run the bridge under uvicorn.

Settings come from the environment and `.env` (the README's table); `--host`/`--port` override them. Uvicorn turns
SIGTERM and SIGINT into a graceful shutdown: the app's lifespan closes every stream cleanly before exit.
"""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from bridge.logs import configure_logging, get_logger

log = get_logger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default: BRIDGE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: BRIDGE_PORT or 8000; 0 picks one)")
    parser.add_argument("--env-file", default=".env", help="file with settings (default: .env)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level (default: BRIDGE_LOG_LEVEL or INFO)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from bridge.app import create_app
    from bridge.server import BridgeServer
    from bridge.settings import BridgeSettings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("log_level", args.log_level))
                 if v is not None}
    try:
        settings = BridgeSettings(_env_file=args.env_file, **overrides)
    except ValidationError as exc:
        print(f"rtms-langflow serve: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    missing = settings.missing()
    if missing:
        print(f"rtms-langflow serve: missing settings: {', '.join(missing)} (environment or {args.env_file})",
              file=sys.stderr)
        return 2
    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, lifespan="on",
                            timeout_graceful_shutdown=int(settings.shutdown_timeout_s) + 5)
    server = BridgeServer(config)
    server.run()
    return 0
