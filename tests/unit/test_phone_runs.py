"""The phone detector's candidate scan in C finds exactly what its pattern finds."""

import importlib
import os
import random

import pytest

from dlp_addon.detect import phone

if os.environ.get("DLP_REQUIRE_NATIVE"):  # set by .ci/run, where a compiler is known to be
    native = importlib.import_module("dlp_addon.detect._phone_runs")
else:
    native = pytest.importorskip("dlp_addon.detect._phone_runs",
                                 reason="the C scan was not built (no compiler when installed)")

# Digits, every separator and character the pattern looks at around a number, and a few
# others: non-ASCII decimal digits, which the stdlib engine's \d matches too, and characters
# that make a str two or four bytes wide.
_ALPHABET = "0123456789" * 4 + "    +()-./x@a_Z\n,;" + "٣۵५０中😀"

_WRITTEN = [
    "", "1234567", "123456", "+7 (912) 345-67-89", "(+44) 20 7946 0958", "+ (1) 202 555 0143",
    "8 (800) 555-35-35x123", "13800138000,25", "2024-01-15 12:30:45", "id 12345678-9",
    "AB-1234567", "1.2345678", "12.3456789", "@1234567", "x1234567", "_1234567", "1234567x8",
    "1234567x", "1234567.8", "1234567/8", "1234567-a", "1234567 8a", "(1234567)", "((1234567",
    "+ + 1234567", "+(((1234567", "1" * 40, "1 " * 40, "1-" * 33, "1    2345678", "١٢٣٤٥٦٧٨٩٠",
    "phone:+86 138 0013 8000\ntel 0912 345 6789",
]


@pytest.mark.parametrize("text", _WRITTEN)
def test_written_cases(text):
    assert native.find(text) == phone._spans_by_regex(text)


def test_seeded_random_text():
    rng = random.Random(20261201)
    for _ in range(60_000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 90)))
        assert native.find(text) == phone._spans_by_regex(text), repr(text)


def test_long_one_byte_text_with_sparse_starts():
    # Stretches without a digit, "(" or "+" are passed over eight bytes at a time after the
    # first sixteen: a start anywhere in such a stretch, beside every other byte value a
    # one-byte str can hold.
    others = [chr(c) for c in range(256) if not (chr(c).isdigit() or chr(c) in "(+")]
    rng = random.Random(20261204)
    for _ in range(3000):
        filler = "".join(rng.choice(others) for _ in range(rng.randint(8, 80)))
        at = rng.randint(0, len(filler))
        start = rng.choice(["1234567", "+7 912 345 67 89", "(495) 123-45-67", "9", "+", "("])
        text = filler[:at] + start + filler[at:] + filler
        assert native.find(text) == phone._spans_by_regex(text), repr(text)
    for offset in range(41):  # past the sixteen bytes read one at a time, at every alignment
        text = "x" * offset + " 13800138000 " + "y" * (41 - offset)
        assert native.find(text) == [(offset + 1, offset + 12)] == phone._spans_by_regex(text)


def test_one_byte_text_dense_in_glued_digits():
    # Base64, hex ids and UUIDs: digits glued to letters, digits, "_", "+" or "@" (which
    # start nothing) beside the few that do start something, read a byte at a time by a
    # class table; texts long enough for the eight-byte look and its tail too.
    alphabets = ["0123456789abcdef-", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
                 "0123456789" * 3 + "aZ_@+(/ =.-\n\xe9\xff"]
    rng = random.Random(20261205)
    for _ in range(20_000):
        alphabet = rng.choice(alphabets)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120)))
        if rng.random() < 0.3:
            text = "x" * rng.randint(0, 40) + text
        assert native.find(text) == phone._spans_by_regex(text), repr(text)


def test_every_decimal_digit_of_every_plane():
    # The scan keeps the Basic Multilingual Plane's digits in a table of its own: each one,
    # and the characters beside each, must read as the pattern reads them.
    digits = [chr(c) for c in range(0x110000) if chr(c).isdecimal() and chr(c) not in "0123456789"]
    assert len(digits) > 500
    for digit in digits:
        for text in (f"中 {digit * 8} ж", f"ж{chr(ord(digit) + 1)}{digit * 7}", f"{digit * 4}-{digit * 4}"):
            assert native.find(text) == phone._spans_by_regex(text), repr(text)


