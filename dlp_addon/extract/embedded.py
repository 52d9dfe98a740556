"""Encodings inside a text or a field's value, undone, and what they hide opened like any content.

Data leaves wrapped in encodings that no detector reads: a CSV as a base64 JSON field or a
data: URI, a zip as base64 inside JSON inside multipart, a whole body in base64, a JWT's
claims, `a%40b.com` in a text body, `a\\u0040b.com` in JS source or a log, `a&#64;b.com` in a
template, quoted-printable `=40` and soft-broken lines pasted from a mail. Base64 may hold a
file, so it goes back through `open_content`; the textual escapes give text, which goes back
through `open_text`. Both one level deeper, so `max_depth` bounds the nesting, and decoded
output spends `max_decoded_bytes`. The original text stays a segment of its own.

Benign traffic is full of base64 blobs, ids and hashes: candidates are picked by cheap checks
first, and a blob that decodes to neither text nor a container (pictures, random tokens,
hashes, signatures) is dropped without further work.
"""

from __future__ import annotations

import binascii
import codecs
import html
import json
import quopri
import re
from urllib.parse import unquote_to_bytes

from dlp_addon.extract import content, sniff
from dlp_addon.extract.budget import Budget
from dlp_addon.extract.charset import decode_text, detect, looks_binary
from dlp_addon.substrings import has_run

try:  # the same looks in C (see the file): a beacon log's "="s, "%"s and ids at memory speed
    from dlp_addon.extract._escapes import base64_runs as _base64_runs
    from dlp_addon.extract._escapes import percent_decoded as _percent_decoded
    from dlp_addon.extract._escapes import quoted_printable_hint as _quoted_printable_hint
except ImportError:
    _percent_decoded, _quoted_printable_hint = unquote_to_bytes, None
    _base64_runs = None


_MIN_RUN = 16  # base64 of the shortest address worth finding ("ivan@mail.ru")
# Both alphabets at once (a JWT or URL-safe token is the same thing as a base64 field). A line
# break continues a run only after a full-width line, since MIME and PEM wrap at 64 or 76.
# The look-behind only spares the engine retrying inside runs shorter than 16 (it never starts
# a match mid-run anyway).
_RUN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}(?:(?<=[A-Za-z0-9+/_-]{40})\r?\n[A-Za-z0-9+/_-]+)*={0,2}")
_BASE64_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"

_HEX = "0123456789abcdefABCDEF-"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_HEAD = 512  # base64 characters decoded first: 384 bytes show any container's magic and tar's
_SMALLEST_FILE = 64  # decoded bytes: anything shorter is a token, a hash or a few words
_LEGACY_TEXT_MIN = 256  # below this, charset statistics cannot tell text from random bytes
_CHECK_EVERY = 256
_REGIONS_FROM = 4096  # characters: shorter texts are decoded whole
# A JWT's header only says how the token is signed; its payload is opened like any JSON.
_JOSE_HEADER = (b'{"alg"', b'{"typ"', b'{"kid"', b'{"enc"')

# Character references outside markup: only real ones (`&#64;`, `&#x40;`, `&commat;`). Named
# references need their ";" so that `?a=1&para=2` in a log line is not read as "¶=2".
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};)")
_JSON_ESCAPES = re.compile(r"(?:\\u[0-9a-fA-F]{4})+")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
# Quoted-printable: an "=" escaping an "@" before a domain, a UTF-8 sequence, or a soft line
# break. A lone "=" at a line end is also base64 padding or `KEY=`, which a line made only of
# base64 characters is taken to be.
_QP_HINT = re.compile(r"=(?:40(?=[\w-]+\.[^\W\d_])|[C-Fc-f][0-9A-Fa-f]=[89ABab][0-9A-Fa-f]|\r?\n)")
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/_-]*")


def unescape_references(text: str) -> str:
    """`john&#64;example.com` -> `john@example.com`, each reference by the stdlib's HTML rules."""
    if not _may_hold_references(text):
        return text  # a query string has an "&" every twenty characters and no reference
    return _REFERENCE.sub(lambda m: html.unescape(m.group()), text)


def extract(text: str, budget: Budget, *, where: str, field: str = "", group: str = "", depth: int) -> None:
    """Whatever is encoded inside one text or value, opened one level deeper than it."""
    # Every textual escape needs one of these characters: most values have none.
    unescaped = _unescape(text) if "&" in text or "%" in text or "=" in text or "\\" in text else None
    if unescaped is not None:
        decoded, names = unescaped
        if budget.too_deep(depth + 1, where) or not _room_for(budget, len(decoded), names, where):
            return
        budget.spend_decoded(len(decoded))
        content.open_text(decoded, budget, where=f"{where}:{names}", depth=depth + 1, field=field,
                          group=group)
        # Escapes can split a base64 run (`abc%2Bdef`), so runs are read from the decoded copy;
        # quoted-printable joins lines and can swallow base64 padding, so then from both.
        if "qp" not in names:
            return
    if len(text) >= _MIN_RUN:
        _open_base64(text, budget, where, field, depth)


