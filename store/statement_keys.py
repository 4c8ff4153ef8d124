"""Foreign keys that PostgreSQL checks once per statement, on the tables an import fills.

PostgreSQL checks a declared foreign key with one trigger call per inserted row (an SPI
query and a ``FOR KEY SHARE`` lock on the referenced row, every time). On the tables an
import writes in bulk that cost more than half of the server's time, more than the whole
budget of 20,000 rows/s (docs/import.md, "Where the time goes": 67 us a row with declared
keys, 28 without, 36 with the checks below, backend CPU, 200,000 rows). So on PostgreSQL
these keys are enforced by triggers that do the same work set-based:

- **insert** (child side): one ``AFTER INSERT ... FOR EACH STATEMENT`` trigger per table,
  with the statement's rows as a transition table: per key, the distinct values are locked
  ``FOR KEY SHARE`` in the parent through its primary key (as the row-level check does, so a
  concurrent delete of the parent waits for this transaction) and counted; fewer found than
  asked is a ``foreign_key_violation`` (SQLSTATE 23503) naming the constraint and a missing
  key, as PostgreSQL's own message does. Locking first and counting what was locked is what
  makes it safe against a delete committed in between (a deleted row is not locked, so it is
  not counted).
- **update** (child side): a row trigger on ``UPDATE OF`` the key columns, only when a key
  changes to a value (updates of keys are rare: the hopper and the engine never move them).
- **delete** (parent side): one statement trigger per parent applies each key's ON DELETE
  action to the children of the deleted rows (CASCADE, SET NULL, or NO ACTION / RESTRICT: a
  violation if children remain).
- **update of the parent's key**: refused while children reference the old value.

Parent deletes see the children committed before them because the app runs in READ
COMMITTED (each statement of a trigger takes a fresh snapshot); under REPEATABLE READ a
parent's delete could miss children committed concurrently, so the delete trigger refuses to
run at a stricter isolation level rather than leave orphans.

SQLite and the models keep the declared keys (``ForeignKey`` in store/models.py); only the
PostgreSQL migration (0005) swaps them for these triggers. :func:`keys_of` derives the list
from the models, so a key added to one of these tables later shows up in the schema test
(tests/store/test_schema.py) until a migration installs its triggers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import MetaData

# The tables an import writes a row (or several) per record into (store/importing/writer_pg.py).
BULK_TABLES = ("contact", "phone", "email", "account", "contact_tag", "assignment", "ticket")
PREFIX = "dialer_key"


@dataclass(frozen=True)
class StatementKey:
    """A foreign key ``table.column -> parent.parent_column`` checked per statement."""

    name: str  # the declared constraint's name (fk_<table>_<column>_<parent>)
    table: str
    column: str
    parent: str
    parent_column: str
    ondelete: str  # CASCADE, SET NULL, RESTRICT or NO ACTION


def keys_of(metadata: MetaData, tables: Iterable[str] = BULK_TABLES) -> tuple[StatementKey, ...]:
    """The foreign keys of ``tables`` as declared in ``metadata``, in a stable order."""
    keys = []
    for name in tables:
        table = metadata.tables[name]
        for constraint in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
            (element,) = constraint.elements  # every key of ours is on one column
            keys.append(
                StatementKey(
                    name=str(constraint.name),
                    table=name,
                    column=element.parent.name,
                    parent=element.column.table.name,
                    parent_column=element.column.name,
                    ondelete=(constraint.ondelete or "NO ACTION").upper(),
                )
            )
    return tuple(keys)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _raise(message: str, detail: str, key: StatementKey, *, column: bool) -> str:
    """A RAISE as PostgreSQL's own foreign-key error (SQLSTATE 23503, constraint and table
    named, the key in the detail)."""
    where = f"COLUMN = {_literal(key.column)}, " if column else ""
    return (
        f"RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', "
        f"MESSAGE = {_literal(message)}, DETAIL = {detail}, "
        f"TABLE = {_literal(key.table)}, {where}CONSTRAINT = {_literal(key.name)};"
    )


def _violation(key: StatementKey, value: str) -> str:
    """A child's key ``value`` (a PL/pgSQL expression) is not in the parent."""
    message = (
        f'insert or update on table "{key.table}" violates foreign key constraint "{key.name}"'
    )
    detail = f"format('Key ({key.column})=(%s) is not present in table \"{key.parent}\".', {value})"
    return _raise(message, detail, key, column=True)


