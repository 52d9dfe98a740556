"""Phone numbers, validated against libphonenumber's metadata, with precision by evidence.

A digit run is only as believable as what surrounds it:
  strong   `+86 138 0013 8000`, `0086 138 0013 8000`, `(202) 555-0143`, `8 (912) 345-67-89`:
           an international prefix, or digits grouped the way the number's own country writes
           it. Counted when valid.
  weak     `13800138000`, `987-654-3210` (a valid Indian mobile, oddly grouped): could as well
           be an order number, a timestamp or a counter. Counted only when the context says
           phone (a field name, a column header, a nearby word; see phone_context), or when
           its siblings agree: most digit runs in the same column, the same JSON key or the
           same line are valid phones too, so the values form a phone list rather than ids.
Validity is libphonenumber's `is_valid_number` in one of the policy's regions (or any
country after `+`/`00`) for a number type a person has (not toll-free or premium-rate), plus
its rule that some countries' national numbers must be written
with the trunk prefix (a UK `07911 123456`, never `7911 123456`).
"""

from __future__ import annotations

import functools
import itertools
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import phonenumbers
import regex
from phonenumbers import PhoneMetadata, PhoneNumberFormat

from dlp_addon.detect.numbering_automaton import Automaton, Shape, Unsupported, compile_shapes
from dlp_addon.detect.phone_context import ASCII_PHONE_WORDS, field_says_phone, may_name_a_phone, text_label
from dlp_addon.model import PHONE, Finding, Segment
from dlp_addon.normalize import Normalized

_SEP = r"[ \-.()/]"
# The stdlib engine scans digit-dense text about twice as fast as `regex` here; its
# look-behinds must be fixed-width, hence three of them. The pattern opens with the character
# class of its first character, so that the engine skips to the next `(`, `+` or digit in C;
# the look-behinds then test the text before that character.
_CANDIDATE = re.compile(
    r"[(+\d](?<![\dA-Za-z_+@].)(?<!\d[.\-].)(?<![A-Za-z]-.)"  # not inside a word, a number, or an id like AB-123
    r"(?:(?<=\()(?:\+ ?\(?)?\d|(?<=\+) ?\(?\d|(?<=\d))"  # `(+7 (`, `+ (`, `(` or nothing before the first digit
    rf"(?:{_SEP}{{0,3}}\d){{6,31}}"
    # Not followed by more of a number ("12.50", "2024-01-15"); "x123" is an extension, and a
    # comma separates fields (`+1 202-555-0143,35` is a phone and an age).
    r"(?!(?!x\d)[\dA-Za-z_@]|[.\-/]\d)"
)


def _spans_by_regex(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _CANDIDATE.finditer(text)]


try:
    # The same spans found in C, several times faster on digit-dense text.
    from dlp_addon.detect._phone_runs import find as candidate_spans
    from dlp_addon.detect._phone_runs import accepts as _accepts
    from dlp_addon.detect._phone_runs import grouped_parts as _grouped_parts
    from dlp_addon.detect._phone_runs import scan as _scan_checked
    from dlp_addon.detect._phone_runs import scan_all as _scan_all_checked
    from dlp_addon.detect._phone_runs import worth_weighing as _worth_weighing
except ImportError:  # built where no C compiler was at hand
    candidate_spans, _scan_checked, _scan_all_checked, _accepts = _spans_by_regex, None, None, None
    _worth_weighing = _grouped_parts = None


_NON_DIGIT = re.compile(r"\D+")
_DIGIT_GROUPS = re.compile(r"\d+")
_DOTTED_QUAD = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_DECIMAL = re.compile(r"^\d+\.\d+$")  # 170.721267: a measurement, not a number someone dials
_BRACKETED_TRUNK = regex.compile(r"(?<=\d)\s?\(0\)")
_WHITESPACE = re.compile(r"\s+")
# A date (year first or last) and an hour, with minutes after the candidate: a timestamp.
_TIMESTAMP_HEAD = re.compile(r"(?:\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2\d{4})[ T]\d{1,2}$")
_CLOCK_AFTER = re.compile(r":[0-5]\d")
_RULE_PUNCTUATION = regex.compile(r"\\1|[\s()\-./]")
_MIN_DIGITS, _MAX_DIGITS = 7, 15
_MAX_GROUPS = 6

# A script around a number, or the script of its digits, makes its countries' numbering plans
# the first guess: 021 5310 5961 in Persian digits is Tehran, in ASCII next to Chinese Shanghai.
# Each with the lowest character it matches: a sample whose highest character is lower (all
# of Russian prose, which has no character above U+0600) is not searched for it.
_SCRIPT_HINTS = (
    (regex.compile(r"[\u06f0-\u06f9]"), ("IR",), "\u06f0"),  # Persian digits
    (regex.compile(r"[\u0660-\u0669]"), ("SA", "AE", "EG", "IR"), "\u0660"),  # Arabic-Indic digits
    (regex.compile(r"[\u0966-\u096f]"), ("IN",), "\u0966"),  # Devanagari digits
    (regex.compile(r"[\uff10-\uff19]"), ("CN",), "\uff10"),  # fullwidth digits
    (regex.compile(r"\p{Han}"), ("CN",), "\u2e80"),
    (regex.compile(r"\p{Cyrillic}"), ("RU",), "\u0400"),
    (regex.compile(r"[\u067e\u0686\u0698\u06af\u06a9\u06cc]"), ("IR",), "\u067e"),  # Persian-only letters
    (regex.compile(r"\p{Arabic}"), ("SA", "AE", "EG", "IR"), "\u0600"),
    (regex.compile(r"\p{Devanagari}"), ("IN",), "\u0900"),
)

# Siblings must be this convincing before digit-only values are believed without a label.
GROUP_MIN_SIZE = 3
GROUP_MIN_VALID_SHARE = 0.8
_GROUP_SAMPLE = 40
_CLOCK_EVERY = 4096  # candidates between looks at the inspection deadline
_CLOCK_TEXTS = 64  # texts with candidates, and their candidates, between looks at it across texts
# What may surround a list item in its cell: quotes, brackets, spaces.
_CELL_PADDING = " \t\r\"'[](){}<>;"
_CONTEXT_BEFORE, _CONTEXT_AFTER = 32, 16
_MAY_LABEL = re.compile(r"[^\W\d_]|[№$€£%₽₹]")
_DOCUMENT_SAMPLE, _DOCUMENT_SAMPLE_PER_SEGMENT = 64 * 1024, 4096
_DOCUMENT_MIN_CODES = 2
_COUNTRY_CODES = r"\s?(1|7|2[07]|3[0-469]|4[0-79]|5[1-8]|6[0-6]|8[1246]|9[0-58]|\d{3})(?=[\s(.-]?\d)"
_COUNTRY_CODE_WRITTEN = regex.compile(r"(?:\+|(?<!\d)00)" + _COUNTRY_CODES)
_COUNTRY_CODE_AFTER_00 = regex.compile(r"(?<!\d)00" + _COUNTRY_CODES)
_SCRIPT_WINDOW = 80


_UNRESOLVED = object()

# libphonenumber looks each metadata pattern up again on every use; by default that goes
# through the re module's general cache (a lock, a key, a bounded dict), about a tenth of a
# customer list's time. Its own cache is a plain dict over a bounded set: the metadata's.
phonenumbers.enable_pattern_cache()


@dataclass(frozen=True, slots=True)
class _Regions:
    order: tuple[str, ...]  # regions to try, those hinted by the script around the number first
    hinted: int  # how many of them were hinted


@dataclass(frozen=True, slots=True)
class DocumentCountries:
    """The countries a message as a whole points to (see `PhoneDetector.document_countries`)."""

    written: tuple[str, ...]  # named by the message's own international numbers, most named first
    regions: _Regions


@dataclass(slots=True)
class _Weak:
    """A digit run that needs a label or sibling support; validated only when that is known."""

    norm: Normalized
    start: int
    end: int
    where: str
    digits: str
    regions: _Regions | None  # None: not worked out yet
    groups: tuple[str, ...]
    result: Finding | None | object = _UNRESOLVED
    country_code: int = 0

    @property
    def value(self) -> int:
        return int(self.digits[-15:])


# Numbers a person has. Toll-free, premium-rate, shared-cost and similar numbers belong to
# businesses (the support line on every web page), so they are not customer identifiers.
_PERSONAL_TYPES = frozenset({
    phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE, phonenumbers.PhoneNumberType.VOIP,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
})


_FACTS: dict[tuple, tuple[str | None, int]] = {}
# Asked three or four times of one number within a message; kept beyond it only for numbers
# that come again (see _READINGS_KEPT).
_FACTS_KEPT = 32768


def _facts(number: phonenumbers.PhoneNumber) -> tuple[str | None, int]:
    """The number's region and type (`region_code_for_number`, `number_type`), worked out once.
    Each of libphonenumber's calls matches the country's patterns again, and a reading is asked
    for its validity, its region, its type and whether it is a mobile: a list paid for that
    three or four times per number. Valid means a region and a known type (what
    `is_valid_number` checks)."""
    key = (number.country_code, number.national_number, number.italian_leading_zero,
           number.number_of_leading_zeros)
    facts = _FACTS.get(key)
    if facts is None:
        if len(_FACTS) >= _FACTS_KEPT:
            _FACTS.clear()
        region = phonenumbers.region_code_for_number(number)
        facts = _FACTS[key] = (region, phonenumbers.number_type(number) if region else
                               phonenumbers.PhoneNumberType.UNKNOWN)
    return facts


