"""Free text: plain text, CSV and TSV, HTML, XML.

Text stays one segment so that the phone detector can work out lines and columns itself (a
CSV header labels its column). Markup is read as its reader sees it (see `markup`): tables as
rows and cells, every character reference decoded. In other text only the real references
(`&#64;`, `&commat;`) are decoded, since a bare `&para=` is more likely a query string. Whatever
else is encoded inside the text (base64, percent, `\\u0040`, quoted-printable) is opened by
`embedded`, one level deeper.
"""

from __future__ import annotations

import regex

from dlp_addon.extract import embedded
from dlp_addon.extract.budget import Budget
from dlp_addon.extract.markup import markup_text
from dlp_addon.model import Segment

_MARKUP = ("text/html", "application/xhtml+xml", "text/xml", "application/xml", "image/svg+xml")
_MARKUP_START = regex.compile(r"\s*<(?:!doctype|html|\?xml|!--|[a-z][a-z0-9]*[\s>/])", regex.IGNORECASE)


def extract(text: str, budget: Budget, *, mime: str, where: str, field: str = "", group: str = "",
            depth: int = 0) -> None:
    if mime in _MARKUP or mime.endswith("+xml") or looks_like_markup(text):
        # Read as the page's reader sees it: a table as rows and cells, references decoded.
        visible, attributes = markup_text(text)
        budget.add(Segment(visible, f"{where}:markup", field, group))
        embedded.extract(visible, budget, where=where, field=field, group=group, depth=depth)
        if attributes:
            place = f"{where}:markup-attributes"
            budget.add(Segment(attributes, place, group=place))
            embedded.extract(attributes, budget, where=place, field="", group=place, depth=depth)
        return
    if "&" in text:
        text = embedded.unescape_references(text)
    if field and "\n" not in text:
        budget.add(Segment(text, where, field, group or where, "value"))
    else:
        budget.add(Segment(text, f"{where}:text", field, group))
    embedded.extract(text, budget, where=where, field=field, group=group, depth=depth)


def looks_like_markup(text: str) -> bool:
    """A document that opens with a tag and closes one; not a list like `<a@x.com>, <b@y.org>`."""
    return bool(_MARKUP_START.match(text[:1024])) and "</" in text[:65536]
