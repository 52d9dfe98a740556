"""JSON: every key and value, any nesting, numbers too.

Each string (and each whole number long enough to be a phone number and not under a key that
names it as something else, since phone numbers are stored as numbers too) is its own
segment, labelled by its key and grouped with its siblings: every `$.rows[*].phone` is
one group, so a column of digit-only numbers is judged as a column. Newline-delimited JSON
(one document per line) is read the same way. Strings that hold a JSON document themselves
(analytics beacons do this) are opened too.
"""

from __future__ import annotations

import functools
import json
import re

from dlp_addon.detect.phone_context import field_says_phone
from dlp_addon.extract import content
from dlp_addon.extract.budget import Budget
from dlp_addon.model import Segment

try:  # the same walk in C (see the file); built wherever a C compiler was at hand
    from dlp_addon.extract._json_walk import members as _members
    from dlp_addon.extract._json_walk import walk as _native_walk
    from dlp_addon.extract._json_walk import written_members as _written_members
except ImportError:
    _native_walk = None

try:  # three times json.loads' speed on an API's JSON; see _parsed
    import orjson
except ImportError:
    orjson = None

_JSON_TYPES = ("application/json", "text/json", "application/x-ndjson", "application/ndjson",
               "application/jsonl", "application/x-jsonlines", "application/json-seq")
_CHECK_EVERY = 256  # walk steps (containers, and values on the deep stack) between looks at the clock
_RECURSE_TO = 64
_SMALLEST_NUMBER = 10 ** 6  # a phone number has at least seven digits
# A key is read like a value when it could be an identifier itself ({"john@x.com": ...},
# {"13800138000": ...}) or name a country code (`+7`, `0044 ...`): an "@" or a "+", four
# digits or more, or a digit and a space or bracket an address could be written out with.
# Keys like `sha256`, `x1` or `utf8` are not read.
_KEY_WORTH_READING = re.compile(r"[@+]|\d(?:\D*\d){3}").search
_KEY_WRITTEN_OUT = re.compile(r"\d").search


# A JSON object as the tuple of its (key, value) pairs: `json.loads` would keep only the
# last of repeated keys, and fifty `"e": "..."` pairs in one object are fifty addresses. A
# tuple, which nothing else in a parsed document is (arrays are lists), since the parser
# makes one at C speed: a list subclass took a tenth longer to parse an API's JSON.
_Pairs = tuple


def is_json_type(mime: str) -> bool:
    return mime in _JSON_TYPES or mime.endswith("+json")


def looks_like(text: str) -> bool:
    start = text[:64].lstrip("\ufeff \t\r\n\x1e")
    return start[:1] in ("{", "[")


def _documents(text: str) -> list | None:
    try:
        return [_parsed(text)]
    except ValueError:
        pass
    lines = [line.strip().lstrip("\x1e") for line in text.splitlines()]
    try:
        return [_parsed(line) for line in lines if line]
    except ValueError:
        return None


def _parsed(text: str):
    """The document, its objects as _Pairs or, from orjson, as dicts where that is the same
    document: orjson keeps only the last of a repeated name and makes a float of a whole
    number past 64 bits, so its document is taken only where the text repeats no name (its
    members, counted as the colons outside its strings, are as many as the dicts hold) and
    writes no number of more than 18 digits. Only the C walk reads dicts; orjson refuses
    what json.loads alone accepts (NaN, a lone surrogate, nesting past 1024), which then
    goes to json.loads."""
    if orjson is not None and _native_walk is not None:
        try:
            document = orjson.loads(text)
        except ValueError:
            pass
        else:
            written = _written_members(text)
            if written >= 0 and _members(document) == written:
                return document
    return json.loads(text, object_pairs_hook=_Pairs)


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
    """Every value worth reading as a segment, in document order: an object's keys that could
    be identifiers first, then its values. A value's path and group are its parent's plus one
    step, joined only for values that are read (most numbers, flags and nulls are not)."""
    walker = _Walker(budget, where, depth)
    group = "$" if root == "$" else "$[*]"
    try:
        if type(document) is not _Pairs and type(document) is not dict and type(document) is not list:
            walker.leaf(document, root, group, "")
        elif _native_walk is not None:
            _native_walk(document, root, group, "", _Pairs, Segment, budget, where, depth, _add_value,
                         _key_worth_reading, _numbers_may_be_phones, walker.deep, _OutOfTime, _RECURSE_TO,
                         _CHECK_EVERY)
        else:
            walker.container(document, root, group, "", 0)
    except _OutOfTime:
        pass


def _add_value(value: str, budget: Budget, where: str, field: str, group: str, depth: int) -> None:
    # The C walk's way into `content.add_value`, for strings it does not hand on itself.
    content.add_value(value, budget, where=where, field=field, group=group, depth=depth)


class _OutOfTime(Exception):
    pass


