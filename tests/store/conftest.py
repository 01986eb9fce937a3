"""Store fixtures: every test runs against a real SQLite file and a real PostgreSQL server.

PostgreSQL: `STORE_TEST_PG_URL` or postgresql+asyncpg://postgres@127.0.0.1:5432/test (trust auth), in schemas
named for this run and dropped afterwards. Unreachable -> the PostgreSQL half skips, saying so.

`target` is an empty database (migration and crash tests); `store` an open store on a migrated, emptied one: a
copy of a template file for SQLite, a truncated run-wide schema for PostgreSQL (migrating per test is slow).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import make_url

from bridge.store import Store
from bridge.store.models import Base
from tests.store.helpers import Clock

PG_URL = os.environ.get("STORE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_PG = make_url(PG_URL)
PG_SKIP = f"PostgreSQL not reachable at {_PG.host}:{_PG.port or 5432}"
RUN = uuid.uuid4().hex[:10]


async def _pg_connect() -> Any:
    return await asyncio.wait_for(asyncpg.connect(
        host=_PG.host, port=_PG.port or 5432, user=_PG.username, password=_PG.password, database=_PG.database), 5)


async def _pg_execute(sql: str) -> None:
    conn = await _pg_connect()
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class Target:
    backend: str
    url: str
    schema: str | None = None
    clock: Clock = field(default_factory=Clock)

    async def open(self, **kwargs: Any) -> Store:
        kwargs.setdefault("clock", self.clock)
        return await Store.open(self.url, schema=self.schema, **kwargs)


@pytest.fixture(scope="session")
def pg_skip_reason() -> str | None:
    """Why PostgreSQL cannot be used, None when it can; asked once per run."""
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{PG_SKIP} ({type(exc).__name__}: {exc})"
    return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store-template") / "template.db"

    async def build() -> None:
        store = await Store.open(f"sqlite+aiosqlite:///{path}")
        await store.close()  # the last connection checkpoints and removes the WAL: one self-contained file

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def pg_shared_schema(pg_skip_reason: str | None) -> Iterator[str]:
    if pg_skip_reason is not None:
        pytest.skip(pg_skip_reason)
    schema = f"store_test_{RUN}_shared"

    async def build() -> None:
        store = await Store.open(PG_URL, schema=schema)
        await store.close()

    asyncio.run(build())
    try:
        yield schema
    finally:
        asyncio.run(_pg_execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, pg_skip_reason: str | None) -> str:
    if request.param == "postgresql" and pg_skip_reason is not None:
        pytest.skip(pg_skip_reason)
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def target(backend: str, tmp_path: Path, clock: Clock) -> AsyncIterator[Target]:
    """An empty database."""
    if backend == "sqlite":
        yield Target("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", clock=clock)
        return
    schema = f"store_test_{RUN}_{uuid.uuid4().hex[:8]}"
    try:
        yield Target("postgresql", PG_URL, schema, clock=clock)
    finally:
        await _pg_execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def migrated(backend: str, request: pytest.FixtureRequest) -> Path | str:
    """The SQLite template file or the PostgreSQL run-wide schema (resolved here: their set-up runs its own loop)."""
    return request.getfixturevalue("sqlite_template" if backend == "sqlite" else "pg_shared_schema")  # type: ignore[no-any-return]


@pytest.fixture
async def store(migrated: Path | str, tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    """An open store on a migrated database with no rows."""
    if isinstance(migrated, Path):
        path = tmp_path / "store.db"
        shutil.copyfile(migrated, path)
        opened = await Store.open(f"sqlite+aiosqlite:///{path}", clock=clock)
    else:
        tables = ", ".join(f'"{migrated}"."{t.name}"' for t in Base.metadata.sorted_tables)
        await _pg_execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        opened = await Store.open(PG_URL, schema=migrated, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()