def _is_valid(number: phonenumbers.PhoneNumber) -> bool:
    return _facts(number)[1] != phonenumbers.PhoneNumberType.UNKNOWN


def _number_type(number: phonenumbers.PhoneNumber) -> int:
    return _facts(number)[1]


def _is_mobile(number: phonenumbers.PhoneNumber) -> bool:
    return _number_type(number) in (phonenumbers.PhoneNumberType.MOBILE,
                                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _personal(number: phonenumbers.PhoneNumber) -> bool:
    return _number_type(number) in _PERSONAL_TYPES


@functools.cache
def _plausibility(region: str) -> tuple:
    """A region's general number pattern and lengths, compiled once: a check in microseconds
    that rejects most digit runs before the ~20 µs `phonenumbers.parse` (no valid number
    fails it: every number type's pattern is narrower than the general one)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    general = metadata.general_desc
    lengths = frozenset(general.possible_length or ())
    prefix = metadata.national_prefix_for_parsing
    return _compile(general.national_number_pattern), lengths, _compile(prefix) if prefix else None


# The number types libphonenumber tells apart; a valid number matches one of them.
_TYPE_DESCS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
               "voicemail", "fixed_line", "mobile")


@functools.cache
def _number_types(country_code: int) -> dict[int, object]:
    """Per length, one pattern for every number type of every region that shares the
    country code (the US's +1 is also Canada's and Jamaica's), compiled once."""
    by_length: dict[int, list[str]] = defaultdict(list)
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            continue
        general = tuple(metadata.general_desc.possible_length or ())
        for desc in (getattr(metadata, name, None) for name in _TYPE_DESCS):
            if desc is None or not desc.national_number_pattern:
                continue
            # A type without lengths of its own is matched at any length of the region's.
            for length in desc.possible_length or general or range(1, _MAX_DIGITS + 3):
                by_length[length].append(desc.national_number_pattern)
    return {length: _compile("|".join(f"(?:{p})" for p in dict.fromkeys(patterns)))
            for length, patterns in by_length.items()}


def _fits_a_type(national: str, country_code: int) -> bool:
    """What `is_valid_number` asks of a national significant number, short of parsing: that
    some number type of the country has its length and pattern. Narrower than the general
    pattern (which admits every length any type has), so far fewer readings reach `parse`."""
    pattern = _number_types(country_code).get(len(national))
    return pattern is not None and pattern.fullmatch(national) is not None


@functools.cache
def _international_prefix(region: str):
    pattern = PhoneMetadata.metadata_for_region(region).international_prefix
    return _compile(pattern) if pattern else None


def _may_be_valid(digits: str, region: str) -> bool:
    """Digits that may be a valid number of the region's country, read any way `parse` may
    read them: as written, without a trunk prefix, without the country code (also after the
    international prefix, `810 7 ...` in Russia), and each of those without a trunk prefix."""
    if _rewrites_prefix(region):
        return True  # the prefix is rewritten, not dropped: nothing narrower is known
    country_code = PhoneMetadata.metadata_for_region(region).country_code
    code = str(country_code)
    readings = [digits]
    if digits.startswith(code):
        readings.append(digits[len(code):])
    international = _international_prefix(region)
    dialled = international.match(digits) if international is not None else None
    if dialled and digits.startswith(code, dialled.end()):
        readings.append(digits[dialled.end() + len(code):])
    prefix = _plausibility(region)[2]
    for reading in readings:
        if _fits_a_type(reading, country_code):
            return True
        stripped = prefix.match(reading) if prefix is not None else None
        if stripped and _fits_a_type(reading[stripped.end():], country_code):
            return True
    return False


def _compile(pattern: str):
    """libphonenumber's patterns compiled by the stdlib engine, which matches these small
    patterns faster than `regex`; `regex` for any it cannot read."""
    try:
        return re.compile(pattern)
    except re.error:
        return regex.compile(pattern)


def warm_up(regions: Sequence[str]) -> None:
    """Compile now what a first number from anywhere would otherwise pay for mid-request:
    every country's general pattern (for numbers after "+"), the policy countries' number
    types and formats, and the bare check for every length a digit run can have. Other
    countries' number types (2 MiB for all of them, in every worker) wait for a first number."""
    for codes in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.values():
        for region in codes:
            if PhoneMetadata.metadata_for_region(region) is not None:
                _plausibility(region)
    for region in regions:
        _number_types(_country_code(region))
        _international_prefix(region)
        _compiled_formats(region)
        _writing_rules(_country_code(region))
    if not _BareCheck(tuple(regions)).exact:
        bare = _bare_plausibility(tuple(regions))
        for size in range(_MIN_DIGITS, _MAX_DIGITS + 3):
            bare.fullmatch("0" * size)


def _fits(national: str, pattern, lengths) -> bool:
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


@functools.cache
def _rewrites_prefix(region: str) -> bool:
    metadata = PhoneMetadata.metadata_for_region(region)
    return metadata is not None and bool(metadata.national_prefix_transform_rule)


def _plausible_national(digits: str, region: str) -> bool:
    if _rewrites_prefix(region):
        return True  # the trunk prefix is rewritten, not dropped (see _may_be_valid): parse decides
    pattern, lengths, prefix = _plausibility(region)
    if _fits(digits, pattern, lengths) and _may_be_valid(digits, region):
        return True
    stripped = prefix.match(digits) if prefix else None
    rest = digits[stripped.end():] if stripped else ""
    return bool(stripped) and _fits(rest, pattern, lengths) and _may_be_valid(rest, region)


_ANY_DIGITS = Shape("", "[0-9]+", None)


@functools.cache
def _bare_shapes(regions: tuple[str, ...]) -> tuple[Shape, ...]:
    """What digits written with nothing else must look like to be a number of a type a person
    has (mobile, fixed line, VoIP, personal) in some policy country: with or without its trunk
    prefix, or in international form without the "+". A superset of what `_valid_local` can
    accept; ordinary traffic's timestamps and ids mostly fit none. Every region that shares a
    policy country's code counts, as it does for `_national_reading`: with the US come Canada
    and the Caribbean (+1), with Russia Kazakhstan (+7)."""
    shapes = []
    sharing = (r for code in dict.fromkeys(_country_code(r) for r in regions)
               for r in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ()))
    for region in sharing:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            continue
        general_lengths = tuple(metadata.general_desc.possible_length or ())
        prefix = metadata.national_prefix_for_parsing
        international = metadata.international_prefix
        code = str(_country_code(region))
        for desc in (metadata.fixed_line, metadata.mobile, metadata.voip, metadata.personal_number):
            if desc is None or not desc.national_number_pattern:
                continue
            lengths = frozenset(n for n in (desc.possible_length or general_lengths) if n > 0) or None
            shapes.append(Shape(f"(?:{prefix})?" if prefix else "", desc.national_number_pattern, lengths))
            shapes.append(Shape(code, desc.national_number_pattern, lengths))
            if international:
                # Dialled from abroad and back (`810 7 912 ...` in Russia), which `parse` reads too.
                shapes.append(Shape(f"(?:{international}){code}", desc.national_number_pattern, lengths))
    if any(_rewrites_prefix(region) for region in regions):
        # `parse` rewrites such a country's trunk prefix rather than dropping it (Argentina
            # writes `011 15 2345-6789` for +54 9 11 2345 6789), so no narrower shape is known:
            # any digits pass, as they did before there was a check.
            shapes.append(_ANY_DIGITS)
    return tuple(shapes)


def _bare_plausibility(regions: tuple[str, ...]) -> _ByLength:
    """The bare check as one regex per length, compiled once per policy."""
    return _by_length(_bare_shapes(regions))


@functools.cache
def _by_length(shapes: tuple[Shape, ...]) -> _ByLength:
    """The shapes as one regex for each length a digit run can have (see _ByLength)."""
    alternatives: list[tuple[str, frozenset[int] | None]] = []
    for shape in shapes:
        lengths = sorted(shape.lengths or ())
        # The type's own lengths, checked ahead of its pattern.
        sized = (f"(?=(?:{'|'.join(f'[0-9]{{{n}}}' for n in lengths)})$)" if lengths else "") + \
            f"(?:{shape.national})"
        heads = _widths(shape.head) if shape.head else range(1)
        alternatives.append((shape.head + sized, None if heads is None or not lengths else
                             frozenset(n + w for n in lengths for w in heads)))
    return _ByLength(alternatives)


@functools.cache
def _bare_automaton(regions: tuple[str, ...]) -> Automaton | None:
    """The bare check as a table for the C scan (see numbering_automaton), or None where a
    pattern cannot be compiled into one: the regex then does all the checking."""
    try:
        return compile_shapes(_bare_shapes(regions))
    except Unsupported:
        return None


class _BareCheck:
    """The bare-number check as the detector asks it: the automaton, in C, where the C scan
    was built and the automaton is exact (the regex, 1.6 MiB compiled, is then never
    compiled), else the regex. An automaton that is not exact still serves the scan, whose
    rejections it makes only where the regex would too."""

    def __init__(self, regions: tuple[str, ...]):
        self.regions = regions
        self.automaton = _bare_automaton(regions) if _scan_checked is not None else None

    @property
    def exact(self) -> bool:
        return self.automaton is not None and self.automaton.exact

    def fullmatch(self, digits: str):
        if self.exact:
            fits = _accepts(digits, self.automaton.transitions, self.automaton.accepting)
            if fits is not None:
                return True if fits else None
        return _bare_plausibility(self.regions).fullmatch(digits)


def _widths(pattern: str) -> range | None:
    """Every length a match of `pattern` can have (a superset), or None when unbounded."""
    try:
        low, high = re._parser.parse(pattern).getwidth()
    except Exception:  # noqa: BLE001 - a private helper: without it, no length is ruled out
        return None
    return range(low, high + 1) if high <= _MAX_DIGITS + 2 else None


class _ByLength:
    """`fullmatch` of the alternatives that can have the digits' length only: each length's
    share of the alternation is compiled on its own, so a 13-digit timestamp is tried against
    the few plans that have 13-digit numbers instead of all of them."""

    def __init__(self, alternatives: list[tuple[str, frozenset[int] | None]]):
        self._alternatives = alternatives
        self._patterns: dict[int, re.Pattern | regex.Pattern | None] = {}

    def fullmatch(self, digits: str):
        size = len(digits)
        pattern = self._patterns.get(size, _UNRESOLVED)
        if pattern is _UNRESOLVED:
            pattern = self._patterns[size] = self._compile(size)
        return pattern.fullmatch(digits) if pattern is not None else None

    def _compile(self, size: int):
        chosen = [a for a, lengths in self._alternatives if lengths is None or size in lengths]
        if not chosen:
            return None
        # The stdlib engine runs this big alternation about 4x faster than `regex`.
        return _compile("|".join(f"(?:{a})" for a in chosen))


def _plausible_international(digits: str) -> bool:
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:length] or 0))
        if regions:
            national = digits[length:]
            return any(_fits(national, *_plausibility(r)[:2]) and _may_be_valid(national, r) for r in regions
                       if PhoneMetadata.metadata_for_region(r) is not None)
    return False