def _still_referenced(key: StatementKey, value: str) -> str:
    """A parent's key ``value`` is still referenced by a child."""
    message = (
        f'update or delete on table "{key.parent}" violates foreign key constraint '
        f'"{key.name}" on table "{key.table}"'
    )
    detail = (
        f"format('Key ({key.parent_column})=(%s) is still referenced "
        f'from table "{key.table}".\', {value})'
    )
    return _raise(message, detail, key, column=False)


# The planner does not see the rows of the transaction it runs in: inside an import a million
# contacts look like none, and it scanned a whole parent (or child) table for every batch (136
# ms a batch at 200,000 contacts, growing with the table) where the key's index finds the
# batch's rows directly. Functions that handle a statement's many rows plan by index.
_BY_INDEX = "\nSET enable_seqscan = off"


def _function_and_trigger(
    name: str, body: str, trigger: str, *, declare: str = "", by_index: bool = False
) -> list[str]:
    """``CREATE FUNCTION name()`` (PL/pgSQL, ``body`` between BEGIN and RETURN NULL) and
    ``CREATE TRIGGER name <trigger> EXECUTE FUNCTION name()``."""
    fn = _quote(name)
    declared = f"DECLARE {declare}\n" if declare else ""
    plan = _BY_INDEX if by_index else ""
    return [
        f"""CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql{plan} AS $body$
{declared}BEGIN{body}
  RETURN NULL;
END $body$""",
        f"CREATE TRIGGER {fn} {trigger} EXECUTE FUNCTION {fn}()",
    ]


def _insert_function(name: str, table: str, keys: Sequence[StatementKey]) -> list[str]:
    checks = []
    for key in keys:
        col, parent, pcol = _quote(key.column), _quote(key.parent), _quote(key.parent_column)
        checks.append(
            f"""
  wanted := ARRAY(SELECT DISTINCT n.{col} FROM new_rows n WHERE n.{col} IS NOT NULL);
  IF cardinality(wanted) > 0 THEN
    SELECT count(*) INTO locked
      FROM (SELECT 1 FROM {parent} p WHERE p.{pcol} = ANY (wanted) FOR KEY SHARE OF p) l;
    IF locked < cardinality(wanted) THEN
      SELECT k INTO missing FROM unnest(wanted) k
        WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{pcol} = k) LIMIT 1;
      {_violation(key, "missing")}
    END IF;
  END IF;"""
        )
    return _function_and_trigger(
        name,
        "".join(checks),
        f"AFTER INSERT ON {_quote(table)} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
        declare="wanted bigint[]; locked bigint; missing bigint;",
        by_index=True,
    )


def _update_function(name: str, table: str, keys: Sequence[StatementKey]) -> list[str]:
    checks = []
    for key in keys:
        col, parent, pcol = _quote(key.column), _quote(key.parent), _quote(key.parent_column)
        checks.append(
            f"""
  IF NEW.{col} IS NOT NULL AND NEW.{col} IS DISTINCT FROM OLD.{col} THEN
    PERFORM 1 FROM {parent} p WHERE p.{pcol} = NEW.{col} FOR KEY SHARE OF p;
    IF NOT FOUND THEN
      {_violation(key, f"NEW.{col}")}
    END IF;
  END IF;"""
        )
    columns = ", ".join(_quote(k.column) for k in keys)
    changed = " OR ".join(
        f"NEW.{_quote(k.column)} IS DISTINCT FROM OLD.{_quote(k.column)}" for k in keys
    )
    return _function_and_trigger(
        name,
        "".join(checks),
        f"AFTER UPDATE OF {columns} ON {_quote(table)} FOR EACH ROW WHEN ({changed})",
    )


