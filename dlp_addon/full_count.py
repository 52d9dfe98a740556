"""The full count of a large free-text body, one window at a time.

A list blocked on its first kilobytes (`engine.probe_request`) is still counted whole for the
incident. Counted in one piece, a 100 MiB CSV cost the worker eight times its size (its copy
of the body, the decoded text, a million findings) and ran past the worker's hard time limit,
so the incident kept only what the start had held. Counted in windows of a megabyte, each
window is one worker call: the body never leaves the proxy whole, a worker holds one window,
requests get a worker between windows, and the count stops on time with what it has.

    plan (in a worker, from the body's start): the charset every window is decoded with
    windows (in the proxy): slices cut at line breaks, each after the body's header line
    Tally (in the proxy): the windows' evidence, every distinct identifier once

Only bodies that the whole-body path reads as one free text are windowed. That path tells
the charset from the start alone too, and free text is read line by line, so the windows'
texts put together are the body's text. JSON, forms, markup and multipart are counted whole.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

from dlp_addon.detect.phone import DocumentCountries
from dlp_addon.extract import charset, form, json_doc
from dlp_addon.extract.content import parse_content_type
from dlp_addon.extract.sniff import kind_of
from dlp_addon.extract.text import looks_like_markup
from dlp_addon.model import Evidence, Inspection, Problem, RequestData

WINDOW_BYTES = 1024 * 1024
# What the whole-body path reads of a body to tell its charset and its format: the charset
# from its first 64 KiB, markup from its first 65,536 characters (at most 4 bytes each).
PLAN_BYTES = 256 * 1024
_HEADER_BYTES = 4096
_CUTS = b"\n ,;\t"
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-="
# Lines looked back over for one that is not wrapped base64: 256 KiB of 76-character lines.
_BASE64_LINES_BACK = 3500
# Multi-byte charsets in which every byte after a character's first is 0x30 or above: a cut
# after a line break, a space, a comma or a semicolon never falls inside a character.
_CUT_SAFE_MULTIBYTE = frozenset({"utf-8", "gb18030", "big5hkscs", "cp932", "euc_jp", "cp949", "cp950"})
# The types the whole-body path reads as free text when the content is neither JSON nor a form.
_FREE_TEXT_TYPES = frozenset({"", "text/plain", "text/csv", "text/tab-separated-values",
                              "application/octet-stream", "application/csv", "application/vnd.ms-excel"})
_DECLARED_TABLES = frozenset({"text/csv", "text/tab-separated-values"})


@dataclass(frozen=True, slots=True)
class Plan:
    codec: str
    start: int  # bytes of byte-order mark before the text
    header: bytes  # the header line that every later window is read after, or b""
    # Which countries the body's start points to, as the whole-body reading tells them: a
    # window read on its own would tell them from its own start, and read a bare number of
    # two countries' plans in another country than the probe and the rest of the body did.
    document: DocumentCountries | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """One slice of a body, read as free text in the body's charset."""

    data: bytes  # the header line (if any), then the slice
    codec: str
    mime: str
    header: int  # bytes of `data` that repeat the header line
    document: DocumentCountries | None


def plan_head(request: RequestData) -> RequestData:
    """The request with only as much of its body as `plan` reads."""
    return RequestData(request.method, request.host, request.path, request.headers,
                       (request.body or b"")[:PLAN_BYTES])


def plan(head: RequestData) -> Plan | None:
    """How to window the body that `head` starts (see `plan_head`), or None where the whole-body
    path would not read it as one free text: it is then counted whole."""
    if head.header("content-encoding").strip().lower() not in ("", "identity"):
        return None
    mime, params = parse_content_type(head.header("content-type"))
    start = head.body or b""
    if mime not in _FREE_TEXT_TYPES or kind_of(start) is not None:
        return None
    codec, skip = charset.detect(start, params.get("charset", ""))
    # An ASCII start with a markup charset declaration: a body that is not all ASCII is then
    # decoded with the declared charset, which the start alone does not show.
    if codec is None or not _cut_safe(codec) or charset.declared_in_markup(start):
        return None
    text = start[skip:].decode(codec, errors="replace")
    if mime not in _DECLARED_TABLES and (form.looks_like(text) or json_doc.looks_like(text)):
        return None
    if looks_like_markup(text):
        return None
    return Plan(codec, skip, _header_line(start[skip:], codec))


def _header_line(text: bytes, codec: str) -> bytes:
    """A first line that names columns: no digit and no @, so no identifier in it. The engine
    checks it holds none before it is used (`Engine.window_plan`)."""
    end = text.find(b"\n", 0, _HEADER_BYTES)
    if end <= 0:
        return b""
    line = text[:end + 1]
    decoded = line.decode(codec, errors="replace")
    if "@" in decoded or "＠" in decoded or any(ch.isdigit() for ch in decoded):
        return b""
    return line


