"""What the sender sees when a request is blocked: a page in their language, or JSON.

A person who clicked "upload" gets a page that says what was stopped, why, what the gateway
saw (counts and masked examples only), the incident number to quote and whom to ask. A
script or a page's own fetch() gets the same facts as JSON, because HTML would only end up in
a log or an error toast. The answer is built only from `BlockNotice`, which never holds an
identifier in plain text, so nothing here can leak what the block was about.

Texts live in templates/messages.<language>.json, the page in templates/block.html.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from urllib.parse import quote

from dlp_addon.model import KINDS
from dlp_addon.policy import BlockPage

LANGUAGES = ("en", "zh", "ru", "ar", "fa", "hi")
DEFAULT_LANGUAGE = "en"
REASONS = ("bulk_request", "user_window", "uninspectable")
UNRECORDED = "unrecorded"
# RFC 6455 5.5: a control frame carries at most 125 bytes, 2 of them the status code.
CLOSE_REASON_LIMIT = 123

# The page is served on the destination's origin: even if an escape were ever missed, nothing
# on it may run, load or submit anywhere.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_DEFAULT_CONTACT = BlockPage().contact

_TEMPLATES = resources.files("dlp_addon") / "templates"


@dataclass(frozen=True, slots=True)
class BlockNotice:
    """Everything the block answer may show. Samples must already be masked."""

    incident_id: str
    reason: str = "bulk_request"  # one of REASONS
    counts: Mapping[str, int] = field(default_factory=dict)
    samples: tuple[str, ...] = ()
    contact: str = _DEFAULT_CONTACT
    organisation: str = ""
    window_count: int = 0
    window_seconds: int = 0
    uninspectable: tuple[str, ...] = ()
    destination: str = ""


def block_response(notice: BlockNotice, request_headers: Iterable[tuple[str, str]] | Mapping[str, str] = ()
                   ) -> tuple[int, dict[str, str], bytes]:
    """(403, headers, body) for `http.Response.make`: a page for a browser, JSON for anything else."""
    headers = _header_map(request_headers)
    language = choose_language(headers.get("accept-language", ""))
    if prefers_html(headers):
        body, content_type = render_html(notice, language).encode(), "text/html; charset=utf-8"
    else:
        body = json.dumps(render_json(notice, language), ensure_ascii=False, separators=(",", ":")).encode()
        content_type = "application/json; charset=utf-8"
    return 403, {
        "Content-Type": content_type,
        "Content-Language": _catalog(language).lang,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-DLP-Incident": _incident(notice),
        "Content-Security-Policy": _CSP,
        "Referrer-Policy": "no-referrer",
        "Vary": "Accept, Accept-Language, Sec-Fetch-Mode, Sec-Fetch-Dest, X-Requested-With",
    }, body


def websocket_close_reason(incident_id: str) -> str:
    """ASCII only, so cutting at the byte limit can never split a character."""
    token = _token(incident_id)
    reason = f"blocked by DLP, incident {token}" if token else "blocked by DLP"
    return reason[:CLOSE_REASON_LIMIT]


# -- who is asking -------------------------------------------------------------------------

_DOCUMENT_DESTINATIONS = frozenset({"document", "iframe", "frame", "fencedframe", "embed", "object"})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def prefers_html(headers: Mapping[str, str]) -> bool:
    """True for a browser navigating to a page; `headers` has lower-case names.

    Fetch metadata is decisive when present: a page's own fetch() or XHR must get data it can
    show, whatever its Accept says. Without it (old browsers, proxies that strip it), only an
    explicit preference for HTML counts: curl, python-requests and most SDKs send `*/*` or
    nothing, and an HTML page would only clutter their error output.
    """
    if headers.get("x-requested-with"):
        return False
    mode = headers.get("sec-fetch-mode", "").strip().lower()
    if mode:
        return mode == "navigate"
    dest = headers.get("sec-fetch-dest", "").strip().lower()
    if dest:
        return dest in _DOCUMENT_DESTINATIONS
    ranges = _accept(headers.get("accept", ""))
    html_q = max((q for media, q in ranges.items() if media in _HTML_TYPES), default=0.0)
    json_q = max((q for media, q in ranges.items() if media == "application/json" or media.endswith("+json")),
                 default=0.0)
    return html_q > 0 and html_q >= json_q


def choose_language(accept_language: str) -> str:
    """The best of LANGUAGES for an Accept-Language value, by q-value then order; else English.

    Region and script subtags are dropped: zh-TW readers get Simplified Chinese, which they
    read far more easily than the English fallback.
    """
    ranked = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.partition(";")
        base = tag.strip().lower().replace("_", "-").partition("-")[0]
        q = _quality(params)
        if base in LANGUAGES and q > 0:
            ranked.append((-q, position, base))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def _header_map(request_headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    pairs = request_headers.items() if isinstance(request_headers, Mapping) else request_headers
    out: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        # Repeated headers are one comma-separated list (RFC 9110 5.3).
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _accept(value: str) -> dict[str, float]:
    ranges: dict[str, float] = {}
    for item in value.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        if "/" in media:
            ranges[media] = max(ranges.get(media, 0.0), _quality(params))
    return ranges


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0  # an unreadable weight: ignore the entry rather than guess
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


# -- texts ---------------------------------------------------------------------------------

# CLDR plural categories for whole numbers, for the languages shipped.
PLURAL_RULES: dict[str, tuple[tuple[str, ...], Callable[[int], str]]] = {
    "en": (("one", "other"), lambda n: "one" if n == 1 else "other"),
    "zh": (("other",), lambda n: "other"),
    "ru": (("one", "few", "many"), lambda n: "one" if n % 10 == 1 and n % 100 != 11
           else "few" if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else "many"),
    "ar": (("zero", "one", "two", "few", "many", "other"), lambda n: "zero" if n == 0 else "one" if n == 1
           else "two" if n == 2 else "few" if 3 <= n % 100 <= 10 else "many" if 11 <= n % 100 <= 99 else "other"),
    "fa": (("one", "other"), lambda n: "one" if n in (0, 1) else "other"),
    "hi": (("one", "other"), lambda n: "one" if n in (0, 1) else "other"),
}


@dataclass(frozen=True, slots=True)
class _Catalog:
    code: str
    lang: str  # BCP 47 tag for the page's lang attribute
    dir: str  # "ltr" or "rtl"
    plural: str  # key of PLURAL_RULES
    digits: str  # the ten digits numbers are written with; empty for ASCII
    messages: Mapping[str, str | Mapping[str, str]]

    def number(self, n: int) -> str:
        text = str(n)
        return text.translate(str.maketrans("0123456789", self.digits)) if self.digits else text

    def text(self, key: str, markup: bool = False, **values: str) -> str:
        """A message with values filled in; with `markup`, the message's own text is escaped
        and `values` must already be HTML."""
        message = self.messages[key]
        return Template(html.escape(message, quote=False) if markup else message).substitute(values)

    def count_phrase(self, key: str, n: int) -> str:
        forms = self.messages[key]
        # An exact-number form ("1") wins over the category: Russian "one" also covers 21.
        form = forms.get(str(n)) or forms[PLURAL_RULES[self.plural][1](n)]
        return Template(form).substitute(n=self.number(n))


@functools.cache
def _catalog(code: str) -> _Catalog:
    data = json.loads((_TEMPLATES / f"messages.{code}.json").read_text(encoding="utf-8"))
    meta = data["meta"]
    return _Catalog(code, meta["lang"], meta["dir"], meta["plural"], meta.get("digits", ""), data["messages"])


@functools.cache
def _page() -> Template:
    return Template((_TEMPLATES / "block.html").read_text(encoding="utf-8"))


def _reason(notice: BlockNotice) -> str:
    return notice.reason if notice.reason in REASONS else "bulk_request"


def _window_phrase(c: _Catalog, seconds: int) -> str | None:
    """'in the last hour', 'in the last 24 hours': whole days only from two days up."""
    if seconds <= 0:
        return None
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return c.count_phrase("window_days", seconds // 86400)
    if seconds % 3600 == 0:
        return c.count_phrase("window_hours", seconds // 3600)
    return c.count_phrase("window_minutes", math.ceil(seconds / 60))


def _lead(notice: BlockNotice, c: _Catalog, markup: bool) -> str:
    """The one sentence that says what happened; the JSON `message` and the page's lead."""
    escape = html.escape if markup else str
    destination = f'<bdi dir="ltr" class="host">{html.escape(notice.destination)}</bdi>' if markup \
        else notice.destination
    reason = _reason(notice)
    if reason == "user_window":
        window = _window_phrase(c, notice.window_seconds)
        count = c.number(notice.window_count)
        if window is None:
            return c.text("lead_user_window_plain", markup, destination=destination, count=count)
        return c.text("lead_user_window", markup, destination=destination, count=count, window=escape(window))
    if reason == "uninspectable":
        return c.text("lead_uninspectable", markup, destination=destination)
    details = c.messages["list_separator"].join(
        c.text(f"details_{kind}", n=c.number(n)) for kind, n in _counts(notice))
    if not details:
        return c.text("lead_bulk_request_plain", markup, destination=destination)
    return c.text("lead_bulk_request", markup, destination=destination, details=escape(details))


