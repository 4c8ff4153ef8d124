"""one attempt per inbound caller's channel, whichever dialer writes it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 02:00:00

An inbound call that Asterisk cannot bring to any dialer's FastAGI is told to every dialer on
that Asterisk (the [dialer-inbound] fallback's UserEvent); each tries to record it, and the
unique index on the caller's channel Uniqueid lets exactly one insert succeed
(store.inbound.record_unreached_inbound). Outbound attempts keep no channel Uniqueid, and an
inbound call has one attempt: no existing row conflicts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    where = sa.text("channel_uniqueid IS NOT NULL")
    op.create_index(
        "ux_attempt_inbound_channel",
        "attempt",
        ["channel_uniqueid"],
        unique=True,
        postgresql_where=where,
        sqlite_where=where,
    )


def downgrade() -> None:
    op.drop_index("ux_attempt_inbound_channel", table_name="attempt")
