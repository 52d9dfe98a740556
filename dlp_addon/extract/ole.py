"""OLE compound files (olefile): password-protected OOXML, legacy .doc/.xls/.ppt, embedded objects.

An .xlsx, .docx or .pptx saved with a password is not a ZIP but an OLE container holding an
`EncryptionInfo` and an `EncryptedPackage` stream: it is `encrypted`. So are legacy files
whose encryption is cheap to see: the fEncrypted flag in a .doc's File Information Block, a
FILEPASS record in the globals of an .xls workbook, an `EncryptedSummary` stream in a .ppt.

Legacy Excel workbooks are read cell by cell with calamine. Anything else (or a workbook
calamine cannot read) is read for the strings in its streams (WordDocument, Workbook, PowerPoint
Document, summary properties...): runs of 8-bit and UTF-16LE text, `binary.strings`. That is
strings-level, not a real parse of the binary formats: text typed into a document is found,
but table columns are lost, so bare digit runs count only with a label or phone-like siblings.
The `Package` stream of an embedded object is the embedded file itself (an .xlsx inside
a .doc or a .docx), and is opened as content.
"""

from __future__ import annotations

import io
import struct

import olefile
import python_calamine

from dlp_addon.extract import content
from dlp_addon.extract.binary import strings
from dlp_addon.extract.budget import Budget, OverBudget
from dlp_addon.model import Segment

_FIB_FLAGS = struct.Struct("<H")
_FIB_WORD_IDENT = b"\xec\xa5"
_F_ENCRYPTED = 0x0100
_BIFF_RECORD = struct.Struct("<HH")
_BIFF_FILEPASS, _BIFF_EOF = 0x002F, 0x000A


def extract(data: bytes, budget: Budget, where: str, depth: int) -> None:
    try:
        # Always a stream: olefile takes short bytes for a file name.
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - olefile raises OSError, struct.error, IndexError... for broken files
        _corrupt(budget, where, e)
        return
    try:
        reason = _encryption(ole)
        if reason:
            budget.problem("encrypted", where, reason)
            return
        if (ole.exists("Workbook") or ole.exists("Book")) and _read_legacy_workbook(data, budget, where):
            return
        for path in ole.listdir(streams=True, storages=False):
            if not budget.take_part(where) or budget.out_of_time(where):
                return
            if not _read_stream(ole, path, budget, where, depth):
                return
    except Exception as e:  # noqa: BLE001
        _corrupt(budget, where, e)
    finally:
        ole.close()


def _read_legacy_workbook(data: bytes, budget: Budget, where: str) -> bool:
    """A real .xls read through calamine (cells, numbers as numbers: a phone stored as a
    number is lost at strings level); False when it cannot, and strings are read instead."""
    from dlp_addon.extract import xlsx  # it imports this module

    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        for name in workbook.sheet_names:
            if not budget.take_part(where) or budget.out_of_time(where):
                return True
            xlsx.add_table(workbook.get_sheet_by_name(name).iter_rows(), budget, f"{where}[{name}]")
    except OverBudget:
        return True
    except Exception:  # noqa: BLE001 - calamine raises its own errors for what it cannot read
        return False
    return True


def _encryption(ole: olefile.OleFileIO) -> str:
    if ole.exists("EncryptedPackage"):
        return "password-protected Office Open XML file"
    if ole.exists("EncryptedSummary"):
        return "password-protected PowerPoint file"
    if ole.exists("WordDocument"):
        fib = ole.openstream("WordDocument").read(12)
        if fib[:2] == _FIB_WORD_IDENT and len(fib) == 12 and _FIB_FLAGS.unpack_from(fib, 10)[0] & _F_ENCRYPTED:
            return "password-protected Word document"
    for name in ("Workbook", "Book"):
        if ole.exists(name) and _has_filepass(ole.openstream(name).read()):
            return "password-protected Excel workbook"
    return ""


def _has_filepass(workbook: bytes) -> bool:
    """A FILEPASS record in the globals substream, which ends at the first EOF record."""
    offset = 0
    while offset + _BIFF_RECORD.size <= len(workbook):
        kind, length = _BIFF_RECORD.unpack_from(workbook, offset)
        if kind == _BIFF_FILEPASS:
            return True
        if kind == _BIFF_EOF:
            return False
        offset += _BIFF_RECORD.size + length
    return False


def _read_stream(ole: olefile.OleFileIO, path: list[str], budget: Budget, where: str, depth: int) -> bool:
    name = "/".join(path)
    place = f"{where}:{name}"
    size = ole.get_size(path)
    if size > budget.decoded_room():
        budget.problem("too_large", place, f"over the decoded-size limit ({budget.limits.max_decoded_bytes} bytes)")
        return False
    data = ole.openstream(path).read()
    budget.spend_decoded(len(data))
    if path[-1] == "Package":
        content.open_content(data, budget, content_type="", where=place, depth=depth + 1)
        return True
    add_strings(data, budget, place)
    return True


def add_strings(data: bytes, budget: Budget, where: str) -> None:
    """The strings of a binary part as text: one run a line, each a cell of its own, so that
    a column of numbers stays a list of siblings. The leading empty line keeps the first run
    from being read as a header row."""
    runs = strings(data)
    if runs:
        budget.add(Segment("\n" + runs, f"{where}:strings"))


def _corrupt(budget: Budget, where: str, error: Exception) -> None:
    budget.problem("corrupt", where, f"could not be parsed: {type(error).__name__}")
