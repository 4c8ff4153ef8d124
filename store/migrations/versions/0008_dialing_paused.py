"""a supervisor's pause of a campaign's dialing, kept on the campaign

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:40:00

Until now the pause lived in the memory of the process dialing the campaign: a restart, a
takeover or a hand-over lost it, and the campaign dialed again by itself. ADD COLUMN only (no
table rebuild on SQLite on the way up): not null with a server default, so every existing
campaign is not paused.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "campaign",
        sa.Column("dialing_paused", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("dialing_paused")
