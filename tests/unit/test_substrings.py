"""The one-pass looks in C answer what Python answers: `in`, string by string, and a pattern
for a run of characters."""

import importlib
import os
import random
import re

import pytest

from dlp_addon.detect import email
from dlp_addon.extract import embedded

if os.environ.get("DLP_REQUIRE_NATIVE"):  # set by .ci/run, where a compiler is known to be
    native = importlib.import_module("dlp_addon._substrings")
else:
    native = pytest.importorskip("dlp_addon._substrings", reason="the C look was not built (no compiler when installed)")

# What the email detector looks for, their first characters and pieces of them, and
# characters that make a str two or four bytes wide (one of them the first of a needle).
_ALPHABET = "  aAtT@.()[]" + "собакаСОБА" + "آتاَ" + "艾特圈点" + "x\n😀🙂"
_NEEDLE_PARTS = " aAtT@собаСОБАآتاَ艾特圈点😀🙂x"


def _answer(text: str, needles: tuple[str, ...]) -> bool:
    return any(needle in text for needle in needles)


def test_the_email_detectors_hints_are_found_as_in_finds_them():
    texts = ["", " at ", "meet me at noon", "x AT y", "ivan собака mail", "ivan Собака", "ivan СОБАКА", "ivan соб",
             "علی آت جیمیل", "علی ات", "张三艾特qq", "圈a", "圈", "艾", "a@b dot com", "a @ b", "点", "ТОЧКА", "😀 at 🙂"]
    for hints in (email._WRITTEN_AT_HINTS, email._SPACED_OR_WRITTEN_DOT, email._ENGLISH_AT):
        for text in texts:
            assert native.contains_any(text, hints) == _answer(text, hints), (text, hints)


def _random_text_and_needles(rng: random.Random, most_needles: int, alphabet: str = _ALPHABET,
                             longest_needle: int = 4) -> tuple[str, tuple[str, ...]]:
    text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
    needles = tuple("".join(rng.choice(_NEEDLE_PARTS) for _ in range(rng.randrange(1, longest_needle + 1)))
                    for _ in range(rng.randrange(0, most_needles + 1)))
    return text, needles


def test_random_texts_and_needles_get_the_answer_in_gives():
    rng = random.Random(20261203)
    for _ in range(20000):
        text, needles = _random_text_and_needles(rng, 5)
        if text and rng.random() < 0.3:  # a needle cut from the text itself, at its end often
            start = rng.randrange(len(text))
            needles += (text[start:start + rng.randrange(1, 5)],)
        assert native.contains_any(text, needles) == _answer(text, needles), (text, needles)


def test_edge_cases():
    assert native.contains_any("", ("",)) and native.contains_any("abc", ("x", ""))
    assert not native.contains_any("", ("a",)) and not native.contains_any("abc", ())
    assert not native.contains_any("ab", ("abc",)) and native.contains_any("xab", ("ab",))
    assert native.contains_any("a😀", ("😀",)) and not native.contains_any("a😀", ("😀x",))
    wide = "ж" * 100_000 + " собака "
    assert native.contains_any(wide, email._WRITTEN_AT_HINTS)


def test_wrong_arguments_raise():
    with pytest.raises(TypeError):
        native.contains_any(b"bytes", ("a",))
    with pytest.raises(TypeError):
        native.contains_any("text", ["a"])
    with pytest.raises(TypeError):
        native.contains_any("text", ("a", 1))
    with pytest.raises(ValueError):
        native.contains_any("text", tuple("abcdefgh" * 17))
    with pytest.raises(ValueError):
        native.substrings(tuple("abcdefgh" * 17))
    with pytest.raises(TypeError):
        native.contains_any("text", object())


def test_needles_built_once_answer_as_the_tuple_does():
    rng = random.Random(20261206)
    for _ in range(5000):
        text, needles = _random_text_and_needles(rng, 127)
        assert native.contains_any(text, native.substrings(needles)) == _answer(text, needles), (text, needles)


def test_runs_of_base64_characters_are_found_as_a_pattern_finds_them():
    rng = random.Random(20261204)
    alphabet = "aZ09+/_-" * 3 + " .=\n\rж😀\udc80"
    pattern = re.compile(f"[{re.escape(embedded._BASE64_CHARACTERS)}]{{16}}")
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        assert native.has_run(text, embedded._BASE64_CHARACTERS, 16) == bool(pattern.search(text)), repr(text)
    for length in (0, 1, 2, 5):
        assert native.has_run("ab-ж-cd", "abcd", length) == (length <= 2)
    with pytest.raises(ValueError):
        native.has_run("text", "жa", 2)
    with pytest.raises(TypeError):
        native.has_run("text", "ab", "2")


