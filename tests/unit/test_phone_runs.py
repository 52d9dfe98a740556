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


def test_detector_uses_it():
    assert phone.candidate_spans is native.find


def test_only_str():
    with pytest.raises(TypeError):
        native.find(b"13800138000")
