"""attempts a restarted dialer must settle: the inbound channel's Uniqueid, an index of open ones

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00

A dialer that restarts finds the attempts its previous run left without an outcome (the calls
it had in flight) and settles them with Asterisk's help (docs/engine-cores.md, "After a
restart"). Outbound calls are found again by their ChannelId att-<id>-1; an inbound caller by
the Uniqueid of their channel, now kept on the attempt. The partial index holds only the open
attempts, by owner.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("attempt", sa.Column("channel_uniqueid", sa.String(64), nullable=True))
    where = sa.text("outcome IS NULL")
    op.create_index(
        "ix_attempt_open",
        "attempt",
        ["lease_owner"],
        unique=False,
        postgresql_where=where,
        sqlite_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_attempt_open", table_name="attempt")
    with op.batch_alter_table("attempt") as batch:
        batch.drop_column("channel_uniqueid")
