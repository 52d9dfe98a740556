"""Word and PowerPoint files (Office Open XML): the text a reader sees, tables as TSV.

A .docx or .pptx is a ZIP of XML parts. Their text is in w:t (WordprocessingML) and a:t
(DrawingML) elements: paragraphs end lines, and every outermost table becomes a segment of
its own with cells separated by TABs and rows by newlines, so that its header row is its
first line and labels the columns for the phone detector, as a CSV header would. Read:
the document body, headers, footers, footnotes, endnotes and comments of a .docx; the
slides, notes and comments of a .pptx; the external targets of their links (`mailto:`,
`tel:`), which a reader sees only as link text.

Parts are streamed through ElementTree's parser with a target (`parse_xml`): its callbacks
build no tree, so a part of any size costs memory for what it says only, and it reads more
than twice as fast as `iterparse` with elements cleared as they pass (19 MB of table XML:
~5 s against ~11 s). Every member's decompressed bytes are spent from the budget and held
to `max_ratio` against the file, so a part that expands without end stops at the cap as
`too_large`. A part that does not parse is `corrupt`, and the others are still read. Files
embedded in the document (an Excel sheet under word/embeddings/) are opened as content of
their own, one level deeper.

`Archive`, `PartText`, `parse_xml` and `open_embedded` are shared with xlsx and
opendocument, which are ZIPs of XML too.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from urllib.parse import unquote

from dlp_addon.extract import content
from dlp_addon.extract.budget import Budget, OverBudget
from dlp_addon.extract.encoding import ratio_limit
from dlp_addon.model import Segment

_CHUNK = 64 * 1024
# Excel's and LibreOffice's widest sheet: a row never needs more cells than this.
MAX_COLUMNS = 16_384
_MAX_GRID_SPAN = 64

# Transitional and Strict OOXML name the same elements in different namespaces.
_NAMESPACES = {
    "w": ("http://schemas.openxmlformats.org/wordprocessingml/2006/main",
          "http://purl.oclc.org/ooxml/wordprocessingml/main"),
    "a": ("http://schemas.openxmlformats.org/drawingml/2006/main",
          "http://purl.oclc.org/ooxml/drawingml/main"),
    "p": ("http://schemas.openxmlformats.org/presentationml/2006/main",
          "http://purl.oclc.org/ooxml/presentationml/main"),
    "x": ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "http://purl.oclc.org/ooxml/spreadsheetml/main"),
}
_TEXT, _PARAGRAPH, _TAB, _BREAK, _HYPHEN, _TABLE, _ROW, _CELL, _GRID_SPAN = range(9)
_ROLE_NAMES = {
    # Deleted text of tracked changes and field codes (HYPERLINK "mailto:...") leave with the file too.
    _TEXT: ("w:t", "w:delText", "w:instrText", "a:t", "p:text", "x:t"),
    _PARAGRAPH: ("w:p", "a:p", "p:cm", "x:comment"),
    _TAB: ("w:tab",),
    _BREAK: ("w:br", "w:cr", "a:br"),
    # Word stores a non-breaking hyphen, as in 138‑0013‑8000, as an element of its own.
    _HYPHEN: ("w:noBreakHyphen",),
    _TABLE: ("w:tbl", "a:tbl"),
    _ROW: ("w:tr", "a:tr"),
    _CELL: ("w:tc", "a:tc"),
    _GRID_SPAN: ("w:gridSpan",),
}
_ROLES = {f"{{{namespace}}}{name.split(':')[1]}": role
          for role, names in _ROLE_NAMES.items() for name in names
          for namespace in _NAMESPACES[name.split(":")[0]]}
_W_VAL = {f"{{{namespace}}}val" for namespace in _NAMESPACES["w"]}

_WORD_PARTS = re.compile(r"word/[^/]+\.xml")
_SLIDE_PARTS = re.compile(r"ppt/(?:slides|notesSlides|comments)/[^/]+\.xml")
_RELATIONSHIP = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_CELL_SPACE = re.compile(r"[\t\r\n]+")
_NUMBERS = re.compile(r"(\d+)")


class Archive:
    """The members of one ZIP-based document, read within the budget.

    What is decompressed is spent from the budget and held to `max_ratio` times the size of
    the file (past the first MiB, as for content codings). The sizes a ZIP declares are
    checked first (zipfile never returns more than the declared size), so a bomb is refused
    before any work is spent on it.
    """

    def __init__(self, data: bytes, budget: Budget, where: str):
        self.zip = zipfile.ZipFile(io.BytesIO(data))
        self.names = [info.filename for info in self.zip.infolist() if not info.is_dir()]
        self.budget = budget
        self.where = where
        self._ratio_room = ratio_limit(len(data), budget.limits.max_ratio)

    def room(self) -> int:
        return min(self.budget.decoded_room(), self._ratio_room)

    def spend(self, amount: int, where: str) -> None:
        if amount > self.room():
            self._too_large(where)
        self.budget.spend_decoded(amount)
        self._ratio_room -= amount

    def reserve(self, names: list[str]) -> None:
        """Spends the declared size of members a library will read on its own (openpyxl)."""
        self.spend(sum(self.zip.getinfo(name).file_size for name in names), self.where)

    def open(self, name: str) -> _MemberStream:
        """A member as a stream; raises OverBudget (recorded) when it cannot be read."""
        info = self.zip.getinfo(name)
        where = f"{self.where}:{name}"
        if info.flag_bits & 0x1:
            self.budget.problem("encrypted", where, "password-protected ZIP member")
            raise OverBudget
        if info.file_size > self.room():
            self._too_large(where)
        return _MemberStream(self, self.zip.open(info), where)

    def read(self, name: str) -> bytes:
        return self.open(name).read()

    def _too_large(self, where: str) -> None:
        limits = self.budget.limits
        if self.budget.decoded_room() <= self._ratio_room:
            detail = f"over the decoded-size limit ({limits.max_decoded_bytes} bytes)"
        else:
            detail = f"expands more than {limits.max_ratio} times"
        self.budget.problem("too_large", where, detail)
        raise OverBudget


class _MemberStream:
    def __init__(self, archive: Archive, stream, where: str):
        self._archive, self._stream, self._where = archive, stream, where

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        chunk = self._stream.read(size)
        self._archive.spend(len(chunk), self._where)
        return chunk


def parse_xml(stream, target) -> None:
    """Feeds a part to ElementTree's parser, which calls `target.start(tag, attrib)`,
    `target.end(tag)` and `target.data(text)` in document order. Exceptions raised by the
    target (OverBudget) stop the parse and come out here."""
    parser = ET.XMLParser(target=target)
    while chunk := stream.read(_CHUNK):
        parser.feed(chunk)
    parser.close()


class PartText:
    """What one part says: its running text, and each outermost table as TSV rows.

    Inside a cell, paragraph ends, tabs and line breaks become spaces, so that a cell stays
    one column of one line; tables nested in a cell are read as that cell's text. All-empty
    rows are left out and trailing empty cells are never written. The text is counted
    against the budget as it grows, since repeated cells and shared strings can make far
    more text than the XML they come from.
    """

    def __init__(self, budget: Budget, where: str, table_where: str | None = None):
        self.budget = budget
        self.where = where
        self.table_where = table_where or where
        self.size = 0
        self.flow: list[str] = []
        self.tables: list[tuple[str, list[tuple[str, int]]]] = []
        self.table_depth = 0
        self._table_name = ""
        self._rows: list[tuple[str, int]] | None = None
        self._cells: list[str] | None = None
        self._cell: list[str] | None = None
        self._pending_empty = 0

    def _spend(self, amount: int) -> None:
        self.size += amount
        if self.size > self.budget.decoded_room():
            self.budget.problem("too_large", self.where,
                                f"text over the decoded-size limit ({self.budget.limits.max_decoded_bytes} bytes)")
            raise OverBudget

    def text(self, value: str) -> None:
        if value:
            self._spend(len(value))
            (self._cell if self._cell is not None else self.flow).append(value)

    def paragraph_end(self) -> None:
        self.text(" " if self._cell is not None else "\n")

    def tab(self) -> None:
        self.text(" " if self._cell is not None else "\t")

    def line_break(self) -> None:
        self.paragraph_end()

    def table_start(self, name: str = "") -> None:
        self.table_depth += 1
        if self.table_depth == 1:
            self._rows, self._table_name = [], name
        else:
            self.text(" ")

    def table_end(self) -> None:
        self.table_depth -= 1
        if self.table_depth == 0:
            self._close_table()
        elif self.table_depth > 0:
            self.text(" ")

    def row_start(self) -> None:
        if self.table_depth == 1:
            self._cells, self._pending_empty = [], 0

    def row_end(self, repeat: int = 1) -> None:
        if self.table_depth != 1 or self._cells is None:
            return
        cells, self._cells = self._cells, None
        filled = sum(1 for cell in cells if cell)
        if filled and self._rows is not None:
            line = "\t".join(cells)
            # Identical rows add no identifier; a few keep the column's siblings as written.
            copies = max(1, min(repeat, 100))
            self._spend((len(line) + 1) * copies)
            self._rows.extend([(line, filled)] * copies)

    def cell_start(self) -> None:
        if self.table_depth == 1 and self._cells is not None:
            self._cell = []
        else:
            self.text(" ")

    def cell_end(self, value: str | None = None, repeat: int = 1, span: int = 1) -> None:
        if self.table_depth != 1 or self._cell is None or self._cells is None:
            self.text(" ")
            return
        written, self._cell = "".join(self._cell), None
        cell = one_line(written if value is None else value)
        room = MAX_COLUMNS - len(self._cells) - self._pending_empty
        count = max(0, min(repeat, room))
        if cell:
            self._spend(len(cell) * (count - 1))
            self._cells.extend([""] * self._pending_empty)
            self._cells.extend([cell] * count)
            self._pending_empty = 0
        else:
            self._pending_empty += count
        self._pending_empty += max(0, min(span - 1, room - count))

    def _close_table(self) -> None:
        if self._rows:
            self.tables.append((self._table_name, self._rows))
        self._rows, self._cells, self._cell = None, None, None

    def flush(self) -> None:
        """Hands what was read to the budget, a partly read table included."""
        if self._rows is not None:
            self.table_depth = 1
            try:
                if self._cell is not None:
                    self.cell_end()
                if self._cells is not None:
                    self.row_end()
            except OverBudget:
                pass  # recorded; the rows read so far are still inspected
            self._close_table()
        self.budget.spend_decoded(self.size)
        self.budget.add(Segment("".join(self.flow), self.where))
        for number, (name, rows) in enumerate(self.tables, start=1):
            for segment in table_segments(rows, f"{self.table_where}[{name or f'table {number}'}]"):
                self.budget.add(segment)
        self.flow, self.tables, self.size = [], [], 0


def one_line(cell: str) -> str:
    """A cell's text as one column of one line."""
    if "\t" in cell or "\n" in cell or "\r" in cell:
        cell = _CELL_SPACE.sub(" ", cell)
    return cell.strip()


