"""Replicas: a fencing token per meeting, and a content key per line so a re-sent line is stored once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("fence", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("lines") as batch:
        batch.add_column(sa.Column("key", sa.String(), nullable=True))
        batch.create_unique_constraint("uq_lines_stream_key", ["stream_id", "key"])


def downgrade() -> None:
    with op.batch_alter_table("lines") as batch:
        batch.drop_constraint("uq_lines_stream_key", type_="unique")
        batch.drop_column("key")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("fence")
