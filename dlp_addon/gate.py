"""The first look at a request, on its raw bytes, before anything is decoded.

Most requests carry nothing a detector could ever count: a form of words and short numbers, a
JSON document of flags, a plain path. A handful of byte-level scans (each at memory speed, no
Python per byte) tell so, and such a request needs no worker and no extraction. The gate only
ever lets a request skip inspection; anything it is not sure of goes the whole way. It opens for:

  - any byte that is not printable ASCII (other charsets, UTF-16, native digits, compressed or
    binary content, fullwidth and written-out forms in other scripts), and any document
    format told by its first bytes, since its reader may join what stands apart in the bytes;
  - an "@", or an "at" written out in English (` at `, `[at]`);
  - seven digits close together (every phone number has seven), or markup, whose tags a
    reader drops from between them;
  - anything that could be an encoding hiding either: percent and quoted-printable escapes,
    backslash escapes, character references, and base64-like runs of 16 or more characters;
  - a declared Content-Encoding, since the bytes seen are then not the content.
"""

from __future__ import annotations

import re

from dlp_addon.extract import sniff
from dlp_addon.model import RequestData

_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_REFERENCE = re.compile(rb"&#|&[A-Za-z][A-Za-z0-9]{1,31};")
_PERCENT = re.compile(rb"%[0-9A-Fa-f]{2}")
_QUOTED_PRINTABLE = re.compile(rb"=(?:[0-9A-Fa-f]{2}|\r?\n)")
# Seven digits with at most the separators a written number has between them (a form's "+"
# is a space); markup, whose tags the reader drops, opens the gate by itself.
_SEVEN_DIGITS = re.compile(rb"[0-9](?:[ \t\-.()/+]{0,3}[0-9]){6}")
_BRACKETED_AT = re.compile(rb"[\[({<]\s*at\s*[\])}>]")  # searched in the lower-cased bytes
# Byte maps that turn a pattern search into a substring search, which runs at memory speed:
# every base64 character becomes "A" (a run of sixteen is then b"A" * 16), every space " ".
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_AS_BASE64_SHAPE = bytes(ord("A") if b in _BASE64_ALPHABET else ord(" ") for b in range(256))
_AS_SPACES = bytes.maketrans(b"\t\r\n\f\v", b"     ")


def quiet(request: RequestData, max_bytes: int) -> bool:
    """True when neither the path nor the body can hold an identifier, in any encoding."""
    body = request.body or b""
    if len(body) > max_bytes:
        return False  # over the limit: the engine records it as such
    if body and request.header("content-encoding").strip().lower() not in ("", "identity"):
        return False
    return _quiet_bytes(body) and _quiet_bytes(request.path.encode("utf-8", "surrogateescape"))


def _quiet_bytes(data: bytes) -> bool:
    if not data:
        return True
    # Every look must find nothing for the bytes to be quiet, so their order only sets how
    # soon a body that is not quiet is sent on: the looks that most often find something,
    # and stop at it, come first (other scripts are not ASCII; digit-dense traffic has seven
    # digits in its first lines).
    if b"@" in data or not data.isascii() or _SEVEN_DIGITS.search(data):
        return False
    if data.translate(None, _PRINTABLE):
        return False
    if b"\\" in data or (b"<" in data and b">" in data) or sniff.kind_of(data) is not None:
        return False
    for marker, pattern in ((b"&", _REFERENCE), (b"%", _PERCENT), (b"=", _QUOTED_PRINTABLE)):
        if marker in data and pattern.search(data):
            return False
    if b"A" * 16 in data.translate(_AS_BASE64_SHAPE):
        return False
    lower = data.lower()
    if b" at " in lower.translate(_AS_SPACES):
        return False
    return not (b"at" in lower and _BRACKETED_AT.search(lower))