def test_detector_uses_it():
    assert phone.candidate_spans is native.find


def test_only_str():
    with pytest.raises(TypeError):
        native.find(b"13800138000")


# -- the bare-number check inside the scan -------------------------------------------------------

_REGIONS = ("US", "GB", "CN", "RU", "IR", "SA", "AE", "EG", "IN")


def _sorted_by_python(text: str, bare) -> tuple[list, list]:
    """What PhoneDetector._scan_segment's first look decides for each run the C scan may
    decide: ASCII runs opening with neither "+" nor "00" and holding no space."""
    spans, rejected = [], []
    for start, end in phone._spans_by_regex(text):
        raw = text[start:end]
        if raw.isascii() and " " not in raw and not raw.lstrip("(").startswith(("+", "00")):
            if raw.isdigit():
                (spans if bare.fullmatch(raw) else rejected).append((start, end))
                continue
            if phone._DECIMAL.match(raw) or phone._DOTTED_QUAD.match(raw) or \
                    bare.fullmatch(phone._NON_DIGIT.sub("", raw)) is None:
                continue
        spans.append((start, end))
    return spans, rejected


def _numbers_and_noise(rng: random.Random) -> str:
    pieces = ["13800138000", "8613800138000", "79161234567", "89161234567", "02079460958", "2025550143",
              "09123456789", "0501234567", "971501234567", "01012345678", "9876543210", "00861380013",
              "202.555.0143", "8-912-345-67-89", "170.721267", "(202)555-0143", "+7 912 345", "1757878094971",
              "154.141.205.28", "192.168.1.10", "213.87.141.1.5", "1.222.333.4567", "91.23.456.789"]
    out = []
    for _ in range(rng.randint(1, 12)):
        piece = rng.choice(pieces) if rng.random() < 0.6 else "".join(rng.choice(_ALPHABET)
                                                                       for _ in range(rng.randint(1, 20)))
        out.append(piece + rng.choice(["", " ", ",", "\n", "a", "-", "."]))
    return "".join(out)


def test_scan_sorts_runs_as_the_detector_does():
    automaton = phone._bare_automaton(_REGIONS)
    bare = phone._bare_plausibility(_REGIONS)
    rng = random.Random(20261202)
    taken_out = 0
    for _ in range(20_000):
        text = _numbers_and_noise(rng)
        spans, rejected = native.scan(text, automaton.transitions, automaton.accepting)
        assert (spans, rejected) == _sorted_by_python(text, bare), repr(text)
        taken_out += len(rejected)
    assert taken_out > 1000


def test_scan_all_is_scan_over_each_text():
    automaton = phone._bare_automaton(_REGIONS)
    tables = automaton.transitions, automaton.accepting
    rng = random.Random(20261203)
    texts = [_numbers_and_noise(rng) if rng.random() < 0.5 else rng.choice(["", "abc", "12", "x" * 40, "٣۵५"])
             for _ in range(5000)]
    expected = [(i, *native.scan(text, *tables)) for i, text in enumerate(texts)]
    expected = [(i, spans, rejected) for i, spans, rejected in expected if spans or rejected]
    assert native.scan_all(texts, *tables) == expected
    assert 0 < len(expected) < len(texts)
    assert native.scan_all([], *tables) == []
    with pytest.raises(TypeError):
        native.scan_all(["13800138000", b"13800138000"], *tables)
    with pytest.raises(ValueError):
        native.scan_all(["13800138000"], automaton.transitions[:-4], automaton.accepting)


