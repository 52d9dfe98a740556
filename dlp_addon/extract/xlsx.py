"""Excel workbooks (.xlsx, .xlsm) through openpyxl: every sheet, every row, numbers too.

Each sheet is one text segment (`body:xlsx[Customers]`) of TAB-separated lines, so its
header row labels the columns for the phone detector as a CSV header would; title rows
above the table are a segment of their own (`ooxml.table_segments`). Numbers come out as their digits: Excel keeps
a phone typed into a cell as the number 8613800138000 (in the XML often as
8.6138001380000E+12), and its digits are what identifies the customer. Hidden sheets are
read like the others. Cached formula values are read (`data_only`), not the formulas.

Before openpyxl reads anything, the sizes the ZIP declares for its members are spent from
the budget and held to `max_ratio`, because openpyxl reads shared strings into memory
whole. The rows are read in openpyxl's streaming mode with the sheet's declared dimensions
ignored: a sheet that claims to be A1:B2 cannot hide the rows below. openpyxl is the cost
(about 20 µs a cell: 50,000 rows of 5 columns in ~5 s), so the clock is checked every few
thousand rows. Cell notes are read
as text; files embedded in the workbook are opened as content of their own.

A binary workbook (.xlsb) is the same ZIP with BIFF12 parts that openpyxl does not read:
the strings of its parts are read instead (`ole.add_strings`), strings-level as for a
legacy .xls. A password-protected workbook is not a ZIP but an OLE container: see `ole`.
"""

from __future__ import annotations

import datetime
import io
import re
import warnings

import openpyxl

from dlp_addon.extract import ole, ooxml
from dlp_addon.extract.budget import Budget, OverBudget

_ROWS_BETWEEN_CLOCK_CHECKS = 2000
# Integers up to 15 digits are exact in a double, and every E.164 number fits.
_EXACT_INTEGERS = 10**15
_PARSED_BY_OPENPYXL = re.compile(r".*\.(?:xml|rels)", re.IGNORECASE)
_NOTES = re.compile(r"xl/comments[^/]*\.xml")


def number_text(value: float | int | str) -> str:
    """A cell's number as a person would type it: 8613800138000, never 8.6138E+12."""
    if isinstance(value, str):
        try:
            value = float(value) if "e" in value.lower() or "." in value else int(value)
        except ValueError:
            return value
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < _EXACT_INTEGERS:
        return str(int(value))
    return f"{value:.15g}"


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return number_text(value)
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def extract(data: bytes, budget: Budget, where: str, depth: int) -> None:
    try:
        archive = ooxml.Archive(data, budget, where)
        if "xl/workbook.bin" in archive.names:
            _read_binary_parts(archive)
            ooxml.open_embedded(archive, "xl/embeddings/", depth)
            return
        archive.reserve([n for n in archive.names if _PARSED_BY_OPENPYXL.fullmatch(n)])
        with warnings.catch_warnings():
            # openpyxl warns about features it drops (data validation, extensions); not our concern.
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                for sheet in workbook.worksheets:
                    if not budget.take_part(where) or budget.out_of_time(where):
                        return
                    _read_sheet(sheet, budget, where)
            finally:
                workbook.close()
        ooxml.read_parts(archive, ooxml.natural_order([n for n in archive.names if _NOTES.fullmatch(n)]))
        ooxml.open_embedded(archive, "xl/embeddings/", depth)
    except OverBudget:
        return
    except Exception as e:  # noqa: BLE001 - openpyxl raises KeyError, ValueError, TypeError... for broken files
        ooxml.corrupt(budget, where, e)


def _read_binary_parts(archive: ooxml.Archive) -> None:
    for name in ooxml.natural_order([n for n in archive.names if n.startswith("xl/") and n.endswith(".bin")
                                     and not n.startswith("xl/embeddings/")]):
        if not archive.budget.take_part(archive.where) or archive.budget.out_of_time(archive.where):
            return
        ole.add_strings(archive.read(name), archive.budget, f"{archive.where}:{name}")


def _read_sheet(sheet, budget: Budget, where: str) -> None:
    """One segment, `where[sheet title]`. Rows are joined here rather than through PartText:
    openpyxl is slow enough per cell on its own."""
    sheet.reset_dimensions()
    add_table(sheet.iter_rows(values_only=True), budget, f"{where}[{sheet.title}]")


def add_table(rows_of_values, budget: Budget, place: str) -> None:
    """A sheet's rows of cell values as TAB-separated lines (see ooxml.table_segments), within
    the budget: raises OverBudget, with the problem recorded, past the decoded-size room."""
    rows: list[tuple[str, int]] = []
    size, room = 0, budget.decoded_room()
    try:
        for number, row in enumerate(rows_of_values, start=1):
            if number % _ROWS_BETWEEN_CLOCK_CHECKS == 0 and budget.out_of_time(place):
                break
            cells = [ooxml.one_line(cell_text(value)) for value in row]
            while cells and not cells[-1]:
                cells.pop()
            if not cells:
                continue
            line = "\t".join(cells)
            size += len(line) + 1
            if size > room:
                budget.problem("too_large", place,
                               f"text over the decoded-size limit ({budget.limits.max_decoded_bytes} bytes)")
                raise OverBudget
            rows.append((line, len(cells) - cells.count("")))
    finally:
        budget.spend_decoded(size)
        for segment in ooxml.table_segments(rows, place):
            budget.add(segment)
