"""Before `serve` starts uvicorn: every setting that names something outside the process is tried once, so a bad
one stops the bridge with one line naming it (exit 2) rather than a traceback from the app's start-up.

Tried: the store opens (and is migrated) at `BRIDGE_DATABASE_URL`, Redis answers at `BRIDGE_REDIS_URL`, the flows
file loads, and the HTTP address can be bound. Each check is bounded in time. Binding is tried and released, not
handed over: uvicorn binds again a moment later and reports a port lost in between itself.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from bridge.settings import BadSetting, BridgeSettings

__all__ = ["check_address", "preflight"]

CHECK_TIMEOUT_S = 10.0


def _short(exc: BaseException) -> str:
    """An exception as a few words on one line (driver errors can span lines)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.split(" (Background on this error at:")[0]  # SQLAlchemy's link to its docs
    return text if len(text) <= 200 else text[:197] + "..."


def _check_sqlite_path(path: Path) -> None:
    """Said here rather than learnt from a failed connect: aiosqlite's worker thread outlives that failure and
    prints its own traceback at exit."""
    if not path.parent.is_dir():
        raise BadSetting("BRIDGE_DATABASE_URL", f"directory {str(path.parent)!r} of the SQLite file does not exist")
    if path.exists() and not path.is_file():
        raise BadSetting("BRIDGE_DATABASE_URL", f"{str(path)!r} is not a file")


async def check_store(settings: BridgeSettings) -> None:
    from sqlalchemy.engine import make_url

    from bridge.store import Store

    url = make_url(settings.database_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        _check_sqlite_path(Path(url.database))
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            store = await Store.open(settings.database_url)
    except TimeoutError:
        raise BadSetting("BRIDGE_DATABASE_URL", f"no answer from {shown} within {CHECK_TIMEOUT_S:g} s") from None
    except Exception as exc:  # any driver's error: the user needs the words, not the stack
        raise BadSetting("BRIDGE_DATABASE_URL", f"cannot open the store at {shown}: {_short(exc)}") from None
    await store.close()


async def check_redis(settings: BridgeSettings) -> None:
    from redis.asyncio import Redis

    try:
        client = Redis.from_url(settings.redis_url, socket_connect_timeout=CHECK_TIMEOUT_S,
                                socket_timeout=CHECK_TIMEOUT_S)
    except ValueError as exc:
        raise BadSetting("BRIDGE_REDIS_URL", _short(exc)) from None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await client.ping()  # type: ignore[misc]  # redis types ping for sync and async clients at once
    except TimeoutError:
        raise BadSetting("BRIDGE_REDIS_URL", f"no answer from Redis within {CHECK_TIMEOUT_S:g} s") from None
    except Exception as exc:
        raise BadSetting("BRIDGE_REDIS_URL", f"cannot reach Redis: {_short(exc)}") from None
    finally:
        await client.aclose()


def check_flows(settings: BridgeSettings) -> None:
    from bridge.pipeline.config import FlowsConfigError, load_flows_config

    if settings.flows_config is None and not settings.langflow_url:
        return
    try:
        load_flows_config(settings.flows_config)
    except FlowsConfigError as exc:
        raise BadSetting("BRIDGE_FLOWS_CONFIG", _short(exc)) from None


def check_address(host: str, port: int, *, host_name: str = "BRIDGE_HOST", port_name: str = "BRIDGE_PORT") -> None:
    """Bind every address `host` resolves to, as asyncio's server will, and let go."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise BadSetting(host_name, f"{host!r} is not an address or host name this machine can bind "
                                    f"({_short(exc)})") from None
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno in (98, 48, 10048):  # EADDRINUSE (Linux, macOS, Windows)
                    raise BadSetting(port_name, f"port {port} is already in use on {address[0]}") from None
                if exc.errno in (13, 10013):  # EACCES
                    raise BadSetting(port_name, f"port {port} needs privileges on {address[0]} "
                                                f"(use one above 1023)") from None
                raise BadSetting(host_name, f"cannot bind {address[0]} ({_short(exc)})") from None


async def preflight(settings: BridgeSettings, *, host_name: str = "BRIDGE_HOST",
                    port_name: str = "BRIDGE_PORT") -> None:
    check_address(settings.host, settings.port, host_name=host_name, port_name=port_name)
    check_flows(settings)
    if settings.redis_url:
        await check_redis(settings)
    await check_store(settings)  # last: it migrates, which is worth doing only when all else is usable