def table_segments(rows: list[tuple[str, int]], where: str) -> list[Segment]:
    """A table as delimited text. Rows above its first row of two or more cells (a title, an
    export date, a letter above a table) form a segment of their own, so that the header row
    is the first line of the table: the phone detector reads column labels, and tells the
    delimiter, from the first line. `rows` are (line, filled cells)."""
    start = next((i for i, (_, filled) in enumerate(rows) if filled >= 2), 0)
    segments = []
    if start:
        segments.append(Segment("\n".join(line for line, _ in rows[:start]), f"{where}:title"))
    segments.append(Segment("\n".join(line for line, _ in rows[start:]), where))
    return segments


def natural_order(names: list[str]) -> list[str]:
    """slide2 before slide10."""
    return sorted(names, key=lambda name: [int(p) if p.isdigit() else p for p in _NUMBERS.split(name)])


def read_parts(archive: Archive, names: list[str]) -> None:
    """The text of OOXML parts (and the targets of their links), each a place of its own."""
    for name in names:
        if not archive.budget.take_part(archive.where) or archive.budget.out_of_time(archive.where):
            raise OverBudget
        text = PartText(archive.budget, f"{archive.where}:{name}")
        try:
            _read_part(archive, name, text)
            _read_links(archive, name)
        except OverBudget:
            raise
        except Exception as e:  # noqa: BLE001 - expat and zlib errors in one part do not hide the others
            corrupt(archive.budget, f"{archive.where}:{name}", e)
        finally:
            text.flush()