class _Walker:
    # Recursive while the nesting is shallow (one call per container, none per leaf: most of
    # an API's values are leaves); deeper than _RECURSE_TO, an explicit stack, since nesting
    # that json.loads accepted must not overflow Python's. The loops over an object's and a
    # list's values are written out apiece: one loop for both, choosing per value, walked API
    # JSON 15% slower.
    __slots__ = ("budget", "where", "depth", "steps")

    def __init__(self, budget: Budget, where: str, depth: int):
        self.budget, self.where, self.depth, self.steps = budget, where, depth, 0

    def leaf(self, value, path: str, group: str, key: str) -> None:
        kind = type(value)
        if kind is str:
            content.add_value(value, self.budget, where=f"{self.where}:{path}", field=key,
                              group=f"{self.where}:{group}", depth=self.depth)
        elif kind is int and not -_SMALLEST_NUMBER < value < _SMALLEST_NUMBER:
            # Shorter than any phone number (and a bool is no int here): nothing to read.
            if _numbers_may_be_phones(key):
                self.budget.add(Segment(str(value), f"{self.where}:{path}", key, f"{self.where}:{group}", "value"))
            else:
                self.budget.bytes_inspected += len(str(value))

    def container(self, value, path: str, group: str, key: str, nesting: int) -> None:
        self.steps += 1
        if self.steps % _CHECK_EVERY == 0 and self.budget.out_of_time(self.where):
            raise _OutOfTime
        if nesting >= _RECURSE_TO:
            self.deep(value, path, group, key)
            return
        where, budget, depth, add_value = self.where, self.budget, self.depth, content.add_value
        items = value if len(value) <= _CHECK_EVERY else self._timed(value)
        if type(value) is _Pairs:
            # The places and groups of its values are these plus the key.
            place, family = f"{where}:{path}.", f"{where}:{group}."
            for name, _ in value:
                if _key_worth_reading(name):
                    budget.add(Segment(name, f"{place}{name}:key", "", f"{family}{name}:keys", "value"))
            for name, child in items:
                kind = type(child)
                if kind is str:
                    add_value(child, budget, where=place + name, field=name, group=family + name, depth=depth)
                elif kind is int:
                    if -_SMALLEST_NUMBER < child < _SMALLEST_NUMBER:
                        continue
                    if _numbers_may_be_phones(name):
                        budget.add(Segment(str(child), place + name, name, family + name, "value"))
                    else:
                        budget.bytes_inspected += len(str(child))
                elif kind is _Pairs or kind is list:
                    self.container(child, f"{path}.{name}", f"{group}.{name}", name, nesting + 1)
        else:
            item_group = group + "[*]"
            place, family = f"{where}:{path}[", f"{where}:{item_group}"
            numbers_read = _numbers_may_be_phones(key)
            for index, child in enumerate(items):
                kind = type(child)
                if kind is str:
                    add_value(child, budget, where=f"{place}{index}]", field=key, group=family, depth=depth)
                elif kind is int:
                    if -_SMALLEST_NUMBER < child < _SMALLEST_NUMBER:
                        continue
                    if numbers_read:
                        budget.add(Segment(str(child), f"{place}{index}]", key, family, "value"))
                    else:
                        budget.bytes_inspected += len(str(child))
                elif kind is _Pairs or kind is list:
                    self.container(child, f"{path}[{index}]", item_group, key, nesting + 1)

    def _timed(self, items):
        # A container of a million values is one container: the clock is read within it too.
        for number, item in enumerate(items):
            if number % _CHECK_EVERY == _CHECK_EVERY - 1 and self.budget.out_of_time(self.where):
                raise _OutOfTime
            yield item

    def deep(self, document, path: str, group: str, key: str) -> None:
        # A child's path and group are kept as its parent's plus one step, joined when the
        # child is taken off the stack: a million children cost a million short steps.
        stack = [(document, path, "", group, "", key)]
        where, budget = self.where, self.budget
        while stack:
            value, parent, step, parent_group, group_step, key = stack.pop()
            self.steps += 1
            if self.steps % _CHECK_EVERY == 0 and budget.out_of_time(where):
                raise _OutOfTime
            kind = type(value)
            if kind is dict:  # from orjson (see _parsed), handed over by the C walk
                value, kind = tuple(value.items()), _Pairs
            if kind is not _Pairs and kind is not list:
                self.leaf(value, parent + step, parent_group + group_step, key)
                continue
            path, group = parent + step, parent_group + group_step
            if kind is _Pairs:
                for name, child in reversed(value):
                    if _may_hold_text(child):
                        dotted = "." + name
                        stack.append((child, path, dotted, group, dotted, name))
                for name, _ in value:
                    if _key_worth_reading(name):
                        budget.add(Segment(name, f"{where}:{path}.{name}:key", "", f"{where}:{group}.{name}:keys",
                                           "value"))
            else:
                for index in range(len(value) - 1, -1, -1):
                    if _may_hold_text(value[index]):
                        stack.append((value[index], path, f"[{index}]", group, "[*]", key))


def _may_hold_text(value) -> bool:
    """Whether the walk makes anything of the value: floats, flags, nulls and short whole
    numbers (most of an API's values) are not even put on the deep walk's stack."""
    kind = type(value)
    return kind is str or kind is _Pairs or kind is dict or kind is list or (
        kind is int and not -_SMALLEST_NUMBER < value < _SMALLEST_NUMBER)


@functools.lru_cache(maxsize=4096)
def _numbers_may_be_phones(key: str) -> bool:
    """A JSON number can only be read as a phone number, and one under a key that names it as
    something else (`order_id`, `ts`, `price`) never is one: the phone detector drops it on
    that label and counts it in no column. Such numbers (a third of an API's values) are
    not handed on at all."""
    return field_says_phone(key) is not False


@functools.lru_cache(maxsize=4096)  # a list's records repeat the same few keys
def _key_worth_reading(name: str) -> bool:
    if _KEY_WORTH_READING(name) is not None:
        return True
    written_out = any(c.isspace() or c in "([{<" for c in name)
    return written_out and _KEY_WRITTEN_OUT(name) is not None