# Parsed readings are kept for numbers that come again (a site's own numbers, a list sent
# twice), not for a whole list: a list's numbers are distinct, and at 262,144 entries each
# of these two caches held over 100 MiB of a worker once a few lists had passed. A list read
# the first time is no slower with a small cache.
_READINGS_KEPT = 8192


@functools.lru_cache(maxsize=_READINGS_KEPT)
def _valid_international(digits: str) -> phonenumbers.PhoneNumber | None:
    if not _plausible_international(digits):
        return None
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    return number if _personal(number) else None


@functools.lru_cache(maxsize=_READINGS_KEPT)
def _national_reading(digits: str, region: str, trunk_optional: bool = False) -> phonenumbers.PhoneNumber | None:
    """The valid number of any type (toll-free too) these digits are in this region, written
    the way that region writes national numbers (with its trunk prefix where the country
    requires one, unless `trunk_optional`)."""
    if not _plausible_national(digits, region):
        return None
    if not trunk_optional and _parsed_as_written(digits, region) and _writes_trunk_prefix(digits, region):
        # What `_trunk_prefix_ok` below would refuse, known without the parse: in Russian or
        # Arabic prose most spaced numbers (`19 772 562`) read this way in the Emirates,
        # Egypt or Britain, which write a "0" first.
        return None
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not _is_valid(number):
        return None
    if _facts(number)[0] != region and number.country_code != _country_code(region):
        return None
    if not trunk_optional and not _trunk_prefix_ok(number, digits, region):
        return None
    return number


def _valid_national(digits: str, region: str) -> phonenumbers.PhoneNumber | None:
    number = _national_reading(digits, region)
    return number if number is not None and _personal(number) else None


@functools.cache
def _country_code(region: str) -> int:
    return phonenumbers.country_code_for_region(region)


@functools.cache
def _compiled_formats(region: str) -> tuple:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return (None, ())
    formats = tuple(
        (_compile(f.leading_digits_pattern[-1]) if f.leading_digits_pattern else None,
         _compile(f.pattern), f)
        for f in metadata.number_format
    )
    return metadata, formats


def _trunk_prefix_ok(number: phonenumbers.PhoneNumber, digits: str, region: str) -> bool:
    """Where a country always writes its national numbers with a trunk prefix, require it."""
    nsn = phonenumbers.national_significant_number(number)
    if not _writes_trunk_prefix(nsn, region):
        return True
    return len(digits) > len(nsn) and digits.startswith(_compiled_formats(region)[0].national_prefix)


def _writes_trunk_prefix(nsn: str, region: str) -> bool:
    """Whether the region writes this national significant number with its trunk prefix in
    front, as the first of its formats that fits the number says."""
    metadata, formats = _compiled_formats(region)
    if metadata is None or not metadata.national_prefix:
        return False
    for leading, pattern, fmt in formats:
        if leading is not None and not leading.match(nsn):
            continue
        if not pattern.fullmatch(nsn):
            continue
        # The metadata stores the rule with the prefix filled in ("0\\1", "8 (\\1)"); a rule
        # that is only the first group with punctuation around it needs no prefix.
        rule = _RULE_PUNCTUATION.sub("", fmt.national_prefix_formatting_rule or "")
        return bool(rule) and not fmt.national_prefix_optional_when_formatting
    return False


def _parsed_as_written(digits: str, region: str) -> bool:
    """Whether `phonenumbers.parse(digits, region)` keeps all the digits as the national
    significant number: nothing it could take off is at their start (an international prefix,
    the country code, the trunk prefix or a carrier code)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or _rewrites_prefix(region):
        return False
    if metadata.national_prefix and digits.startswith(metadata.national_prefix):
        return False
    if digits.startswith(str(metadata.country_code)):
        return False
    international, for_parsing = _international_prefix(region), _plausibility(region)[2]
    return not (international is not None and international.match(digits)) and \
        not (for_parsing is not None and for_parsing.match(digits))


_FIRST_GROUP = re.compile(r"(\\\d)")  # the first "\\1" of a format rule


@functools.cache
def _writing_rules(country_code: int) -> tuple[tuple, tuple] | None:
    """How a country writes its numbers nationally and internationally: per format, its
    leading-digits and number patterns compiled once and its rewrite rule, with the national
    prefix rule already folded in. The choice and the rewrite are `format_number`'s, which
    otherwise looks the metadata up and every pattern in its cache on each call."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
    if metadata is None:
        return None

    def rules(formats, national: bool) -> tuple:
        out = []
        for f in formats:
            rule = f.format
            if national and f.national_prefix_formatting_rule:
                rule = _FIRST_GROUP.sub(f.national_prefix_formatting_rule, rule, count=1)
            leading = _compile(f.leading_digits_pattern[-1]) if f.leading_digits_pattern else None
            out.append((leading, _compile(f.pattern), rule))
        return tuple(out)

    national = rules(metadata.number_format, True)
    international = rules(metadata.intl_number_format, False) if metadata.intl_number_format else \
        rules(metadata.number_format, False)
    return national, international


def _written(nsn: str, rules: tuple) -> str:
    for leading, pattern, rule in rules:
        if (leading is None or leading.match(nsn)) and pattern.fullmatch(nsn):
            return pattern.sub(rule, nsn)
    return nsn


def _styles(number: phonenumbers.PhoneNumber) -> tuple[str, str]:
    """The number as `format_number` writes it in NATIONAL and INTERNATIONAL format."""
    rules = _writing_rules(number.country_code)
    if rules is None:
        return tuple(phonenumbers.format_number(number, style)
                     for style in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL))
    nsn = phonenumbers.national_significant_number(number)
    return _written(nsn, rules[0]), f"+{number.country_code} {_written(nsn, rules[1])}"


def _official_groupings(number: phonenumbers.PhoneNumber) -> tuple[frozenset[int], ...]:
    """Where the number's own country puts spaces, nationally and internationally, as offsets
    into its national significant number."""
    size = len(phonenumbers.national_significant_number(number))
    national, international = _styles(number)
    return _separators(national, size, False), _separators(international, size, True)


def _separators(written: str, nsn_size: int, international: bool) -> frozenset[int]:
    """The offsets into the national significant number at which a written form of it breaks
    the digits."""
    groups = _DIGIT_GROUPS.findall(written)
    if international:
        groups = groups[1:]  # the country code
    skip = sum(map(len, groups)) - nsn_size  # national prefix digits, if written
    position, boundaries = 0, set()
    for group in groups[:-1]:
        position += len(group)
        if position - skip > 0:
            boundaries.add(position - skip)
    return frozenset(boundaries)


# A format made of digit groups only, `(\d{3})(\d{2,3})(\d{4})`: it writes every national
# number of a length it fits the same way, whatever the digits.
_DIGIT_GROUPS_ONLY = re.compile(r"(?:\(\\d(?:\{\d+(?:,\d+)?\})?\))+")
_LONGEST_NSN = 17  # libphonenumber's own bound


