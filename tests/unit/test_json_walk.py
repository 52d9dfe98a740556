"""The JSON walk in C hands on exactly what the walker in json_doc.py does."""

import base64
import importlib
import json
import os
import random

import pytest

from dlp_addon.extract import json_doc
from dlp_addon.extract.budget import Budget
from dlp_addon.policy import Limits

if os.environ.get("DLP_REQUIRE_NATIVE"):  # set by .ci/run, where a compiler is known to be
    native = importlib.import_module("dlp_addon.extract._json_walk")
else:
    native = pytest.importorskip("dlp_addon.extract._json_walk",
                                 reason="the C walk was not built (no compiler when installed)")

LIMITS = Limits()
_KEYS = ["phone", "mobile", "order_id", "ts", "metrics", "name", "email", "e@x.com", "13800138000", "sha256",
         "+7", "телефон", "手机", "a b 1", "", "x" * 40]


def _string(rng: random.Random) -> str:
    return rng.choice([
        lambda: "",
        lambda: "13800138000",
        lambda: "+7 912 345 67 89",
        lambda: "ivan@mail.ru",
        lambda: "ivan (at) mail.ru",
        lambda: "a%40b.com",
        lambda: "x=1&y=2",
        lambda: "back\\slash",
        lambda: "line one\nline two 13912345678",
        lambda: "%032x" % rng.getrandbits(128),
        lambda: "ABCDEF0123456789ABCDEF",
        lambda: base64.b64encode(rng.randbytes(rng.randint(12, 90))).decode(),
        lambda: base64.b64encode(b"name,phone\nIvan,+79161234567\nOlga,+79261234567\n").decode(),
        lambda: json.dumps({"phone": "13800138000", "n": [79161234567]}),
        lambda: "[1, 2, 3]",
        lambda: "{not json",
        lambda: "Мария 8 912 345-67-89",
        lambda: "电话13800138000",
        lambda: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        lambda: "".join(rng.choice("aB1 @+.-") for _ in range(rng.randint(1, 30))),
    ])()


def _value(rng: random.Random, nesting: int):
    roll = rng.random()
    if nesting < 90 and roll < 0.25:
        if rng.random() < 0.5:
            return {rng.choice(_KEYS) + str(rng.randint(0, 3) if rng.random() < 0.2 else ""): _value(rng, nesting + 1)
                    for _ in range(rng.randint(0, 6))}
        return [_value(rng, nesting + 1) for _ in range(rng.randint(0, 6))]
    if nesting < 90 and roll < 0.28:
        return _value(rng, nesting + 40)  # a jump in depth past the recursion the walks switch at
    return rng.choice([
        lambda: _string(rng),
        lambda: rng.randint(-10 ** 7, 10 ** 7),
        lambda: rng.randint(10 ** 6, 10 ** 13),
        lambda: -rng.randint(10 ** 6, 10 ** 13),
        lambda: 10 ** rng.randint(18, 40) + 7,
        lambda: rng.random() * 10 ** 8,
        lambda: rng.choice([True, False, None]),
    ])()


def _nest(value, nesting: int):
    for _ in range(nesting):
        value = {"w": value} if nesting % 2 else [value]
    return value


def _walk(text: str, native_walk) -> Budget:
    saved = json_doc._native_walk
    json_doc._native_walk = native_walk
    try:
        budget = Budget(LIMITS)
        json_doc.extract(text, budget, "body", 0)
        return budget
    finally:
        json_doc._native_walk = saved


def _outcome(budget: Budget) -> tuple:
    return (budget.segments, budget.problems, budget.bytes_inspected, budget.decoded_bytes, budget.parts)


