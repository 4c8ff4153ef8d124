"""no index on assignment.import_batch_id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:40:00

Nothing looks assignments up by their import batch (seed 003 filters contacts by theirs);
the index only served the ON DELETE SET NULL of a deleted import batch, which may scan. An
imported row costs one index entry less.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_assignment_import_batch_id", table_name="assignment")


def downgrade() -> None:
    op.create_index(
        "ix_assignment_import_batch_id", "assignment", ["import_batch_id"], unique=False
    )