@functools.cache
def _separator_offsets(country_code: int) -> dict[int, frozenset[int]] | None:
    """For each length of national significant number, every offset at which any of the
    country's formats, national or international, breaks its digits: where a reading of that
    length can have a separator and still fit its country's grouping. None where a format's
    pattern looks at the digits themselves (none of the seed markets' does)."""
    rules = _writing_rules(country_code)
    if rules is None:
        return None
    national, international = rules
    if not all(_DIGIT_GROUPS_ONLY.fullmatch(pattern.pattern) for _, pattern, _ in (*national, *international)):
        return None
    offsets: dict[int, frozenset[int]] = {}
    for size in range(1, _LONGEST_NSN + 1):
        nsn = "0" * size
        found: set[int] = set()
        for style, is_international in ((national, False), (international, True)):
            for _, pattern, rule in style:
                if pattern.fullmatch(nsn):
                    written = pattern.sub(rule, nsn)
                    found |= _separators(f"+{country_code} {written}" if is_international else written, size,
                                         is_international)
        offsets[size] = frozenset(found)
    return offsets


def _boundaries(raw: str, skip: int) -> set[int]:
    """Separator positions of a written number, as offsets after its first `skip` digits."""
    out, position = set(), 0
    for group in _DIGIT_GROUPS.findall(raw)[:-1]:
        position += len(group)
        if position - skip > 0:
            out.add(position - skip)
    return out


class _StartReader:
    """What `parse` may take off the start of a run's digits before the national number, for
    one country: a trunk prefix (with a carrier code), the country code, an international
    prefix and the code, and a trunk prefix after either. Plain digit prefixes (`8`, `0`,
    `810`) are compared as strings; the rest matched as the metadata's patterns."""

    def __init__(self, code: int, trunks: Sequence[str], internationals: Sequence[str]):
        self.code = str(code)
        self.trunks = [(p, None) if p.isdigit() else ("", _compile(p)) for p in dict.fromkeys(trunks)]
        self.internationals = [(p, None) if p.isdigit() else ("", _compile(p)) for p in dict.fromkeys(internationals)]
        # Where every prefix is plain digits, what `heads` may take off is one of a few
        # strings, and whether it takes off a given number of digits is a set look-up.
        self.literal_heads: frozenset[str] | None = None
        if all(pattern is None for _, pattern in (*self.trunks, *self.internationals)):
            nationals = ["", self.code, *(literal + self.code for literal, _ in self.internationals)]
            self.literal_heads = frozenset([*nationals, *(n + trunk for n in nationals for trunk, _ in self.trunks)])

    def takes_off(self, digits: str, skip: int, heads: list[int] | None) -> tuple[bool, list[int] | None]:
        """Whether `heads` (given, or worked out and returned) holds `skip`."""
        if self.literal_heads is not None:
            return skip <= len(digits) and digits[:skip] in self.literal_heads, heads
        if heads is None:
            heads = self.heads(digits)
        return skip in heads, heads

    @staticmethod
    def _ends(digits: str, start: int, prefixes) -> Iterable[int]:
        for literal, pattern in prefixes:
            if pattern is None:
                if digits.startswith(literal, start):
                    yield start + len(literal)
            elif (found := pattern.match(digits, start)) and found.end() > start:
                yield found.end()

    def heads(self, digits: str) -> list[int]:
        code = self.code
        national_starts = [0]
        if digits.startswith(code):
            national_starts.append(len(code))
        national_starts.extend(end + len(code) for end in self._ends(digits, 0, self.internationals)
                               if digits.startswith(code, end))
        heads = list(national_starts)
        for start in national_starts:
            heads.extend(self._ends(digits, start, self.trunks))
        return heads


@dataclass(frozen=True, slots=True)
class _CountryWriting:
    code: int
    lengths: frozenset[int]  # of its valid national significant numbers
    offsets: dict[int, frozenset[int]]  # see _separator_offsets
    start: _StartReader
    longest_head: int  # digits `start` may take off at most


class _GroupingCheck:
    """Whether a run written with separators could fit the grouping of some reading of it in
    a policy country (`_grouping_fit` better than _NOT_GROUPED), known without a parse: after
    what `parse` may take off its start (`_StartReader`), the national number left has a
    length the country's numbers have, fits the pattern of one of its number types, and each
    of the run's separators falls where one of the country's formats breaks a number of
    that length. Most spaced and dotted numbers in prose (amounts `19 772 562`, dates
    `15.02.2003`) fit none, and unlabelled they cannot count.
    `usable` is False where a country's metadata is beyond this reading (a trunk prefix that
    `parse` rewrites, a format that looks at the digits): every run then may be grouped."""

    def __init__(self, regions: Sequence[str]):
        self.countries: list[_CountryWriting] = []
        self.usable, self.longest = False, 0
        self.shapes: dict[str, _Windows] = {}  # see windows
        self._fitting: dict[tuple[int, tuple[int, ...]], _ShapeFits] = {}
        for code in dict.fromkeys(_country_code(r) for r in regions):
            # `parse` reads the start with the metadata of the region it is given (a policy
            # region), and after a country code with that of the code's main region; the
            # number may then be of any region sharing the code.
            sharing = [m for m in map(PhoneMetadata.metadata_for_region,
                                      phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())) if m is not None]
            given = [PhoneMetadata.metadata_for_region(r) for r in regions if _country_code(r) == code]
            reading = [*given, PhoneMetadata.metadata_for_region_or_calling_code(
                code, phonenumbers.region_code_for_country_code(code))]
            offsets = _separator_offsets(code)
            if offsets is None or not sharing or None in reading or \
                    any(m.national_prefix_transform_rule for m in reading):
                return
            trunks = [m.national_prefix_for_parsing for m in reading if m.national_prefix_for_parsing]
            internationals = [m.international_prefix for m in given if m.international_prefix]
            widths = [_widths(p) for p in (*trunks, *internationals)]
            if None in widths or any("^" in p or "(?<" in p for p in (*trunks, *internationals)):
                return  # matched at an offset below, which only unanchored patterns allow
            lengths = frozenset(n for m in sharing for n in m.general_desc.possible_length or ())
            longest_head = max((w[-1] for w in widths[len(trunks):]), default=0) + len(str(code)) + \
                max((w[-1] for w in widths[:len(trunks)]), default=0)
            self.longest = max(self.longest, max(lengths, default=0) + longest_head)
            self.countries.append(_CountryWriting(code, lengths, offsets, _StartReader(code, trunks, internationals),
                                                  longest_head))
        self.usable = True

    def fits(self, digits: str, countries: _ShapeFits) -> bool:
        """Whether a part of a run, of a shape that may fit (`windows`), fits in fact: what
        `parse` would have to take off is at its start, and the rest fits a number type."""
        for country, skips in countries:
            heads = None  # what parse may take off: only worked out for a skip other than none
            for skip in skips:
                if skip:
                    taken, heads = country.start.takes_off(digits, skip, heads)
                    if not taken:
                        continue
                if _fits_a_type(digits[skip:], country.code):
                    return True
        return False

    _SHAPES_KEPT = 65536

    def windows(self, shape: str) -> _Windows:
        """The parts of runs of this shape (the run with each digit written as 9) that
        `_spans` may cut out and `_classify` read: where those with enough digits start, and
        those of them that may fit a country's grouping. Prose repeats a few shapes (amounts
        `99 999 999`, dates `99.99.9999`), so each is worked out once."""
        windows = self.shapes.get(shape)
        if windows is None:
            if len(self.shapes) >= self._SHAPES_KEPT:
                self.shapes.clear()
            windows = self.shapes[shape] = self._windows_of(shape)
        return windows

    def _windows_of(self, shape: str) -> _Windows:
        pieces = [[len(group) for group in _DIGIT_GROUPS.findall(piece)] for piece in _WHITESPACE.split(shape)]
        starts: dict[int, None] = {}
        fitting = []
        offset = 0
        for first in range(len(pieces)):
            size, ends = 0, []
            for piece in pieces[first:]:
                for group in piece:
                    if size:
                        ends.append(size)
                    size += group
                if size > self.longest:
                    break  # longer than any country's national number and what may precede it
                if size < _MIN_DIGITS:
                    continue
                starts[offset] = None
                if ends and (countries := self._fits_of(size, tuple(ends))):
                    fitting.append((offset, offset + size, countries))
            offset += sum(pieces[first])
        return tuple(starts), tuple(fitting)

    def _fits_of(self, size: int, ends: tuple[int, ...]) -> _ShapeFits:
        # Shapes share their parts (`99 999 999` and `9 999 999 999` end alike), and working
        # out one part's fit, country by country, costs tens of microseconds.
        fits = self._fitting.get((size, ends))
        if fits is None:
            if len(self._fitting) >= self._SHAPES_KEPT:
                self._fitting.clear()
            fits = self._fitting[size, ends] = self._shape_fits(size, ends)
        return fits

    def _shape_fits(self, size: int, ends: tuple[int, ...]) -> _ShapeFits:
        """For each country, the digits `parse` would have to take off the start for digits
        of this size, broken at these offsets, to fit its grouping, from what the metadata
        allows at most."""
        return tuple(
            (country, skips) for country in self.countries
            if (skips := tuple(skip for skip in range(min(country.longest_head, size) + 1)
                               if size - skip in country.lengths and
                               all(end <= skip or end - skip in country.offsets.get(size - skip, ()) for end in ends))))


