"""multipart/*: every part, by the stdlib's MIME parser.

mitmproxy's `multipart_form` strips the line breaks inside a part and drops parts whose
Content-Disposition is not their first header (../shared/MITMPROXY.md 5), so a CSV upload
would reach the detectors as one long line, or not at all. The `email` package parses each
part's headers, parameters (RFC 2231 file names too) and transfer encodings (base64,
quoted-printable). A body whose boundaries are broken is still read, as plain text, and the
record says it was not well-formed.
"""

from __future__ import annotations

import email.parser
import email.policy

from dlp_addon.extract import content
from dlp_addon.extract.budget import Budget

_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream", "application/unknown")


def extract(data: bytes, budget: Budget, content_type: str, where: str, depth: int) -> None:
    header = content_type.encode("latin-1", errors="replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + header + b"\r\n\r\n" + data)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if not parts or message.defects:
        defects = ", ".join(type(d).__name__ for d in message.defects) or "no parts"
        budget.problem("corrupt", where, f"malformed multipart body ({defects}); read as plain text")
        content.open_text(data.decode("utf-8", errors="replace"), budget, mime="text/plain", where=where,
                          depth=depth)
        return
    for index, part in enumerate(parts, start=1):
        if budget.out_of_time(where):
            return
        name = part.get_param("name", header="content-disposition") or ""
        filename = part.get_filename() or ""
        place = f"{where}:multipart[{index} {filename or name}]".replace(" ]", "]")
        if not budget.take_part(where):
            return
        _part(part, budget, place, depth, str(name), bool(filename))


def _part(part, budget: Budget, where: str, depth: int, name: str, is_file: bool) -> None:
    if part.is_multipart():
        # multipart/mixed inside form-data (several files under one field) and MIME messages.
        extract(part.as_bytes(), budget, part.get("content-type", ""), where, depth + 1)
        return
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception as e:  # noqa: BLE001 - the stdlib raises several kinds for bad transfer encodings
        budget.problem("corrupt", where, f"part could not be decoded: {type(e).__name__}")
        return
    declared = part.get("content-type", "")
    if part.get_content_type() in _GENERIC_TYPES or not declared:
        declared = ""  # decided from the bytes
    # A plain field's name labels its value (`phone`); a file's content labels itself.
    content.open_content(payload, budget, content_type=declared, where=where, depth=depth + 1,
                         field="" if is_file else name)
