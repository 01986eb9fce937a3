"""Bridge replicas as real processes (`python -m bridge.cli serve`) sharing one Redis and one PostgreSQL database,
for the replica tests and the replica benchmark: started, killed (SIGKILL), drained (SIGTERM) and read back.

Each set gets its own PostgreSQL database (created and dropped here) and its own Redis key prefix, so sets never
see each other's streams. Logs go to one file per replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from bridge.langflow_process import free_port
from tests.waiting import until

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("REPLICAS_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REPLICAS_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Replica:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhook"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "serve", "--port", str(self.port), "--env-file", "/dev/null"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    async def wait_ready(self, limit_s: float = 60.0) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:

            async def ready() -> bool:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"replica {self.name} exited with {self.process.returncode}: "
                                       f"see {self.log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get(f"{self.url}/ready")).status_code == 200
                return False

            await until(ready, timeout_s=limit_s, poll_s=0.2, what=f"replica {self.name} ready (see {self.log_path})")

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye; its sockets close when the kernel reaps it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def terminate(self) -> None:
        """SIGTERM: the replica drains (hands its streams over), then exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    async def wait_exit(self, limit_s: float = 60.0) -> int:
        process = self.process
        assert process is not None
        await until(lambda: process.poll() is not None, timeout_s=limit_s, poll_s=0.1,
                    what=f"replica {self.name} to exit")
        return process.returncode

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        """The replica's JSON log lines (non-JSON lines skipped)."""
        out = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    out.append(record)
        return out


@dataclass
class ReplicaSet:
    database: str
    prefix: str
    workdir: Path
    base_env: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.database}"

    def add(self, name: str, **settings: str) -> Replica:
        env = {**self.base_env, "BRIDGE_REPLICA_ID": name, **settings}
        replica = Replica(name, free_port(), env, self.workdir / f"{name}.log")
        self.replicas.append(replica)
        return replica

    async def start_all(self) -> None:
        for replica in self.replicas:
            if replica.process is None:
                replica.start()
        await asyncio.gather(*(r.wait_ready() for r in self.replicas if r.alive))

    def stop_all(self) -> None:
        for replica in self.replicas:
            replica.kill()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.database}")
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def redis_keys(self, pattern: str) -> list[str]:
        redis = Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            return [str(k) async for k in redis.scan_iter(match=f"{self.prefix}{pattern}", count=500)]
        finally:
            await redis.aclose()


async def delete_prefixed(redis: Redis, prefix: str) -> None:
    """Delete every key under `prefix` (a test's or a replica set's own keys)."""
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await redis.delete(*keys)


def bridge_env(**settings: str) -> dict[str, str]:
    """The environment of a replica: this interpreter's PATH and HOME, nothing else inherited."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE")}
    return {**keep, "PYTHONUNBUFFERED": "1", **settings}


@contextlib.asynccontextmanager
async def replica_set(workdir: Path, env: dict[str, str]) -> AsyncIterator[ReplicaSet]:
    """A fresh database and Redis prefix; every replica killed and both cleaned up at the end."""
    database = f"rtms_replicas_{uuid.uuid4().hex[:12]}"
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    base = bridge_env(BRIDGE_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
                      BRIDGE_REDIS_URL=REDIS_URL, BRIDGE_REDIS_PREFIX=prefix, **env)
    replicas = ReplicaSet(database, prefix, workdir, base)
    try:
        yield replicas
    finally:
        replicas.stop_all()
        redis = Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            await delete_prefixed(redis, prefix)
        finally:
            await redis.aclose()
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()