_ShapeFits = tuple[tuple[_CountryWriting, tuple[int, ...]], ...]
# Where parts with enough digits start, and (start, end, _ShapeFits) of those that may fit.
_Windows = tuple[tuple[int, ...], tuple[tuple[int, int, _ShapeFits], ...]]
_DIGITS_AS_NINE = str.maketrans("0123456789", "9" * 10)
_ASCII_NON_DIGITS = bytes(c for c in range(128) if not ord("0") <= c <= ord("9"))
_ASCII_NON_DIGITS_TEXT = _ASCII_NON_DIGITS.decode("ascii")


def _one_digit_group(raw: str) -> bool:
    """Whether the run holds one group of digits (`len(_DIGIT_GROUPS.findall(raw)) == 1`):
    for ASCII, whatever is not a digit stands only at its ends, known at C speed."""
    if not raw.isascii():
        return len(_DIGIT_GROUPS.findall(raw)) == 1
    inner = raw.strip(_ASCII_NON_DIGITS_TEXT)
    return inner.isdigit()


# How well a written grouping fits a reading of the number: exactly as its country writes
# it, a coarser version of that (`03 7146503` for `03 714 6503`), or not at all.
_GROUPED_EXACTLY, _GROUPED_COARSELY, _NOT_GROUPED = 0, 1, 2


def _grouping_fit(raw: str, digits: str, number: phonenumbers.PhoneNumber) -> int:
    nsn = phonenumbers.national_significant_number(number)
    written = _boundaries(raw, len(digits) - len(nsn))
    official = _official_groupings(number)
    if written in official:
        return _GROUPED_EXACTLY
    if any(written <= style for style in official) or written <= frozenset().union(*official):
        return _GROUPED_COARSELY
    return _NOT_GROUPED


def canonical_phone(text: str, regions: Sequence[str]) -> str | None:
    """E.164 of one number known to be a phone (a line of a customer list), or None."""
    digits = _NON_DIGIT.sub("", text)
    stripped = text.strip().lstrip("(")
    if stripped.startswith("+") or stripped.startswith("00"):
        number = _valid_international(digits[2:] if stripped.startswith("00") else digits)
    else:
        number = next(filter(None, (_valid_national(digits, r) for r in regions)), None)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164) if number else None


