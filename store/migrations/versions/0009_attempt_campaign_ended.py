"""a campaign's attempts by when they ended: the abandon windows read back at start

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 01:40:00

The compliance guard's rolling 24-hour and 30-day abandon windows lived only in the memory of
the process dialing the campaign: a restart or a takeover started them empty, and a campaign
already at the cap dialed as if it had never dropped a call. A process that starts dialing a
campaign now reads its last 30 days of answers back (store.attempts.answers_by_minute); this
index keeps that a range scan of one campaign.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_attempt_campaign_ended", "attempt", ["campaign_id", "ended_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_attempt_campaign_ended", table_name="attempt")
