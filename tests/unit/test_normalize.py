import pytest

from dlp_addon.normalize import normalize


@pytest.mark.parametrize("text, normalized", [
    ("plain ascii 123", "plain ascii 123"),
    ("٠١٢٣٤٥٦٧٨٩", "0123456789"),  # Arabic-Indic
    ("۰۱۲۳۴۵۶۷۸۹", "0123456789"),  # Persian
    ("०१२३४५६७८९", "0123456789"),  # Devanagari
    ("০১২৩", "0123"),  # Bengali
    ("０１２３＠＋．", "0123@+."),  # fullwidth
    ("𝟏𝟐𝟑", "123"),  # mathematical bold digits
    ("a\u00a0b\u3000c", "a b c"),
    ("1\u20132\u22123", "1-2-3"),
    ("jo\u200bhn\u200d@ex\u2060ample\u202e.com\ufeff", "john@example.com"),
])
def test_one_spelling_for_detectors(text, normalized):
    assert normalize(text).text == normalized


def test_spans_map_back_to_the_original_text():
    original = "x \u200ftel: +٩٧١\u200c ٥٠ 123"
    norm = normalize(original)
    start = norm.text.index("+")
    end = len(norm.text)
    assert norm.text[start:end] == "+971 50 123"
    assert norm.original_text(start, end) == "+٩٧١\u200c ٥٠ 123"


def test_every_mapped_character_is_found_by_the_fast_scan():
    from dlp_addon.normalize import _MAPPABLE_RUNS, _table

    missing = [hex(code) for code in _table() if not _MAPPABLE_RUNS.fullmatch(chr(code))]
    assert missing == []


def test_a_longer_spelling_read_as_one_character_still_maps_back():
    from dlp_addon.normalize import substitute

    original = "iv\u200ban [at] mail [dot] ru!"
    norm = normalize(original)
    assert norm.text == "ivan [at] mail [dot] ru!"
    rewritten = substitute(norm, [(4, 10, "@"), (14, 21, ".")])
    assert rewritten.text == "ivan@mail.ru!"
    assert rewritten.original_text(0, 12) == "iv\u200ban [at] mail [dot] ru"
    assert rewritten.original_text(5, 9) == "mail" and rewritten.original_text(12, 13) == "!"


def test_substitute_on_text_that_had_nothing_deleted():
    from dlp_addon.normalize import substitute

    rewritten = substitute(normalize("a (at) b.com"), [(1, 7, "@")])
    assert rewritten.text == "a@b.com" and rewritten.original_text(0, 7) == "a (at) b.com"


def _native():
    import importlib
    import os

    if os.environ.get("DLP_REQUIRE_NATIVE"):  # set by .ci/run, where a compiler is known to be
        return importlib.import_module("dlp_addon._normalize")
    return pytest.importorskip("dlp_addon._normalize", reason="the C mapping was not built (no compiler)")


def test_the_c_mapping_gives_what_the_patterns_give_for_every_code_point():
    import sys
    from array import array

    from dlp_addon import normalize as module

    _native()
    every = array("I", range(0x80, 0xD800))
    every.extend(range(0xE000, sys.maxunicode + 1))
    characters = every.tobytes().decode("utf-32-le" if sys.byteorder == "little" else "utf-32-be")
    changed = 0
    for start in range(0, len(characters), 4096):
        # Every character between ASCII ones too, so that runs start and end anywhere.
        chunk = "a".join(characters[start:start + 4096])
        native, by_patterns = normalize(chunk), module._normalize_by_patterns(chunk)
        assert native == by_patterns
        changed += native.text != chunk
    assert changed >= 10  # chunks holding a mapped or deleted character
    for text in ("\ud800 lone \udfff surrogates ٣", "٣" * 5 + "\u200b" * 5, "\u200b", "x\ufeff"):
        assert normalize(text) == module._normalize_by_patterns(text)


def test_the_c_mapping_on_seeded_prose_of_every_script():
    import random

    from dlp_addon import normalize as module

    _native()
    rng = random.Random(3)
    alphabet = ("abc 12@.+-" "тел мобильный" "电话手机" "هاتف جوال" "تلفن همراه" "फ़ोन" "٠١٢٣٤٥٦٧٨٩" "۰۱۲۳۴۵۶۷۸۹"
                "०१२३४५६७८९" "０１２３＠．＋" "\u200b\u200c\u200d\u200e\u200f\u2066\u2069\u00ad\ufeff"
                "\u00a0\u2009\u3000\u2010\u2212\ufe6b\u066b\u066c\u060c" "😀\U000E0020\U0001D7CE")
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        native, by_patterns = normalize(text), module._normalize_by_patterns(text)
        assert native == by_patterns, text
        assert native.original_span(0, len(native.text)) == by_patterns.original_span(0, len(by_patterns.text))


def test_the_c_mapping_reads_no_page_its_table_does_not_hold():
    # The index is checked where it is read, not whole on every call: a block that names a
    # page beyond `pages` is read as unchanged, and the characters before a change are kept.
    from array import array

    native = _native()
    index = array("H", bytes(2 * 0x1100))
    index[0x06] = 7  # Arabic's block, on a page that is not there
    index[0x20] = 1
    pages = array("I", bytes(4 * 256 * 2))
    pages[256 + 0x0B] = 0xFFFFFFFF  # U+200B deleted
    text = "٣ tel ٣"
    assert native.map_text(text, index.tobytes(), pages.tobytes()) == (text, None)
    mapped, offsets = native.map_text("٣\u200b٣", index.tobytes(), pages.tobytes())
    assert mapped == "٣٣" and array("I", offsets).tolist() == [0, 2]


@pytest.mark.parametrize("text, normalized", [
    ("a\u00a0b", "a b"),  # Latin-1 to ASCII
    ("é\u00a0b", "é b"),  # stays Latin-1
    ("٣ a", "3 a"),  # two bytes a character to ASCII
    ("ж\u2013٣", "ж-3"),  # stays two bytes
    ("ü\u2013٣", "ü-3"),  # two bytes to Latin-1
    ("𝟏 ж", "1 ж"),  # four bytes to two
    ("𝟏 a\u200b", "1 a"),  # four bytes to ASCII, with a deletion
    ("😀𝟏", "😀1"),  # stays four bytes
])
def test_the_mapped_text_is_made_in_the_width_its_characters_need(text, normalized):
    # A str must be in the narrowest width its characters allow: `isascii`, hashing and
    # comparison all rely on it, and the mapping writes at the original's width first.
    import sys

    result = normalize(text).text
    assert result == normalized and result.isascii() == normalized.isascii()
    assert sys.getsizeof(result) == sys.getsizeof("".join(list(normalized)))
    assert hash(result) == hash(normalized) and {result: 1}[normalized] == 1
