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