class PhoneDetector:
    def __init__(self, regions: Sequence[str]):
        self.regions = tuple(regions)
        self.region_codes = frozenset(_country_code(r) for r in self.regions)
        # A number stored without its "+" only counts with a policy country's code, and
        # country codes are prefix-free: other digits need not be parsed as one.
        self._stored_prefixes = tuple(str(code) for code in self.region_codes)
        self._countries: DocumentCountries | None = None
        self._texts: list[str] = []
        self._rejected: Counter[str] = Counter()
        self._deadline: float | None = None
        self._bare_plausible = _BareCheck(self.regions)
        self._grouping = _GroupingCheck(self.regions)

    def find(self, segments: Iterable[tuple[Segment, Normalized]], deadline: float | None = None,
             document: DocumentCountries | None = None) -> list[Finding]:
        """Every phone number in the segments, each with its normal form; past `deadline`
        (time.monotonic) it stops and returns what it found so far (the caller records the
        timeout). `document` is what `document_countries` said of the whole message, for a
        part of it read on its own."""
        pairs = list(segments)
        forms = {index: norm for index, (_, norm) in enumerate(pairs)}
        return self.find_in_texts([segment for segment, _ in pairs], [norm.text for norm in forms.values()], forms,
                                  deadline, document)

    def find_in_texts(self, segments: Sequence[Segment], texts: list[str], forms: dict[int, Normalized],
                      deadline: float | None = None, document: DocumentCountries | None = None) -> list[Finding]:
        """`find` over the first len(texts) segments, given each one's normal form's text, and
        the normal forms themselves where they are not the segment's own ASCII text: an API's
        JSON is tens of thousands of values, and half of them hold no candidate and need no
        normal form made."""
        found: list[Finding] = []
        weak: list[_Weak] = []
        # Worked out on first use: most messages hold no candidate that needs a country.
        self._countries, self._texts = document, texts
        self._rejected: Counter[str] = Counter()
        self._deadline = deadline
        checked = self._bare_plausible.exact
        columns = _Columns()
        try:
            since_clock = _CLOCK_TEXTS  # the clock first, then after every few texts or spans
            for index, spans, rejected in self._candidates(texts):
                since_clock += 2 if spans is None else 1 + len(spans)
                if since_clock >= _CLOCK_TEXTS:
                    if self._late():
                        break
                    since_clock = 0
                segment = segments[index]
                if spans is None:
                    # The whole text is one bare ASCII run, and `rejected` says whether it fits a
                    # plan (`_candidates`): most of an API's values that hold a run at all.
                    text = texts[index]
                    if checked and segment.layout == "value" and columns.took_whole(segment, text, rejected, weak,
                                                                                    self._rejected):
                        continue
                    whole = [(0, len(text))]
                    spans, rejected = (whole, []) if rejected else ([], whole)
                if not spans and (segment.layout == "text" or field_says_phone(segment.field) is False):
                    # Only bare runs known to fit no plan: in text they matter only beside weak
                    # candidates of its own (none here); under an id's or a time's key, nowhere.
                    continue
                text = texts[index]
                if type(rejected) is bytes and segment.layout != "text":
                    rejected = list(_unpacked(rejected))  # a long value's: each counts in its column
                if checked and segment.layout == "value" and columns.took(segment, text, spans, rejected, weak,
                                                                          self._rejected):
                    continue
                norm = forms.get(index)
                self._scan_segment(segment, Normalized(text, text) if norm is None else norm, spans, rejected, checked,
                                   found, weak)
            found.extend(self._believed_by_siblings(columns.merged(weak, self._rejected)))
        finally:
            self._texts = []  # not kept alive until the next message
        return found

    def _scan_segment(self, segment: Segment, norm: Normalized, spans: list, rejected: list | bytes, checked: bool,
                      found: list, weak: list) -> None:
        text = norm.text
        if not spans and (not rejected or segment.layout == "text"):
            return  # rejected runs only matter in text as siblings of weak candidates
        field_hint = field_says_phone(segment.field)
        packed = None  # a long text's rejected runs (see _candidates), read if they are counted
        if field_hint is False:
            if not spans:
                return  # an id's or a time's value: not counted as a member of any column
            rejected = []
        elif type(rejected) is bytes:
            rejected, packed = [], rejected
        layout = _TextLayout(text) if segment.layout == "text" else None
        if layout is not None and checked and field_hint is not True and _worth_weighing is not None:
            # The bare runs `_weigh` would drop on their label or for want of one, left in C:
            # most of a beacon's or a log's, and those in a table's id and time columns.
            spans, layout.cells = _worth_weighing(text, spans, layout.delimiter or "", layout.column_hints,
                                                  layout.first_line_end, field_hint, ASCII_PHONE_WORDS)
        bare = self._bare_plausible
        weak_before = len(weak)
        for count, (start, end) in enumerate(spans):
            if count % _CLOCK_EVERY == 0 and count and self._late():
                break
            raw = text[start:end]
            # Most digit runs in ordinary traffic are bare (timestamps, ids, counters) and fit
            # no numbering plan of the policy's countries: one compiled check rejects them
            # before any per-number work. They still count as members of their column, so a
            # column of counters with a few valid numbers in it stays a column of counters.
            if raw.isdigit():
                if not raw.startswith("00") and not (checked and raw.isascii()) and bare.fullmatch(raw) is None:
                    if field_hint is not False and len(raw) >= _MIN_DIGITS:
                        rejected.append((start, end))
                    continue
            elif not (checked and raw.isascii()) and not raw.lstrip("( ").startswith(("+", "00")) and \
                    not _WHITESPACE.search(raw):
                # Written with separators but no spaces (`202.555.0143`, `8-912-345-67-89`): the
                # same check on its digits. Runs with spaces may hold a number and something
                # else (`13800138000 25`), so they go on to be split.
                # A dotted quad is an address, never a number (`_classify`, which it would reach whole).
                # The C scan made this check of ASCII runs already (`_candidates`).
                if _DECIMAL.match(raw) or _DOTTED_QUAD.match(raw) or bare.fullmatch(_NON_DIGIT.sub("", raw)) is None:
                    continue
            if raw.isdigit():
                # A bare run is one candidate; which countries its text points to is only
                # worked out if it is ever validated (see _resolve).
                if raw.startswith("00"):
                    self._classify(segment, norm, start, end, None, field_hint, layout, found, weak)
                else:
                    self._weigh(segment, norm, start, end, raw, None, field_hint, layout, found, weak)
                continue
            # A candidate holds no "T": only a space can stand between a date and its hour.
            if " " in raw and _TIMESTAMP_HEAD.match(raw) and _CLOCK_AFTER.match(text, end):
                continue  # `7187-08-09 15:23:42`, a date and its hour, grouped like a number of Kazakhstan
            if self._cannot_count(segment, text, start, end, raw, field_hint, layout):
                continue
            regions = self._preferred_regions(norm, start, end)
            for piece_start, piece_end in self._spans(text, start, end, regions):
                self._classify(segment, norm, piece_start, piece_end, regions, field_hint, layout, found, weak)
        if segment.layout != "text":
            # A value's group spans many segments: its members are only known at the end.
            for run_start, run_end in rejected:
                for group in self._groups(segment, text, run_start, run_end, layout):
                    self._rejected[group] += 1
        elif len(weak) > weak_before:
            runs = rejected if packed is None else itertools.chain(_unpacked(packed), rejected)
            self._count_rejected(segment, text, layout, weak[weak_before:], runs)

    def _cannot_count(self, segment: Segment, text: str, start: int, end: int, raw: str, field_hint: bool | None,
                      layout) -> bool:
        """True where no number inside a run written with separators could count, known
        before any reading of it is parsed: nothing labels it a phone (no field or column
        saying so, no phone word near enough for any part of it), it is not a list item, no
        part of it starts with "00", and no part fits the grouping of any policy country.
        What counts of such a run is a part that is valid and either labelled or grouped as
        its country writes it (`_classify`, `_weigh`): Russian and Arabic prose writes
        amounts, counts and dates this way, a parse per country each."""
        if not self._grouping.usable or "+" in raw or self._place_label(start, field_hint, layout) is True:
            return False
        # Only a run of one group of digits (`(1234567`) is read as a list item (`_weigh`): a
        # part of a spaced run never is, as the rest of the run stands next to it in its cell.
        if (_one_digit_group(raw) and self._groups(segment, text, start, end, layout)) or \
                self._part_may_be_grouped(raw):
            return False
        return not may_name_a_phone(text[max(0, start - _CONTEXT_BEFORE):end + _CONTEXT_AFTER])

    def _part_may_be_grouped(self, raw: str) -> bool:
        """Whether some run of consecutive space-separated parts of `raw`, any `_spans` may
        cut out, starts with "00" or may fit a country's grouping. Only digits the bare check
        admits are ever read as a number (`_spans`, `_scan_segment`)."""
        if not raw.isascii():
            return True  # `parse` reads other digits and spaces after normalising them; the checks here do not
        bare, grouping = self._bare_plausible, self._grouping
        if _grouped_parts is not None and bare.exact:
            # The same look in C, up to each country's fit of the parts the automaton accepts.
            found = _grouped_parts(raw, grouping.shapes, grouping.windows, bare.automaton.transitions,
                                   bare.automaton.accepting)
            return found is True or any(grouping.fits(part, countries) for part, countries in found)
        starts, fitting = grouping.windows(raw.translate(_DIGITS_AS_NINE))
        if not starts:
            return False
        digits = raw.encode("ascii").translate(None, _ASCII_NON_DIGITS).decode("ascii")  # 4x the pattern's speed
        for start in starts:
            if digits.startswith("00", start) and not digits.startswith("000", start):
                return True  # an international prefix counts without a label (`_classify`)
        automaton = bare.automaton if bare.exact else None
        for start, end, countries in fitting:
            part = digits[start:end]
            # The automaton asked directly: this runs for most spaced numbers in prose.
            fits = _accepts(part, automaton.transitions, automaton.accepting) if automaton is not None else None
            if (fits if fits is not None else bare.fullmatch(part) is not None) and grouping.fits(part, countries):
                return True
        return False

    def _candidates(self, texts: list[str]) -> Iterable[tuple[int, list, list | bytes]]:
        """For each text with any candidate, by its index: the candidate spans, and the bare
        runs already known to fit no plan (taken out of the spans), packed (`_unpacked`) for
        a text longer than _REJECTED_LISTED_UP_TO; for a text that is one bare ASCII run and
        nothing else, None and whether that run fits a plan. Whether the bare ASCII runs left
        in the spans are known to fit one is `_BareCheck.exact`."""
        automaton = self._bare_plausible.automaton
        if automaton is None:
            return ((index, spans, []) for index, text in enumerate(texts) if (spans := candidate_spans(text)))
        return _scan_all_checked(texts, automaton.transitions, automaton.accepting, _REJECTED_LISTED_UP_TO, True)

    def _count_rejected(self, segment: Segment, text: str, layout, weak: list[_Weak],
                        rejected: Iterable[tuple[int, int]]) -> None:
        """How many members of this text's columns fit no numbering plan, as far as that can
        still matter: a column with fewer than GROUP_MIN_SIZE candidates is no list however
        many members failed, and one whose failures already outnumber a fifth of its
        candidates cannot reach GROUP_MIN_VALID_SHARE. A table of counters stops costing
        anything once each of its columns is out."""
        candidates = Counter(group for item in weak for group in item.groups)
        room = {group: n * (1 - GROUP_MIN_VALID_SHARE) / GROUP_MIN_VALID_SHARE
                for group, n in candidates.items() if n >= GROUP_MIN_SIZE}
        counts = self._rejected
        for start, end in rejected:
            if not room:
                return
            for group in self._groups(segment, text, start, end, layout):
                if group in room:
                    counts[group] += 1
                    if counts[group] > room[group]:
                        del room[group]

    def _classify(self, segment, norm, start, end, regions, field_hint, layout, found, weak) -> None:
        text = norm.text
        raw = text[start:end]
        digits = _NON_DIGIT.sub("", raw)
        if len(digits) < _MIN_DIGITS or _DOTTED_QUAD.match(raw):
            return
        if raw.lstrip("( ").startswith("+"):
            number = _valid_international(_NON_DIGIT.sub("", _BRACKETED_TRUNK.sub("", raw, 1)))
            if number:
                found.append(self._finding(number, norm, start, end, segment.where))
            return
        idd = digits.startswith("00") and not digits.startswith("000")
        if idd:
            # "00" is the international prefix of every seed market: as strong as "+", and like
            # a "+" run it is one number or none.
            number = _valid_international(digits[2:])
            if number:
                found.append(self._finding(number, norm, start, end, segment.where))
            return
        if len(_DIGIT_GROUPS.findall(raw)) > 1:
            number, grouped = self._valid_local(raw, digits, regions, True)
            if number and (grouped or self._context(text, start, end, field_hint, layout)):
                found.append(self._finding(number, norm, start, end, segment.where))
            return
        self._weigh(segment, norm, start, end, digits, regions, field_hint, layout, found, weak)

    def _weigh(self, segment, norm, start, end, digits, regions, field_hint, layout, found, weak) -> None:
        """A run of digits with no international prefix and no grouping of its own: believed
        on its label, or later on its siblings."""
        text = norm.text
        hint = self._place_label(start, field_hint, layout)
        if hint is False:
            return
        groups = self._groups(segment, text, start, end, layout)
        # Without siblings only a phone label could make it count: the words around it are
        # read only where they could hold one (most numbers in logs and beacons have none).
        if hint is None and (groups or may_name_a_phone(text[max(0, start - _CONTEXT_BEFORE):end + _CONTEXT_AFTER])):
            hint = self._text_label(text, start, end)
        if hint is False:
            return
        if hint is None and not groups:
            return  # only siblings could vouch for it, and it has none (a number among words)
        weak_candidate = _Weak(norm, start, end, segment.where, digits, regions, groups)
        if hint:
            finding = self._resolve(weak_candidate)
            if finding:
                found.append(finding)
        else:
            # Validated later, and only if its siblings are worth looking at.
            weak.append(weak_candidate)

    def _late(self) -> bool:
        return self._deadline is not None and time.monotonic() > self._deadline

    @staticmethod
    def _groups(segment: Segment, text: str, start: int, end: int, layout) -> tuple[str, ...]:
        if layout is not None:
            return layout.groups_for(segment.where, start, end)
        # A field's value is a list item only when it is just the number (see _TextLayout).
        alone = not text[:start].strip(_CELL_PADDING) and not text[end:].strip(_CELL_PADDING)
        return (segment.group or segment.where,) if alone else ()

    @staticmethod
    def _context(text: str, start: int, end: int, field_hint: bool | None, layout) -> bool | None:
        """True: labelled a phone; False: labelled something else (id, time, money); None: no label."""
        hint = PhoneDetector._place_label(start, field_hint, layout)
        return PhoneDetector._text_label(text, start, end) if hint is None else hint

    @staticmethod
    def _place_label(start: int, field_hint: bool | None, layout) -> bool | None:
        """What the number's field or column header says of it."""
        if layout is None:
            return field_hint
        return _combine(field_hint, field_says_phone(layout.header_for(start)))

    @staticmethod
    def _text_label(text: str, start: int, end: int) -> bool | None:
        """What the words just around the number say of it."""
        # Every label, in every language, has a letter or a currency sign in it: numbers among
        # other numbers and punctuation (telemetry, tables of counters) have none to read.
        if _MAY_LABEL.search(text, max(0, start - _CONTEXT_BEFORE), end + _CONTEXT_AFTER):
            return text_label(text[max(0, start - _CONTEXT_BEFORE):start], text[end:end + _CONTEXT_AFTER])
        return None

    def _resolve(self, item: _Weak) -> Finding | None:
        if item.result is _UNRESOLVED:
            regions = item.regions or self._preferred_regions(item.norm, item.start, item.end)
            number = self._valid_local(item.digits, item.digits, regions, False)[0]
            item.result = self._finding(number, item.norm, item.start, item.end, item.where) if number else None
            item.country_code = number.country_code if number else 0
        return item.result

    def _believed_by_siblings(self, weak: list[_Weak]) -> list[Finding]:
        members: dict[str, list[_Weak]] = defaultdict(list)
        for item in weak:
            for group in item.groups:
                members[group].append(item)
        believed: dict[int, Finding] = {}
        for group, items in members.items():
            size = len(items) + self._rejected[group]
            if size >= GROUP_MIN_SIZE and self._is_phone_list(items, size):
                believed.update((id(i), i.result) for i in items if i.result)
        return list(believed.values())

    def _is_phone_list(self, items: list[_Weak], size: int) -> bool:
        """Most values valid phones of one country, and not bunched like consecutive ids. A
        customer list written without country codes is one country's list; random 10-digit
        counters are valid numbers too (90% of them, somewhere among the seed markets), but
        scattered over many countries. A sample decides first, so a column of ten thousand
        counters costs a few dozen validations."""
        if len(items) < GROUP_MIN_VALID_SHARE * size:
            return False  # too many members fit no numbering plan at all
        for sample in (items[:_GROUP_SAMPLE], items):
            valid = [i for i in sample if self._resolve(i)]
            countries = Counter(i.country_code for i in valid)
            agreeing = countries.most_common(1)[0][1] if countries else 0
            if agreeing < GROUP_MIN_VALID_SHARE * (size if sample is items else len(sample)):
                return False
            if len(sample) == len(items):
                break
        return not _looks_like_a_sequence(valid)

    def _valid_local(self, raw: str, digits: str, regions: _Regions, separated: bool):
        """(number, grouped) for a number written without an international prefix.

        Where it is valid in several regions, prefer the reading whose own digit grouping
        matches how it was written (exactly, then coarsely), then a region the surrounding text
        points to (the more specific hint first), then a mobile number (customer lists are
        mostly mobiles: with no other hint `0912 123 4567` is an Iranian mobile rather than a
        landline in one Chinese city), then a reading of all the digits over one that drops a
        trunk prefix or a country code (`13128994733` is a Chinese mobile, not `1 312 899 4733`
        in Chicago), then the policy's region order. A number written the way its country writes a toll-free or premium number
        (`1-800-555-0199`, `0800 123 4567`, `8 (800) 555-35-35`) is that business number,
        whatever other country could read the same digits as a mobile."""
        best, best_rank, business_fit = None, None, _NOT_GROUPED
        best_fit = _GROUPED_EXACTLY if separated else _NOT_GROUPED  # unwritten digits all fit alike
        for index, region in enumerate(regions.order):
            reading = _national_reading(digits, region)
            fit = _grouping_fit(raw, digits, reading) if separated and reading else _NOT_GROUPED
            if reading is None and separated and index < regions.hinted:
                # `912 345 6789` in a Persian line: the number as it follows +98, trunk left
                # off. Believed only for a country the text points to, grouped exactly so.
                reading = _national_reading(digits, region, trunk_optional=True)
                fit = _grouping_fit(raw, digits, reading) if reading else _NOT_GROUPED
                if fit != _GROUPED_EXACTLY:
                    continue
            if reading is None:
                continue
            if not _personal(reading):
                business_fit = min(business_fit, fit)
                continue
            stripped = len(digits) > len(phonenumbers.national_significant_number(reading))
            # Among hinted countries the more specific hint wins (Persian letters say Iran
            # before Arabic script says Saudi Arabia, the Emirates or Egypt).
            rank = (fit, min(index, regions.hinted), not _is_mobile(reading),
                    stripped and not digits.startswith("0"), index)
            if best_rank is None or rank < best_rank:
                best, best_rank = reading, rank
                if fit == best_fit and not rank[2] and not rank[3]:
                    # Grouped as well as any reading can be, a mobile, every digit read: a
                    # later country can at best tie on all that and then loses on its place.
                    break
        # A number stored without its "+", as spreadsheets and databases do (8613800138000,
        # 79161234567), competes with the national readings: in a Russian list 79161234567
        # is a Moscow mobile, not a landline in Nanchang. Ranked as ungrouped, it cannot beat
        # a reading that fits how the number was written.
        stored = _valid_international(digits) if (best_rank is None or best_rank[0] == _NOT_GROUPED) and \
            digits.startswith(self._stored_prefixes) else None
        if stored is not None and stored.country_code in self.region_codes:
            region = _facts(stored)[0]
            index = regions.order.index(region) if region in regions.order else len(regions.order)
            rank = (_NOT_GROUPED, min(index, regions.hinted), not _is_mobile(stored), True, index)
            if best_rank is None or rank < best_rank:
                best, best_rank = stored, rank
        if best is None:
            return None, False
        if business_fit == _GROUPED_EXACTLY and best_rank[0] != _GROUPED_EXACTLY:
            return None, False
        return best, best_rank[0] != _NOT_GROUPED

    def _any_valid(self, raw: str, regions: _Regions) -> bool:
        digits = _NON_DIGIT.sub("", raw)
        if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS + 2:
            return False
        if raw.lstrip("( ").startswith("+"):
            return _valid_international(digits) is not None
        if digits.startswith("00") and _valid_international(digits[2:]) is not None:
            return True
        # What _valid_local would accept, without ranking: a personal number in some
        # country, national or stored without its "+".
        if any(reading is not None and _personal(reading)
               for reading in (_national_reading(digits, region) for region in regions.order)):
            return True
        stored = _valid_international(digits) if digits.startswith(self._stored_prefixes) else None
        return stored is not None and stored.country_code in self.region_codes

    def _spans(self, text: str, start: int, end: int, regions: _Regions) -> list[tuple[int, int]]:
        """The candidate itself, or, when it is not a number but has spaces in it, the numbers
        inside it: `13800138000 25` is a phone and an age, `4111 1111 1111 1111` is neither
        (and nothing, when its digits fit no plan either).
        A run with an international prefix is one number or none."""
        raw = text[start:end]
        if not _WHITESPACE.search(raw) or raw.lstrip("( ").startswith(("+", "00")):
            return [(start, end)]
        whole = _NON_DIGIT.sub("", raw)
        # The compiled check first, as for each window below: Russian prose writes every
        # large number with spaces (`19 772 562`), and each would cost a parse per country.
        whole_plausible = whole.startswith("00") or self._bare_plausible.fullmatch(whole) is not None
        if whole_plausible and self._any_valid(raw, regions):
            return [(start, end)]
        pieces, position = [], start
        for gap in _WHITESPACE.finditer(raw):
            pieces.append((position, start + gap.start()))
            position = start + gap.end()
        pieces.append((position, end))
        piece_digits = [_NON_DIGIT.sub("", text[a:b]) for a, b in pieces]
        out, i = [], 0
        while i < len(pieces):
            best, digits = None, ""
            # A written number has at most a handful of groups (`8 912 345 67 89`).
            for j in range(i, min(len(pieces), i + _MAX_GROUPS)):
                digits += piece_digits[j]
                if len(digits) > _MAX_DIGITS + 2:
                    break
                # The compiled check first: `1 1 1 1 ...` must not cost a validation per window.
                if len(digits) < _MIN_DIGITS or self._bare_plausible.fullmatch(digits) is None:
                    continue
                if self._any_valid(text[pieces[i][0]:pieces[j][1]], regions):
                    best = j
            if best is None:
                i += 1
                continue
            out.append((pieces[i][0], pieces[best][1]))
            i = best + 1
        # With no number inside, the run goes on whole to be read as grouped, unless the
        # compiled check already refused its digits: no reading `_valid_local` could take fits.
        return out or ([(start, end)] if whole_plausible else [])

    def _preferred_regions(self, norm: Normalized, start: int, end: int) -> _Regions:
        o_start, o_end = norm.original_span(start, end)
        original = norm.original
        # Its own line only: in a CSV the next record may be in another language.
        line_start = original.rfind("\n", max(0, o_start - _SCRIPT_WINDOW), o_start) + 1
        line_end = original.find("\n", o_end, o_end + _SCRIPT_WINDOW)
        sample = original[max(line_start, o_start - _SCRIPT_WINDOW):line_end if line_end >= 0 else o_end + _SCRIPT_WINDOW]
        document = self._document_countries()
        hinted = [] if sample.isascii() else self._script_hints(sample, list(document.written))
        if len(hinted) <= len(document.written):
            return document.regions
        return _Regions((*hinted, *(r for r in self.regions if r not in hinted)), len(hinted))

    def _document_countries(self) -> DocumentCountries:
        if self._countries is None:
            self._countries = self._countries_of(self._texts)
        return self._countries

    def _script_hints(self, sample: str, hinted: list[str] | None = None) -> list[str]:
        hinted = [] if hinted is None else hinted
        highest = max(sample, default="")
        for pattern, regions, lowest in _SCRIPT_HINTS:
            if highest >= lowest and pattern.search(sample):
                # Among the countries one script points to, the policy's order decides.
                hinted.extend(r for r in self.regions if r in regions and r not in hinted)
        return hinted

    def document_countries(self, segments: list[tuple[Segment, Normalized]]) -> DocumentCountries:
        """The countries the message as a whole points to, for numbers whose own line says
        nothing: a JSON record's phone field has no script around it, but the record's name
        field is in Persian, or the list's other numbers are written with +98."""
        return self._countries_of([norm.text for _, norm in segments])

    def _countries_of(self, texts: list[str]) -> DocumentCountries:
        """`document_countries`, of the normal forms' texts."""
        sample, size = [], 0
        # A JSON document is thousands of short values: they are taken a few hundred at a
        # time, and one at a time only in the batch that fills the sample.
        for begin in range(0, len(texts), 256):
            pieces = [text[:_DOCUMENT_SAMPLE_PER_SEGMENT] for text in texts[begin:begin + 256]]
            batch = sum(map(len, pieces))
            if size + batch < _DOCUMENT_SAMPLE:
                sample += pieces
                size += batch
                continue
            for piece in pieces:
                sample.append(piece)
                size += len(piece)
                if size >= _DOCUMENT_SAMPLE:
                    break
            break
        text = "\n".join(sample)
        # Without a "+" only the "00" form can match: alone, its pattern opens with a literal
        # that the engine searches for, five times faster over an API's digits.
        pattern = _COUNTRY_CODE_WRITTEN if "+" in text else _COUNTRY_CODE_AFTER_00
        written = Counter(int(code) for code in pattern.findall(text))
        # The countries the message's own international numbers name come first, even before
        # the script of a number's line: Arabic script says SA, AE or EG; +20 says Egypt.
        written_countries = tuple(
            region for code, count in written.most_common() if count >= _DOCUMENT_MIN_CODES
            for region in self.regions if _country_code(region) == code)
        hinted = list(written_countries)
        if not text.isascii():
            self._script_hints(text, hinted)
        return DocumentCountries(written_countries,
                                 _Regions((*hinted, *(r for r in self.regions if r not in hinted)), len(hinted)))

    @staticmethod
    def _finding(number, norm: Normalized, start: int, end: int, where: str) -> Finding:
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        o_start, o_end = norm.original_span(start, end)
        return Finding(PHONE, e164, norm.original[o_start:o_end], where, o_start, o_end)


