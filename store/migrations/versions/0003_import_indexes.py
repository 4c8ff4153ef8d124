"""fewer index entries per imported contact: redundant indexes dropped, partial ones for
columns an import leaves empty

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00

- ``ix_contact_company_id`` and ``ix_account_contact_id`` go: the unique constraints
  (company_id, document_type, document_number) and (contact_id, number) lead with the same
  column and serve the same lookups and ON DELETE actions.
- ``ix_contact_assigned_user_id``, ``ix_assignment_assigned_user_id``,
  ``ix_assignment_last_result_id`` and ``ix_assignment_lease`` keep their columns but only
  index rows where the column is set (``... IS NOT NULL``): every query on them compares the
  column with a value, which implies it (both planners prove it, prepared statements too),
  and imported rows, which leave them empty, cost no index entry.

Index changes only (no table is rebuilt on SQLite).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, index, columns, column that must be set)
PARTIAL = (
    ("contact", "ix_contact_assigned_user_id", ["assigned_user_id"], "assigned_user_id"),
    ("assignment", "ix_assignment_assigned_user_id", ["assigned_user_id"], "assigned_user_id"),
    ("assignment", "ix_assignment_last_result_id", ["last_result_id"], "last_result_id"),
    (
        "assignment",
        "ix_assignment_lease",
        ["campaign_id", "state", "lease_expires_at"],
        "lease_expires_at",
    ),
)
REDUNDANT = (
    ("contact", "ix_contact_company_id", ["company_id"]),
    ("account", "ix_account_contact_id", ["contact_id"]),
)


def upgrade() -> None:
    for table, name, _ in REDUNDANT:
        op.drop_index(name, table_name=table)
    for table, name, columns, column in PARTIAL:
        op.drop_index(name, table_name=table)
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, table, columns, unique=False, postgresql_where=where, sqlite_where=where
        )


def downgrade() -> None:
    for table, name, columns, _ in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=False)
    for table, name, columns in REDUNDANT:
        op.create_index(name, table, columns, unique=False)
