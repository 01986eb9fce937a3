"""`rtms-langflow serve`: run the bridge under uvicorn.

Settings come from the environment and `.env` (the README's table); `--host`/`--port` override them. Uvicorn turns
SIGTERM and SIGINT into a graceful shutdown: the app's lifespan closes every stream cleanly before exit.
A bad setting, or one naming something unusable (a store that does not open, a taken port), stops it before uvicorn
starts: one line per problem naming the setting or option, exit status 2 (`bridge.preflight`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.logs import configure_logging, get_logger

if TYPE_CHECKING:
    from bridge.settings import BridgeSettings

log = get_logger(__name__)

EXIT_USAGE = 2
_OPTION_NAMES = {"host": "--host", "port": "--port", "log_level": "--log-level"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default: BRIDGE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: BRIDGE_PORT or 8000; 0 picks one)")
    parser.add_argument("--env-file", type=Path, default=None,
                        help="file with settings; it must exist (default: .env when there is one)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level (default: BRIDGE_LOG_LEVEL or INFO)")


def _fail(lines: list[str]) -> int:
    for line in lines:
        print(f"rtms-langflow serve: {line}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from bridge.settings import BadSetting, BridgeSettings, problems

    env_file: Path | None = args.env_file
    if env_file is not None and not env_file.exists():
        return _fail([f"--env-file: {str(env_file)!r} does not exist"])
    if env_file is not None and env_file.is_dir():
        return _fail([f"--env-file: {str(env_file)!r} is a directory, not a file"])
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("log_level", args.log_level))
                 if v is not None}
    names = {k: _OPTION_NAMES[k] for k in overrides}
    try:
        settings = BridgeSettings(_env_file=env_file or ".env", **overrides)
    except ValidationError as exc:
        return _fail(problems(exc, names=names))
    except (SettingsError, UnicodeDecodeError) as exc:  # an unreadable env file, a value the source cannot decode
        return _fail([f"{env_file or '.env'}: {' '.join(str(exc).split())}"])
    configure_logging(settings.log_level)
    missing = settings.missing()
    if missing:
        return _fail([f"missing settings: {', '.join(missing)} (environment or {env_file or '.env'})"])
    try:
        asyncio.run(_preflight(settings, names))
    except BadSetting as exc:
        return _fail([str(exc)])
    except KeyboardInterrupt:  # Ctrl-C while a check waits on the network
        return 130
    return _serve(settings)


async def _preflight(settings: BridgeSettings, names: dict[str, str]) -> None:
    from bridge.preflight import preflight

    await preflight(settings, host_name=names.get("host", "BRIDGE_HOST"), port_name=names.get("port", "BRIDGE_PORT"))


def _serve(settings: BridgeSettings) -> int:
    import uvicorn

    from bridge.app import create_app
    from bridge.server import BridgeServer

    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, lifespan="on",
                            timeout_graceful_shutdown=int(settings.shutdown_timeout_s) + 5)
    server = BridgeServer(config)
    server.run()
    return 0