def _combine(first: bool | None, second: bool | None) -> bool | None:
    if first is True or second is True:
        return True
    if first is False or second is False:
        return False
    return None


class _TextLayout:
    """Lines and columns of free text, worked out only when a weak candidate needs them."""

    _DELIMITERS = ("\t", ",", ";", "|")

    _PREAMBLE_LINES = 3  # a title or a blank line may stand above the table (an HTML page's <title>)

    def __init__(self, text: str):
        self.text = text
        first_end = text.find("\n")
        self.single_line = first_end < 0 or not text[first_end:].strip()
        self.delimiter, self.header, self.first_line_end = None, None, first_end if first_end >= 0 else len(text)
        start = 0
        for _ in range(self._PREAMBLE_LINES + 1):
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            line = text[start:end]
            counts = {d: line.count(d) for d in self._DELIMITERS}
            if max(counts.values()):
                # The first line with delimiters is the header row, when it holds no numbers.
                self.delimiter = max(counts, key=counts.get)
                self.first_line_end = end
                if not any(c.isdigit() for c in line):
                    self.header = line.split(self.delimiter)
                break
            if end >= len(text):
                break
            start = end + 1

    @functools.cached_property
    def column_hints(self) -> tuple[bool | None, ...] | None:
        """What each column's header says, as `header_for` reads it; None without a header."""
        if self.header is None:
            return None
        return tuple(field_says_phone(name.strip(" \"'")) for name in self.header)

    # A text's runs are asked about in order, most of them several to a line: the line and
    # the column reached are remembered, so that a line of megabytes is read once, not once
    # for each of its runs.
    _line = (-1, -1)
    _column_reached = (-1, -1, 0)  # line start, offset, delimiters between them

    def _line_start(self, offset: int) -> int:
        start, end = self._line
        if not start <= offset <= end:
            start = self.text.rfind("\n", 0, offset) + 1
            end = self.text.find("\n", offset)
            self._line = (start, len(self.text) if end < 0 else end)
        return start

    def _column(self, line_start: int, offset: int) -> int:
        if not self.delimiter:
            return 0
        start, reached, column = self._column_reached
        if start != line_start or offset < reached:
            reached, column = line_start, 0
        column += self.text.count(self.delimiter, reached, offset)
        self._column_reached = (line_start, offset, column)
        return column

    # What the C filter of the spans (`_worth_weighing`) read of each run it kept, by its
    # start: (end, column, whether it is its cell's whole value).
    cells: dict[int, tuple[int, int, bool]] = {}

    def _column_at(self, offset: int) -> int:
        cell = self.cells.get(offset)
        return cell[1] if cell is not None else self._column(self._line_start(offset), offset)

    def header_for(self, offset: int) -> str:
        if self.header is None or offset <= self.first_line_end:
            return ""
        column = self._column_at(offset)
        return self.header[column].strip(" \"'") if column < len(self.header) else ""

    def groups_for(self, where: str, start: int, end: int) -> tuple[str, ...]:
        """A one-line text is one list (`13800138000, 13912345678, ...`); in longer text the
        siblings are the values of the same column (all of them, if there are no columns).
        Only a number that is its cell's whole value is a list item: in code and prose
        (`started = 1717171717`, `达到1234567890元`) numbers stand among words, not in a list."""
        cell = self.cells.get(start)
        if not (cell[2] if cell is not None and cell[0] == end else self._alone(start, end)):
            return ()
        if self.single_line:
            return (f"{where}#line",)
        return (f"{where}#column{cell[1] if cell is not None else self._column_at(start)}",)

    def _alone(self, start: int, end: int) -> bool:
        """Only padding between the run and its cell's ends (a delimiter, a line break, the
        text's ends), read outwards from the run: it stops at the first other character."""
        text, delimiter = self.text, self.delimiter
        i = start - 1
        while i >= 0 and text[i] != "\n" and text[i] != delimiter:
            if text[i] not in _CELL_PADDING:
                return False
            i -= 1
        i = end
        while i < len(text) and text[i] != "\n" and text[i] != delimiter:
            if text[i] not in _CELL_PADDING:
                return False
            i += 1
        return True


