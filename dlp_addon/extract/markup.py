"""HTML and XML as their reader sees them: text, with tables laid out as rows and columns.

The stdlib's forgiving HTML parser (`html.parser`) turns markup into text: a table cell ends
with a TAB and a row or block with a line break, so an HTML table of customers reads like a
TSV (its header row labels the columns), and character references are decoded (`&#64;` is
an "@"). Attribute values that carry data (`href="mailto:..."`, `tel:` links, form values,
`data-*`) are kept apart, one per line, since they are not part of the visible text.
"""

from __future__ import annotations

from html.parser import HTMLParser

_CELL_ENDS = frozenset({"td", "th"})
_LINE_ENDS = frozenset({"tr", "br", "p", "div", "li", "ul", "ol", "table", "thead", "tbody", "h1", "h2", "h3",
                        "h4", "h5", "h6", "section", "article", "header", "footer", "dt", "dd", "option",
                        "textarea", "pre", "blockquote", "address", "title", "hr"})
# Style sheets hold no data; scripts do (inline JSON state), so their text is kept, on its own lines.
_STYLE = "style"
_SCRIPT = frozenset({"script", "template"})
_DATA_ATTRIBUTES = frozenset({"href", "value", "content", "title", "alt", "placeholder", "label"})


class _TextCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.attributes: list[str] = []
        self.in_style = False
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        if tag == _STYLE:
            self.in_style = True
        elif tag in _SCRIPT:
            self.in_script = True
        elif tag in _LINE_ENDS:
            self.text.append("\n")
        for name, value in attrs:
            if value and (name in _DATA_ATTRIBUTES or name.startswith("data-")):
                self.attributes.append(value)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == _STYLE:
            self.in_style = False
        elif tag in _SCRIPT:
            self.in_script = False
        elif tag in _CELL_ENDS:
            self.text.append("\t")
        elif tag in _LINE_ENDS:
            self.text.append("\n")

    def handle_data(self, data):
        if not self.in_style:
            self.text.append(f"\n{data}\n" if self.in_script else data)


def markup_text(markup: str) -> tuple[str, str]:
    """(visible text laid out in lines and TAB-separated cells, data-carrying attribute values)."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    lines = ("".join(collector.text)).split("\n")
    # Cells end with a TAB; the last one of a row does not need it.
    text = "\n".join(line.strip(" ").removesuffix("\t") for line in lines if line.strip())
    return text, "\n".join(collector.attributes)