def test_the_c_walk_hands_on_what_the_python_walk_does():
    rng = random.Random(2024)
    segments = 0
    for case in range(400):
        top = [_value(rng, 1) for _ in range(rng.randint(5, 40))]
        if rng.random() < 0.5:
            top = {rng.choice(_KEYS): value for value in top}
        document = _nest(top, rng.choice([0, 0, 1, 63, 64, 65, 70]))
        # Repeated keys too, which only the pairs json_doc reads objects as keep.
        text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
        if case % 5 == 0:
            text = text.replace('{"', '{"phone": 1234567, "phone": "13912345678", "', 1)
        python, c = _walk(text, None), _walk(text, native.walk)
        assert _outcome(c) == _outcome(python), text[:300]
        segments += len(c.segments)
    assert segments > 5000


def test_long_lists_and_objects_are_walked_alike_in_c():
    records = [{"id": i, "phone": 13800138000 + i, "metrics": list(range(10 ** 6, 10 ** 6 + 300)),
                "note": f"order {i}"} for i in range(300)]
    big_object = {f"k{i}": 10 ** 7 + i for i in range(1000)}
    for document in (records, big_object, [records, [big_object]]):
        text = json.dumps(document)
        assert _outcome(_walk(text, native.walk)) == _outcome(_walk(text, None))


def test_the_c_walk_names_alike_past_what_it_remembers_of_names():
    # More groups, lists and keys than the C walk keeps the names made from (4096 of each).
    document = {f"k{i}": [{"phone": f"1391234{i:04d}", f"n{i}": {"id": 10 ** 7 + i}}] for i in range(5000)}
    text = json.dumps(document)
    c = _outcome(_walk(text, native.walk))
    assert c == _outcome(_walk(text, None)) and len(c[0]) >= 10_000


def test_the_c_walk_calls_a_segment_class_it_cannot_fill_in_itself():
    # It fills in a slots dataclass's fields directly; any other class is called.
    class Recorded:
        def __init__(self, *fields):
            self.fields = fields

    budget = Budget(LIMITS)
    args = ("$", "$", "", json_doc._Pairs, Recorded, budget, "body:json", 0, json_doc._add_value,
            json_doc._key_worth_reading, json_doc._numbers_may_be_phones, json_doc._Walker(budget, "body", 0).deep,
            json_doc._OutOfTime, json_doc._RECURSE_TO, json_doc._CHECK_EVERY)
    native.walk(json_doc._Pairs([("phone", "13800138000")]), *args)
    assert [s.fields for s in budget.segments] == [("13800138000", "body:json:$.phone", "phone", "body:json:$.phone",
                                                    "value")]
    filled = _walk('{"phone": "13800138000"}', native.walk).segments
    assert filled == [json_doc.Segment("13800138000", "body:json:$.phone", "phone", "body:json:$.phone", "value")]
    assert type(filled[0]) is json_doc.Segment


def test_the_c_walk_stops_on_the_clock_and_counts_what_it_handed_on():
    budget = Budget(LIMITS, deadline=0.0)  # already past when the walk starts
    assert json_doc.extract("[" + ",".join(["13800138000"] * 100_000) + "]", budget, "body", 0)
    assert [p.sub_reason for p in budget.problems] == ["timeout"] and 0 < len(budget.segments) < 100_000
    assert budget.bytes_inspected == sum(len(s.text) for s in budget.segments)


def test_the_c_walk_refuses_what_is_not_a_parsed_document():
    budget = Budget(LIMITS)
    args = ("$", "$", "", json_doc._Pairs, json_doc.Segment, budget, "body:json", 0, json_doc._add_value,
            json_doc._key_worth_reading, json_doc._numbers_may_be_phones, json_doc._Walker(budget, "body", 0).deep,
            json_doc._OutOfTime, json_doc._RECURSE_TO, json_doc._CHECK_EVERY)
    with pytest.raises(TypeError):
        native.walk("not a document", *args)
    with pytest.raises(TypeError):
        native.walk(json_doc._Pairs([("a", 1, 2)]), *args)
    assert native.walk(json_doc._Pairs([("phone", "13800138000")]), *args) == 1
    assert [s.text for s in budget.segments] == ["13800138000"]
    with pytest.raises(TypeError):  # the pairs are read as a tuple's or a list's items, nothing else
        native.walk({"phone": "13800138000"}, args[0], args[1], args[2], dict, *args[4:])


