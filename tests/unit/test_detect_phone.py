import random

import pytest

from dlp_addon.detect.phone import PhoneDetector, canonical_phone
from dlp_addon.model import Segment
from dlp_addon.normalize import normalize

REGIONS = ("US", "GB", "CN", "RU", "IR", "SA", "AE", "EG", "IN")
DETECTOR = PhoneDetector(REGIONS)


def phones(text, layout="text", field="", group=""):
    segment = Segment(text, "t", field=field, group=group, layout=layout)
    return [(f.normalized, f.raw) for f in DETECTOR.find([(segment, normalize(text))])]


@pytest.mark.parametrize("text, e164", [
    ("+86 138 0013 8000", "+8613800138000"),
    ("+8613800138000", "+8613800138000"),
    ("0086 138 0013 8000", "+8613800138000"),
    ("138 0013 8000", "+8613800138000"),
    ("(202) 555-0143", "+12025550143"),
    ("+1 202-555-0143 ext 12", "+12025550143"),
    ("8 (912) 345-67-89", "+79123456789"),
    ("+7 (912) 345-67-89", "+79123456789"),
    ("07911 123456", "+447911123456"),
    ("+44 7911 123456", "+447911123456"),
    ("0912 123 4567", "+989121234567"),
    ("۰۹۱۲ ۱۲۳ ۴۵۶۷", "+989121234567"),  # Persian digits
    ("+٩٦٦ ٥٠ ١٢٣ ٤٥٦٧", "+966501234567"),  # Arabic-Indic digits
    ("+971 50 123 4567", "+971501234567"),
    ("+20 10 12345678", "+201012345678"),
    ("98765 43210", "+919876543210"),
    ("＋８６ １３８ ００１３ ８０００", "+8613800138000"),  # fullwidth
    ("+86\u00a0138\u00a00013\u00a08000", "+8613800138000"),  # no-break spaces
])
def test_international_and_nationally_grouped_numbers_count_on_their_own(text, e164):
    assert [n for n, _ in phones(text)] == [e164]


@pytest.mark.parametrize("text", [
    "13800138000",  # a bare digit run could be an order number
    "order 2025550143", "ts=1700000000123", "1700000000", "192.168.100.200", "10.0.19045.3803",
    "2024-01-15 10:30:45", "2024-01-15T10:30:00Z", "12/25/2024", "price 1 234 567,89 ₽", "$1,234,567.89",
    "4111 1111 1111 1111", "550e8400-e29b-41d4-a716-446655440000", "sha 9f86d081884c7d659a2feaa0c55ad015",
    "7911 123456",  # a UK mobile is never written without its trunk 0
    "SKU-13800138000", "v13800138000", "3.14159265358979", "1920x1080",
    # Dates and their hours, grouped the way Kazakhstan writes 8 (7187) 08 09 15:
    "Gecko/7187-08-09 15:23:42.527008 Firefox/3.8", "7187/08/09 15:23", "09.08.7187 15:23",
    "2019-07-18 09:12:30",
])
def test_digit_runs_that_are_not_phones(text):
    assert phones(text) == []


def test_a_number_grouped_like_a_date_is_still_one_without_a_time_after_it():
    assert phones("Call 7187-08-09 15 tomorrow") == [("+77187080915", "7187-08-09 15")]
    assert phones("тел. 8 (7187) 08 09 15: звонить после обеда") == [("+77187080915", "8 (7187) 08 09 15")]


@pytest.mark.parametrize("text, e164", [
    ("手机：13800138000", "+8613800138000"),
    ("联系电话13800138000谢谢", "+8613800138000"),
    ("Call me on 2025550143", "+12025550143"),
    ("тел. 89123456789", "+79123456789"),
    ("جوال 0501234567", "+966501234567"),
    ("تلفن همراه ۰۹۱۲۱۲۳۴۵۶۷", "+989121234567"),
    ("मोबाइल 9876543210", "+919876543210"),
])
def test_a_phone_word_makes_a_bare_number_count(text, e164):
    assert [n for n, _ in phones(text)] == [e164]


def test_field_names_are_context():
    assert phones("8613800138000", layout="value", field="mobilePhone") == [("+8613800138000", "8613800138000")]
    assert phones("13800138000", layout="value", field="手机号") == [("+8613800138000", "13800138000")]
    assert phones("13800138000", layout="value", field="order_id") == []
    assert phones("13800138000", layout="value", field="comment") == []


