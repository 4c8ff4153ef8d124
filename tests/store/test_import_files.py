"""Reading import files: formats, encodings, delimiters, headers and custom mappings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from store.importing.fields import TEMPLATE_FIELDS, Field
from store.importing.mapping import load_mapping, plan_headers
from store.importing.problems import ImportRejected
from store.importing.readers import detect_encoding, open_table, sniff_delimiter
from store.importing.template import write_template

FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"


def test_utf8_csv_rows_keep_spreadsheet_numbers() -> None:
    table = open_table(FIXTURES / "standard.csv")
    rows = list(table.rows)
    assert table.encoding == "utf-8"
    assert [number for number, _ in rows] == [2, 3, 4]
    assert rows[0][1][3] == "García"


def test_latin1_semicolon_csv_is_detected() -> None:
    table = open_table(FIXTURES / "custom-latin1.csv")
    rows = list(table.rows)
    assert table.encoding in ("cp1252", "latin-1")
    assert table.delimiter == ";"
    assert rows[0][1][3:5] == ["Muñoz", "José"]


def test_utf8_bom_is_stripped_from_first_header(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffCUSTOMER TYPE,FIRST NAME\nPERSON,Ana\n".encode())
    table = open_table(path)
    assert detect_encoding(path) == "utf-8-sig"
    assert table.header == ["CUSTOMER TYPE", "FIRST NAME"]


def test_blank_rows_are_skipped_but_numbering_continues(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("A,B\n1,2\n,\n3,4\n", encoding="utf-8")
    assert [n for n, _ in open_table(path).rows] == [2, 4]


@pytest.mark.parametrize(
    ("line", "expected"), [("a,b", ","), ("a;b;c", ";"), ("a\tb", "\t"), ("a", ",")]
)
def test_delimiter_is_the_one_the_header_uses(line: str, expected: str) -> None:
    assert sniff_delimiter(line) == expected


def test_xlsx_numbers_and_dates_become_text(tmp_path: Path) -> None:
    path = tmp_path / "numbers.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.append(["DOCUMENT NUMBER", "MOBILE", "BIRTH DATE", "SCORE"])
    sheet.append([1020304050, 573105822141, dt.datetime(1985, 4, 23), 2.5])
    book.save(path)
    table = open_table(path)
    assert list(table.rows) == [(2, ["1020304050", "573105822141", "1985-04-23", "2.5"])]


def test_unsupported_file_type_is_named(tmp_path: Path) -> None:
    path = tmp_path / "contacts.pdf"
    path.write_bytes(b"%PDF")
    with pytest.raises(ImportRejected, match=r"unsupported file type '\.pdf'"):
        open_table(path)


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_template_round_trips_through_the_reader(tmp_path: Path, fmt: str) -> None:
    path = write_template(tmp_path / f"template.{fmt}", fmt)
    table = open_table(path)
    plan = plan_headers(table.header)
    assert table.header == [f.value for f in TEMPLATE_FIELDS]
    assert plan.extras == []
    assert len(list(table.rows)) == 1


def test_headers_match_ignoring_case_and_spacing() -> None:
    plan = plan_headers(
        [
            " customer  type",
            "Document_Type",
            "document number",
            "First Surname",
            "FIRST NAME",
            "Segment",
        ]
    )
    assert plan.columns[Field.DOCUMENT_TYPE] == 1
    assert plan.extras == [(5, "Segment")]


def test_missing_required_headers_are_each_reported_on_row_1() -> None:
    with pytest.raises(ImportRejected) as caught:
        plan_headers(["CUSTOMER TYPE", "DOCUMENT TYPE", "FIRST NAME", "PHONE"])
    assert [str(p) for p in caught.value.problems] == [
        "row 1, column DOCUMENT NUMBER: required column is missing",
        "row 1, column FIRST SURNAME: required column is missing",
    ]


def test_duplicate_header_names_both_columns() -> None:
    header = [
        "CUSTOMER TYPE",
        "DOCUMENT TYPE",
        "DOCUMENT NUMBER",
        "FIRST SURNAME",
        "FIRST NAME",
        "PHONE",
        "phone",
    ]
    with pytest.raises(ImportRejected) as caught:
        plan_headers(header)
    assert [str(p) for p in caught.value.problems] == [
        "row 1, column phone: duplicate header (also column 6); rename one"
    ]


def test_custom_mapping_from_json_and_toml_agree() -> None:
    header = open_table(FIXTURES / "custom-latin1.csv").header
    from_json = plan_headers(header, load_mapping(FIXTURES / "custom-mapping.json"))
    from_toml = plan_headers(header, load_mapping(FIXTURES / "custom-mapping.toml"))
    assert from_json.columns == from_toml.columns
    assert from_json.columns[Field.DOCUMENT_NUMBER] == 2
    assert from_json.label(Field.DOCUMENT_NUMBER) == "Cedula (DOCUMENT NUMBER)"
    assert from_json.extras == [(7, "Notas")]


def test_mapping_to_an_unknown_field_or_header_is_reported() -> None:
    header = ["Tipo", "Doc", "Num", "Apellido", "Nombre"]
    mapping = {
        "Tipo": "CUSTOMER TYPE",
        "Doc": "DOCUMENT TYPE",
        "Num": "DOCUMENT NUMBER",
        "Apellido": "FIRST SURNAME",
        "Nombre": "FIRST NAME",
        "Edad": "FIRST NAME",
        "Nota": "COLOUR",
    }
    with pytest.raises(ImportRejected) as caught:
        plan_headers(header, mapping)
    messages = [str(p) for p in caught.value.problems]
    assert messages[0] == "row 1, column Edad: FIRST NAME is already mapped from 'Nombre'"
    assert messages[1].startswith("row 1, column Nota: mapped to unknown field 'COLOUR'")


def test_mapping_header_absent_from_file_is_reported() -> None:
    mapping = {
        "Tipo": "CUSTOMER TYPE",
        "Doc": "DOCUMENT TYPE",
        "Num": "DOCUMENT NUMBER",
        "Apellido": "FIRST SURNAME",
        "Nombre": "FIRST NAME",
    }
    with pytest.raises(ImportRejected) as caught:
        plan_headers(["Tipo", "Doc", "Num", "Apellido"], mapping)
    assert [str(p) for p in caught.value.problems] == [
        "row 1, column Nombre: mapped header not found in the file (for FIRST NAME)"
    ]


def test_bad_mapping_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ImportRejected, match=r"mapping map\.json is not valid JSON"):
        load_mapping(path)
