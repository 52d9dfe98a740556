"""Normalise text before detection, keeping a map back to what was sent.

Detectors see one canonical spelling: every Unicode decimal digit system as ASCII digits
(Arabic-Indic ٠١٢, Persian ۰۱۲, Devanagari, fullwidth ０１２ ...), fullwidth ASCII as ASCII
(＠ ＋ ．), the many Unicode spaces and dashes as " " and "-", and no invisible format
characters (zero-width spaces and joiners, bidi controls, soft hyphens), which both appear
naturally in Arabic and Persian text and are a cheap way to split an address so that a naive
regex misses it.

Every mapping is one character to one character except deletions, so a detector's span in
the normalised text maps back to the original with `Normalized.original_span`; masked samples
in incidents therefore show what the person actually wrote. A detector that reads a longer
spelling as one character (the email detector reads ` [at] ` as "@") rewrites with
`substitute`: one mapped character plus deletions, so the same holds.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import regex

try:  # the same mapping in C (see the file); built wherever a C compiler was at hand
    from dlp_addon._normalize import map_text as _map_text
except ImportError:
    _map_text = None

# Invisible characters: Unicode general category Cf (format) covers zero-width space/joiners,
# LRM/RLM, bidi embeddings and isolates, word joiner, BOM, soft hyphen, Arabic letter mark.
_INVISIBLE = regex.compile(r"\p{Cf}+")

_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\u2043"
_EXTRA = {
    "\ufe6b": "@",  # small commercial at
    "\ufe62": "+",  # small plus
    "\ufe52": ".",  # small full stop
    "\u066b": ".",  # Arabic decimal separator
    "\u066c": ",",  # Arabic thousands separator
    "\u060c": ",",  # Arabic comma
}


@functools.cache
def _table() -> dict[int, int]:
    table: dict[int, int] = {}
    for code in range(0x80, sys.maxunicode + 1):
        digit = unicodedata.decimal(chr(code), None)
        if digit is not None:
            table[code] = ord("0") + digit
    for code in range(0xFF01, 0xFF5F):  # fullwidth ASCII block maps to ASCII by a fixed offset
        table[code] = code - 0xFEE0
    for char in _SPACES:
        table[ord(char)] = ord(" ")
    for char in _DASHES:
        table[ord(char)] = ord("-")
    for char, repl in _EXTRA.items():
        table[ord(char)] = ord(repl)
    return table


# Not frozen: see model.Segment.
@dataclass(slots=True)
class Normalized:
    text: str
    original: str
    # index in `text` -> index in `original`; None when nothing was deleted (identity)
    offsets: array | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if self.offsets is None:
            return start, end
        if start >= len(self.offsets):
            return len(self.original), len(self.original)
        last = self.offsets[end - 1] + 1 if end > start else self.offsets[start]
        return self.offsets[start], last

    def original_text(self, start: int, end: int) -> str:
        o_start, o_end = self.original_span(start, end)
        return self.original[o_start:o_end]


# The same characters as the table, as a class the regex engine checks by property (a class
# listing all ~770 characters one by one scans ten times slower).
_MAPPABLE_RUNS = regex.compile(
    r"[[\p{Nd}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u2010-\u2015\u2212\u2043"
    r"\ufe52\ufe58\ufe62\ufe63\ufe6b\uff01-\uff5e\u060c\u066b\u066c]--[0-9]]+",
    regex.V1,
)


def _translate_run(match: regex.Match) -> str:
    return match.group().translate(_table())


def normalize(text: str) -> Normalized:
    # Pure-ASCII text (most traffic) has nothing to map or delete.
    if text.isascii():
        return Normalized(text, text)
    if _map_text is not None:
        mapped, deleted_from = _map_text(text, *_native_table())
        if deleted_from is None:
            return Normalized(mapped, text)
        offsets = array("I")
        offsets.frombytes(deleted_from)
        return Normalized(mapped, text, offsets)
    return _normalize_by_patterns(text)


def _normalize_by_patterns(text: str) -> Normalized:
    # Only the runs that need mapping go through Python; CJK or Arabic prose without native
    # digits passes at regex speed.
    mapped = _MAPPABLE_RUNS.sub(_translate_run, text)
    if not _INVISIBLE.search(mapped):
        return Normalized(mapped, text)
    return _delete_invisible(mapped, text)


def _delete_invisible(mapped: str, original: str) -> Normalized:
    pieces: list[str] = []
    offsets = array("I")
    position = 0
    for match in _INVISIBLE.finditer(mapped):
        pieces.append(mapped[position:match.start()])
        offsets.extend(range(position, match.start()))
        position = match.end()
    pieces.append(mapped[position:])
    offsets.extend(range(position, len(mapped)))
    return Normalized("".join(pieces), original, offsets)


_DELETE = 0xFFFFFFFF
_BLOCKS = 0x1100  # of 256 code points


@functools.cache
def _native_table() -> tuple[bytes, bytes]:
    """What `_normalize_by_patterns` does to each character, as the C mapping's table: the
    same two patterns run once over every code point (0.1 s, in the warm-up), so that the
    two paths map and delete exactly the same characters, whatever Unicode version the regex
    module and the digit table were built from."""
    every = array("I", range(0xD800))
    every.extend(range(0xE000, sys.maxunicode + 1))
    characters = every.tobytes().decode("utf-32-le" if sys.byteorder == "little" else "utf-32-be")
    changes: dict[int, int] = {}
    table = _table()
    for match in _MAPPABLE_RUNS.finditer(characters):
        for char in match.group():
            if ord(char) in table:
                changes[ord(char)] = table[ord(char)]
    for match in _INVISIBLE.finditer(characters):
        for char in match.group():
            changes[ord(char)] = _DELETE
    index = array("H", bytes(2 * _BLOCKS))
    pages = array("I", bytes(4 * 256))  # page 0: no change
    for code, to in sorted(changes.items()):
        block = code >> 8
        if not index[block]:
            index[block] = len(pages) // 256
            pages.extend(array("I", bytes(4 * 256)))
        pages[index[block] * 256 + (code & 0xFF)] = to
    return index.tobytes(), pages.tobytes()


def substitute(norm: Normalized, edits: Iterable[tuple[int, int, str]]) -> Normalized:
    """`norm` with spans of its text replaced by one character each (`edits` sorted and not
    overlapping): the character maps to where its span began, the rest of the span counts as
    deleted, so a span around it still maps back to everything that was sent."""
    text, old = norm.text, norm.offsets
    pieces: list[str] = []
    offsets = array("I")
    position = 0
    for start, end, char in edits:
        pieces += (text[position:start], char)
        offsets.extend(old[position:start + 1] if old is not None else range(position, start + 1))
        position = end
    pieces.append(text[position:])
    offsets.extend(old[position:] if old is not None else range(position, len(text)))
    return Normalized("".join(pieces), norm.original, offsets)