# -- textual escapes -------------------------------------------------------------------------

def _unescape(text: str) -> tuple[str, str] | None:
    """The text with every kind of escape it holds undone, and their names; None if it has none."""
    if len(text) >= _REGIONS_FROM and not _has_references(text) and not _has_quoted_printable(text):
        if not _has_json_escapes(text) and not _has_percent(text):
            return None  # prose with a "%" or an "=" in it: no need to cut it into lines to know
        text = _escaped_regions(text)
    names = []
    for name, present, decode in _TEXTUAL:
        if present(text):
            decoded = decode(text)
            if decoded != text:
                text = decoded
                names.append(name)
    return (text, "+".join(names)) if names else None


def _escaped_regions(text: str) -> str:
    """Only the parts of a long text that hold percent or `\\u` escapes, one per line: the
    rest was read already as the original. A part is its line, or in a line of query
    parameters (`a=1&dl=https%3A%2F%2F...`) its parameter, so the decoded copy of a beacon
    log is its few encoded URLs rather than all of it again. The first line stays, since it
    may be the header that labels a table's columns."""
    lines = text.splitlines()
    parts = lines[:1]
    for line in lines[1:] if len(lines) > 1 else ():
        if "%" not in line and ("\\" not in line or "\\u" not in line):
            continue
        if "&" in line and "=" in line:
            parts.extend(_escaped_pairs(line))
        else:
            parts.append(line)
    if len(lines) == 1 and "&" in text and "=" in text:
        parts = _escaped_pairs(text)
    return "\n".join(parts)


def _escaped_pairs(line: str) -> list[str]:
    """The parameters of a line of them (split at "&") that hold an escape."""
    if "\\" in line:
        return [pair for pair in line.split("&") if "%" in pair or "\\u" in pair]
    # Found from the escapes, not by splitting: a beacon's line has twenty parameters and
    # one encoded URL.
    pairs = []
    at = line.find("%")
    while at >= 0:
        end = line.find("&", at)
        if end < 0:
            end = len(line)
        pairs.append(line[line.rfind("&", 0, at) + 1:end])
        at = line.find("%", end)
    return pairs


# The one-character looks first: they run at memory speed, a two-character one (`"\\u" in`)
# at a thirtieth of it, and the pattern at the speed of its first character's hits (a query
# string has an "&" every twenty characters). A reference ends in ";" or starts with "&#".
def _may_hold_references(text: str) -> bool:
    return "&" in text and (";" in text or ("#" in text and "&#" in text))


def _has_references(text: str) -> bool:
    return _may_hold_references(text) and _REFERENCE.search(text) is not None


def _has_json_escapes(text: str) -> bool:
    return "\\" in text and "\\u" in text and _JSON_ESCAPES.search(text) is not None


def _has_percent(text: str) -> bool:
    return "%" in text and _PERCENT.search(text) is not None


def _has_quoted_printable(text: str) -> bool:
    if _quoted_printable_hint is not None:
        return _quoted_printable_hint(text)
    return _python_has_quoted_printable(text)


def _python_has_quoted_printable(text: str) -> bool:
    if "=" not in text:
        return False
    for match in _QP_HINT.finditer(text):
        if match.group()[1] not in "\r\n":
            return True
        line = text[text.rfind("\n", 0, match.start()) + 1:match.start()]
        if not _BASE64_LINE.fullmatch(line):
            return True
    return False


def _json_unescape(text: str) -> str:
    # Only runs of \uXXXX are handed to the JSON parser: that is always a valid JSON string,
    # surrogate pairs included. codecs' unicode_escape would mangle the non-ASCII around them.
    return _JSON_ESCAPES.sub(_json_run, text)


def _json_run(match: re.Match) -> str:
    decoded = json.loads(f'"{match.group()}"')
    return decoded.encode("utf-8", errors="replace").decode("utf-8")  # a lone surrogate becomes "?"


def _percent_unescape(text: str) -> str:
    return _bytes_to_text(_percent_decoded(_utf8(text)))


def _quoted_printable_unescape(text: str) -> str:
    return _bytes_to_text(quopri.decodestring(_utf8(text)))


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", errors="replace")  # a JSON string may hold a lone surrogate


