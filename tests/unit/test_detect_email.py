import pytest

from dlp_addon.detect.email import canonical_email, find_emails
from dlp_addon.normalize import normalize


def emails(text: str) -> list[tuple[str, str]]:
    return [(f.normalized, f.raw) for f in find_emails(normalize(text), "t")]


@pytest.mark.parametrize("text, expected", [
    ("write to John.Doe@Example.COM.", [("john.doe@example.com", "John.Doe@Example.COM")]),
    ("a@b.com,c@d.org;e@f.net", [("a@b.com", "a@b.com"), ("c@d.org", "c@d.org"), ("e@f.net", "e@f.net")]),
    ("иван@пример.рф", [("иван@пример.рф", "иван@пример.рф")]),
    ("张伟@例子.中国请回复", [("张伟@例子.中国", "张伟@例子.中国")]),
    ("请联系张伟zhang@qq.com谢谢", [("zhang@qq.com", "zhang@qq.com")]),
    ("احمد@مثال.مصر", [("احمد@مثال.مصر", "احمد@مثال.مصر")]),
    ("राम@उदाहरण.भारत", [("राम@उदाहरण.भारत", "राम@उदाहरण.भारत")]),
    ("user@xn--e1afmkfd.xn--p1ai", [("user@пример.рф", "user@xn--e1afmkfd.xn--p1ai")]),
    ("ahmed＠example．com", [("ahmed@example.com", "ahmed＠example．com")]),
    ("j\u200bohn@example.com", [("john@example.com", "j\u200bohn@example.com")]),
    ("/subscribe?email=john@example.com&x=1", [("john@example.com", "john@example.com")]),
    ("o'brien@example.ie", [("o'brien@example.ie", "o'brien@example.ie")]),
    ("|a@example.com|", [("a@example.com", "a@example.com")]),
])
def test_finds_addresses_in_canonical_form(text, expected):
    assert emails(text) == expected


@pytest.mark.parametrize("text", [
    "logo@2x.png", "icon@3x.webp", "sprite@2x.jpg 'bg@1.5x.svg'",
    "import x from '@babel/core'", "@media screen and (max-width: 600px)", "@import url(a.css)",
    "thanks @alice and @bob", "npm i lodash@4.17.21", "user@localhost", "a@b", "x@example.test",
    "git@github.com:org/repo.git", "https://token@github.com/org/repo", "ssh://deploy@10.0.0.1/srv",
    "<5f3a9b2c8d7e6f1a9b8c7d6e@mail.example.com>", "user@192.168.1.1", "x ＠ y",
])
def test_ignores_what_is_not_a_customer_address(text):
    assert emails(text) == []


def test_the_same_customer_written_differently_is_one_identifier():
    forms = ["Ivan@Пример.РФ", "ivan@xn--e1afmkfd.xn--p1ai", "IVAN@пример.рф"]
    assert {canonical_email(*f.rsplit("@", 1)) for f in forms} == {"ivan@пример.рф"}


def test_raw_sample_points_at_what_was_sent_even_with_invisible_characters():
    text = "مرحبا \u200fsara\u200c@example.com"
    [(canonical, raw)] = emails(text)
    assert canonical == "sara@example.com"
    assert raw == "sara\u200c@example.com"


@pytest.mark.parametrize("local, domain", [
    ("John.Doe", "Example.COM"), ("a+b", "mail.example.co.uk"), ("x", "a-b.example.org"),
    ("иван", "пример.рф"), ("user", "xn--e1afmkfd.xn--p1ai"), ("x", "example.test"),
    ("x", ("a" * 64) + ".com"), ("x", "host.onion"),
])
def test_fast_ascii_path_agrees_with_email_validator(local, domain):
    from email_validator import EmailNotValidError, validate_email
    try:
        result = validate_email(f"{local}@{domain}", check_deliverability=False, allow_smtputf8=True)
        expected = f"{result.local_part.casefold()}@{result.domain.lower()}"
    except EmailNotValidError:
        expected = None
    assert canonical_email(local, domain) == expected


# -- addresses written out to slip past filters ---------------------------------------------

@pytest.mark.parametrize("text, canonical", [
    ("ivan [at] mail [dot] ru", "ivan@mail.ru"),
    ("name(at)domain.com", "name@domain.com"),
    ("name{at}domain(dot)com", "name@domain.com"),
    ("name <at> domain <dot> com", "name@domain.com"),
    ("name [ at ] domain [ dot ] co [ dot ] uk", "name@domain.co.uk"),
    ("name at domain dot com", "name@domain.com"),
    ("name AT domain DOT com", "name@domain.com"),
    ("name @ domain . com", "name@domain.com"),
    ("ivan@mail dot ru", "ivan@mail.ru"),
    ("ivan [dot] petrov [at] mail [dot] ru", "ivan.petrov@mail.ru"),
    ("email: j.doe at example.com", "j.doe@example.com"),
    # Russian
    ("ivan собака mail точка ru", "ivan@mail.ru"),
    ("ivan собачка mail точка ru", "ivan@mail.ru"),
    ("Пишите: иван собака почта точка рф", "иван@почта.рф"),
    ("IVAN СОБАКА MAIL ТОЧКА RU", "ivan@mail.ru"),
    # Chinese
    ("zhang艾特qq点com", "zhang@qq.com"),
    ("请联系zhang圈aqq點com谢谢", "zhang@qq.com"),
    ("li at 163。com", "li@163.com"),
    ("wang (at) sina 点 cn", "wang@sina.cn"),
    # Arabic
    ("ahmed آت gmail نقطة com", "ahmed@gmail.com"),
    ("ahmed ات gmail دوت com", "ahmed@gmail.com"),
    # Persian
    ("reza اَت yahoo نقطه com", "reza@yahoo.com"),
    ("reza ات yahoo دات com", "reza@yahoo.com"),
])
def test_written_out_addresses_are_found_as_the_address_they_spell(text, canonical):
    assert [c for c, _ in emails(text)] == [canonical]