def _members_of(document) -> int:
    if type(document) is json_doc._Pairs:
        return len(document) + sum(_members_of(child) for _, child in document)
    if type(document) is list:
        return sum(_members_of(child) for child in document)
    return 0


def test_a_texts_members_are_its_colons_outside_strings():
    rng = random.Random(7)
    tricky = ['a"b', 'a\\"b', "x:y", '\\":', "\\", '"', "\\\\", "电话:1", "é:\\u00e9", "🙂:"]
    for case in range(300):
        document = _value(rng, 1)
        if case % 3 == 0:
            keys = [rng.choice(tricky) for _ in range(rng.randint(1, 4))]
            document = {k + str(i): rng.choice(tricky) for i, k in enumerate(keys)} | {"d": document}
        spaced = case % 4 == 0
        text = json.dumps(document, ensure_ascii=case % 2 == 0, indent="\t" if spaced else None,
                          separators=(" ,", " :  ") if spaced else None)
        parsed = json.loads(text, object_pairs_hook=json_doc._Pairs)
        long_number = any(len(run) > 18 for run in _digit_runs_outside_strings(parsed))
        assert native.written_members(text) == (-1 if long_number else _members_of(parsed)), text[:200]


def _digit_runs_outside_strings(document):
    if type(document) is json_doc._Pairs:
        for _, child in document:
            yield from _digit_runs_outside_strings(child)
    elif type(document) is list:
        for child in document:
            yield from _digit_runs_outside_strings(child)
    elif type(document) in (int, float):
        yield from "".join(c if c.isdigit() else " " for c in json.dumps(document)).split()


def test_orjsons_document_is_taken_only_where_it_is_json_loads_own():
    orjson = pytest.importorskip("orjson")
    assert json_doc.orjson is orjson
    as_dicts = ['{"phone": "13800138000", "n": [1, {"a": 2}]}', '[{"a\\\\\\"": "x:\\"y\\":z"}]', '"just a string"',
                "18446744", '{"n": 999999999999999999}']
    as_pairs = [
        '{"e": "ivan@mail.ru", "e": "olga@mail.ru"}',  # a dict would keep only the last
        '[{"a": 1}, {"b": {"c": 1, "c": 2}}]',
        '{"n": 79161234567000000000}',  # a float in orjson
        '{"n": -9223372036854775809}',
        '{"n": NaN}', '"\\ud800"',  # refused by orjson, accepted by json.loads
    ]
    for text in as_dicts:
        assert json_doc._parsed(text) == orjson.loads(text) and json_doc._parsed(text) is not None
        assert type(json_doc._parsed(text)) is type(json.loads(text))
    for text in as_pairs:
        parsed = json_doc._parsed(text)
        assert parsed == json.loads(text, object_pairs_hook=json_doc._Pairs) or parsed != parsed, text
        assert not isinstance(parsed, dict), text
    budget = _walk('{"e": "ivan@mail.ru", "e": "olga@mail.ru", "n": 79161234567000000000}', native.walk)
    assert [s.text for s in budget.segments] == ["ivan@mail.ru", "olga@mail.ru", "79161234567000000000"]
    # Deeper than the C walk recurses, its dicts go to the walker's own stack.
    deep = _nest({"phone": "13800138000", "k": [{"e": "ivan@mail.ru"}]}, 80)
    text = json.dumps(deep)
    assert type(json_doc._parsed(text)) is (dict if 80 % 2 else list)
    assert _outcome(_walk(text, native.walk)) == _outcome(_walk(text, None))
    assert [s.text for s in _walk(text, native.walk).segments] == ["13800138000", "ivan@mail.ru"]