def _bytes_to_text(data: bytes) -> str:
    """Escaped bytes are UTF-8 nearly always; else in the charset the bytes themselves tell."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return decode_text(data) or data.decode("utf-8", errors="replace")


_TEXTUAL = (
    ("html", _has_references, unescape_references),
    ("unicode", _has_json_escapes, _json_unescape),
    ("percent", _has_percent, _percent_unescape),
    ("qp", _has_quoted_printable, _quoted_printable_unescape),
)


# -- base64 ----------------------------------------------------------------------------------

def _open_base64(text: str, budget: Budget, where: str, field: str, depth: int) -> None:
    if not has_run(text, _BASE64_CHARACTERS, _MIN_RUN):
        return  # prose has no run of sixteen, and is only read once for it
    if text.lower() == text or text.upper() == text:
        # No run can mix cases if the text does not (see _may_be_base64): telemetry, hex
        # ids and UUIDs are skipped at the speed of a copy rather than scanned run by run.
        return
    runs = _base64_runs(text) if _base64_runs is not None else _python_base64_runs(text)
    for number, (start, end) in enumerate(runs):
        if number % _CHECK_EVERY == _CHECK_EVERY - 1 and budget.out_of_time(where):
            return
        run = _unwrapped(text[start:end])
        if not _may_be_base64(run):
            continue
        # Its first bytes tell what a blob is: a picture or a token is dropped without decoding
        # the rest (decoding runs at ~150 MB/s, and benign traffic is full of them).
        complete = len(run) <= _HEAD
        head = _decode(run[:_HEAD], cut=not complete)
        route = _route(head, complete) if head is not None and not head.startswith(_JOSE_HEADER) else None
        if route is None:
            budget.spend_decoded(len(head or b""))
            continue
        if not _room_for(budget, len(run) * 3 // 4, "base64", where):
            return
        decoded = head if complete else _decode(run)
        if decoded is None:
            continue
        budget.spend_decoded(len(decoded))
        place = f"{where}:base64"
        label = field if (start, end) == (0, len(text)) else ""
        if route == "text" and complete:
            # Already known to be UTF-8 text and no file: no sniffing or charset detection to repeat.
            if not budget.too_deep(depth + 1, place):
                content.open_text(decoded.decode("utf-8-sig"), budget, where=place, depth=depth + 1, field=label)
        else:
            content.open_content(decoded, budget, content_type="", where=place, depth=depth + 1, field=label)


def _python_base64_runs(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _RUN.finditer(text)]


def _unwrapped(run: str) -> str:
    """A wrapped block is lines of one width ended by a shorter one: a word on the line after
    a block is not glued onto it."""
    if "\n" not in run:
        return run
    lines = run.splitlines()
    width = len(lines[0])
    kept = lines[:1]
    for line in lines[1:]:
        if len(line.rstrip("=")) > width:
            break
        kept.append(line)
        if len(line) < width:
            break
    return "".join(kept)


def _may_be_base64(run: str) -> bool:
    """Encoded bytes mix upper and lower case; ids, hex hashes, UUIDs, numbers and words in
    one case do not."""
    head = run[:64]
    return head.lower() != head and head.upper() != head and bool(head.strip(_HEX))


def _decode(chars: str, *, cut: bool = False) -> bytes | None:
    """`cut`: the first characters of a longer run, which may end inside a group of four."""
    data = chars.encode("ascii").translate(_TO_STANDARD, b"\r\n=")
    if cut:
        data = data[:len(data) - len(data) % 4]
    elif len(data) % 4 == 1:  # no base64 encoder ends there: not base64
        return None
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return None


def _route(head: bytes, complete: bool) -> str | None:
    """How to open a blob from its first bytes (all of it when `complete`): "text" for UTF-8
    text, "content" for a container or text in another charset, None for what hides no list
    (pictures, random tokens, hashes, signatures)."""
    if len(head) >= _SMALLEST_FILE:
        kind = sniff.kind_of(head)
        if kind == "media":
            # A list behind a picture header is still read, as the body of an upload would be.
            return "content" if _is_utf8(head[_SMALLEST_FILE:], complete) else None
        if kind is not None:
            return "content"
    zeros = head.count(0)
    if zeros * 4 > len(head):
        # UTF-16 text (what Windows tools encode) is full of zero bytes; random bytes are not.
        return "content" if detect(head)[0] is not None else None
    if _is_utf8(head, complete):
        return "text" if not zeros else "content" if not looks_binary(head) else None
    return "content" if len(head) >= _LEGACY_TEXT_MIN and not looks_binary(head) else None


def _is_utf8(data: bytes, complete: bool) -> bool:
    try:
        codecs.utf_8_decode(data, "strict", complete)
    except UnicodeDecodeError:
        return False
    return True


def _room_for(budget: Budget, amount: int, what: str, where: str) -> bool:
    """False, with the problem recorded, when decoding would go over the message's limit."""
    if amount <= budget.decoded_room():
        return True
    budget.problem("too_large", where,
                   f"{what} output over the decoded-size limit ({budget.limits.max_decoded_bytes} bytes)")
    return False
