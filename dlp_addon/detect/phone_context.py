"""Words that say "this is a phone number" or "this number is something else".

Normal traffic is full of digit runs that happen to be valid phone numbers somewhere (about
one per 55 bytes in the benign corpus of ../shared/PERFORMANCE.md), so a digit run on its
own is not believed. A label changes that: a JSON key, a form field, a column header or a
word just before the number, in the languages of the markets we serve.
"""

from __future__ import annotations

import functools

import regex

from dlp_addon.substrings import contains_any, substrings

# Matched against whole tokens of ASCII field names (phoneNumber -> phone, number).
_PHONE_TOKENS = frozenset({
    "phone", "phones", "tel", "tele", "telephone", "telefon", "telefone", "telefono", "mobile", "mob",
    "mobil", "cell", "cellphone", "cellular", "msisdn", "whatsapp", "wa", "viber", "telegram",
    "fax", "sms", "ph", "contact", "contacts", "landline", "hp", "handphone", "call",
})
_NOT_PHONE_TOKENS = frozenset({
    "id", "ids", "uid", "uuid", "guid", "order", "orders", "sku", "ts", "timestamp", "time", "date",
    "created", "updated", "modified", "expires", "price", "amount", "total", "sum", "qty", "quantity",
    "count", "zip", "postal", "postcode", "isbn", "ean", "upc", "gtin", "tracking", "invoice",
    "account", "acct", "iban", "bic", "swift", "card", "pan", "version", "build", "session", "hash",
    "checksum", "seq", "sequence", "serial", "pid", "port", "size", "bytes", "duration", "lat", "lng",
    "lon", "latitude", "longitude", "epoch", "ms", "nonce", "token", "ref", "reference", "barcode",
    "imei", "inn", "snils", "ogrn", "kpp", "passport", "national", "ssn",
})
# Running text. Languages written with spaces match whole words, so "hotel" is not "tel" and
# "автомобиль" is not "моб"; Chinese has no word boundaries and Arabic and Persian attach
# prefixes ("بالهاتف"), so those match as substrings. Bare words for "number" (号码, رقم,
# شماره, नंबर, номер) are left out: they label order and invoice numbers just as often.
_PHONE_NOUNS = ("phone", "telephone", "mobile", "cell", "cellphone", "tel", "ph", "mob", "fax", "sms", "whatsapp",
                "viber", "call", "contact", "msisdn")  # whole words, also with a plural "s"
_PHONE_VERBS = ("called", "rang", "dial", "dialed", "dialled", "text me", "reach me", "тел", "моб", "факс",
                "тлф")  # whole words
_PHONE_STEMS = ("телефон", "мобильн", "сотов", "звон", "контакт", "ватсап", "вотсап",
                "电话", "手机", "联系", "電話", "手機", "致电", "来电", "座机", "热线",
                "هاتف", "جوال", "موبايل", "تليفون", "اتصل", "اتصال", "واتساب", "واتس", "فاكس", "محمول", "متحرك",
                "تلفن", "موبایل", "همراه", "تماس", "واتساپ", "فکس",
                "फ़ोन", "फोन", "मोबाइल", "संपर्क", "कॉल")  # anywhere
_PHONE_WORD_PATTERN = regex.compile(
    r"\b(?:" + "|".join(map(regex.escape, _PHONE_NOUNS)) + r")s?\b"
    r"|\b(?:" + "|".join(map(regex.escape, _PHONE_VERBS)) + r")\b"
    r"|" + "|".join(map(regex.escape, _PHONE_STEMS)),
    regex.IGNORECASE,
)
# Every ASCII word above as a plain substring: ASCII text without any of them holds no
# phone word, wherever a window into it starts or ends (see `may_name_a_phone`; the phone
# detector's C filter looks for the same words).
_PHONE_WORDS = (*_PHONE_NOUNS, *_PHONE_VERBS, *_PHONE_STEMS)
ASCII_PHONE_WORDS = tuple(w for w in _PHONE_WORDS if w.isascii())
_ASCII_PHONE_WORD_NEEDLES = substrings(ASCII_PHONE_WORDS)
_NOT_PHONE_WORDS = ("订单", "单号", "编号", "заказ", "счет", "счёт", "طلب", "فاتورة", "سفارش", "فاکتور",
                    "ऑर्डर", "आदेश", "चालान", "बिल")