def test_column_of_phones_counts_without_header_but_ids_do_not():
    listing = "Li,13800138000\nWang,13912345678\nZhao,13712137111\n"
    assert len(phones(listing)) == 3
    ids = "15012345601\n15012345602\n15012345603\n15012345604\n"
    assert phones(ids) == []  # valid numbers, but bunched like consecutive ids
    counters = "2025550143,17\n9051234567,4\n1234567890,9\n5555555555,1\n7654321098,2\n"
    assert phones(counters) == []  # some happen to be valid, most are not: not a phone column


def test_header_names_the_column():
    table = "name,телефон,city\nIvan,89123456789,Moscow\n"
    assert phones(table) == [("+79123456789", "89123456789")]
    table = "name,order_no\nIvan,89123456789\nOleg,89161234567\nAnna,89031234567\n"
    assert phones(table) == []


def test_sibling_json_values_count_together():
    values = ["13800138000", "13912345678", "13712137111"]
    found = []
    segments = [(Segment(v, f"$.rows[{i}].c", group="$.rows[*].c", layout="value"), normalize(v))
                for i, v in enumerate(values)]
    found = DETECTOR.find(segments)
    assert len(found) == 3
    assert DETECTOR.find(segments[:2]) == []  # two are not yet a list


def test_long_runs_are_split_at_spaces():
    assert phones("tel 13800138000 25") == [("+8613800138000", "13800138000")]


def test_masked_sample_source_is_the_original_spelling():
    [(e164, raw)] = phones("رقم الجوال: \u200f+٩٦٦ ٥٠ ١٢٣ ٤٥٦٧")
    assert e164 == "+966501234567"
    assert raw == "+٩٦٦ ٥٠ ١٢٣ ٤٥٦٧"


@pytest.mark.parametrize("text, e164", [
    ("13800138000", "+8613800138000"), ("+44 7911 123456", "+447911123456"),
    ("0044 7911 123456", "+447911123456"), ("not a number", None),
])
def test_canonical_phone_for_known_phone_lines(text, e164):
    assert canonical_phone(text, REGIONS) == e164


# Found by the corpus tests (tests/corpus): each was a miss or a false phone before.
@pytest.mark.parametrize("text, expected", [
    ("name,phone,age\nAnn,+1 202-555-0143,35\nBob,+1 202-555-0144,36", ["+12025550143", "+12025550144"]),
    ("+86 130 9525 4344,1436303067@qq.com", ["+8613095254344"]),
    ("+44(0)20 7946 0018", ["+442079460018"]),
    ("+44 (0)1914960061", ["+441914960061"]),
    ("00447541581597", ["+447541581597"]),
    ("Call us: 1-800-555-0199", []),  # toll-free in the US, not a Chinese mobile
    ("тел. 8 (800) 555-35-35", []),
    ("call 0800 123 4567", []),
    ("x = 1\nstarted = 1717171717\nids = [2234567504, 6044567502]", []),  # numbers among words are no list
    ("达到1234567890元 达到1234567891元 达到1234567800元", []),
    ("check order 2234567504", []),
    ("订单号：13800138000", []),
    ("called from 2025550143", ["+12025550143"]),
])
def test_corpus_regressions(text, expected):
    assert [n for n, _ in phones(text)] == expected


@pytest.mark.parametrize("text, field, e164", [
    ("13128994733", "phone", "+8613128994733"),  # a Chinese mobile, not Chicago with its trunk 1
    ("03 7146503", "phone", "+2037146503"),  # exact Egyptian grouping beats a coarse UAE one
    ("79161234567", "phone", "+79161234567"),  # a Russian mobile stored without "+", not a Nanchang landline
    ("8613800138000", "phone", "+8613800138000"),
])
def test_reading_that_fits_best_wins(text, field, e164):
    assert [n for n, _ in phones(text, layout="value", field=field)] == [e164]


def test_random_counters_valid_in_scattered_countries_are_not_a_phone_list():
    rng = random.Random(1)
    column = "\n".join(str(rng.randrange(10**9, 10**10)) for _ in range(30))
    assert phones("counter\n" + column) == []


def test_the_messages_own_international_numbers_choose_the_country_of_its_national_ones():
    rows = "\n".join(f"+20 3 {n},0{3}{n}" for n in ("5815726", "8195663", "5072369"))
    found = {n for n, _ in phones("phone,alt\n" + rows.replace("0{3}", "03"))}
    assert found == {"+2035815726", "+2038195663", "+2035072369"}


