"""Bytes that are not text: the readable strings inside them.

An unknown binary upload can still carry a contact list (a database page, a proprietary
export, a document format we do not parse yet), so the runs of readable UTF-8 and of
UTF-16LE (what Windows programs store) are read, one per line, the way `strings` does.
"""

from __future__ import annotations

import regex

from dlp_addon.extract.budget import Budget
from dlp_addon.model import Segment

_MIN_RUN = 5
# Printable ASCII and whole UTF-8 sequences of letters, marks and digits of any script.
_UTF8_RUN = regex.compile(
    rb"(?:[\x20-\x7e\t]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3})"
    rb"{%d,}" % _MIN_RUN)
_UTF16LE_RUN = regex.compile(rb"(?:[\x20-\x7e]\x00|[\x00-\xff][\x04\x06]){%d,}" % _MIN_RUN)


def strings(data: bytes) -> str:
    found = [m.group().decode("utf-8", errors="replace") for m in _UTF8_RUN.finditer(data)]
    found += [m.group().decode("utf-16-le", errors="replace") for m in _UTF16LE_RUN.finditer(data)]
    return "\n".join(run.strip() for run in found if run.strip())


def extract(data: bytes, budget: Budget, where: str) -> None:
    # One list of strings: the runs are not columns, so they are judged as one group.
    budget.add(Segment(strings(data), f"{where}:strings", group=f"{where}:strings", layout="value"))
