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