# Characters of a text up to which the C scan lists its rejected runs as tuples: beyond, in a
# table of counters or a log, a hundred thousand of them cost as much to list as the scan,
# and outside a JSON value or a form field they are only read next to a weak candidate, as
# far as its columns can still be lists (`_count_rejected`).
_REJECTED_LISTED_UP_TO = 4096


def _unpacked(packed: bytes) -> Iterator[tuple[int, int]]:
    """The (start, end) spans of runs the C scan packed as int64 start, end, start, end..."""
    numbers = iter(memoryview(packed).cast("q"))
    return zip(numbers, numbers)


class _Columns:
    """Unlabelled values that are a bare number and nothing else (`"metrics": [1717171717,
    ...]`, a spreadsheet column without a header), counted by their group before any work per
    value: such a value can only ever be believed on its siblings, and most groups of them
    (counters, ids, amounts) hold too many numbers that fit no plan to be a list of phones.
    Only the members of a group that could still be one become weak candidates, in the place
    among the others they would have had; the rest cost a count. `_scan_segment` gives the
    same weak candidates and counts for them, one value at a time."""

    __slots__ = ("members", "taken")

    def __init__(self):
        self.members: dict[str, list[tuple[int, int, str, str]]] = defaultdict(list)
        self.taken = 0

    def took(self, segment: Segment, text: str, spans: list, rejected: list, weak: list[_Weak],
             counts: Counter) -> bool:
        """Whether the value (its normal form's `text`) was taken as a member of its group or
        counted as one fitting no plan; only an ASCII one can be, its own normal form."""
        whole = (0, len(text))
        if spans:
            if rejected or len(spans) != 1 or spans[0] != whole:
                return False
        elif len(rejected) != 1 or rejected[0] != whole or len(text) < _MIN_DIGITS:
            return False
        return text.isdigit() and text.isascii() and self.took_whole(segment, text, bool(spans), weak, counts)

    def took_whole(self, segment: Segment, text: str, fits: bool, weak: list[_Weak], counts: Counter) -> bool:
        """`took` of a value whose text is one bare ASCII run of _MIN_DIGITS or more, which
        `fits` a plan or not."""
        if text.startswith("00") or field_says_phone(segment.field) is not None:
            return False
        group = segment.group or segment.where
        if fits:
            # Where it would have gone among the weak candidates (the list only grows), and
            # its order among the members taken at that place.
            self.members[group].append((len(weak), self.taken, text, segment.where))
            self.taken += 1
        else:
            counts[group] += 1
        return True

    def merged(self, weak: list[_Weak], counts: Counter) -> list[_Weak]:
        if not self.members:
            return weak
        others = Counter(group for item in weak for group in item.groups)
        kept = []
        for group, members in self.members.items():
            candidates = len(members) + others[group]
            size = candidates + counts[group]
            if size >= GROUP_MIN_SIZE and candidates >= GROUP_MIN_VALID_SHARE * size:
                # A member's normal form is only made for the members of a group kept.
                kept.extend((at, order, _Weak(Normalized(text, text), 0, len(text), where, text, None, (group,)))
                            for at, order, text, where in members)
        if not kept:
            return weak
        kept.sort(key=lambda member: member[:2])
        out, taken = [], 0
        for at, _, item in kept:
            out.extend(weak[taken:at])
            taken = max(taken, at)
            out.append(item)
        out.extend(weak[taken:])
        return out


def _looks_like_a_sequence(items: list[_Weak]) -> bool:
    """Consecutive ids (orders 15012345601, ...602, ...) are valid numbers too, but bunched up."""
    values = sorted({i.value for i in items})
    return len(values) > 1 and (values[-1] - values[0]) < 100 * len(values)
