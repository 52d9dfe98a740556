"""OpenDocument files (.ods, .odt, .odp): the text of content.xml and styles.xml, tables as TSV.

OpenDocument keeps text as mixed content of text:p and text:h paragraphs (spans, links,
`text:s` runs of spaces, tabs, line breaks), read here in document order. Each table is a
segment of TAB-separated rows, named by its table:name, so that a spreadsheet reads like a
CSV whose header row labels its columns. A float, currency or percentage cell is read as
its office:value, the number itself, rather than as displayed (8.61E+12, 13,800,138,000).
LibreOffice writes runs of identical cells and rows once with a repeat count (trailing
empty cells of every row as one cell repeated up to the last column, 16384): repeats are
honoured up to the widest sheet, empty ones only when a filled cell follows, and a
repeated row is written a few times at most.

styles.xml holds the headers and footers of a text document; objects embedded in the
document (a chart's data, another spreadsheet) have a content.xml of their own, and
embedded files of other kinds are opened as content. Members are read within the budget,
as in `ooxml`.
"""

from __future__ import annotations

from dlp_addon.extract import content, ooxml
from dlp_addon.extract.budget import Budget, OverBudget
from dlp_addon.extract.xlsx import number_text

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_PARAGRAPHS = {f"{{{_TEXT}}}p", f"{{{_TEXT}}}h"}
_SPACES = f"{{{_TEXT}}}s"
_TAB = f"{{{_TEXT}}}tab"
_LINE_BREAK = f"{{{_TEXT}}}line-break"
_TABLE_ELEMENT = f"{{{_TABLE}}}table"
_ROW = f"{{{_TABLE}}}table-row"
# A covered cell is the hidden part of a merged cell: it keeps the columns after it aligned.
_CELLS = {f"{{{_TABLE}}}table-cell", f"{{{_TABLE}}}covered-table-cell"}
_TABLE_NAME = f"{{{_TABLE}}}name"
_COLUMNS_REPEATED = f"{{{_TABLE}}}number-columns-repeated"
_ROWS_REPEATED = f"{{{_TABLE}}}number-rows-repeated"
_VALUE_TYPE = f"{{{_OFFICE}}}value-type"
_VALUE = f"{{{_OFFICE}}}value"
_NUMERIC_TYPES = {"float", "currency", "percentage"}
_SPACE_COUNT = f"{{{_TEXT}}}c"
_TEXT_PREFIX = f"{{{_TEXT}}}"
# Inside a paragraph, text:* elements are inline (spans, links, fields) except notes, whose
# citation number and body must not run into the paragraph's own words and digits.
_NOT_INLINE = {f"{{{_TEXT}}}note", f"{{{_TEXT}}}note-citation", f"{{{_TEXT}}}note-body"}
_MAX_SPACES = 1000
_NOT_CONTENT = ("Pictures/", "Thumbnails/", "ObjectReplacements/", "META-INF/", "Configurations2/")
_SPREADSHEET = b"application/vnd.oasis.opendocument.spreadsheet"


def extract(data: bytes, budget: Budget, where: str, depth: int) -> None:
    try:
        archive = ooxml.Archive(data, budget, where)
        names = archive.names
        spreadsheet = "mimetype" in names and archive.read("mimetype").strip() == _SPREADSHEET
        parts = [n for n in names if n == "styles.xml" or n.rpartition("/")[2] == "content.xml"]
        for name in sorted(parts, key=lambda n: (n != "content.xml", n.count("/"), n)):
            if not budget.take_part(where) or budget.out_of_time(where):
                return
            # A spreadsheet's sheets are named after the file (body:ods[Customers]), like xlsx's.
            sheets_where = where if spreadsheet and name == "content.xml" else f"{where}:{name}"
            text = ooxml.PartText(budget, f"{where}:{name}", sheets_where)
            try:
                _read_part(archive, name, text)
            except OverBudget:
                raise
            except Exception as e:  # noqa: BLE001 - expat and zlib errors in one part do not hide the others
                ooxml.corrupt(budget, f"{where}:{name}", e)
            finally:
                text.flush()
        _open_embedded(archive, depth)
    except OverBudget:
        return
    except Exception as e:  # noqa: BLE001 - zipfile, zlib and expat raise many kinds for a broken file
        ooxml.corrupt(budget, where, e)


class _Part:
    """A parser target for content.xml and styles.xml: mixed content arrives as `data`
    between the tags, in document order, so a paragraph's text is read as it is written."""

    def __init__(self, text: ooxml.PartText):
        self.text = text
        self.in_paragraph = 0
        # Row repeats and cell values of the rows and cells open now (tables nest in cells).
        self.rows: list[int] = []
        self.cells: list[tuple[str | None, int]] = []

    def start(self, tag: str, attrib: dict) -> None:
        text = self.text
        if tag in _PARAGRAPHS:
            if self.in_paragraph:
                text.text(" ")
            self.in_paragraph += 1
        elif tag == _SPACES:
            text.text(" " * ooxml.bounded_int(attrib.get(_SPACE_COUNT), _MAX_SPACES))
        elif tag == _TAB:
            text.tab()
        elif tag == _LINE_BREAK:
            text.line_break()
        elif tag == _TABLE_ELEMENT:
            text.table_start(attrib.get(_TABLE_NAME, ""))
        elif tag == _ROW:
            self.rows.append(ooxml.bounded_int(attrib.get(_ROWS_REPEATED), ooxml.MAX_COLUMNS))
            text.row_start()
        elif tag in _CELLS:
            value = None
            if attrib.get(_VALUE_TYPE) in _NUMERIC_TYPES and attrib.get(_VALUE):
                value = number_text(attrib[_VALUE])
            self.cells.append((value, ooxml.bounded_int(attrib.get(_COLUMNS_REPEATED), ooxml.MAX_COLUMNS)))
            text.cell_start()
        elif self.in_paragraph and _separates(tag):
            text.text(" ")

    def end(self, tag: str) -> None:
        text = self.text
        if tag in _PARAGRAPHS:
            self.in_paragraph -= 1
            if self.in_paragraph:
                text.text(" ")
            else:
                text.paragraph_end()
        elif tag in _CELLS:
            value, repeat = self.cells.pop()
            text.cell_end(value, repeat=repeat)
        elif tag == _ROW:
            text.row_end(repeat=self.rows.pop())
        elif tag == _TABLE_ELEMENT:
            text.table_end()
        elif self.in_paragraph and _separates(tag):
            text.text(" ")

    def data(self, data: str) -> None:
        if self.in_paragraph:
            self.text.text(data)

    def close(self) -> None:
        pass


def _read_part(archive: ooxml.Archive, name: str, text: ooxml.PartText) -> None:
    ooxml.parse_xml(archive.open(name), _Part(text))


def _separates(tag: str) -> bool:
    """Annotations, frames and notes inside a paragraph are apart from its words."""
    return not tag.startswith(_TEXT_PREFIX) or tag in _NOT_INLINE


def _open_embedded(archive: ooxml.Archive, depth: int) -> None:
    budget = archive.budget
    for name in ooxml.natural_order(archive.names):
        if name.endswith(".xml") or name in ("mimetype", "layout-cache") or name.startswith(_NOT_CONTENT):
            continue
        if not budget.take_part(archive.where) or budget.out_of_time(archive.where):
            return
        content.open_content(archive.read(name), budget, content_type="", where=f"{archive.where}:{name}",
                             depth=depth + 1)
