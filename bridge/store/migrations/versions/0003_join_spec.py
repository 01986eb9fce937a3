"""One process is a cluster of one: a meeting keeps the join spec its `*.rtms_started` webhook gave (server URLs
and the id key), so the next process can dial a live stream again after a crash or a restart.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("server_urls", sa.Text(), nullable=True))
        batch.add_column(sa.Column("id_key", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("id_key")
        batch.drop_column("server_urls")
