"""A local Langflow server as a child process: hermetic environment, start-up progress, and a stop that leaves nothing.

Used by `rtms-langflow demo` and by the test suite (`tests/langflow_server.py`). Everything Langflow writes goes
under one work directory (SQLite database, config dir, TMPDIR for its lock files and telemetry outbox, its log);
no `LANGFLOW_*` or `ANTHROPIC_*` variable of the caller leaks in. What Langflow would keep of a revoked meeting
that its API cannot delete is not kept (`PRIVACY_DEFAULTS`; an `env_overrides` entry wins). Authentication is an
API key from the environment (`LANGFLOW_API_KEY_SOURCE=env`) plus a superuser for the UI. The process runs in its
own session, so a Ctrl-C in the terminal does not reach it half-way and `stop()` can kill the whole tree (the CLI,
gunicorn and its worker).

    lf = LangflowProcess(workdir, env_overrides={"LANGFLOW_LOAD_FLOWS_PATH": "flows"})
    lf.spawn()
    await lf.wait_ready_async(timeout_s=300, on_progress=print_phase)   # or lf.wait_ready(...) without a loop
    ...
    lf.stop()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bridge.logs import get_logger

log = get_logger(__name__)

# What Langflow keeps of a run that the bridge's purge (`bridge.langflow_purge`) cannot delete through its API, or only
# per flow: off. Deleted rows are overwritten (secure_delete); the purge truncates the WAL itself (`database_path`).
PRIVACY_DEFAULTS: dict[str, str] = {
    "LANGFLOW_TRANSACTIONS_STORAGE_ENABLED": "false",
    "LANGFLOW_VERTEX_BUILDS_STORAGE_ENABLED": "false",
    "LANGFLOW_SQLITE_PRAGMAS": '{"synchronous": "NORMAL", "journal_mode": "WAL", "busy_timeout": 30000, '
                               '"secure_delete": "ON"}',
}

# What a starting Langflow 1.13 writes to its log, in order, and what it is busy with from then on. Only for progress
# display: an unknown or changed log just leaves the phase at the last marker seen.
STARTUP_MARKERS: tuple[tuple[str, str], ...] = (
    ("", "importing Langflow"),
    ("✓ Initializing Langflow", "starting core services"),
    ("✓ Loading Components", "starting the web server"),
    ("Running upgrade", "creating the database (first run)"),
    ("telemetry_writer started", "loading the component types"),
    ("Initializing agentic global variables", "setting up variables"),
    ("Loading flow from file", "loading the flows"),
    ("✓ Launching Langflow", "ready"),
)


def fernet_key() -> str:
    """A fresh `LANGFLOW_SECRET_KEY`: Langflow encrypts stored credentials with it as a Fernet key."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on (host, port) or the port cannot be bound there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def startup_phase(log_text: str) -> str:
    """What a starting Langflow is busy with, read from its log: the phase of the last marker it wrote."""
    phase = STARTUP_MARKERS[0][1]
    position = 0
    for marker, text in STARTUP_MARKERS[1:]:
        found = log_text.find(marker, position)
        if found >= 0:
            phase, position = text, found
    return phase


@dataclass(frozen=True)
class SharedBackends:
    """What several Langflow workers share (Langflow 1.13 docs, "multi-worker deployment"): the database (PostgreSQL;
    SQLite would be one file locked by every worker), the job queue (Redis: without it Langflow refuses to start more
    than one worker) and the cache. Queue and cache take separate Redis databases, as the Langflow docs advise."""

    database_url: str
    """`postgresql://user@host:port/db`; Langflow drives it with psycopg (the `langflow` dependency group)."""
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    queue_db: int = 1
    cache_db: int = 0

    def environment(self) -> dict[str, str]:
        return {
            "LANGFLOW_DATABASE_URL": self.database_url,
            "LANGFLOW_JOB_QUEUE_TYPE": "redis",
            "LANGFLOW_REDIS_QUEUE_HOST": self.redis_host,
            "LANGFLOW_REDIS_QUEUE_PORT": str(self.redis_port),
            "LANGFLOW_REDIS_QUEUE_DB": str(self.queue_db),
            "LANGFLOW_CACHE_TYPE": "redis",
            "LANGFLOW_REDIS_HOST": self.redis_host,
            "LANGFLOW_REDIS_PORT": str(self.redis_port),
            "LANGFLOW_REDIS_DB": str(self.cache_db),
        }

    async def flush_redis(self) -> None:
        """Empty the queue and cache databases (for a run that owns them: tests, benchmarks)."""
        import redis.asyncio as redis

        for db in {self.queue_db, self.cache_db}:
            client = redis.Redis(host=self.redis_host, port=self.redis_port, db=db)
            try:
                await client.flushdb()
            finally:
                await client.aclose()


PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextlib.asynccontextmanager
async def scratch_postgres(admin_url: str = PG_ADMIN_URL, prefix: str = "langflow") -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one Langflow run (its URL), dropped afterwards with whatever is connected."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def child_pids(pid: int) -> list[int]:
    """Live (not zombie) children of `pid`, from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry.name))
    return sorted(children)


class LangflowStartError(RuntimeError):
    """Langflow exited, timed out or was stopped while starting; the message ends with its log's tail."""


def _group_alive(pgid: int) -> bool:
    """True while a process of the group runs; zombies (dead, not yet reaped by their parent) do not count."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def kill_group(pgid: int, timeout_s: float = 20.0, leader: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the process group, give it `timeout_s` to go, then SIGKILL whatever of it is left. `leader` (our
    child, when we have it) is reaped on the way: an unreaped zombie would keep the group looking alive."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if leader is not None:
            leader.poll()
        if not _group_alive(pgid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if leader is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            leader.wait(timeout=5)


@dataclass
class LangflowProcess:
    workdir: Path
    python: Path = field(default_factory=lambda: Path(sys.executable))
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    backend_only: bool = False
    api_key: str = field(default_factory=lambda: "lf-" + secrets.token_urlsafe(16))
    superuser: str = "admin"
    password: str = field(default_factory=lambda: "Pw-" + secrets.token_urlsafe(12))
    secret_key: str = field(default_factory=fernet_key)
    host: str = "127.0.0.1"
    port: int = 0
    log_name: str = "langflow.log"
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    startup_s: float = 0.0
    stopped: bool = False
    """Set by `stop()`: a start still waiting for the server gives up."""
    pgid: int | None = None
    """The child's process group (= its pid: it leads its own session), kept after `stop()` for `kill()`."""
    workers: int = 1
    """Gunicorn workers; more than one needs `shared` (Langflow refuses several workers on a per-process queue)."""
    shared: SharedBackends | None = None
    """PostgreSQL and Redis that several workers (or replicas) share, instead of the SQLite file in `workdir`."""

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def database_path(self) -> Path:
        """Langflow's SQLite file (the bridge's purge truncates its write-ahead log: `langflow_database_file`)."""
        return self.workdir / "langflow.db"

    @property
    def log_path(self) -> Path:
        return self.workdir / self.log_name

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LANGFLOW_", "ANTHROPIC_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        tmp = self.workdir / "tmp"
        config = self.workdir / "config"
        tmp.mkdir(parents=True, exist_ok=True)
        config.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "LANGFLOW_AUTO_LOGIN": "false",
                "LANGFLOW_SUPERUSER": self.superuser,
                "LANGFLOW_SUPERUSER_PASSWORD": self.password,
                "LANGFLOW_SECRET_KEY": self.secret_key,
                "LANGFLOW_API_KEY_SOURCE": "env",
                "LANGFLOW_API_KEY": self.api_key,
                "LANGFLOW_DATABASE_URL": f"sqlite:///{self.database_path}",
                "LANGFLOW_CONFIG_DIR": str(config),
                "LANGFLOW_DO_NOT_TRACK": "true",
                "LANGFLOW_CREATE_STARTER_PROJECTS": "false",
                "LANGFLOW_LOG_LEVEL": "info",
                "TMPDIR": str(tmp),
                # litellm (imported by Langflow) would otherwise fetch its model price list from the internet.
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "PYTHONUNBUFFERED": "1",
                **PRIVACY_DEFAULTS,
            }
        )
        env.update(self.scaling_environment())
        env.update(self.env_overrides)
        return env

    def scaling_environment(self) -> dict[str, str]:
        """The worker count and, when set, the shared database, job queue and cache (`SharedBackends.environment`)."""
        if self.workers > 1 and self.shared is None:
            raise ValueError(f"{self.workers} Langflow workers need shared backends (PostgreSQL and Redis)")
        env = {"LANGFLOW_WORKERS": str(self.workers)}
        if self.shared is not None:
            env.update(self.shared.environment())
        return env

    def migrate(self, timeout_s: float = 600.0) -> None:
        """Create or upgrade Langflow's tables before several workers start on a shared PostgreSQL (blocking).

        Each gunicorn worker migrates at start-up under an advisory lock, and Langflow 1.13 polls for that lock
        inside an open transaction; its `CREATE INDEX CONCURRENTLY` migrations wait for every open transaction, so
        the lock holder waits for the poller and the poller for the holder until its 300 s lock timeout (seen here
        on a fresh database with 2 workers). Migrating once beforehand (`langflow migration --no-test`) leaves the
        workers nothing to do."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.workdir / "migration.log"
        with log_path.open("wb") as out:
            result = subprocess.run([str(self.python), "-m", "langflow", "migration", "--no-test"], cwd=self.workdir,
                                    env=self.environment(), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, timeout=timeout_s, check=False)
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
            raise LangflowStartError(f"langflow migration exited with status {result.returncode}; {log_path} ends "
                                     f"with:\n{tail}")
        log.info("langflow.migrated", extra={"database": "shared", "log": str(log_path)})

    def worker_pids(self) -> list[int]:
        """The pids of the gunicorn workers. `langflow run` starts gunicorn's master as a child process
        (multiprocessing), and the master forks the workers: they are the Langflow process's grandchildren."""
        if self.process is None:
            return []
        return sorted(pid for master in child_pids(self.process.pid) for pid in child_pids(master))

    def command(self) -> list[str]:
        cmd = [str(self.python), "-m", "langflow", "run", "--host", self.host, "--port", str(self.port)]
        if self.backend_only:
            cmd.append("--backend-only")
        return cmd

    def spawn(self) -> None:
        """Start the child (returns at once); `wait_ready` or `wait_ready_async` waits for it to serve."""
        if self.process is not None:
            raise RuntimeError("Langflow already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)
        env = self.environment()
        self.started_at = time.monotonic()
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pgid = self.process.pid
        log.info("langflow.spawned", extra={"pid": self.process.pid, "port": self.port, "log": str(self.log_path)})

    def phase(self) -> str:
        """What the starting server is doing now (from its log)."""
        try:
            return startup_phase(self.log_path.read_text(errors="replace"))
        except OSError:
            return "starting"

    def _failed(self, why: str) -> LangflowStartError:
        return LangflowStartError(f"{why}; its log is {self.log_path}, which ends with:\n{self.log_tail(40)}")

    def _check_alive(self) -> None:
        process = self.process
        if self.stopped or process is None:
            raise LangflowStartError("Langflow was stopped while starting")
        code = process.poll()
        if code is not None:
            raise self._failed(f"Langflow exited with status {code} while starting")

    def _ready(self, elapsed: float) -> None:
        self.startup_s = elapsed
        log.info("langflow.ready", extra={"startup_s": round(elapsed, 1), "url": self.base_url})

    def wait_ready(self, timeout_s: float = 300.0, on_progress: Callable[[float, str], None] | None = None,
                   poll_s: float = 0.5) -> None:
        """Block until `/health_check` answers 200; on failure the child is stopped and `LangflowStartError` raised."""
        try:
            with httpx.Client(timeout=5, trust_env=False) as client:
                while True:
                    self._check_alive()
                    elapsed = time.monotonic() - self.started_at
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{self.base_url}/health_check").status_code == 200:
                            self._ready(elapsed)
                            return
                    if elapsed > timeout_s:
                        raise self._failed(f"Langflow did not become ready within {timeout_s:.0f} s")
                    if on_progress is not None:
                        on_progress(elapsed, self.phase())
                    time.sleep(poll_s)
        except BaseException:
            self.stop()
            raise

    async def wait_ready_async(self, timeout_s: float = 300.0,
                               on_progress: Callable[[float, str], None] | None = None, poll_s: float = 0.5) -> None:
        """`wait_ready` for an event loop (cancelling it stops the child too)."""
        try:
            async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
                while True:
                    self._check_alive()
                    elapsed = time.monotonic() - self.started_at
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{self.base_url}/health_check")).status_code == 200:
                            self._ready(elapsed)
                            return
                    if elapsed > timeout_s:
                        raise self._failed(f"Langflow did not become ready within {timeout_s:.0f} s")
                    if on_progress is not None:
                        on_progress(elapsed, self.phase())
                    await asyncio.sleep(poll_s)
        except BaseException:
            # In a thread: the loop stays responsive (say, to a second Ctrl-C) while the group shuts down.
            await asyncio.shield(asyncio.to_thread(self.stop))
            raise

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL the whole group now (safe to call from another thread while `stop()` waits)."""
        self.stopped = True
        if self.pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the whole process group: SIGTERM (Langflow shuts its workers down), then SIGKILL what is left."""
        self.stopped = True
        process, self.process = self.process, None
        if process is None:
            return
        # The child leads its own session, so its pid is the group id; gunicorn's worker may outlive the CLI.
        kill_group(process.pid, timeout_s, leader=process)
        self.pgid = None
        log.info("langflow.stopped", extra={"pid": process.pid})