def _delete_function(name: str, parent: str, keys: Sequence[StatementKey]) -> list[str]:
    actions = [
        f"""
  -- Under REPEATABLE READ this statement's snapshot could miss children committed since
  -- the transaction began: refuse rather than leave them orphaned (store/statement_keys.py).
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'deletes from "{parent}" must run in READ COMMITTED, not %',
      current_setting('transaction_isolation')
      USING ERRCODE = 'feature_not_supported';
  END IF;"""
    ]
    # Actions first, checks last: NO ACTION is checked after the cascades of the statement.
    for key in sorted(keys, key=lambda k: k.ondelete in ("RESTRICT", "NO ACTION")):
        table, col, pcol = _quote(key.table), _quote(key.column), _quote(key.parent_column)
        if key.ondelete == "CASCADE":
            actions.append(f"\n  DELETE FROM {table} c USING old_rows o WHERE c.{col} = o.{pcol};")
        elif key.ondelete == "SET NULL":
            actions.append(
                f"\n  UPDATE {table} c SET {col} = NULL FROM old_rows o WHERE c.{col} = o.{pcol};"
            )
        elif key.ondelete in ("RESTRICT", "NO ACTION"):
            actions.append(
                f"""
  SELECT c.{col} INTO referenced
    FROM {table} c JOIN old_rows o ON c.{col} = o.{pcol} LIMIT 1;
  IF FOUND THEN
    {_still_referenced(key, "referenced")}
  END IF;"""
            )
        else:
            raise ValueError(f"{key.name}: ON DELETE {key.ondelete} is not supported")
    # By index too: an import that overwrites duplicates deletes their phones batch by batch.
    return _function_and_trigger(
        name,
        "".join(actions),
        f"AFTER DELETE ON {_quote(parent)} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
        declare="referenced bigint;",
        by_index=True,
    )


def _parent_key_function(name: str, parent: str, keys: Sequence[StatementKey]) -> list[str]:
    (pcol,) = {_quote(k.parent_column) for k in keys}
    checks = [
        f"""
  PERFORM 1 FROM {_quote(key.table)} c WHERE c.{_quote(key.column)} = OLD.{pcol} LIMIT 1;
  IF FOUND THEN
    {_still_referenced(key, f"OLD.{pcol}")}
  END IF;"""
        for key in keys
    ]
    return _function_and_trigger(
        name,
        "".join(checks),
        f"AFTER UPDATE OF {pcol} ON {_quote(parent)} FOR EACH ROW "
        f"WHEN (OLD.{pcol} IS DISTINCT FROM NEW.{pcol})",
    )


Builder = Callable[[str, str, Sequence[StatementKey]], list[str]]
# (name part, grouped by, builder): each group of keys gets one function and one trigger.
_TRIGGERS: tuple[tuple[str, str, Builder], ...] = (
    ("insert", "table", _insert_function),
    ("update", "table", _update_function),
    ("delete", "parent", _delete_function),
    ("rekey", "parent", _parent_key_function),
)


def _triggers(keys: Sequence[StatementKey]) -> list[tuple[str, str, Builder, list[StatementKey]]]:
    """(trigger and function name, the table it is on, its builder, its keys)."""
    out = []
    for by in ("table", "parent"):
        grouped: dict[str, list[StatementKey]] = defaultdict(list)
        for key in keys:
            grouped[getattr(key, by)].append(key)
        for table, own in grouped.items():
            for part, group, builder in _TRIGGERS:
                if group == by:
                    out.append((f"{PREFIX}_{part}_{table}", table, builder, own))
    return out


def install(keys: Sequence[StatementKey]) -> list[str]:
    """PostgreSQL statements that drop the declared constraints and install the triggers."""
    statements = [f"ALTER TABLE {_quote(k.table)} DROP CONSTRAINT {_quote(k.name)}" for k in keys]
    for name, table, builder, own in _triggers(keys):
        statements += builder(name, table, own)
    return statements


def trigger_names(keys: Sequence[StatementKey]) -> dict[str, str]:
    """Every trigger :func:`install` creates: its name -> the table it is on."""
    return {name: table for name, table, _, _ in _triggers(keys)}


def uninstall(keys: Sequence[StatementKey]) -> list[str]:
    """The reverse of :func:`install`: triggers and functions dropped, constraints declared."""
    statements = [
        f"DROP FUNCTION {_quote(name)}() CASCADE" for name in trigger_names(keys)
    ]  # CASCADE: the trigger goes with its function
    for k in keys:
        statements.append(
            f"ALTER TABLE {_quote(k.table)} ADD CONSTRAINT {_quote(k.name)} "
            f"FOREIGN KEY ({_quote(k.column)}) REFERENCES {_quote(k.parent)} "
            f"({_quote(k.parent_column)}) ON DELETE {k.ondelete}"
        )
    return statements
