"""Purges: which Zoom account each stream belongs to (an `app_deauthorized` purges every stream of the account), and
the purges whose copies outside our tables (Langflow's sessions, the SQLite WAL) are not yet known to be gone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stream_accounts",
        sa.Column("stream_id", sa.String(), primary_key=True),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_stream_accounts_account_id", "stream_accounts", ["account_id"])
    op.create_table(
        "pending_purges",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("flows", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("kind", "target", name="uq_pending_purges_kind_target"),
    )


def downgrade() -> None:
    op.drop_table("pending_purges")
    op.drop_index("ix_stream_accounts_account_id", table_name="stream_accounts")
    op.drop_table("stream_accounts")
