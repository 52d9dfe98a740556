"""Free text: plain text, CSV and TSV, HTML, XML.

Text stays one segment so that the phone detector can work out lines and columns itself (a
CSV header labels its column). Markup is read with its character references decoded
(`&#64;` is an "@"), since that is what the reader of the page sees.
"""

from __future__ import annotations

import html

from dlp_addon.extract.budget import Budget
from dlp_addon.model import Segment

_MARKUP = ("text/html", "application/xhtml+xml", "text/xml", "application/xml", "image/svg+xml")


def extract(text: str, budget: Budget, *, mime: str, where: str, field: str = "", group: str = "") -> None:
    if (mime in _MARKUP or mime.endswith("+xml") or _looks_like_markup(text)) and "&" in text:
        text = html.unescape(text)
    if field and "\n" not in text:
        budget.add(Segment(text, where, field, group or where, "value"))
        return
    budget.add(Segment(text, f"{where}:text", field, group))


def _looks_like_markup(text: str) -> bool:
    return text[:256].lstrip()[:1] == "<"
