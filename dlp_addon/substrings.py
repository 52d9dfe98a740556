"""Two looks at a whole text, for checks that every message goes through before any matching:
whether it holds any of a few strings, and whether it holds a run of some characters.

Each is one pass in C (see _substrings.c) where that was built; the Python here gives the
same answers, a pass per string, and is what runs where no compiler was at install time.
"""

from __future__ import annotations

import functools


def python_substrings(needles: tuple[str, ...]) -> tuple[str, ...]:
    """The needles, ready for `contains_any` (built once, where that is in C)."""
    return tuple(needles)


def python_contains_any(text: str, needles) -> bool:
    """Whether any of the needles (a tuple of str, or `substrings` of one) is in the text."""
    return any(needle in text for needle in needles)


@functools.cache
def _as_run_shape(characters: str) -> bytes:
    # Each of the (ASCII) characters as "A", every other byte (each of a non-ASCII
    # character's too) as " ": a run is then a substring search at memory speed.
    return bytes(ord("A") if chr(b) in characters else ord(" ") for b in range(256))


def python_has_run(text: str, characters: str, length: int) -> bool:
    """Whether `length` characters in a row of the text are all among the ASCII `characters`."""
    return b"A" * length in text.encode("utf-8", "surrogatepass").translate(_as_run_shape(characters))


try:
    from dlp_addon._substrings import contains_any, has_run, substrings
except ImportError:
    substrings, contains_any, has_run = python_substrings, python_contains_any, python_has_run
