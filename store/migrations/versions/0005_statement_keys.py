"""foreign keys of the tables an import fills, checked once per statement on PostgreSQL

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00

PostgreSQL checks a declared foreign key with a trigger call per row; on the tables an import
writes in bulk that was more than half of the server's time (docs/import.md). The declared
constraints of those tables are replaced by statement-level triggers that check and lock the
same parents set-based, and apply the same ON DELETE actions (store/statement_keys.py).
SQLite keeps its declared keys: nothing changes there.

The statements are frozen in 0005_statement_keys.json, as store/statement_keys.py generated
them for the keys below at this revision, so that a later change to the generator or the models
does not change what this migration does (tests/store/test_statement_keys.py checks that the
generator still builds them; a change to the triggers is a new migration).
"""

import json
from collections.abc import Sequence
from pathlib import Path

from alembic import op

from store.statement_keys import StatementKey

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, parent, ON DELETE); the parent's column is its id, the constraint is named
# as store.models.NAMING names it.
_KEYS = (
    ("contact", "assigned_user_id", "users", "SET NULL"),
    ("contact", "company_id", "company", "CASCADE"),
    ("contact", "import_batch_id", "import_batch", "SET NULL"),
    ("phone", "contact_id", "contact", "CASCADE"),
    ("email", "contact_id", "contact", "CASCADE"),
    ("account", "contact_id", "contact", "CASCADE"),
    ("contact_tag", "contact_id", "contact", "CASCADE"),
    ("contact_tag", "tag_id", "tag", "CASCADE"),
    ("assignment", "assigned_user_id", "users", "SET NULL"),
    ("assignment", "campaign_id", "campaign", "CASCADE"),
    ("assignment", "contact_id", "contact", "CASCADE"),
    ("assignment", "import_batch_id", "import_batch", "SET NULL"),
    ("assignment", "last_result_id", "typification_result", "SET NULL"),
    ("assignment", "phone_id", "phone", "SET NULL"),
    ("ticket", "assigned_user_id", "users", "SET NULL"),
    ("ticket", "campaign_id", "campaign", "CASCADE"),
    ("ticket", "company_id", "company", "CASCADE"),
    ("ticket", "contact_id", "contact", "CASCADE"),
    ("ticket", "import_batch_id", "import_batch", "SET NULL"),
)
KEYS = tuple(
    StatementKey(f"fk_{table}_{column}_{parent}", table, column, parent, "id", ondelete)
    for table, column, parent, ondelete in _KEYS
)


FROZEN = Path(__file__).with_suffix(".json")


def statements(direction: str) -> list[str]:
    """The frozen ``upgrade`` or ``downgrade`` statements of this revision."""
    frozen: dict[str, list[str]] = json.loads(FROZEN.read_text(encoding="utf-8"))
    return frozen[direction]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in statements("upgrade"):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in statements("downgrade"):
        op.execute(statement)
