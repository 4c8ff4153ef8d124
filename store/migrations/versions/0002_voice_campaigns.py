"""voice campaigns: agentless broadcast and IVR survey settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN only (no table rebuild on SQLite): new columns are nullable or defaulted.
    op.add_column(
        "campaign", sa.Column("survey_questions", sa.JSON(), server_default="[]", nullable=False)
    )
    op.add_column("campaign", sa.Column("broadcast_message", sa.String(length=200), nullable=True))
    op.add_column(
        "campaign",
        sa.Column("broadcast_to_machines", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.add_column("campaign", sa.Column("broadcast_result_id", id_type, nullable=True))
    op.add_column("campaign", sa.Column("opt_out_result_id", id_type, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        for column in (
            "opt_out_result_id",
            "broadcast_result_id",
            "broadcast_to_machines",
            "broadcast_message",
            "survey_questions",
        ):
            batch.drop_column(column)
