"""inbound queues and blended agents: DIDs, service level, management status, link penalty,
the ticket of an inbound attempt

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:10:00

ADD COLUMN and CREATE TABLE only (no table rebuild on SQLite): new columns are nullable or
have a server default.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "campaign",
        sa.Column(
            "allow_calls_in_management", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    op.add_column(
        "campaign",
        sa.Column("service_level_target", sa.Float(), server_default="0.8", nullable=False),
    )
    op.add_column(
        "campaign",
        sa.Column("service_level_seconds", sa.Integer(), server_default="20", nullable=False),
    )
    op.add_column(
        "campaign_link", sa.Column("penalty", sa.Integer(), server_default="1", nullable=False)
    )
    op.create_table(
        "campaign_did",
        sa.Column("did", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_campaign_did_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("did", name=op.f("pk_campaign_did")),
    )
    op.create_index(
        op.f("ix_campaign_did_campaign_id"), "campaign_did", ["campaign_id"], unique=False
    )
    with op.batch_alter_table("attempt") as batch:
        batch.add_column(sa.Column("ticket_id", _ID, nullable=True))
        batch.create_index(batch.f("ix_attempt_ticket_id"), ["ticket_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_attempt_ticket_id_ticket"),
            "ticket",
            ["ticket_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("attempt") as batch:
        batch.drop_constraint("fk_attempt_ticket_id_ticket", type_="foreignkey")
        batch.drop_index("ix_attempt_ticket_id")
        batch.drop_column("ticket_id")
    op.drop_index("ix_campaign_did_campaign_id", table_name="campaign_did")
    op.drop_table("campaign_did")
    with op.batch_alter_table("campaign_link") as batch:
        batch.drop_column("penalty")
    with op.batch_alter_table("campaign") as batch:
        for column in (
            "service_level_seconds",
            "service_level_target",
            "allow_calls_in_management",
        ):
            batch.drop_column(column)
