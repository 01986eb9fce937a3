"""Initial schema: meetings, participants, lines, windows, insights, tickets.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _stream_fk() -> sa.Column[str]:
    return sa.Column("stream_id", sa.String(), sa.ForeignKey("meetings.stream_id", ondelete="CASCADE"),
                     nullable=False)


def _window_fk() -> sa.Column[int]:
    return sa.Column("window_id", _ID, sa.ForeignKey("windows.id", ondelete="SET NULL"), nullable=True)


def upgrade() -> None:
    op.create_table(
        "meetings",
        sa.Column("stream_id", sa.String(), primary_key=True),
        sa.Column("instance_id", sa.String(), nullable=False),
        sa.Column("product", sa.String(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("ended_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("end_cause", sa.String(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_meetings_created_at_ms", "meetings", ["created_at_ms"])
    op.create_table(
        "participants",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _stream_fk(),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("joined_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("left_at_ms", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("stream_id", "user_id", name="uq_participants_stream_user"),
    )
    op.create_table(
        "lines",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _stream_fk(),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("speaker", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("stream_id", "seq", name="uq_lines_stream_seq"),
    )
    op.create_table(
        "windows",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _stream_fk(),
        sa.Column("flow", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("first_line_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_line_seq", sa.BigInteger(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("coalesced", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("usage", sa.Text(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("stream_id", "flow", "seq", name="uq_windows_stream_flow_seq"),
    )
    op.create_index("ix_windows_status", "windows", ["status"])
    op.create_table(
        "insights",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _stream_fk(),
        sa.Column("flow", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=True),
        sa.Column("quote", sa.Text(), nullable=True),
        _window_fk(),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("stream_id", "kind", "key", name="uq_insights_stream_kind_key"),
    )
    op.create_table(
        "tickets",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _stream_fk(),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("flow", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=True),
        sa.Column("external_system", sa.String(), nullable=True),
        sa.Column("external_id", sa.String(), nullable=True),
        sa.Column("external_url", sa.Text(), nullable=True),
        sa.Column("external_status", sa.String(), nullable=True),
        _window_fk(),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("stream_id", "key", name="uq_tickets_stream_key"),
    )


def downgrade() -> None:
    for table in ("tickets", "insights", "windows", "lines", "participants", "meetings"):
        op.drop_table(table)
