"""The downloadable import template (seed 000, "Download Template"): the standard headers
and one example row, as .xlsx (openpyxl) or .csv (UTF-8 with BOM so Excel opens it right)."""

from __future__ import annotations

import csv
from pathlib import Path

from store.importing.fields import REQUIRED_FIELDS, TEMPLATE_EXAMPLE, TEMPLATE_FIELDS


def write_template(path: Path, fmt: str | None = None) -> Path:
    fmt = (fmt or path.suffix.lstrip(".") or "xlsx").lower()
    headers = [f.value for f in TEMPLATE_FIELDS]
    example = [TEMPLATE_EXAMPLE[f] for f in TEMPLATE_FIELDS]
    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(headers)
            writer.writerow(example)
        return path
    if fmt != "xlsx":
        raise ValueError(f"unknown template format {fmt!r} (use xlsx or csv)")
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "accounts"
    sheet.append(headers)
    sheet.append(example)
    required = {f.value for f in REQUIRED_FIELDS}
    for index, header in enumerate(headers, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True, color="C00000" if header in required else "000000")
        sheet.column_dimensions[get_column_letter(index)].width = max(14, len(header) + 4)
        # Phone and document numbers must stay text, or Excel drops the '+' and leading zeros.
        sheet.cell(row=2, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    book.save(path)
    return path