@pytest.mark.parametrize("text", [
    "程序有关如此还有还是产品手机. 2018年营收增长28.3%，达到3174758802元。",  # a label in another sentence, an amount
    "phone support: our revenue reached 3174758802 USD",
    "全市人口为7350699283人",
])
def test_labels_do_not_reach_across_numbers_and_amounts_are_not_phones(text):
    assert phones(text) == []


def test_countries_that_share_a_policy_countrys_code_count_written_bare():
    # Canada shares +1 with the US and Kazakhstan +7 with Russia: a column of their numbers
    # without "+" is read as it is written, not rejected by the first check of digit runs.
    canada = ["3066918122", "4165550198", "6045550134", "5148675309"]
    kazakhstan = ["87012345678", "87771234567", "87051234567", "87471234567"]
    assert [e for e, _ in phones("\n".join(canada))] == ["+1" + n for n in canada]
    assert [e for e, _ in phones("\n".join(kazakhstan))] == ["+7" + n[1:] for n in kazakhstan]


def test_a_number_dialled_back_from_abroad_reads_the_same_with_or_without_spaces():
    assert phones("тел. 810 7 912 345 67 89") == [("+79123456789", "810 7 912 345 67 89")]
    assert phones("тел. 81079123456789") == [("+79123456789", "81079123456789")]


def test_a_country_whose_trunk_prefix_is_rewritten_is_not_cut_short_by_the_first_check():
    # Argentina's mobiles are written with the trunk prefix and 15 around the area code;
    # libphonenumber rewrites that into +54 9 ..., which no shape of the plans spells out.
    argentina = PhoneDetector(("AR",))
    text = "celular 011 15 2345-6789"
    found = argentina.find([(Segment(text, "t"), normalize(text))])
    assert [f.normalized for f in found] == ["+5491123456789"]


def test_a_spaced_number_whose_digits_fit_no_plan_is_not_read_as_grouped(monkeypatch):
    # Russian prose writes every large number with spaces. When the digits of the whole run fit
    # no policy country's plan (the compiled check), no reading of it can be a number, so it
    # is not handed on to be read as a grouped number in each country.
    from dlp_addon.detect import phone

    amounts = ["4 226 263", "29 069 642", "10 375 313"]
    assert all(DETECTOR._bare_plausible.fullmatch(phone._NON_DIGIT.sub("", a)) is None for a in amounts)
    read_as_grouped = []
    original = PhoneDetector._valid_local

    def noting(self, raw, *args):
        read_as_grouped.append(raw)
        return original(self, raw, *args)

    monkeypatch.setattr(PhoneDetector, "_valid_local", noting)
    text = "Население города - {} человек, выросла до {} руб. Звоните 8 912 345-67-89, итого {}."
    assert phones(text.format(*amounts)) == [("+79123456789", "8 912 345-67-89")]
    assert read_as_grouped == ["8 912 345-67-89"]


