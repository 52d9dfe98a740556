"""The URL: a GET with fifty addresses in its query never reaches a body scanner."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote

from dlp_addon.extract import content
from dlp_addon.extract.budget import Budget
from dlp_addon.model import Segment


def extract_url(path: str, budget: Budget) -> None:
    raw_path, _, query = path.partition("?")
    # The engine masks identifiers found here in the recorded path, by offset into this text.
    budget.add(Segment(unquote(raw_path, errors="replace"), "url:path", layout="value"))
    if not query:
        return
    for key, value in parse_qsl(query.partition("#")[0], keep_blank_values=True, errors="replace"):
        if not budget.take_part("url:query"):
            # Past the limit the rest is still read, as one text, rather than skipped.
            budget.add(Segment(unquote(query, errors="replace"), "url:query"))
            return
        if key and not value:
            value, key = key, ""
        where = f"query:{key}" if key else "query"
        content.add_value(value, budget, where=where, field=key, group=where, depth=0)
