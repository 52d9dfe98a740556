"""PDF through pypdf: the text layer of every page, form field values, attached files.

Each page is read in two ways. pypdf's plain text (`body:pdf[page 3]`) is the best reading
of prose: justified lines come out with single spaces, right-to-left runs stored in visual
order come out in logical order. But it joins the cells of a table row with single spaces,
so that a phone runs into the number in the next column (`+7 912 029-44-36 89123480071` is
no phone). pypdf's layout mode keeps columns apart by their positions: that reading, with
gaps of two or more spaces as TABs (`body:pdf[page 3]:columns`), is a table whose header
row labels its columns, as a CSV's would, and it keeps right-to-left runs in the order they
are stored. Identifiers are counted once however many readings find them. The clock is
checked between pages.

A PDF encrypted with a user password (one that does not open with the empty password) is
`encrypted`; one that only restricts printing or copying opens with the empty password and
is read. pypdf repairs slightly broken files as it goes (strict=False), as viewers do. A
file that pypdf cannot open is `corrupt`, and so is one cut off before its end-of-file
marker, with what could be read of it inspected all the same. Scanned pages have no text
layer and yield nothing: that is not detected here.

pypdf logs every repair it makes, some with bytes of the file in the message: its loggers
are silenced so that no document text can reach the gateway's logs.
"""

from __future__ import annotations

import io
import logging
import re

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from dlp_addon.extract import content
from dlp_addon.extract.budget import Budget
from dlp_addon.extract.ooxml import table_segments
from dlp_addon.model import Segment

_pypdf_log = logging.getLogger("pypdf")
_pypdf_log.setLevel(logging.CRITICAL + 1)
_pypdf_log.propagate = False

# Some producers and mail gateways pad a PDF after its marker; a file cut short has none near its end.
_EOF_MARKER, _TAIL = b"%%EOF", 64 * 1024
_COLUMN_GAP = re.compile(r" {2,}")


def extract(data: bytes, budget: Budget, where: str, depth: int) -> None:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not _opens_without_password(reader, budget, where):
            return
        pages = reader.pages
        count = len(pages)
    except Exception as e:  # noqa: BLE001 - pypdf raises PdfReadError, ValueError, KeyError... for broken files
        _corrupt(budget, where, e)
        return
    if _EOF_MARKER not in data[-_TAIL:]:
        budget.problem("corrupt", where, "no end-of-file marker: truncated")
    for number in range(1, count + 1):
        if budget.out_of_time(where):
            return
        place = f"{where}[page {number}]"
        page = pages[number - 1]
        try:
            text = page.extract_text()
        except Exception as e:  # noqa: BLE001 - one broken page does not hide the others
            _corrupt(budget, place, e)
            continue
        if not _add(budget, Segment(text, place), place):
            return
        for segment in _columns(page, f"{place}:columns"):
            if not _add(budget, segment, place):
                return
    _form_fields(reader, budget, where)
    _attachments(reader, budget, where, depth)


def _columns(page, where: str) -> list[Segment]:
    try:
        laid_out = page.extract_text(extraction_mode="layout")
    except Exception:  # noqa: BLE001 - the plain reading of this page was inspected; this one only adds columns
        return []
    rows = []
    for line in laid_out.splitlines():
        cells = _COLUMN_GAP.split(line.strip())
        if any(cells):
            rows.append(("\t".join(cells), sum(1 for cell in cells if cell)))
    return table_segments(rows, where)


def _opens_without_password(reader: PdfReader, budget: Budget, where: str) -> bool:
    try:
        if reader.decrypt("") != PasswordType.NOT_DECRYPTED:
            return True
        budget.problem("encrypted", where, "password-protected PDF")
    except (DependencyError, NotImplementedError) as e:
        budget.problem("encrypted", where, f"encryption not supported: {type(e).__name__}")
    return False


def _add(budget: Budget, segment: Segment, where: str) -> bool:
    if len(segment.text) > budget.decoded_room():
        budget.problem("too_large", where, f"text over the decoded-size limit ({budget.limits.max_decoded_bytes} bytes)")
        return False
    budget.spend_decoded(len(segment.text))
    budget.add(segment)
    return True


def _form_fields(reader: PdfReader, budget: Budget, where: str) -> None:
    """Values typed into a form live outside the page text; their field names label them."""
    place = f"{where}[form]"
    try:
        fields = reader.get_form_text_fields() or {}
    except Exception as e:  # noqa: BLE001
        _corrupt(budget, place, e)
        return
    for name, value in fields.items():
        if isinstance(value, str) and value and not _add(
                budget, Segment(value, place, str(name), place, "text" if "\n" in value else "value"), place):
            return


def _attachments(reader: PdfReader, budget: Budget, where: str, depth: int) -> None:
    try:
        attached = [data for files in reader.attachments.values() for data in files]
    except Exception as e:  # noqa: BLE001
        _corrupt(budget, f"{where}[attachments]", e)
        return
    for number, data in enumerate(attached, start=1):
        if not budget.take_part(where) or budget.out_of_time(where):
            return
        if len(data) > budget.decoded_room():
            budget.problem("too_large", f"{where}[attachment {number}]", "over the decoded-size limit")
            return
        budget.spend_decoded(len(data))
        content.open_content(data, budget, content_type="", where=f"{where}[attachment {number}]", depth=depth + 1)


def _corrupt(budget: Budget, where: str, error: Exception) -> None:
    # The class name only: pypdf's messages can quote the file.
    budget.problem("corrupt", where, f"could not be parsed: {type(error).__name__}")