def test_every_character_a_bracketed_at_can_open_with_is_looked_for():
    # `_may_be_written_out` runs the bracketed-@ pattern only where a bracket is followed by
    # one of `_BRACKETED_AT_STARTS`: every code point the pattern's words can start with,
    # case-insensitively as it matches them, must be there.
    import re

    alternatives = email._BRACKETED_AT.pattern.split("(?:", 1)[1].split(")", 1)[0].split("|")
    firsts = re.compile("[" + "".join(re.escape(word[0]) for word in alternatives) + "]", re.IGNORECASE)
    looked_for = {start[1] for start in email._BRACKETED_AT_STARTS}
    taken = [chr(c) for c in range(0x110000) if firsts.fullmatch(chr(c))]
    assert set(taken) <= looked_for and len(taken) > 8, sorted(set(taken) - looked_for)
    assert {" ", "\t"} <= looked_for and {start[0] for start in email._BRACKETED_AT_STARTS} == set("[({<")
    for text in ("ivan (at) mail.ru", "ivan [ AT ] mail.ru", "ivan(собака)mail.ru", "ivan {СОБАКА} mail.ru",
                 "张三<艾特>qq.com", "ivan(ᲃобака)mail.ru"):
        assert email._BRACKETED_AT.search(text) and native.contains_any(text, email._BRACKETED_AT_STARTS), text


def test_ascii_text_with_a_bracketed_at_holds_one_of_its_ascii_starts():
    rng = random.Random(20261205)
    alphabet = "([{<)]}> \t@aAtTx.\n"
    matched = 0
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30)))
        if email._BRACKETED_AT.search(text):
            matched += 1
            assert native.contains_any(text, email._BRACKETED_AT_ASCII_STARTS), repr(text)
    assert matched > 500


def test_the_python_looks_answer_as_the_c_ones_do():
    from dlp_addon import substrings

    rng = random.Random(20261207)
    for _ in range(5000):
        text, needles = _random_text_and_needles(rng, 7, _ALPHABET + "aZ09+/", 3)
        assert substrings.python_contains_any(text, substrings.python_substrings(needles)) == \
            native.contains_any(text, native.substrings(needles)), (text, needles)
        for length in (1, 3, 16):
            assert substrings.python_has_run(text, embedded._BASE64_CHARACTERS, length) == \
                native.has_run(text, embedded._BASE64_CHARACTERS, length), (text, length)


def test_long_texts_with_runs_of_every_length_anywhere():
    # The look reads every length-th character first and around it only where one is in the
    # set: runs that start, end or break just before or after those characters are all found.
    rng = random.Random(20261209)
    for _ in range(3000):
        length = rng.randrange(1, 21)
        pieces = []
        for _ in range(rng.randrange(0, 12)):
            pieces.append("".join(rng.choice("aZ09+/_-") for _ in range(rng.randrange(0, 2 * length + 2))))
            pieces.append("".join(rng.choice(" .=\nж😀") for _ in range(rng.randrange(1, 4))))
        text = "".join(pieces)
        pattern = re.compile(f"[{re.escape(embedded._BASE64_CHARACTERS)}]{{{length}}}")
        assert native.has_run(text, embedded._BASE64_CHARACTERS, length) == bool(pattern.search(text)), \
            (text, length)


def test_a_needle_at_every_offset_of_sixteen_character_blocks():
    # One- and two-byte text is read sixteen characters at a time first, the rest one at a
    # time: a needle opening at, across or just after each block's edge, in text of every
    # length about them, among characters that open other needles or pairs of them.
    hints = email._WRITTEN_AT_HINTS
    for filler in ("x s", "ж с", "a  Соб", "一 圈"[:2]):
        for length in range(0, 50):
            base = (filler * 50)[:length]
            assert native.contains_any(base, hints) == _answer(base, hints), (base,)
            for at in range(length + 1):
                for needle in (" собака ", " at ", "圈", " ات "):
                    text = base[:at] + needle + base[at:]
                    assert native.contains_any(text, hints) == _answer(text, hints) is True, (text,)


def test_one_byte_text_read_from_the_needles_openings_and_dense_ones_the_other_way():
    # In one-byte text, needles that open with four characters or fewer are looked for from
    # those (memchr); where they turn up densely (prose's spaces) the text is read sixteen
    # characters at a time instead. Both, with the needle anywhere, near misses around it,
    # and sets of needles opening with more characters, or with ones a one-byte text lacks.
    rng = random.Random(20261208)
    sets = [email._ENGLISH_AT, email._SPACED_OR_WRITTEN_DOT, email._BRACKETED_AT_ASCII_STARTS, (" at ", "(at)", "ж"),
            ("a", "b", "c", "d", "e"), ("艾特",), (" a", " b")]
    fillers = ["x" * 50, "a t " * 20, " " * 60, "(a[t{ " * 10, "at " * 30, "é ÿ" * 20, "ab" * 30]
    for _ in range(6000):
        needles = rng.choice(sets)
        filler = rng.choice(fillers) * rng.randint(1, 40)
        text = filler
        if rng.random() < 0.5:
            at = rng.randint(0, len(filler))
            text = filler[:at] + rng.choice(needles) + filler[at:]
        assert native.contains_any(text, needles) == _answer(text, needles), (needles, len(text))
        assert native.contains_any(text, native.substrings(needles)) == _answer(text, needles)
