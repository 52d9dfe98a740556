"""The quoted-printable look and the percent-decoding in C answer as embedded.py's Python does."""

import importlib
import os
import random
from urllib.parse import unquote_to_bytes

import pytest

from dlp_addon.extract import embedded

if os.environ.get("DLP_REQUIRE_NATIVE"):  # set by .ci/run, where a compiler is known to be
    native = importlib.import_module("dlp_addon.extract._escapes")
else:
    native = pytest.importorskip("dlp_addon.extract._escapes",
                                 reason="the C escapes were not built (no compiler when installed)")

# The pieces the hint's forms are made of, near-misses of each, and characters that make a
# str two or four bytes wide (and letters and digits of other scripts, which the look-ahead
# after "=40" reads as the stdlib engine does).
_PIECES = ["=", "=40", "40", "ivan", ".ru", ".", "-", "_", "=C3", "=A9", "C3=A9", "c3=a9", "=E2=80", "F0", "=9",
           "=8", "\n", "\r\n", "\r", "=\n", "=\r\n", "QUJD", "a", "&", "x=1", "%3D", " ", "7", "=40.5", "=40mail.",
           "é", "ж", "٣", "²", ".ру", "中", "😀", "=40x_.", "=40-.a"]


def test_the_quoted_printable_look_answers_as_the_pattern():
    rng = random.Random(5)
    found = 0
    for _ in range(20_000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))
        expected = embedded._python_has_quoted_printable(text)
        assert native.quoted_printable_hint(text) == expected, repr(text)
        found += expected
    assert 3000 < found < 17_000


def test_the_quoted_printable_look_over_a_long_query_string_log():
    line = "v=2&tid=G-JB22&cid=1332208055.17&dl=https%3A%2F%2Fshop.example.com%2Fp%2F50&en=page_view&_s=22"
    text = "\n".join([line] * 2000)
    assert native.quoted_printable_hint(text) is False is embedded._python_has_quoted_printable(text)
    for tail in ("\nSoft line=\nbreak", "\nivan=40mail.ru", "\n=D0=B6"):
        assert native.quoted_printable_hint(text + tail) is True is embedded._python_has_quoted_printable(text + tail)
    assert native.quoted_printable_hint(text + "\nQUJDRA=\n") is False  # base64 padding at a line's end


def test_percent_decoding_is_unquote_to_bytes():
    rng = random.Random(6)
    pieces = [b"%", b"%4", b"%41", b"%4g", b"%g4", b"%%", b"%2F", b"%e2%80%a6", b"%FF", b"a", b"=", b"&", b"\x00",
              b"\xd0\xb6", b"+"]
    for _ in range(20_000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert native.percent_decoded(data) == unquote_to_bytes(data), data
    long = b"dl=https%3A%2F%2Fshop.example.com%2Fp%2F" * 10_000 + b"%"
    assert native.percent_decoded(long) == unquote_to_bytes(long)
    assert type(native.percent_decoded(b"no escape")) is bytes
    with pytest.raises(TypeError):
        native.percent_decoded("a str")


def test_base64_runs_are_the_patterns():
    # Runs of every length about the sixteen a run needs, wrapped blocks (lines of forty or
    # more, "\r\n" or "\n", a last line of one), padding of up to two "=", and whatever
    # stands beside them, in one-, two- and four-byte text.
    rng = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
    others = [" ", "=", "==", "===", "\n", "\r\n", "\r", ".", "%", "é", "ж", "😀", "\n\n"]
    for _ in range(20_000):
        parts = []
        for _ in range(rng.randint(0, 8)):
            if rng.random() < 0.6:
                parts.append("".join(rng.choice(alphabet) for _ in range(rng.choice([1, 15, 16, 17, 39, 40, 41, 64, 76]))))
            else:
                parts.append(rng.choice(others))
        text = "".join(parts)
        assert native.base64_runs(text) == embedded._python_base64_runs(text), repr(text)
    block = "\n".join("".join(rng.choice(alphabet) for _ in range(76)) for _ in range(200)) + "QUJD==\n"
    assert native.base64_runs(block) == embedded._python_base64_runs(block) == [(0, len(block) - 1)]
