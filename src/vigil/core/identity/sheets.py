"""Read a CSV or XLSX table into text cells with the line numbers a person sees."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

MAX_ROWS = 100_000  # a cohort, not a data dump: a wrong file fails fast


class SheetError(Exception):
    """The file as a whole cannot be read; str() names the problem."""


@dataclass(frozen=True)
class SheetRow:
    line: int  # 1-based: the CSV line or the spreadsheet row number
    cells: list[str]


@dataclass(frozen=True)
class Sheet:
    header: SheetRow
    rows: list[SheetRow]


def read_sheet(path: Path) -> Sheet:
    """The first non-empty row is the header; empty rows are skipped."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(path)
    elif suffix in {".xlsx", ".xlsm"}:
        rows = _xlsx_rows(path)
    else:
        raise SheetError(f"{path.name}: use a .csv or .xlsx file (.xls is not supported)")
    table = [row for row in rows if any(row.cells)]
    if not table:
        raise SheetError(f"{path.name} is empty")
    if len(table) > MAX_ROWS + 1:
        raise SheetError(f"{path.name} has more than {MAX_ROWS} rows")
    return Sheet(header=table[0], rows=table[1:])


def _csv_rows(path: Path) -> list[SheetRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError:
        raise SheetError(f"{path.name} is not UTF-8 text: save it as CSV UTF-8") from None
    except OSError as error:
        raise SheetError(f"{path.name} cannot be read: {error.strerror}") from None
    first_line = text.split("\n", 1)[0]
    try:
        # Excel writes ';' where the decimal separator is ',' (most of Europe)
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(first_line, ",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[SheetRow] = []
    try:
        line = 1
        for record in reader:
            rows.append(SheetRow(line, [cell.strip() for cell in record]))
            line = reader.line_num + 1  # a quoted cell may span lines
    except csv.Error as error:
        raise SheetError(f"{path.name} line {reader.line_num}: {error}") from None
    return rows


def _xlsx_rows(path: Path) -> list[SheetRow]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise SheetError(f"{path.name} is not a readable .xlsx workbook") from None
    try:
        sheet = workbook.worksheets[0]
        return [
            SheetRow(number, [_cell_text(value) for value in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a login or password typed as a number: 12345, not 12345.0
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()