def _counts(notice: BlockNotice) -> list[tuple[str, int]]:
    return [(kind, int(notice.counts.get(kind, 0))) for kind in KINDS if notice.counts.get(kind, 0)]


def _incident(notice: BlockNotice) -> str:
    return _token(notice.incident_id) or UNRECORDED


def _token(text: str) -> str:
    # Incident ids go into a header and a close frame: printable ASCII, no spaces, no CR/LF.
    return re.sub(r"[^\x21-\x7e]", "", text)


# -- JSON ----------------------------------------------------------------------------------

def render_json(notice: BlockNotice, language: str = DEFAULT_LANGUAGE) -> dict:
    c = _catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    reason = _reason(notice)
    payload = {
        "error": "blocked_by_dlp",
        "incident": _incident(notice),
        "reason": reason,
        "counts": {kind: int(n) for kind, n in notice.counts.items()},
        "samples": list(notice.samples),
        "uninspectable": list(notice.uninspectable),
        "contact": notice.contact,
        "message": _lead(notice, c, markup=False),
    }
    if reason == "user_window":
        payload["window"] = {"count": notice.window_count, "seconds": notice.window_seconds}
    return payload


# -- HTML ----------------------------------------------------------------------------------

# Addresses and web links in the contact become links; the rest stays text.
_LINKABLE = re.compile(r"(https?://[^\s<>\"]*[^\s<>\".,;:!?)\]]|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)")