class _Part:
    """A parser target for WordprocessingML and DrawingML parts."""

    def __init__(self, text: PartText):
        self.text = text
        self.in_text = 0
        self.span = 1

    def start(self, tag: str, attrib: dict) -> None:
        role = _ROLES.get(tag)
        if role is None:
            return
        text = self.text
        if role == _TEXT:
            self.in_text += 1
        elif role == _TABLE:
            text.table_start()
        elif role == _ROW:
            text.row_start()
        elif role == _CELL:
            text.cell_start()
        elif role == _TAB:
            if not attrib:  # with attributes it is a tab stop, not a tab
                text.tab()
        elif role == _BREAK:
            text.line_break()
        elif role == _HYPHEN:
            text.text("-")
        elif role == _GRID_SPAN and text.table_depth == 1:
            # A cell spanning columns is written once: the columns after it stay aligned with the header.
            self.span = bounded_int(next((v for k, v in attrib.items() if k in _W_VAL), "1"), _MAX_GRID_SPAN)

    def end(self, tag: str) -> None:
        role = _ROLES.get(tag)
        if role is None:
            return
        text = self.text
        if role == _TEXT:
            self.in_text -= 1
        elif role == _PARAGRAPH:
            text.paragraph_end()
        elif role == _CELL:
            text.cell_end(span=self.span)
            if text.table_depth == 1:
                self.span = 1
        elif role == _ROW:
            text.row_end()
        elif role == _TABLE:
            text.table_end()

    def data(self, data: str) -> None:
        if self.in_text:
            self.text.text(data)

    def close(self) -> None:
        pass