def test_the_raw_sample_is_what_was_sent():
    assert emails("write: ivan [at] mail [dot] ru, thanks") == [("ivan@mail.ru", "ivan [at] mail [dot] ru")]
    assert emails("zhang艾特qq点com谢谢") == [("zhang@qq.com", "zhang艾特qq点com")]
    # Invisible characters and written-out parts together still map back.
    written = "iv\u200ban собака ma\u200cil точка ru"
    assert emails(f"Иван: {written}") == [("ivan@mail.ru", written)]


def test_a_written_out_and_a_plain_address_are_one_customer():
    from pathlib import Path

    from dlp_addon.engine import Engine
    from dlp_addon.policy import load_policy
    engine = Engine(load_policy(Path(__file__).resolve().parents[2] / "policies" / "default.yaml"), b"k" * 32)
    inspection = engine.inspect_content("ivan [at] mail [dot] ru\nivan@mail.ru\nIVAN AT MAIL DOT RU".encode())
    assert inspection.counts()["email"] == 1 and inspection.evidence[0].occurrences == 3


def test_several_written_out_addresses_in_a_list():
    text = "ivan at mail dot ru, petr at yandex dot ru; anna(at)gmail.com\nli艾特qq点com"
    assert [c for c, _ in emails(text)] == ["ivan@mail.ru", "petr@yandex.ru", "anna@gmail.com", "li@qq.com"]


@pytest.mark.parametrize("text", [
    "meet me at home dot com is a site",
    "look at example dot com",
    "Please look at example dot com for details",
    "contact us at example dot com",
    "Sold at amazon.com",  # a bare "at" and a plain dot: prose, not an address
    "we are at 5.30 pm",
    "the cat sat at the mat",
    "ivan at mail dot rubbish",  # no real top-level domain
    "моя собака дома",
    "三点半见",
    "x ＠ y",
    "thanks @ everyone",
    "@media screen and (max-width: 600px)",
])
def test_prose_with_at_and_dot_is_not_an_address(text):
    assert emails(text) == []


def test_text_without_markers_is_not_rewritten():
    from dlp_addon.detect.email import unobfuscated
    for text in ["plain text with data and that", "aGVsbG8gd29ybGQ=", "a@b.com and c@d.org", "Привет мир"]:
        norm = normalize(text)
        assert unobfuscated(norm) is norm


@pytest.mark.parametrize("text, expected", [
    ("иван88@xn--e1afmkfd.xn--p1ai", ["иван88@пример.рф"]),  # a Unicode local part before a punycode domain
    ("https://deploy:token@registry.example.com/v2/", []),  # user:password in a URL
    ("see https://example.com/a and mail bob@example.com", ["bob@example.com"]),
])
def test_corpus_regressions(text, expected):
    assert [n for n, _ in emails(text)] == expected


def _pieces_around_markers(rng) -> list[str]:
    # Every marker `find_emails` looks for first, cut at random places and spread over texts,
    # so that some texts hold a marker only together.
    markers = ["ivan@mail.ru", "ivan [at] mail [dot] ru", "ivan at mail dot ru", "bob (AT) example.com",
               "ли собака mail точка ru", "王 艾特 qq 点 com", "علی آت gmail نقطه com", "a @ b . com", "x{at}y.io",
               "plain words", "order 12345", "at", " ", "[", "]", "@", "dot"]
    text = " ".join(rng.choice(markers) for _ in range(rng.randint(1, 6)))
    cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(0, 4))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def test_one_look_at_many_texts_misses_no_address():
    import random

    from dlp_addon.detect.email import may_hold_emails

    rng = random.Random(20261202)
    skipped = found = 0
    for _ in range(3000):
        texts = _pieces_around_markers(rng)
        addresses = [f for text in texts for f in find_emails(normalize(text), "body")]
        found += bool(addresses)
        if not may_hold_emails([normalize(text).text for text in texts]):
            assert addresses == [], texts
            skipped += 1
    assert skipped > 100 and found > 100
    assert not may_hold_emails(["order 12345", "plain words", "at", "dot"])
    assert may_hold_emails(["order", "ivan [at] mail [dot] ru"])
    # Batches of short texts and long texts alone: a marker is seen wherever it stands.
    filler = ["x" * 1000] * 200
    for marker in ("a@b.com", "ivan [at] mail.ru"):
        assert may_hold_emails([*filler, marker, *filler]) and may_hold_emails([*filler, marker])
        assert may_hold_emails(["y" * 100_000, marker]) and may_hold_emails([marker + "y" * 100_000])
    assert not may_hold_emails([*filler, "y" * 100_000, *filler])
