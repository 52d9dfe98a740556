"""JSON: every key and value, any nesting, numbers too.

Each string (and each whole number, since phone numbers are stored as numbers too) is its
own segment, labelled by its key and grouped with its siblings: every `$.rows[*].phone` is
one group, so a column of digit-only numbers is judged as a column. Newline-delimited JSON
(one document per line) is read the same way. Strings that hold a JSON document themselves
(analytics beacons do this) are opened too.
"""

from __future__ import annotations

import functools
import json
import re

from dlp_addon.extract import content
from dlp_addon.extract.budget import Budget
from dlp_addon.model import Segment

_JSON_TYPES = ("application/json", "text/json", "application/x-ndjson", "application/ndjson",
               "application/jsonl", "application/x-jsonlines", "application/json-seq")
_CHECK_EVERY = 4096
_SMALLEST_NUMBER = 10 ** 6  # a phone number has at least seven digits
# A key is read like a value when it could be an identifier itself ({"john@x.com": ...}).
_KEY_WORTH_READING = re.compile(r"[@\d]").search


class _Pairs(list):
    """A JSON object as its (key, value) pairs: `json.loads` would keep only the last of
    repeated keys, and fifty `"e": "..."` pairs in one object are fifty addresses."""


def is_json_type(mime: str) -> bool:
    return mime in _JSON_TYPES or mime.endswith("+json")


def looks_like(text: str) -> bool:
    start = text[:64].lstrip("\ufeff \t\r\n\x1e")
    return start[:1] in ("{", "[")


def _documents(text: str) -> list | None:
    try:
        return [json.loads(text, object_pairs_hook=_Pairs)]
    except ValueError:
        pass
    lines = [line.strip().lstrip("\x1e") for line in text.splitlines()]
    try:
        return [json.loads(line, object_pairs_hook=_Pairs) for line in lines if line]
    except ValueError:
        return None


def extract(text: str, budget: Budget, where: str, depth: int) -> bool:
    """False when the text is not JSON after all (it is then read as text by the caller)."""
    if budget.too_deep(depth, where):
        return True
    try:
        documents = _documents(text)
    except RecursionError:
        budget.problem("too_deep", where, "JSON nested too deeply to parse")
        return False
    if documents is None:
        return False
    single = len(documents) == 1
    for number, document in enumerate(documents):
        _walk(document, budget, f"{where}:json", "$" if single else f"$[{number}]", depth)
    return True


def _walk(document, budget: Budget, where: str, root: str, depth: int) -> None:
    # An explicit stack: nesting that json.loads accepted must not overflow Python's. A value's
    # path and group are its parent's plus one step, joined only for values that are read
    # (most numbers, flags and nulls are not).
    stack = [(document, root, "", "$" if root == "$" else "$[*]", "", "")]
    seen = 0
    while stack:
        value, parent, step, parent_group, group_step, key = stack.pop()
        seen += 1
        if seen % _CHECK_EVERY == 0 and budget.out_of_time(where):
            return
        if isinstance(value, int):
            # Shorter than any phone number (and a bool is an int too): nothing to read.
            if not isinstance(value, bool) and not -_SMALLEST_NUMBER < value < _SMALLEST_NUMBER:
                budget.add(Segment(str(value), f"{where}:{parent}{step}", key,
                                   f"{where}:{parent_group}{group_step}", "value"))
        elif isinstance(value, str):
            content.add_value(value, budget, where=f"{where}:{parent}{step}", field=key,
                              group=f"{where}:{parent_group}{group_step}", depth=depth)
        elif isinstance(value, _Pairs):
            path, group = parent + step, parent_group + group_step
            for name, child in reversed(value):
                if _may_hold_text(child):
                    dotted = "." + name
                    stack.append((child, path, dotted, group, dotted, name))
            for name, _ in value:
                if _key_worth_reading(name):
                    budget.add(Segment(name, f"{where}:{path}.{name}:key", "", f"{where}:{group}.{name}:keys",
                                       "value"))
        elif isinstance(value, list):
            path, group = parent + step, parent_group + group_step
            for index in range(len(value) - 1, -1, -1):
                child = value[index]
                if _may_hold_text(child):
                    stack.append((child, path, f"[{index}]", group, "[*]", key))


def _may_hold_text(value) -> bool:
    """Whether `_walk` makes anything of the value: floats, flags, nulls and short whole
    numbers (most of an API's values) are not even put on its stack."""
    kind = type(value)
    return kind is str or kind is _Pairs or kind is list or (
        kind is int and not -_SMALLEST_NUMBER < value < _SMALLEST_NUMBER)


@functools.lru_cache(maxsize=4096)  # a list's records repeat the same few keys
def _key_worth_reading(name: str) -> bool:
    return _KEY_WORTH_READING(name) is not None