def _read_part(archive: Archive, name: str, text: PartText) -> None:
    parse_xml(archive.open(name), _Part(text))


class _Links:
    """A parser target collecting the external targets of a relationships part."""

    def __init__(self):
        self.targets: list[str] = []

    def start(self, tag: str, attrib: dict) -> None:
        if tag == _RELATIONSHIP and attrib.get("TargetMode") == "External":
            self.targets.append(unquote(attrib.get("Target", "")))

    def end(self, tag: str) -> None:
        pass

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        pass


def _read_links(archive: Archive, name: str) -> None:
    folder, _, file = name.rpartition("/")
    rels = f"{folder}/_rels/{file}.rels"
    if rels not in archive.zip.NameToInfo:
        return
    links = _Links()
    parse_xml(archive.open(rels), links)
    archive.budget.add(Segment("\n".join(links.targets), f"{archive.where}:{rels}"))


def open_embedded(archive: Archive, folder: str, depth: int) -> None:
    """Files embedded in the document (OLE objects, whole workbooks), opened as content."""
    for name in natural_order([n for n in archive.names if n.startswith(folder)]):
        if not archive.budget.take_part(archive.where) or archive.budget.out_of_time(archive.where):
            raise OverBudget
        content.open_content(archive.read(name), archive.budget, content_type="",
                             where=f"{archive.where}:{name}", depth=depth + 1)


def bounded_int(value: str | None, limit: int) -> int:
    try:
        return max(1, min(int(value or 1), limit))
    except ValueError:
        return 1


def corrupt(budget: Budget, where: str, error: Exception) -> None:
    # The class name only: library messages can quote the document.
    budget.problem("corrupt", where, f"could not be parsed: {type(error).__name__}")


def extract(data: bytes, budget: Budget, where: str, depth: int) -> None:
    try:
        archive = Archive(data, budget, where)
        names = archive.names
        if any(n.startswith("word/") for n in names):
            parts = [n for n in names if _WORD_PARTS.fullmatch(n)]
            main = [n for n in parts if n == "word/document.xml"]
            read_parts(archive, main + natural_order([n for n in parts if n not in main]))
            open_embedded(archive, "word/embeddings/", depth)
        else:
            read_parts(archive, natural_order([n for n in names if _SLIDE_PARTS.fullmatch(n)]))
            open_embedded(archive, "ppt/embeddings/", depth)
    except OverBudget:
        return
    except Exception as e:  # noqa: BLE001 - zipfile, zlib and expat raise many kinds for a broken file
        corrupt(budget, where, e)
