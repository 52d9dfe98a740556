"""The bare-number check compiled into an automaton accepts exactly what its regex accepts."""

import random
import re

import phonenumbers
import pytest
from phonenumbers import PhoneMetadata

from dlp_addon.detect import phone
from dlp_addon.detect.numbering_automaton import Shape, Unsupported, compile_shapes

_DEFAULT = ("US", "GB", "CN", "RU", "IR", "SA", "AE", "EG", "IN")
# Prefixes with transform rules and "$" (JP, the Caribbean, Jersey), long carrier-code
# prefixes (AR, MX, BR), shared country codes (US with the Caribbean, GB with Jersey).
_OTHERS = [("JP", "AG", "JE", "US"), ("AR", "MX", "BR", "DE", "FR"), ("AU", "IT", "KZ", "ZA")]


def _samples(regions, rng: random.Random) -> list[str]:
    """Digit strings on both sides of the check: random ones, and each region's example
    numbers as written bare (national, with the trunk prefix, with the country code), with
    a digit changed, dropped or added."""
    samples = ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 33))) for _ in range(20_000)]
    heads = ["0", "1", "8", "00", "86", "98", "7", "44", "91", "966", "971", "20"]
    samples += [rng.choice(heads) + s for s in samples[:10_000]]
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region)
        code = str(metadata.country_code)
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = phonenumbers.national_significant_number(example)
            trunk = re.sub(r"\D", "", phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL))
            for written in {national, trunk, code + national, (metadata.national_prefix or "") + national}:
                samples.append(written)
                for _ in range(30):
                    at = rng.randrange(len(written))
                    samples += [written[:at] + rng.choice("0123456789") + written[at + 1:],
                                written[:at] + written[at + 1:], written[:at] + rng.choice("0123456789") + written[at:]]
    return samples


@pytest.mark.parametrize("regions", [_DEFAULT, *_OTHERS])
def test_accepts_what_the_regex_accepts(regions):
    # The countries' own shapes: JP, AG, JE, AR and BR rewrite their trunk prefixes, which adds
    # a shape that takes any digits (see the last test) and would leave nothing to compare.
    shapes = tuple(s for s in phone._bare_shapes(regions) if s != phone._ANY_DIGITS)
    automaton = compile_shapes(shapes)
    regex = phone._by_length(shapes)
    assert automaton.exact
    samples = _samples(regions, random.Random(",".join(regions)))
    accepted = 0
    for digits in samples:
        expected = regex.fullmatch(digits) is not None
        assert automaton.accepts(digits) == expected, (regions, digits)
        accepted += expected
    assert 0.05 * len(samples) < accepted < 0.95 * len(samples)  # both sides were tried


def _language(shape: Shape, longest: int = 7) -> set[str]:
    pattern = re.compile(f"(?:{shape.head})(?:{shape.national})")
    head = re.compile(shape.head)
    found = set()
    for size in range(1, longest + 1):
        for value in range(10 ** size):
            digits = f"{value:0{size}d}"
            if pattern.fullmatch(digits) is None:
                continue
            # The national part's length must be one of the shape's.
            if shape.lengths is None or any(head.fullmatch(digits[:cut]) and len(digits) - cut in shape.lengths
                                            and re.fullmatch(shape.national, digits[cut:])
                                            for cut in range(len(digits) + 1)):
                found.add(digits)
    return found


@pytest.mark.parametrize("shape", [
    Shape("", r"(?:1[0-9]|2[2-9])\d{2}", frozenset({4})),
    Shape("(?:0)?", r"[1-9]\d{2,3}", frozenset({3})),  # the length rules out the 4-digit reading
    Shape("7", r"9\d{1,3}?", None),  # a lazy repeat matches the same strings
    Shape(r"(?:([457]\d)$|1)?", r"[^0]\d{2}", frozenset({3})),  # "$" in a head: that branch ends the string
    Shape("", r"\d+", frozenset({2, 5})),  # an unbounded repeat
    Shape(r"(?:9\d*)?", r"[2-4]\d", frozenset({2})),  # a head with a loop: the automaton has a cycle
])
def test_constructs(shape):
    automaton = compile_shapes([shape])
    assert automaton.exact
    expected = _language(shape, longest=5)
    accepted = {f"{v:0{size}d}" for size in range(1, 6) for v in range(10 ** size)
                if automaton.accepts(f"{v:0{size}d}")}
    assert accepted == expected


def test_union_of_shapes():
    shapes = [Shape("", r"1\d{3}", frozenset({4})), Shape("86", r"1[3-9]\d{2}", frozenset({4}))]
    union = compile_shapes(shapes)
    assert {s for s in ("1234", "861345", "861234", "12345", "") if union.accepts(s)} == {"1234", "861345"}
    assert not union.accepts("12a4")


def test_what_it_cannot_model_is_widened():
    # A look-ahead is not modelled: that part is taken as any digits of its lengths, so the
    # automaton accepts more (never less) and says it is not exact.
    automaton = compile_shapes([Shape("", r"(?=1)\d{3}", None), Shape("", r"2\d{4}", frozenset({5}))])
    assert not automaton.exact
    assert automaton.accepts("123") and automaton.accepts("923") and automaton.accepts("23456")
    assert not automaton.accepts("2345") and not automaton.accepts("33456")
    with pytest.raises(Unsupported):
        compile_shapes([Shape("", r"(?=1)\d+", None)])


def test_small_enough_to_keep_in_every_worker():
    automaton = phone._bare_automaton(_DEFAULT)
    assert len(automaton.transitions) + len(automaton.accepting) < 256 * 1024


def test_a_country_whose_trunk_prefix_is_rewritten_opens_the_check():
    # No shape spells out Argentina's `011 15 2345-6789` (+54 9 11 2345 6789): with AR in the
    # policy any digits pass, as they did before there was a check; without it, they do not.
    assert phone._BareCheck(("AR", "US")).fullmatch("1700000000000")
    assert phone._BareCheck(("US",)).fullmatch("1700000000000") is None
