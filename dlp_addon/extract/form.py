"""application/x-www-form-urlencoded: one segment per field, named after it.

The field name is the best label there is (`phone=...`, `tel[]=...`), and repeated fields
(`email=a&email=b`) are siblings. Values are percent-decoded to bytes and then read in their
own charset: old forms post GBK or windows-1251, not UTF-8.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import regex

from dlp_addon.extract import content
from dlp_addon.extract.budget import Budget
from dlp_addon.extract.charset import detect

_FORM = regex.compile(r"\A[\w.\-\[\]%*]+=[^&\s]*(?:&[\w.\-\[\]%*]+=[^&\s]*)*\s*\Z")
# A field's name is read like a value when it could be an identifier itself: an "@", a digit
# (`79161234567=1&79261234567=1`, or `%2B7916...`), or any character outside ASCII.
_NAME_WORTH_READING = regex.compile(r"[@\d]|[^\x00-\x7f]")


def looks_like(text: str) -> bool:
    """A body that is a form though not labelled so: `a=1&b=2`, no spaces, at least one '&'."""
    return "&" in text[:4096] and "=" in text[:256] and bool(_FORM.match(text[:65536]))


def _charset(fields: list[tuple[str, str]]) -> str:
    """One charset for the whole form, told from all its non-ASCII values together: single
    short values are too little for detection to tell GBK from windows-1251."""
    foreign = "\n".join(k + "=" + v for k, v in fields if not (k + v).isascii())
    if not foreign:
        return "utf-8"
    return detect(foreign.encode("latin-1"))[0] or "utf-8"


def extract(body: str, budget: Budget, where: str, depth: int) -> None:
    if "=" not in body:
        # Declared a form but holding no field (`curl --data` sends any text so): it is read
        # as the text it is, not as one field name with no value.
        content.open_text(body, budget, mime="text/plain", where=f"{where}:form", depth=depth)
        return
    # latin-1 maps each percent-decoded byte to one character, so the charset is decided later.
    fields = parse_qsl(body.strip(), keep_blank_values=True, encoding="latin-1")
    codec = _charset(fields)

    def text(latin1: str) -> str:
        return latin1 if latin1.isascii() else latin1.encode("latin-1").decode(codec, errors="replace")

    for index, (key, value) in enumerate(fields):
        if not budget.take_part(where):
            rest = "\n".join(f"{text(k)}={text(v)}" for k, v in fields[index:])
            content.open_text(rest, budget, mime="text/plain", where=f"{where}:form", depth=depth)
            return
        key, value = text(key), text(value)
        place = f"{where}:form:{key}"
        content.add_value(value, budget, where=place, field=key, group=place, depth=depth)
        if _NAME_WORTH_READING.search(key):
            content.add_value(key, budget, where=f"{place}:name", field="", group=f"{where}:form:names", depth=depth)