@functools.cache
def _cut_safe(codec: str) -> bool:
    if codec in _CUT_SAFE_MULTIBYTE:
        return True
    # Single-byte charsets that write the cut bytes as ASCII does (not EBCDIC, not UTF-16):
    # every byte one character on its own and in any company. Stateful ones (ISO-2022, UTF-7)
    # shift with escapes, so a byte's meaning depends on what came before the cut.
    if codec.replace("-", "_").startswith(("iso2022", "utf_7", "hz")):
        return False
    try:
        alone = "".join(bytes([b]).decode(codec, errors="replace") for b in range(256))
        return alone == bytes(range(256)).decode(codec, errors="replace") and len(alone) == 256 \
            and _CUTS.decode(codec) == _CUTS.decode("ascii")
    except LookupError:
        return False


def windows(body: bytes, plan: Plan, mime: str, size: int | None = None) -> Iterator[Window]:
    """The body in slices of at most `size` bytes (WINDOW_BYTES), each cut after its last line
    break (or, in a body without one, after a space, comma or semicolon), so no identifier is
    cut in two."""
    size = size or WINDOW_BYTES
    position = plan.start
    header = b""
    while position < len(body):
        end = cut_end(body, position, size)
        yield Window(header + body[position:end], plan.codec, mime, len(header), plan.document)
        header = plan.header
        position = end


def cut_end(body: bytes, start: int, size: int) -> int:
    """Where a slice of at most `size` bytes from `start` ends without cutting an identifier
    (see `windows`)."""
    limit = start + size
    if limit >= len(body):
        return len(body)
    line_break = body.rfind(b"\n", start, limit)
    if line_break >= 0:
        return _outside_wrapped_base64(body, start, line_break) + 1
    last = max(body.rfind(b, start, limit) for b in (b" ", b",", b";", b"\t"))
    return last + 1 if last >= 0 else limit


def _outside_wrapped_base64(body: bytes, start: int, line_break: int) -> int:
    """A line break at or before `line_break` that does not end a line of wrapped base64
    (which `embedded` reads on into the next line), so that no blob is decoded in two halves;
    `line_break` itself if every line back to `start` is one."""
    candidate = line_break
    for _ in range(_BASE64_LINES_BACK):
        previous = body.rfind(b"\n", start, candidate)
        line = body[max(previous + 1, start):candidate].rstrip(b"\r")
        if len(line) < 40 or line.translate(None, _BASE64_BYTES):
            return candidate
        if previous < 0:
            break  # the window is all one blob: it is cut where it is
        candidate = previous
    return line_break


@dataclass(slots=True)
class Tally:
    """The evidence of a body's windows together: each distinct identifier once, with its
    occurrences summed, first seen first within its kind (so the masked samples are the
    body's first).

    It lives in the proxy for as long as the count runs, and a 100 MiB list holds some
    400,000 distinct identifiers: kept as `Evidence` objects they cost the proxy 90 to 160
    MiB. Here each costs its digest string and a dictionary slot; the few with a masked
    sample, or first seen in a place other than the body's first, are noted apart."""

    total_bytes: int
    safe_path: str
    counted_bytes: int = 0
    occurrences: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> digest -> count
    masked: dict[str, str] = field(default_factory=dict)  # digest -> its masked sample, where it has one
    place: str | None = None  # where the first identifier was seen
    places: dict[str, str] = field(default_factory=dict)  # digest -> first place, where that is another
    problems: dict[Problem, None] = field(default_factory=dict)
    bytes_inspected: int = 0
    exempt: int = 0

    def add(self, window_bytes: int, inspection: Inspection) -> None:
        self.counted_bytes += window_bytes
        for item in inspection.evidence:
            seen = self.occurrences.get(item.kind)
            if seen is None:
                seen = self.occurrences[item.kind] = {}
            digest = item.digest
            before = seen.get(digest)
            if before is not None:
                seen[digest] = before + item.occurrences
                continue
            seen[digest] = item.occurrences
            if item.masked:
                self.masked[digest] = item.masked
            if self.place is None:
                self.place = item.where
            elif item.where != self.place:
                self.places[digest] = item.where
        self.problems.update(dict.fromkeys(inspection.problems))
        self.bytes_inspected += inspection.bytes_inspected
        # Distinct exempt identifiers per window: their sum counts one repeated in every
        # window many times, so the largest is kept, as `engine.merge` keeps it.
        self.exempt = max(self.exempt, inspection.exempt)

    def stop(self, sub_reason: str, why: str) -> None:
        """The count stopped with part of the body still uncounted."""
        self.problems[Problem(sub_reason, "body", f"full count stopped {why}: "
                                                  f"{self.counted_bytes} of {self.total_bytes} bytes counted")] = None

    def inspection(self) -> Inspection:
        masked, places, place = self.masked, self.places, self.place
        evidence = tuple(Evidence(kind, digest, masked.get(digest, ""), places.get(digest, place), count)
                         for kind, seen in self.occurrences.items() for digest, count in seen.items())
        return Inspection(evidence=evidence, problems=tuple(self.problems), bytes_inspected=self.bytes_inspected,
                          exempt=self.exempt, safe_path=self.safe_path)
