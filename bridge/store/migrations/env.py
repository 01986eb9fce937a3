"""Alembic environment for the store. `Store.open` runs it on its own connection (config attribute `connection`).
The alembic CLI works too, with an ini naming `script_location = <site-packages>/bridge/store/migrations` and a
synchronous URL: `alembic -c store.ini -x url=sqlite:///rtms-langflow.db current|upgrade head|check`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from bridge.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    shared = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
    else:  # CLI: a synchronous driver URL (sqlite://, postgresql+psycopg://...)
        engine = create_engine(_url(), poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
