"""The dispatcher every format goes through, at the top and for everything nested.

The kind of content is told from its declared type and, where that is missing, generic or
wrong, from the bytes themselves: uploads arrive as application/octet-stream, forms as
text/plain, JSON as text/html. A sender cannot hide a list by mislabelling it.
"""

from __future__ import annotations

import email.message
import functools

from collections.abc import Callable

from dlp_addon.extract import binary, form, json_doc, multipart, sniff, text
from dlp_addon.extract.budget import Budget
from dlp_addon.extract.charset import decode_text
from dlp_addon.extract.encoding import decode_body
from dlp_addon.model import Segment

# Kinds told by `sniff` -> the extractor that opens them: (data, budget, where, depth) -> None.
# Each extractor hands what it finds inside back to `open_content`, one level deeper.
Extractor = Callable[[bytes, Budget, str, int], None]


@functools.cache
def _extractors() -> dict[str, Extractor]:
    # Imported on first use: the format modules import this one to recurse.
    from dlp_addon.extract import archive, mail
    from dlp_addon.extract import ole, ooxml, opendocument, pdf, rtf, xlsx

    return {
        "zip": archive.extract_zip,
        "gzip": archive.extract_gzip,
        "bzip2": archive.extract_bzip2,
        "xz": archive.extract_xz,
        "zstd": archive.extract_zstd,
        "tar": archive.extract_tar,
        "7z": archive.extract_7z,
        "rar": archive.extract_rar,
        "eml": mail.extract,
        "xlsx": xlsx.extract,
        "docx": ooxml.extract,
        "pptx": ooxml.extract,
        "ods": opendocument.extract,
        "odt": opendocument.extract,
        "odp": opendocument.extract,
        "pdf": pdf.extract,
        "rtf": rtf.extract,
        "ole": ole.extract,
    }


@functools.lru_cache(maxsize=256)
def parse_content_type(header: str) -> tuple[str, dict[str, str]]:
    """('multipart/form-data', {'boundary': ...}) from a Content-Type header, via the stdlib's
    MIME header parser (quoting, comments and RFC 2231 parameters included)."""
    if not header:
        return "", {}
    message = email.message.Message()
    message["content-type"] = header
    params = {k.lower(): str(v) for k, v in (message.get_params() or [])[1:]}
    declared = header.split(";", 1)[0].strip().lower()
    return (message.get_content_type() if "/" in declared else ""), params


def open_body(data: bytes, budget: Budget, *, content_type: str, content_encoding: str, where: str) -> None:
    limit = budget.limits.max_body_bytes
    if len(data) > limit:
        budget.problem("too_large", where, f"{len(data)} bytes, inspection limit is {limit}")
        return
    if content_encoding:
        decoded = decode_body(data, content_encoding, budget, where)
        if decoded is None:
            return
        data = decoded
    open_content(data, budget, content_type=content_type, where=where, depth=0)


def open_content(data: bytes, budget: Budget, *, content_type: str, where: str, depth: int,
                 field: str = "") -> None:
    """Any bytes of any kind: `field` is the name the sender gave them, if they are one value."""
    if budget.too_deep(depth, where) or budget.out_of_time(where):
        return
    mime, params = parse_content_type(content_type)
    if mime.startswith("multipart/") and params.get("boundary"):
        multipart.extract(data, budget, content_type, where, depth)
        return
    kind = sniff.kind_of(data)
    extractor = _extractors().get(kind) if kind else None
    if extractor is not None:
        extractor(data, budget, f"{where}:{kind}", depth + 1)
        return
    charset = params.get("charset", "")
    decoded = decode_text(data, charset)
    if decoded is None:
        binary.extract(data, budget, where)
        return
    open_text(decoded, budget, mime=mime, where=where, depth=depth, field=field)


def open_text(value: str, budget: Budget, *, mime: str = "", where: str, depth: int, field: str = "",
              group: str = "") -> None:
    """Decoded text: structured when its type or its shape says so, else free text."""
    if mime == "application/x-www-form-urlencoded" or (not _declared_structure(mime) and form.looks_like(value)):
        form.extract(value, budget, where, depth)
        return
    if json_doc.is_json_type(mime) or (not _declared_structure(mime) and json_doc.looks_like(value)):
        if json_doc.extract(value, budget, where, depth):
            return
    text.extract(value, budget, mime=mime, where=where, field=field, group=group, depth=depth)


def _declared_structure(mime: str) -> bool:
    """Types whose content is known not to be a form or JSON document."""
    return mime in ("text/csv", "text/tab-separated-values", "text/html", "application/xhtml+xml", "text/xml",
                    "application/xml") or mime.startswith("image/")


def add_value(value: str, budget: Budget, *, where: str, field: str, group: str, depth: int) -> None:
    """One field's value (a form field, a query parameter, a JSON string): embedded documents
    such as a JSON string inside a beacon parameter are opened, the rest is one segment, and
    what is encoded inside it (base64, percent, `\\u0040`, ...) is opened one level deeper."""
    if len(value) > 1 and value[0] in "{[" and json_doc.looks_like(value):
        if json_doc.extract(value, budget, where, depth + 1):
            return
    budget.add(Segment(value, where, field, group, "text" if "\n" in value else "value"))
    _embedded().extract(value, budget, where=where, field=field, group=group, depth=depth)


@functools.cache
def _embedded():
    # Imported on first use, as the extractors are: it recurses through this module.
    from dlp_addon.extract import embedded

    return embedded