_NOT_PHONE_WORD_PATTERN = regex.compile("|".join(regex.escape(w) for w in _NOT_PHONE_WORDS), regex.IGNORECASE)
# The word right before a number that names it as something else: "order 2234567504",
# "invoice no. 1234567", "订单号：2025550143", "заказ № 9123456789".
_NOT_PHONE_JUST_BEFORE = regex.compile(
    r"(?:\b(?:order|orders|invoice|inv|ticket|case|ref|reference|tracking|account|acct|id|sku|serial|"
    r"transaction|txn|receipt|booking|confirmation|item|product|uid|pid)"
    r"|" + "|".join(regex.escape(w) for w in _NOT_PHONE_WORDS) + r"|单号|编号|№)"
    r"[\s.:：#№-]{0,4}(?:(?:no|num|number|nr|id|号|номер)[\s.:：#№-]{0,3})?$",
    regex.IGNORECASE,
)
_TOKEN_SPLIT = regex.compile(r"[^A-Za-z]+|(?<=[a-z])(?=[A-Z])")


def _tokens(name: str) -> set[str]:
    return {t.lower() for t in _TOKEN_SPLIT.split(name) if t}


@functools.lru_cache(maxsize=4096)
def field_says_phone(name: str) -> bool | None:
    """True for a phone label, False for an id/time/money label, None when it says nothing."""
    if not name:
        return None
    tokens = _tokens(name)
    if tokens & _PHONE_TOKENS:
        return True
    if not name.isascii():
        if _PHONE_WORD_PATTERN.search(name):
            return True
        if _NOT_PHONE_WORD_PATTERN.search(name):
            return False
    if tokens & _NOT_PHONE_TOKENS:
        return False
    return None


# A unit or currency right after the number: an amount or a count, not a phone (`3174758802元`).
_AMOUNT_JUST_AFTER = regex.compile(
    r"^\s?(?:元|块|万|亿|人|个|次|件|円|руб|₽|р\.|тыс|млн|ريال|درهم|جنيه|تومان|ریال|دلار|₹|rs\b|usd|eur|rmb|cny|"
    r"aed|sar|egp|irr|inr|gbp|\$|€|£|%|kg|km|mb|gb|kb|ms|sec|bytes)",
    regex.IGNORECASE,
)
# A label only counts within the number's own sentence and with no other number between
# them ("手机. 2018年营收增长28.3%，达到3174758802元" is an amount). A Latin full stop is not
# an end: "тел." and "Tel." are abbreviations. Searched from the end: the last one counts.
_SENTENCE_END = regex.compile(r"[!?。！？;；\n\d]", regex.REVERSE)


def _own_sentence(before: str) -> str:
    """The part of the text before a number that can label it."""
    end = _SENTENCE_END.search(before)
    return before[end.end():] if end else before


def text_label(before: str, after: str) -> bool | None:
    """False when the number is introduced as an order, invoice, account... number or is an
    amount; True for a phone word shortly before it (`手机：`, `Tel.`, `تلفن`) or just after
    it (`(mobile)`); None when the text says neither."""
    said = _label_before(_own_sentence(before))
    if said is False or _AMOUNT_JUST_AFTER.match(after):
        return False
    return True if said or _phone_word_after(after) else None


# Every phone word as a plain substring of the case-folded text. Each character the label
# pattern takes for a letter of a phone word (`İ` for `i`, `ſ` for `s`, `ᲂ` for `о`) folds
# to exactly that letter once the dot above that folding leaves on `İ` is dropped (a test
# checks every code point), so a window in which the pattern finds a phone word holds one
# here too, however it is cut; one pass for all of them (`contains_any`) finds them ten
# times faster than `regex` would the same words case-insensitively.
_PHONE_WORD_NEEDLES = substrings(_PHONE_WORDS)
_DOT_ABOVE = "\u0307"


def may_name_a_phone(window: str) -> bool:
    """False only where `text_label` cannot say True for a number with this text around it,
    however the window is cut into the words before and after it: a check costing a fraction
    of the label's, for the many numbers that only a phone word could make count."""
    if window.isascii():
        return contains_any(window.lower(), _ASCII_PHONE_WORD_NEEDLES)
    return contains_any(window.casefold().replace(_DOT_ABOVE, ""), _PHONE_WORD_NEEDLES)


# Cached because the words between a number and the digit or sentence end before it repeat
# from line to line (`&sid=`, `Order `, `тел.: `): a message has a few dozen of them.
@functools.lru_cache(maxsize=4096)
def _label_before(sentence: str) -> bool | None:
    if _NOT_PHONE_JUST_BEFORE.search(sentence):
        return False
    return True if _PHONE_WORD_PATTERN.search(sentence) else None


@functools.lru_cache(maxsize=4096)
def _phone_word_after(after: str) -> bool:
    return _PHONE_WORD_PATTERN.search(after) is not None