def test_scan_all_marks_texts_that_are_one_bare_run_and_nothing_else():
    # With `wholes`, a text of ASCII digits alone that `scan` finds one run in, from its
    # start to its end, is (index, None, whether it fits a plan); every other text as before.
    automaton = phone._bare_automaton(_REGIONS)
    tables = automaton.transitions, automaton.accepting
    rng = random.Random(20261206)
    texts = []
    for _ in range(6000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
        texts.append(rng.choice([digits, digits, "13" + digits[:9], "00" + digits, digits + " ", "+" + digits,
                                 "(" + digits, digits[:5] + "-" + digits[5:], "٣" + digits, _numbers_and_noise(rng)]))
    marked = 0
    with_wholes, without = native.scan_all(texts, *tables, -1, True), native.scan_all(texts, *tables)
    assert len(with_wholes) == len(without)
    for (index, spans, rejected), plain in zip(with_wholes, without):
        assert index == plain[0]
        if spans is None:
            marked += 1
            whole = [(0, len(texts[index]))]
            assert plain[1:] == ((whole, []) if rejected is True else ([], whole) if rejected is False else None)
            assert texts[index].isdigit() and texts[index].isascii()
        else:
            assert (index, spans, rejected) == plain
    assert 1000 < marked < 5000
    assert sum(1 for _, spans, fits in native.scan_all(texts, *tables, -1, True) if spans is None and fits) > 100


def test_scan_all_packs_the_rejected_runs_of_long_texts():
    automaton = phone._bare_automaton(_REGIONS)
    tables = automaton.transitions, automaton.accepting
    rng = random.Random(20261204)
    texts = [" ".join(_numbers_and_noise(rng) for _ in range(rng.randrange(1, 60))) for _ in range(300)]
    listed_up_to = 200
    packed = 0
    for (index, spans, runs), (same, listed_spans, listed) in zip(native.scan_all(texts, *tables, listed_up_to),
                                                                   native.scan_all(texts, *tables)):
        assert index == same and spans == listed_spans
        if len(texts[index]) <= listed_up_to:
            assert runs == listed
        else:
            assert type(runs) is bytes and list(phone._unpacked(runs)) == listed
            packed += bool(listed)
    assert packed > 50


def test_scan_refuses_a_broken_table():
    automaton = phone._bare_automaton(_REGIONS)
    with pytest.raises(ValueError):
        native.scan("13800138000", automaton.transitions[:-4], automaton.accepting)
    pointing_nowhere = (10**6).to_bytes(4, "little", signed=True) * (10 * len(automaton.accepting))
    with pytest.raises(ValueError):
        native.scan("13800138000", pointing_nowhere, automaton.accepting)


def test_detector_finds_the_same_with_and_without_it():
    from tests.bench import corpora

    with_table = phone.PhoneDetector(_REGIONS)
    without = phone.PhoneDetector(_REGIONS)
    without._bare_plausible.automaton = None  # the regex does all the checking
    assert with_table._bare_plausible.exact
    bodies = corpora.list_corpus(256 * 1024, 64 * 1024) + corpora.benign_corpus(256 * 1024, 64 * 1024)
    from dlp_addon.extract import extract_content
    from dlp_addon.normalize import normalize
    from dlp_addon.policy import load_policy

    limits = load_policy("policies/default.yaml").limits
    found = 0
    for body in bodies:
        segments = [(s, normalize(s.text)) for s in extract_content(body.data, limits,
                                                                    content_type=body.content_type).segments]
        expected = sorted((f.normalized, f.start, f.where) for f in without.find(segments))
        assert sorted((f.normalized, f.start, f.where) for f in with_table.find(segments)) == expected, body.kind
        found += len(expected)
    assert found > 1000


def test_accepts_walks_the_same_automaton():
    automaton = phone._bare_automaton(_REGIONS)
    rng = random.Random(7)
    for _ in range(20_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 20)))
        assert native.accepts(digits, automaton.transitions, automaton.accepting) == automaton.accepts(digits)
    assert native.accepts("138٠0138000", automaton.transitions, automaton.accepting) is None  # the regex decides
    assert native.accepts("1380013800a", automaton.transitions, automaton.accepting) is None
    # The detector asks it, and never compiles the regex.
    detector = phone.PhoneDetector(_REGIONS)
    assert detector._bare_plausible.automaton is automaton
    assert detector._bare_plausible.fullmatch("13800138000") and detector._bare_plausible.fullmatch("1700000000000") is None