def render_html(notice: BlockNotice, language: str = DEFAULT_LANGUAGE) -> str:
    c = _catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    esc = html.escape
    reason = _reason(notice)
    organisation = notice.organisation.strip()
    return _page().substitute(
        lang=esc(c.lang),
        dir=esc(c.dir),
        page_title=c.text("page_title", True),
        organisation=f'<span class="org"><bdi>{esc(organisation)}</bdi></span>' if organisation else "",
        badge=c.text("badge", True),
        heading=c.text("heading", True),
        lead=_lead(notice, c, markup=True),
        not_delivered=c.text("not_delivered", True,
                             destination=f'<bdi dir="ltr" class="host">{esc(notice.destination)}</bdi>'),
        details=_details_html(notice, c),
        incident=_incident_html(notice, c),
        help_heading=c.text("help_heading", True),
        help=c.text(f"help_{reason}", True),
        contact_label=c.text("contact_label", True),
        contact=_contact_html(notice, c),
        about=c.text("about", True),
    )


def _details_html(notice: BlockNotice, c: _Catalog) -> str:
    esc = html.escape
    rows = []
    if _reason(notice) == "user_window":
        window = _window_phrase(c, notice.window_seconds)
        label = c.text("fact_window", True, window=esc(window)) if window else c.text("fact_window_plain", True)
        rows.append((label, c.number(notice.window_count)))
    rows.extend((c.text(f"fact_{kind}", True), c.number(n)) for kind, n in _counts(notice))
    parts = []
    if rows:
        items = "".join(f"<div><dt>{label}</dt><dd>{value}</dd></div>" for label, value in rows)
        parts.append(f'<section><h2>{c.text("facts_heading", True)}</h2><dl class="facts">{items}</dl></section>')
    if notice.uninspectable:
        labels = dict.fromkeys(
            c.text(f"uninspectable_{s}" if f"uninspectable_{s}" in c.messages else "uninspectable_other", True)
            for s in notice.uninspectable)
        items = "".join(f"<li>{label}</li>" for label in labels)
        parts.append(f'<section><h2>{c.text("uninspectable_heading", True)}</h2>'
                     f'<ul class="reasons">{items}</ul></section>')
    if notice.samples:
        # A masked phone has no letter to give it a direction, so an Arabic or Persian page
        # would show "+86 138 **** 8000" backwards. Each chip is its own left-to-right block:
        # Chromium does not reliably isolate an inline <bdi> inside a flex item.
        items = "".join(f'<li dir="ltr">{esc(s)}</li>' for s in notice.samples)
        parts.append(f'<section><h2>{c.text("samples_heading", True)}</h2><ul class="samples">{items}</ul>'
                     f'<p class="note">{c.text("samples_note", True)}</p></section>')
    return "\n".join(parts)


def _incident_html(notice: BlockNotice, c: _Catalog) -> str:
    label = f'<p class="label" id="incident-label">{c.text("incident_label", True)}</p>'
    incident = _incident(notice)
    if incident == UNRECORDED:
        return f'{label}<p>{c.text("unrecorded_note", True)}</p>'
    return (f'{label}<p class="id" dir="ltr">{html.escape(incident)}</p>'
            f'<p class="hint">{c.text("incident_hint", True)}</p>')


def _contact_html(notice: BlockNotice, c: _Catalog) -> str:
    contact = notice.contact.strip()
    if not contact or contact == _DEFAULT_CONTACT:
        # The policy's default is English; say it in the page's language instead.
        return c.text("contact_default", True)
    subject = c.text("mail_subject", incident=_incident(notice))
    out = []
    for i, part in enumerate(_LINKABLE.split(contact)):
        if i % 2 == 0:
            out.append(html.escape(part))
        elif "@" in part and "://" not in part:
            href = f"mailto:{quote(part, safe='@')}?subject={quote(subject, safe='')}"
            out.append(f'<a dir="ltr" href="{html.escape(href)}">{html.escape(part)}</a>')
        else:
            out.append(f'<a dir="ltr" href="{html.escape(part)}" rel="noreferrer">{html.escape(part)}</a>')
    return f"<bdi>{''.join(out)}</bdi>"
