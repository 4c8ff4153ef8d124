"""From the file's header row to template fields.

The standard template is matched by header name (any case and spacing). A custom template
(seed 000, "Column Mapping") maps the file's own headers onto template fields, given as a
dict or a small JSON/TOML file ``{"Cedula": "DOCUMENT NUMBER", ...}``. Columns not mapped to a
field are the customer's additional data (seed 000, "Additional Data").
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from store.importing.fields import REQUIRED_FIELDS, Field, normalise_header
from store.importing.problems import ImportProblem, ImportRejected

_FIELDS_BY_NAME = {normalise_header(f.value): f for f in Field}


@dataclass(frozen=True)
class HeaderPlan:
    """Where each field sits in a row, and which columns are additional data."""

    columns: dict[Field, int]
    labels: dict[Field, str]  # how the file names each field's column, for messages
    extras: list[tuple[int, str]] = field(default_factory=list)  # (index, header as written)

    def label(self, f: Field) -> str:
        return self.labels.get(f, f.value)


def parse_field(name: str) -> Field | None:
    return _FIELDS_BY_NAME.get(normalise_header(name))


def load_mapping(path: Path) -> dict[str, str]:
    """Read a custom template's column mapping: file header -> template field, JSON or TOML
    (TOML may nest it under a ``[columns]`` table)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImportRejected([ImportProblem(0, "", f"cannot read mapping {path}: {exc}")]) from exc
    try:
        data: object
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        msg = f"mapping {path.name} is not valid {path.suffix.lstrip('.').upper()}: {exc}"
        raise ImportRejected([ImportProblem(0, "", msg)]) from exc
    if isinstance(data, dict) and isinstance(data.get("columns"), dict):
        data = data["columns"]
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        msg = f"mapping {path.name} must map file headers to template fields (text to text)"
        raise ImportRejected([ImportProblem(0, "", msg)])
    return {str(k): str(v) for k, v in data.items()}


def plan_headers(header: list[str], mapping: Mapping[str, str] | None = None) -> HeaderPlan:
    """Match the header row; raise ImportRejected listing every unknown, duplicate or
    missing header (all on row 1)."""
    problems: list[ImportProblem] = []
    by_header: dict[str, int] = {}
    for index, text in enumerate(header):
        if not text:
            continue
        key = normalise_header(text)
        if key in by_header:
            first = by_header[key] + 1
            problems.append(
                ImportProblem(1, text, f"duplicate header (also column {first}); rename one")
            )
            continue
        by_header[key] = index

    wanted: dict[str, Field] = {}  # normalised file header -> field
    if mapping is None:
        wanted = {key: f for key, f in _FIELDS_BY_NAME.items() if key in by_header}
    else:
        mapped_to: dict[Field, str] = {}
        for source, target in mapping.items():
            f = parse_field(target)
            if f is None:
                known = ", ".join(x.value for x in Field)
                problems.append(
                    ImportProblem(
                        1, source, f"mapped to unknown field {target!r} (fields: {known})"
                    )
                )
                continue
            if f in mapped_to:
                problems.append(
                    ImportProblem(1, source, f"{f.value} is already mapped from {mapped_to[f]!r}")
                )
                continue
            mapped_to[f] = source
            key = normalise_header(source)
            if key not in by_header:
                problems.append(
                    ImportProblem(1, source, f"mapped header not found in the file (for {f.value})")
                )
                continue
            wanted[key] = f

    columns: dict[Field, int] = {}
    labels: dict[Field, str] = {}
    for key, f in wanted.items():
        index = by_header[key]
        columns[f] = index
        written = header[index]
        labels[f] = written if normalise_header(written) == f.value else f"{written} ({f.value})"
    for f in REQUIRED_FIELDS:
        if f not in columns and not any(
            p.column and parse_field_safe(mapping, p.column) == f for p in problems
        ):
            problems.append(ImportProblem(1, f.value, "required column is missing"))
    if problems:
        raise ImportRejected(problems)
    used = set(columns.values())
    extras = [
        (i, h)
        for i, h in enumerate(header)
        if h and i not in used and by_header.get(normalise_header(h)) == i
    ]
    return HeaderPlan(columns, labels, extras)


def parse_field_safe(mapping: Mapping[str, str] | None, source: str) -> Field | None:
    """The field a mapping entry targets, so a header already reported is not reported twice."""
    if mapping is None or source not in mapping:
        return None
    return parse_field(mapping[source])
