"""RTF through striprtf: the document's text, table cells separated by "|".

striprtf decodes `\\'xx` escapes in the file's code page (`\\ansicpg`, font charsets) and
`\\uN` escapes; raw 8-bit bytes, which some writers put in, are read as UTF-8 when they are
valid UTF-8 and in the declared code page otherwise. Its table output (cells joined by "|",
rows by newlines) is a delimiter the phone detector reads columns by, so the lines above the
first table (a title, a letter) are a segment of their own and the table's header row is
the first line of its segment.

striprtf cannot be interrupted, and reads about 3 MB/s on the 2-core machines we run on
(measured on text and on hex-encoded pictures alike), so a file that could not be read in
the time left is a `timeout` up front rather than a worker stuck past its deadline. Its
hyperlink pattern is quadratic in the length of a source line holding many fields; RTF
ignores line breaks in its source, so one is put before every field to keep that linear.
"""

from __future__ import annotations

import re
import time

from striprtf.striprtf import rtf_to_text

from dlp_addon.extract.budget import Budget
from dlp_addon.extract.ooxml import table_segments

_BYTES_PER_SECOND = 1_000_000  # a third of what was measured: slower machines, busier workers
_CODE_PAGE = re.compile(rb"\\ansicpg(\d{3,5})")
_FIELD = "{\\field"


def extract(data: bytes, budget: Budget, where: str, depth: int) -> None:
    if len(data) > budget.decoded_room():
        budget.problem("too_large", where, f"over the decoded-size limit ({budget.limits.max_decoded_bytes} bytes)")
        return
    if budget.deadline is not None and len(data) > (budget.deadline - time.monotonic()) * _BYTES_PER_SECOND:
        budget.problem("timeout", where, f"{len(data)} bytes of RTF cannot be read in the time left")
        return
    try:
        text = rtf_to_text(_source(data).replace(_FIELD, "\n" + _FIELD), errors="replace")
    except Exception as e:  # noqa: BLE001 - striprtf raises LookupError, ValueError... for what it cannot read
        budget.problem("corrupt", where, f"could not be parsed: {type(e).__name__}")
        return
    budget.spend_decoded(len(text))
    rows = [(line, sum(1 for cell in line.split("|") if cell.strip())) for line in text.splitlines()]
    for segment in table_segments([row for row in rows if row[0].strip()], where):
        budget.add(segment)


def _source(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _CODE_PAGE.search(data[:4096])
    try:
        return data.decode(f"cp{int(declared.group(1))}" if declared else "cp1252", errors="replace")
    except LookupError:
        return data.decode("cp1252", errors="replace")
