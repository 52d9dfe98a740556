"""The phone detector's shortcuts before libphonenumber's `parse` drop no valid reading.

Before parsing, a digit run must fit its country's general pattern and some number type's
length and pattern, read the ways `parse` may read it; a reading the shortcut drops must be
one that `parse` plus `is_valid_number` would have refused anyway.
"""

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from dlp_addon.detect import phone

_POLICY = ("US", "GB", "CN", "RU", "IR", "SA", "AE", "EG", "IN")
# Countries whose trunk prefix is rewritten rather than dropped (AR, MX, BR), that share a
# country code (CA, JM, KZ), or that keep a leading zero (IT).
_OTHERS = ("AR", "MX", "BR", "CA", "JM", "KZ", "IT", "DE", "JP")
_TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE,
          PhoneNumberType.PREMIUM_RATE, PhoneNumberType.VOIP, PhoneNumberType.PERSONAL_NUMBER,
          PhoneNumberType.SHARED_COST, PhoneNumberType.UAN)


def _digit_runs(seed: int) -> list[str]:
    """Example numbers of every type of these countries in every format, as digits, with a few
    digits changed and prefixes (trunk, international, country code) added or dropped."""
    rng = random.Random(seed)
    out = []
    for region in sorted(_POLICY + _OTHERS):
        for kind in _TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            for style in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164):
                digits = "".join(c for c in phonenumbers.format_number(number, style) if c.isdigit())
                for _ in range(12):
                    run = list(digits)
                    for _ in range(rng.randint(0, 2)):
                        run[rng.randrange(len(run))] = rng.choice("0123456789")
                    if rng.random() < 0.3:
                        run[:0] = rng.choice(["0", "8", "00", "1", "810", "011", "0098"])
                    out.append("".join(run))
    return out


def _reference_reading(digits: str, region: str):
    """What `_national_reading` accepted before the shortcut: any valid number of the region's
    country that parse reads from the digits."""
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.region_code_for_number(number) != region and \
            number.country_code != phonenumbers.country_code_for_region(region):
        return None
    return number.country_code, number.national_number


def _general_fit(digits: str, region: str) -> bool:
    pattern, lengths, prefix = phone._plausibility(region)
    stripped = prefix.match(digits) if prefix else None
    return phone._fits(digits, pattern, lengths) or bool(stripped) and phone._fits(
        digits[stripped.end():], pattern, lengths)


@pytest.mark.parametrize("region", _POLICY + _OTHERS)
def test_national_readings_are_those_of_parse(region):
    runs = _digit_runs(20261201)
    assert len(runs) > 1000
    valid = 0
    for digits in runs:
        # A country that rewrites its trunk prefix has no shortcut before parse: parse itself.
        fits = _general_fit(digits, region) or phone._rewrites_prefix(region)
        reference = _reference_reading(digits, region) if fits else None
        reading = phone._national_reading(digits, region, trunk_optional=True)
        assert ((reading.country_code, reading.national_number) if reading else None) == reference, digits
        valid += reference is not None
    assert valid > 20  # the runs hold real numbers of this country, not only noise


@pytest.mark.parametrize("region", _POLICY + _OTHERS)
def test_a_missing_trunk_prefix_is_refused_as_after_parse(region):
    # Digits parse keeps as they are cannot carry a trunk prefix: where the region writes
    # them with one, the reading is refused before the parse, and must be exactly where the
    # trunk check after the parse would refuse it.
    for digits in _digit_runs(20261202):
        fits = _general_fit(digits, region) or phone._rewrites_prefix(region)
        reference = _reference_reading(digits, region) if fits else None
        if reference is not None:
            number = phonenumbers.parse(digits, region)
            reference = reference if phone._trunk_prefix_ok(number, digits, region) else None
        reading = phone._national_reading(digits, region)
        assert ((reading.country_code, reading.national_number) if reading else None) == reference, digits


@pytest.mark.parametrize("region", ("GB", "IR", "EG"))
def test_a_missing_trunk_prefix_costs_no_parse(region, monkeypatch):
    runs = [d for d in _digit_runs(20261202) if phone._plausible_national(d, region)
            and phone._parsed_as_written(d, region) and phone._writes_trunk_prefix(d, region)]
    assert len(runs) > 10
    parsed = []
    monkeypatch.setattr(phone.phonenumbers, "parse", lambda *args, **kwargs: parsed.append(args))
    for digits in runs:
        assert phone._national_reading.__wrapped__(digits, region) is None
    assert parsed == []


def test_international_readings_are_those_of_parse():
    valid = 0
    for digits in _digit_runs(7):
        try:
            number = phonenumbers.parse("+" + digits)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number) and _general_fit_international(digits):
            assert phone._plausible_international(digits), digits
            valid += 1
    assert valid > 100


def _general_fit_international(digits: str) -> bool:
    """The check before parse without the number-type one: a fit of the general pattern."""
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:length] or 0))
        if regions:
            national = digits[length:]
            return any(phone._fits(national, *phone._plausibility(r)[:2]) for r in regions
                       if phonenumbers.PhoneMetadata.metadata_for_region(r) is not None)
    return False


def test_whatever_a_local_reading_accepts_fits_the_bare_check():
    # The detector refuses digit runs on the compiled bare check alone, before any reading
    # (bare runs, windows of spaced runs, and spaced runs taken whole): that is only sound if
    # every number `_valid_local` can accept, grouped or not, with or without a trunk prefix,
    # hinted countries' trunk-less readings included, passes it.
    detector = phone.PhoneDetector(_POLICY)
    bare = detector._bare_plausible
    accepted = 0
    for digits in _digit_runs(20261202):
        for hinted in (0, 3):
            regions = phone._Regions(_POLICY, hinted)
            for raw in (digits, " ".join(digits[i:i + 3] for i in range(0, len(digits), 3))):
                number, _ = detector._valid_local(raw, digits, regions, raw != digits)
                if number is not None:
                    accepted += 1
                    assert bare.fullmatch(digits) is not None, (raw, hinted)
    assert accepted > 500
