"""Meetings with names and honest ends, and Team Chat deliveries (issue 15).

`meeting_names`: the topic and host from `*.started` webhooks, per instance. `meetings.stop_reason`: Zoom's stop
reason, so a normal end reads differently from an error. `chat_deliveries`: one row per Team Chat message, its key
the idempotency key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("stop_reason", sa.Integer(), nullable=True))
    op.create_table(
        "meeting_names",
        sa.Column("instance_id", sa.String(), primary_key=True),
        sa.Column("product", sa.String(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("host_id", sa.String(), nullable=True),
        sa.Column("numeric_id", sa.String(), nullable=True),
        sa.Column("start_time_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "chat_deliveries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("stream_id", sa.String(), sa.ForeignKey("meetings.stream_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("to_jid", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("key", name="uq_chat_deliveries_key"),
    )
    op.create_index("ix_chat_deliveries_status", "chat_deliveries", ["status"])
    op.create_index("ix_chat_deliveries_stream_id", "chat_deliveries", ["stream_id"])


def downgrade() -> None:
    op.drop_index("ix_chat_deliveries_stream_id", table_name="chat_deliveries")
    op.drop_index("ix_chat_deliveries_status", table_name="chat_deliveries")
    op.drop_table("chat_deliveries")
    op.drop_table("meeting_names")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("stop_reason")
