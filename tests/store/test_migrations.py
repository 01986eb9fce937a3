"""Migrations: from an empty database to head, idempotent re-open, models and revisions in agreement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from bridge.store import Store
from bridge.store import migrate as migrations
from bridge.store.models import Base
from tests.store.conftest import Target
from tests.store.helpers import line, meeting

TABLES = {"meetings", "participants", "lines", "windows", "insights", "tickets", "meeting_names", "chat_deliveries",
          "stream_accounts", "pending_purges"}


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_from_empty_then_reopen_is_a_no_op(target: Target) -> None:
    store = await target.open()
    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_tables) == TABLES | {"alembic_version"}
            assert await conn.run_sync(migrations.current_revision) == migrations.head_revision() == "0005"
        await meeting(store)
        assert await store.add_line("s1", line(1))
    finally:
        await store.close()
    again = await target.open()
    try:
        async with again.engine.connect() as conn:
            assert await conn.run_sync(migrations.current_revision) == "0005"
            assert (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar() == 1
        assert await again.last_line_seq("s1") == 1
    finally:
        await again.close()


async def test_models_match_the_revisions(store: Store) -> None:
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_downgrade_to_base_and_up_again(target: Target) -> None:
    store = await target.open()
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(migrations.downgrade, "base")
            assert await conn.run_sync(_tables) <= {"alembic_version"}
            await conn.run_sync(migrations.upgrade)
            assert await conn.run_sync(_tables) == TABLES | {"alembic_version"}
    finally:
        await store.close()


async def test_open_without_migrate_refuses_an_old_schema(target: Target) -> None:
    if target.schema is not None:  # the schema itself is only created when migrating
        opened = await target.open()
        async with opened.engine.begin() as conn:
            await conn.run_sync(migrations.downgrade, "base")
        await opened.close()
    with pytest.raises(RuntimeError, match=r"schema is at revision None.*migrate=True"):
        await target.open(migrate=False)
    opened = await target.open()
    await opened.close()
    reopened = await target.open(migrate=False)
    await reopened.close()


async def test_migrations_found_from_any_working_directory(target: Target, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """No alembic.ini at the repo root: the script directory is located from the package (as in a wheel)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert migrations.MIGRATIONS_DIR.is_relative_to(Path(migrations.__file__).parent)
    assert (migrations.MIGRATIONS_DIR / "env.py").is_file()
    assert (migrations.MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    store = await target.open()
    await store.close()
    assert os.listdir(elsewhere) == []


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    """SQLite only (no PostgreSQL twin): the pragmas every SQLite connection gets."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 1000
    finally:
        await store.close()


async def test_sqlite_in_memory_shares_one_database() -> None:
    """SQLite only: `sqlite+aiosqlite://` keeps one connection, so the migrated tables stay visible."""
    store = await Store.open("sqlite+aiosqlite://")
    try:
        await meeting(store)
        assert await store.add_line("s1", line(1))
        assert [row.seq for row in await store.lines("s1")] == [1]
    finally:
        await store.close()


async def test_unsupported_urls_are_named(target: Target) -> None:
    with pytest.raises(ValueError, match="'mysql' is not supported"):
        await Store.open("mysql+aiomysql://u@127.0.0.1/db")
    with pytest.raises(ValueError, match="not a SQLAlchemy URL"):
        await Store.open("not a url")
    if target.backend == "sqlite":
        with pytest.raises(ValueError, match="PostgreSQL only"):
            await Store.open(target.url, schema="x")