def test_the_cheap_look_for_phone_words_misses_no_label():
    # A number with no siblings is only read for a phone label where `may_name_a_phone` says
    # its surroundings could hold one: wherever the window around a number is cut, every
    # text in which `text_label` finds a phone word must pass that look.
    from dlp_addon.detect import phone_context

    rng = random.Random(11)
    words = [*phone_context._PHONE_NOUNS, *phone_context._PHONE_VERBS, *phone_context._PHONE_STEMS,
             "hotel", "Tel.", "PHONES", "5tel", "xcall", "номер", "order"]
    filler = ["a", " ", "=", "&", "1", ".", ":", "_", "\n", "-", "中", "и", "ي"]
    labelled = 0
    for _ in range(20_000):
        text = "".join(rng.choice((rng.choice(words), rng.choice(words).upper(), rng.choice(filler)))
                       for _ in range(rng.randint(1, 6)))
        for start in range(0, len(text) + 1, 2):
            for end in range(start, len(text) + 1, 3):
                before, after = text[start:(start + end) // 2], text[(start + end) // 2:end]
                if phone_context.text_label(before, after) is True:
                    labelled += 1
                    assert phone_context.may_name_a_phone(text[start:end]), (before, after)
    assert labelled > 10_000
    assert not phone_context.may_name_a_phone("&sid=1717171717&sct=12&seg=1&_et=5000&tfd=")


def test_a_number_alone_in_its_line_of_words_counts_only_with_a_phone_word():
    detector = PhoneDetector(("CN", "RU", "US"))
    line = "v=2&gtm=45je4&_p={}&ul=zh-cn&sid={}&en=page_view&{}={}&seg=1"
    texts = [line.format(1717171717123, 1717171717, "x", 13912345678),
             line.format(1717171717123, 1717171717, "tel", 13912345678),
             line.format(1717171717123, 1717171717, "mobile", 13912345678)]
    found = [[f.normalized for f in detector.find([(Segment(t, "body"), normalize(t))])] for t in texts]
    assert found == [[], ["+8613912345678"], ["+8613912345678"]]


def test_bare_values_counted_by_column_first_give_what_one_at_a_time_gives():
    # Unlabelled values that are only a number are counted by their group before any work
    # per value (phone._Columns); the findings, in their order, are those of reading them one
    # at a time, also where other members of the same groups are read the usual way.
    from dlp_addon.detect import phone

    rng = random.Random(5)
    detector = PhoneDetector(("CN", "RU", "US", "IN"))

    def member(kind: str) -> str:
        if kind == "phone":
            return rng.choice(["139", "138", "186"]) + "%08d" % rng.randrange(10 ** 8)
        if kind == "ru":
            return "7916" + "%07d" % rng.randrange(10 ** 7)
        if kind == "padded":
            return " 139%08d " % rng.randrange(10 ** 8)
        if kind == "counter":
            return str(rng.randrange(10 ** 6, 10 ** 12))
        return str(rng.randrange(10 ** 9, 10 ** 10))

    compared = believed = 0
    for _ in range(300):
        segments = []
        for column in range(rng.randint(1, 4)):
            kinds = rng.choice([["phone"], ["phone", "counter"], ["counter"], ["ru", "phone"], ["phone", "padded"],
                                ["id"], ["phone", "phone", "phone", "counter"]])
            field = rng.choice(["", "values", "n", "phone", "order_id"])
            for row in range(rng.randint(1, 12)):
                text = member(rng.choice(kinds))
                segments.append(Segment(text, f"body:json:$[{row}].c{column}", field, f"body:json:$[*].c{column}",
                                        "value"))
        rng.shuffle(segments)
        pairs = [(s, normalize(s.text)) for s in segments]
        by_column = [(f.normalized, f.where, f.start) for f in detector.find(pairs)]
        took = phone._Columns.took
        phone._Columns.took = lambda *args: False
        try:
            one_at_a_time = [(f.normalized, f.where, f.start) for f in detector.find(pairs)]
        finally:
            phone._Columns.took = took
        assert by_column == one_at_a_time
        compared += 1
        believed += bool(by_column)
    assert compared == 300 and believed > 50


def test_bare_runs_left_in_c_are_those_weighing_would_drop():
    # `_phone_runs.worth_weighing` takes out of a free text's spans the bare runs `_weigh`
    # would drop without a trace; the findings, in their order, are those of weighing all.
    from dlp_addon.detect import phone

    if phone._worth_weighing is None:
        pytest.skip("the C scan was not built")
    rng = random.Random(8)
    detector = PhoneDetector(("CN", "RU", "US", "IN", "IR"))
    numbers = ["13912345678", "79161234567", "2025550143", "9123456789", "1717171717", "86912345678",
               "00861391234567", "+86 139 1234 5678", "8 912 345-67-89"]
    words = ["tel", "Phone", "mobile", "id", "order", "ts", "cid", "x", "sms", "тел", "手机", "sku", "", "total"]
    compared = found = 0
    for _ in range(400):
        delimiter = rng.choice([",", "\t", ";", "|", "&", " "])
        header = delimiter.join(rng.choice(words) or "c" for _ in range(rng.randint(1, 5)))
        lines = [header] if rng.random() < 0.6 else []
        for _ in range(rng.randint(1, 15)):
            cells = []
            for _ in range(rng.randint(1, 5)):
                cell = rng.choice(numbers) if rng.random() < 0.7 else rng.choice(words)
                if rng.random() < 0.3:
                    cell = rng.choice(words) + rng.choice(["=", ": ", " ", "(", "\"", ""]) + cell
                cells.append(cell)
            lines.append(delimiter.join(cells))
        text = rng.choice(["\n", "\r\n"]).join(lines)
        field = rng.choice(["", "note", "order_id", "phone"])
        pairs = [(Segment(text, "body", field), normalize(text))]
        # With the columns and cells the filter read handed to the layout, and without.
        filtered = [(f.normalized, f.start, f.end) for f in detector.find(pairs)], sorted(detector._rejected.items())
        saved = phone._worth_weighing
        phone._worth_weighing = None
        try:
            weighed = [(f.normalized, f.start, f.end) for f in detector.find(pairs)], sorted(detector._rejected.items())
        finally:
            phone._worth_weighing = saved
        assert filtered == weighed, text
        compared += 1
        found += bool(weighed[0])
    assert compared == 400 and found > 100


def test_no_script_hint_matches_below_the_lowest_character_it_is_skipped_under():
    from dlp_addon.detect import phone

    for pattern, _, lowest in phone._SCRIPT_HINTS:
        below = "".join(map(chr, range(ord(lowest))))
        assert pattern.search(below) is None, pattern.pattern
        assert pattern.fullmatch(lowest), pattern.pattern


def test_a_megabyte_line_costs_the_c_filter_one_pass():
    # A table's header and then one line of a megabyte: each run's column and cell are read
    # from where the scan is, not from its line's start (which made this quadratic).
    from dlp_addon.detect import phone
    from dlp_addon.detect.phone_context import ASCII_PHONE_WORDS

    if phone._worth_weighing is None:
        pytest.skip("the C scan was not built")
    line = ",".join(["1717171717"] * 50_000 + ["x 1717171717 y"] * 50_000)
    text = "order_id,note,n\n" + line
    spans = phone.candidate_spans(text)
    kept, cells = phone._worth_weighing(text, spans, ",", (False, None, None), text.index("\n"), None,
                                        ASCII_PHONE_WORDS)
    # The first column is an id's; of the rest, the numbers alone in their cell stay, with
    # the column and cell each was read in.
    assert len(spans) == 100_000 and len(kept) == 50_000 - 1
    assert kept[0] == spans[1] and kept[-1] == spans[49_999]
    assert cells[kept[0][0]] == (kept[0][1], 1, True) and cells[kept[-1][0]] == (kept[-1][1], 49_999, True)


def _groups_and_header_as_first_written(layout, where: str, start: int, end: int) -> tuple[tuple, str]:
    # `_TextLayout.groups_for` and `header_for` as they were written before they remembered
    # their line and column: every line, cell and column found again from the line's start.
    from dlp_addon.detect.phone import _CELL_PADDING

    text, delimiter = layout.text, layout.delimiter
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    cell_start, cell_end = line_start, len(text) if line_end < 0 else line_end
    if delimiter:
        cell_start = text.rfind(delimiter, line_start, start) + 1 or line_start
        after = text.find(delimiter, end, cell_end)
        cell_end = cell_end if after < 0 else after
    column = text.count(delimiter, line_start, start) if delimiter else 0
    if text[cell_start:start].strip(_CELL_PADDING) or text[end:cell_end].strip(_CELL_PADDING):
        groups = ()
    else:
        groups = (f"{where}#line",) if layout.single_line else (f"{where}#column{column}",)
    header = ""
    if layout.header is not None and start > layout.first_line_end:
        header = layout.header[column].strip(" \"'") if column < len(layout.header) else ""
    return groups, header


def test_lines_and_columns_remembered_give_what_reading_them_again_gives():
    from dlp_addon.detect.phone import _TextLayout, candidate_spans

    rng = random.Random(21)
    cells = ["13912345678", " 13912345678 ", "(13912345678)", "x 13912345678", "tel", "\"phone\"", "", "7 916 123"]
    compared = 0
    for _ in range(300):
        delimiter = rng.choice([",", "\t", ";", "|", " "])
        lines = [delimiter.join(rng.choice(["name", "phone", "id", "n"]) for _ in range(3))]
        lines += [delimiter.join(rng.choice(cells) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(0, 8))]
        text = rng.choice(["\n", "\r\n"]).join(lines if rng.random() < 0.8 else lines[1:] or ["13912345678"])
        spans = candidate_spans(text)
        for order in (spans, rng.sample(spans, len(spans))):
            layout = _TextLayout(text)
            for start, end in order:
                assert (layout.groups_for("w", start, end), layout.header_for(start)) == \
                    _groups_and_header_as_first_written(layout, "w", start, end), (text, start)
                compared += 1
    assert compared > 2000


def _spaced_and_dotted_runs(rng: random.Random) -> str:
    """A number of the kind prose writes with separators: an amount, a date, a real number
    of a policy country written its own way or regrouped, or random digits grouped anyhow."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    kind = rng.randrange(6)
    if kind == 0:
        return f"{rng.randint(1, 999)}" + "".join(f" {rng.randint(0, 999):03d}" for _ in range(rng.randint(1, 3)))
    if kind == 1:
        return f"{rng.randint(1, 31)}.{rng.randint(1, 12):0{rng.choice((1, 2))}d}.{rng.randint(1950, 2030)}"
    if kind in (2, 3):
        region = rng.choice(REGIONS)
        number = phonenumbers.example_number_for_type(region, rng.choice(
            (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE)))
        national = str(number.national_number)
        number.national_number = int(national[:2] + "".join(rng.choice("0123456789") for _ in national[2:]))
        written = phonenumbers.format_number(number, rng.choice((PhoneNumberFormat.NATIONAL,
                                                                 PhoneNumberFormat.INTERNATIONAL)))
        if kind == 3:  # the same digits, grouped some other way
            digits = "".join(c for c in written.lstrip("+") if c.isdigit())
            cuts = sorted(rng.sample(range(1, len(digits)), rng.randint(1, 4)))
            written = rng.choice(" .-").join(digits[a:b] for a, b in zip((0, *cuts), (*cuts, len(digits))))
        return written
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(7, 16)))
    cuts = sorted(rng.sample(range(1, len(digits)), rng.randint(1, 5)))
    return rng.choice((" ", ".", "-", " - ")).join(digits[a:b] for a, b in zip((0, *cuts), (*cuts, len(digits))))


def test_runs_known_not_to_count_before_any_parse_are_exactly_those_that_would_not(monkeypatch):
    # `_cannot_count` drops a spaced or dotted run unread when nothing labels it, it is no
    # list item and none of its parts can fit a country's grouping. Over generated prose in
    # the seed languages, with and without phone words, tables and lines of numbers, the
    # detector must find exactly what it finds reading every run.
    rng = random.Random(2026)
    frames = ["Население города на {} составило {} человек.", "Выручка выросла до {} руб., тел. {}",
              "في عام {} بلغ العدد {} شخصا", "جوال {} أو {}", "شماره تماس {} و {}", "مبلغ {} تومان در {}",
              "截至{}，人口为{}人。", "手机：{}，订单{}", "Revenue of {} in {}.", "Call me at {} or {}",
              "{}\n{}\n{}", "name,phone\nA,{}\nB,{}", "{} {}"]
    texts = []
    for _ in range(4000):
        frame = rng.choice(frames)
        texts.append(frame.format(*(_spaced_and_dotted_runs(rng) for _ in range(frame.count("{}")))))
    gated = [phones(text) for text in texts]
    dropped = []
    original = PhoneDetector._cannot_count

    def reading_every_run(self, *args):
        dropped.append(original(self, *args))
        return False

    monkeypatch.setattr(PhoneDetector, "_cannot_count", reading_every_run)
    assert [phones(text) for text in texts] == gated
    assert sum(dropped) > len(dropped) / 6  # the check does drop runs, not only pass them on
    assert sum(map(len, gated)) > 300  # and numbers are still found among them


def test_the_folded_look_for_phone_words_takes_every_letter_the_label_pattern_takes():
    # `may_name_a_phone` looks for phone words in the case-folded window with the stdlib
    # engine; the label pattern matches them case-insensitively with `regex`. Every code point
    # the latter takes for a letter of some phone word must fold to that very letter.
    import regex

    from dlp_addon.detect import phone_context

    letters = sorted(set("".join(phone_context._PHONE_WORDS)))
    assert all(word.casefold() == word for word in phone_context._PHONE_WORDS)
    any_letter = regex.compile("[" + "".join(map(regex.escape, letters)) + "]", regex.IGNORECASE)
    each = {letter: regex.compile(regex.escape(letter), regex.IGNORECASE) for letter in letters}
    taken = 0
    for code_point in range(0x110000):
        char = chr(code_point)
        if not any_letter.fullmatch(char):
            continue
        folded = char.casefold().replace("\u0307", "")
        for letter, pattern in each.items():
            if pattern.fullmatch(char):
                taken += 1
                assert folded == letter, (hex(code_point), letter)
    assert taken > len(letters)
    assert phone_context.may_name_a_phone("MOBİLE 8 912 345 67 89") and phone_context.may_name_a_phone("ſms: ۰۹۱۲")


def _column_table(rng: random.Random, rows: int) -> str:
    """A CSV whose columns mix bare mobile numbers with counters that fit no numbering plan
    (which the C scan rejects), in a share of its own per column."""
    def cell(share: float) -> str:
        if rng.random() < share:
            return rng.choice(("99", "5")) + "".join(rng.choice("0123456789") for _ in range(11))
        return rng.choice(("139", "138")) + "".join(rng.choice("0123456789") for _ in range(8))

    shares = [rng.choice((0.0, 0.2, 0.4, 0.5, 0.7)) for _ in range(3)]
    header = rng.choice(["id,a,b,c", "", "n;x;y;z"])
    delimiter = ";" if header.startswith("n;") else ","
    lines = [header] if header else []
    lines += [delimiter.join([str(row), *(cell(share) for share in shares)]) for row in range(rows)]
    return "\n".join(lines)


def test_long_texts_count_their_rejected_runs_as_short_ones_do(monkeypatch):
    # Beyond phone._REJECTED_LISTED_UP_TO characters the C scan packs a text's rejected runs
    # (counters, ids) instead of listing them; they decide whether a column of bare numbers
    # is a list of phones. Tables and long values must be read as if every run were listed.
    from dlp_addon.detect import phone

    rng = random.Random(20261203)
    cases = []
    for _ in range(30):
        table = _column_table(rng, rng.randrange(150, 400))
        cases.append([(Segment(table, "body"), normalize(table))])
        values = " ".join(_column_table(rng, 150).replace(",", " ").split("\n"))
        cases.append([(Segment(values, "body:json:$.v", "v", "body:json:$.v", "value"), normalize(values))])
    assert all(len(pairs[0][1].text) > phone._REJECTED_LISTED_UP_TO for pairs in cases)
    found = [sorted(f.normalized for f in DETECTOR.find(pairs)) for pairs in cases]
    monkeypatch.setattr(phone, "_REJECTED_LISTED_UP_TO", -1)
    assert [sorted(f.normalized for f in DETECTOR.find(pairs)) for pairs in cases] == found
    assert sum(map(bool, found)) > 5 and sum(not f for f in found) > 5  # lists believed and not


def test_the_deadline_stops_the_detector_across_many_small_values():
    # One labelled number per value, as an API's records hold them: the clock is read before
    # the first and then every few values, so a past deadline finds nothing and a later one all.
    import time

    values = [(Segment(f"+7 912 345-{i // 100:02d}-{i % 100:02d}", f"$[{i}].phone", field="phone",
                       group="$[*].phone", layout="value"), None) for i in range(300)]
    values = [(segment, normalize(segment.text)) for segment, _ in values]
    assert DETECTOR.find(values, deadline=time.monotonic() - 1) == []
    assert len(DETECTOR.find(values, deadline=time.monotonic() + 60)) == 300


def test_a_run_of_one_group_of_digits_is_told_as_the_pattern_tells_it():
    import re

    from dlp_addon.detect import phone

    rng = random.Random(20261210)
    groups = re.compile(r"\d+")
    for _ in range(20000):
        raw = "".join(rng.choice("0123456789 ()-./+\tx٣") for _ in range(rng.randrange(0, 12)))
        assert phone._one_digit_group(raw) == (len(groups.findall(raw)) == 1), repr(raw)


def test_the_countries_a_message_points_to_come_from_its_first_64k_characters():
    # The sample is taken in batches and the "00" form looked for alone where there is no
    # "+": the same countries as one value at a time and one pattern for both forms.
    from collections import Counter

    from dlp_addon.detect import phone

    def reference(segments):
        sample, size = [], 0
        for _, norm in segments:
            piece = norm.text[:phone._DOCUMENT_SAMPLE_PER_SEGMENT]
            sample.append(piece)
            size += len(piece)
            if size >= phone._DOCUMENT_SAMPLE:
                break
        return Counter(int(code) for code in phone._COUNTRY_CODE_WRITTEN.findall("\n".join(sample)))

    rng = random.Random(20261211)
    words = ["+98 912 345 6789", "0098 912 3456789", "+7 912", "007 495 123", "1200 300", "x00 44 20", "ab", "سلام",
             "تلفن", "00", "+", "2024-01-01T00:00:00", "+20 10 1234 5678"]
    for _ in range(300):
        count = rng.choice((1, 5, 300, 3000))
        texts = [" ".join(rng.choice(words) for _ in range(rng.randrange(1, 6))) for _ in range(count)]
        if rng.random() < 0.2:
            texts.append("+966 50 123 4567 " * rng.randrange(1, 400))
        segments = [(Segment(t, "t", layout="value"), normalize(t)) for t in texts]
        expected = reference(segments)
        got = DETECTOR.document_countries(segments)
        written = tuple(r for code, n in expected.most_common() if n >= phone._DOCUMENT_MIN_CODES
                        for r in DETECTOR.regions if phone._country_code(r) == code)
        assert got.written == written, texts[:5]


def test_the_detector_given_only_the_normal_forms_that_differ_finds_what_it_finds_given_all():
    # The engine hands over the normal forms of non-ASCII texts only; an ASCII text is its own.
    rng = random.Random(20261212)
    values = ["+7 912 345-67-89", "тел. 8 912 345 67 89", "13800138000", "phone: (202) 555-0143", "order 1234567",
              "۰۹۱۲ ۱۲۳ ۴۵۶۷", "id 98765432101", "Иван", "x"]
    for _ in range(200):
        segments = [Segment(rng.choice(values), f"$[{i}].v", field=rng.choice(("phone", "id", "")),
                            group="$[*].v", layout=rng.choice(("value", "text"))) for i in range(rng.randrange(1, 40))]
        pairs = [(segment, normalize(segment.text)) for segment in segments]
        forms = {i: norm for i, (segment, norm) in enumerate(pairs) if not segment.text.isascii()}
        texts = [norm.text for _, norm in pairs]
        assert DETECTOR.find_in_texts(segments, texts, forms) == DETECTOR.find(pairs)


def test_what_the_start_reader_takes_off_by_its_plain_prefixes_is_what_it_reads_off():
    # Where a country's prefixes are plain digits, `takes_off` asks a set of the strings
    # `heads` can take off; it must agree with `heads` for every country and number of digits,
    # on digits that start with those prefixes as often as not.
    from dlp_addon.detect.phone import _GroupingCheck, _StartReader

    rng = random.Random(11)
    readers = [country.start for country in _GroupingCheck(("CN", "RU", "IR", "SA", "AE", "EG", "US", "GB", "IN")).countries]
    readers.append(_StartReader(7, ["8", "89"], ["810", "8"]))  # prefixes that start alike
    assert sum(r.literal_heads is not None for r in readers) >= 7 and any(r.literal_heads is None for r in readers)
    for reader in readers:
        prefixes = [reader.code, *(p for p, _ in reader.trunks + reader.internationals if p), "0", "00", "8"]
        for _ in range(400):
            digits = "".join(rng.choice(prefixes) for _ in range(rng.randint(0, 3)))
            digits += "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 12)))
            heads = reader.heads(digits)
            for skip in range(1, 16):
                assert reader.takes_off(digits, skip, None)[0] == (skip in heads), (reader.code, digits, skip)


def test_the_grouping_look_in_c_answers_as_the_python_one(monkeypatch):
    # `_part_may_be_grouped` hands the shape, the digits, the "00" look and the automaton to
    # C where that was built; held to the Python that does the same, on spaced and dotted
    # runs, numbers written as their countries write them, and runs opening with 00 or 000.
    from dlp_addon.detect import phone

    if phone._grouped_parts is None:
        pytest.skip("the C scan was not built")
    rng = random.Random(12)
    runs = [_spaced_and_dotted_runs(rng) for _ in range(3000)]
    runs += [rng.choice(("00", "000", "0 0", "8 10")) + run for run in runs[:600]]
    runs += ["", "12", "1 2", "99 999 999", "+7 912 345 67 89"]
    detector = PhoneDetector(REGIONS)
    in_c = [detector._part_may_be_grouped(run) for run in runs]
    monkeypatch.setattr(phone, "_grouped_parts", None)
    assert [detector._part_may_be_grouped(run) for run in runs] == in_c
    assert 300 < sum(in_c) < len(runs) - 300
