"""Seeded corpora for the recall and false-block tests, built in memory.

Leaks: customer lists of the seed markets (name, email, phone) in the shapes an insider uses to
move them out: CSV/TSV exports, Excel "Unicode text", legacy-charset files, JSON and NDJSON API
dumps, form posts, multipart uploads, pasted text, HTML tables, gzip bodies, URL queries. Each
leak keeps its truth: the canonical emails and E.164 phones planted in it.

Benign: what a browser sends all day without any customer in it (analytics beacons, API JSON,
telemetry, source code, prose, chat, shop pages) plus an invoice that names one company contact.

Every body has its own seed derived from (SEED, corpus, shape, locale), so a single test can
rebuild its body without the rest, and changing one shape does not reshuffle the others.
"""

from __future__ import annotations

import base64
import csv
import functools
import gzip
import hashlib
import io
import json
import random
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import phonenumbers as pn
from faker import Faker
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from dlp_addon.model import RequestData

SEED = 20261122
LOCALES = ("en_US", "zh_CN", "ru_RU", "ar_SA", "fa_IR", "ar_EG", "ar_AE", "en_GB", "en_IN")
REGION = {"en_US": "US", "zh_CN": "CN", "ru_RU": "RU", "ar_SA": "SA", "fa_IR": "IR", "ar_EG": "EG",
          "ar_AE": "AE", "en_GB": "GB", "en_IN": "IN"}
# Faker's ar_EG and ar_AE have no person provider (names come out English), and no Arabic
# locale but ar_AA has Arabic lorem: borrow from the nearest locale that has the data.
_PERSON_LOCALE = {"ar_EG": "ar_SA", "ar_AE": "ar_SA"}
_TEXT_LOCALE = {"ar_SA": "ar_AA", "ar_EG": "ar_AA", "ar_AE": "ar_AA", "en_GB": "en_US", "en_IN": "en_US"}
LEGACY_CHARSET = {"zh_CN": "gbk", "ru_RU": "cp1251", "ar_SA": "cp1256", "ar_EG": "cp1256",
                  "ar_AE": "cp1256", "fa_IR": "cp1256"}

CUSTOMERS_PER_LEAK = 60
CUSTOMERS_PER_URL = 12  # a URL stays under the 8 KiB most servers accept

# ---------------------------------------------------------------------------------- phones

# National significant number recipes (prefix, random digits), checked with libphonenumber
# until valid and of the wanted type. Faker's own numbers are used too where they are valid,
# but its ar_SA/ar_EG/ar_AE providers produce US numbers, so every market needs a plan here.
_PLANS: dict[str, dict[str, tuple[tuple[str, ...], int]]] = {
    "US": {"mobile": (("212", "213", "305", "312", "415", "469", "503", "617", "646", "702", "713", "917"), 7),
           "fixed": (("202", "206", "303", "404", "512", "602", "718", "808", "919", "972"), 7)},
    "GB": {"mobile": (("73", "74", "75", "77", "78", "79"), 8),
           "fixed": (("20", "161", "121", "131", "113", "117", "141"), 0)},
    "CN": {"mobile": (("13", "15", "17", "18", "19"), 9),
           "fixed": (("10", "21", "20", "755", "571", "28"), 0)},
    "RU": {"mobile": (("91", "92", "98", "90", "95", "96"), 8),
           "fixed": (("495", "499", "812", "343", "383"), 7)},
    "IR": {"mobile": (("91", "92", "93", "90"), 8), "fixed": (("21", "31", "51", "71"), 8)},
    "SA": {"mobile": (("50", "53", "54", "55", "56", "58", "59"), 7), "fixed": (("11", "12", "13", "14"), 7)},
    "EG": {"mobile": (("10", "11", "12", "15"), 8), "fixed": (("2", "3"), 0)},
    "AE": {"mobile": (("50", "52", "54", "55", "56", "58"), 7), "fixed": (("4", "2", "6"), 7)},
    "IN": {"mobile": (("6", "7", "8", "9"), 9), "fixed": (("11", "22", "80", "44", "33"), 8)},
}
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
_FIXED_TYPES = {PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
FULLWIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")
_NATIVE_DIGITS = {"ar_SA": (ARABIC_INDIC, 0.3), "ar_EG": (ARABIC_INDIC, 0.3), "ar_AE": (ARABIC_INDIC, 0.3),
                  "fa_IR": (PERSIAN, 0.3), "zh_CN": (FULLWIDTH, 0.15)}
# Numbers copied out of RTL text (WhatsApp, Excel) come wrapped in bidi controls.
_BIDI_WRAPS = (("\u200e", "\u200e"), ("\u202a", "\u202c"), ("\u2066", "\u2069"))

PHONE_STYLES = ("e164", "international", "national", "digits", "idd")
_STYLE_WEIGHTS = (20, 25, 30, 15, 10)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _fixed_length(region: str, prefix: str) -> int:
    # Where the plan length depends on the area code (GB, CN, EG), make the NSN full length.
    total = {"GB": 10, "CN": 10 if len(prefix) == 2 else 11, "EG": 9 if prefix == "2" else 8}[region]
    return total - len(prefix)


def valid_number(rng: random.Random, region: str, kind: str) -> pn.PhoneNumber:
    prefixes, rest = _PLANS[region][kind]
    wanted = _MOBILE_TYPES if kind == "mobile" else _FIXED_TYPES
    for _ in range(500):
        prefix = rng.choice(prefixes)
        nsn = prefix + _digits(rng, rest or _fixed_length(region, prefix))
        number = pn.parse(nsn, region)
        # +44 7624... is the Isle of Man and +7 7... Kazakhstan: valid, but not this market
        if pn.is_valid_number(number) and pn.number_type(number) in wanted \
                and pn.region_code_for_number(number) == region:
            return number
    raise RuntimeError(f"no valid {kind} number for {region}")


def e164(number: pn.PhoneNumber) -> str:
    return pn.format_number(number, PhoneNumberFormat.E164)


def write_phone(number: pn.PhoneNumber, style: str, rng: random.Random | None = None) -> str:
    if style == "e164":
        return e164(number)
    if style == "international":
        return pn.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    if style == "national":
        return pn.format_number(number, PhoneNumberFormat.NATIONAL)
    if style == "digits":
        return "".join(c for c in pn.format_number(number, PhoneNumberFormat.NATIONAL) if c.isdigit())
    if style == "idd":
        grouped = rng is not None and rng.random() < 0.5
        return "00" + (pn.format_number(number, PhoneNumberFormat.INTERNATIONAL) if grouped else e164(number))[1:]
    raise ValueError(style)


def _faker_phone(fake: Faker, region: str) -> tuple[str, pn.PhoneNumber] | None:
    """Faker's own spelling of a number (`8 812 415 86 83`, `206.269.0743x9150`), when valid."""
    for _ in range(5):
        raw = fake.phone_number()
        try:
            number = pn.parse(raw, region)
        except pn.NumberParseException:
            continue
        if pn.is_valid_number(number) and pn.number_type(number) in _MOBILE_TYPES | _FIXED_TYPES \
                and pn.region_code_for_number(number) == region:
            return raw, number
    return None


# ---------------------------------------------------------------------------------- emails

_IDN_DOMAINS = {
    "en_US": ("bücher.com", "café.com", "müller.net"),
    "en_GB": ("café.co.uk", "bücher.co.uk"),
    "en_IN": ("उदाहरण.भारत", "डाक.भारत"),
    "zh_CN": ("例子.中国", "邮件.中国", "测试.公司", "网站.网络"),
    "ru_RU": ("пример.рф", "почта.рф", "сайт.москва"),
    "ar_SA": ("مثال.السعودية", "بريد.السعودية"),
    "ar_EG": ("مثال.مصر", "بريد.مصر"),
    "ar_AE": ("مثال.امارات", "بريد.امارات"),
    "fa_IR": ("نمونه.ایران", "پست.ایران"),
}
_LATIN_LOCALS = ("zoë", "josé", "jürgen", "françois", "søren", "renée", "ana.núñez", "björn", "chloé", "noël")
_FREE_MAIL = {
    "zh_CN": ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com"),
    "ru_RU": ("mail.ru", "yandex.ru", "bk.ru", "list.ru", "inbox.ru", "gmail.com"),
    "fa_IR": ("gmail.com", "yahoo.com", "chmail.ir"),
    "ar_SA": ("gmail.com", "hotmail.com", "outlook.sa", "yahoo.com"),
    "ar_EG": ("gmail.com", "yahoo.com", "hotmail.com"),
    "ar_AE": ("gmail.com", "outlook.com", "icloud.com"),
    "en_GB": ("gmail.com", "btinternet.com", "hotmail.co.uk", "yahoo.co.uk"),
    "en_IN": ("gmail.com", "rediffmail.com", "yahoo.co.in"),
    "en_US": ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"),
}
_COMPANY_TLD = {"en_US": ("com", "net"), "zh_CN": ("cn", "com.cn"), "ru_RU": ("ru",), "ar_SA": ("sa", "com.sa"),
                "fa_IR": ("ir", "co.ir"), "ar_EG": ("com.eg", "eg"), "ar_AE": ("ae", "com"),
                "en_GB": ("co.uk", "uk"), "en_IN": ("in", "co.in")}


def canonical_email(address: str) -> str:
    """The product's canonical form: local part NFC and case-folded, domain Unicode lower case."""
    local, _, domain = address.rpartition("@")
    labels = [label.encode("ascii").decode("idna") if label.lower().startswith("xn--") else label
              for label in domain.split(".")]
    domain = unicodedata.normalize("NFC", ".".join(labels)).lower()
    return unicodedata.normalize("NFC", local).casefold() + "@" + domain


def punycode_domain(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return local + "@" + domain.encode("idna").decode("ascii")


def _no_format_chars(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf" and not c.isspace())


# ---------------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class Customer:
    name: str
    email: str  # as written
    phone: str  # as written
    number: pn.PhoneNumber
    city: str
    customer_id: int
    created: str

    @property
    def email_canonical(self) -> str:
        return canonical_email(self.email)

    @property
    def e164(self) -> str:
        return e164(self.number)


_CITIES = {
    "ar_SA": ("الرياض", "جدة", "مكة المكرمة", "الدمام", "المدينة المنورة"),
    "ar_EG": ("القاهرة", "الإسكندرية", "الجيزة", "المنصورة", "أسوان"),
    "ar_AE": ("دبي", "أبوظبي", "الشارقة", "العين", "عجمان"),
}


@functools.cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


def faker_for(locale: str, seed: int, purpose: str = "person") -> Faker:
    table = _PERSON_LOCALE if purpose == "person" else _TEXT_LOCALE
    fake = _faker(table.get(locale, locale))
    fake.seed_instance(seed)
    return fake


def body_seed(*parts: str) -> int:
    digest = hashlib.sha256("/".join((str(SEED), *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class CustomerFactory:
    """Customers of one market; `legacy` restricts spellings to what a legacy charset holds."""

    def __init__(self, locale: str, seed: int, legacy: str | None = None):
        self.locale = locale
        self.region = REGION[locale]
        self.rng = random.Random(seed)
        self.fake = faker_for(locale, seed)
        self.legacy = legacy
        self._seen_emails: set[str] = set()
        self._seen_phones: set[str] = set()
        self._next_id = self.rng.randint(100000, 900000)

    def many(self, n: int) -> list[Customer]:
        return [self.one() for _ in range(n)]

    def one(self) -> Customer:
        name = self._legacy_text(self.fake.name())
        email = self._unique(self._email, self._seen_emails, canonical_email)
        number, phone = self._unique(self._phone, self._seen_phones, lambda pair: e164(pair[0]))
        self._next_id += self.rng.randint(1, 3)
        city = self.rng.choice(_CITIES[self.locale]) if self.locale in _CITIES else self.fake.city()
        created = f"20{self.rng.randint(19, 25)}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"
        return Customer(name, email, phone, number, self._legacy_text(city), self._next_id, created)

    @staticmethod
    def _unique(make: Callable, seen: set, key: Callable):
        for _ in range(50):
            value = make()
            if key(value) not in seen:
                seen.add(key(value))
                return value
        raise RuntimeError("could not make a distinct value")

    def _legacy_text(self, text: str) -> str:
        if self.legacy == "cp1256":
            text = text.replace("ی", "ي")  # Persian yeh is not in windows-1256; Windows wrote Arabic yeh
        return text

    def _email(self) -> str:
        rng, fake, locale = self.rng, self.fake, self.locale
        x = rng.random()
        if x < 0.10:
            email = self._idn_email()
        elif x < 0.35:
            email = fake.email()
        elif x < 0.60:
            email = f"{fake.user_name()}@{rng.choice(_FREE_MAIL[locale])}"
        elif x < 0.72:
            email = fake.company_email()
        elif x < 0.80:
            email = f"{fake.user_name()}+{rng.choice(('shop', 'news', 'crm', 'x'))}@{rng.choice(_FREE_MAIL[locale])}"
        elif x < 0.90:
            slug = _no_format_chars(fake.domain_word()) or "corp"
            email = f"{fake.user_name()}.{rng.randint(1, 99)}@{slug}.{rng.choice(_COMPANY_TLD[locale])}"
        elif locale == "zh_CN":
            email = f"{rng.randint(10000, 3999999999)}@qq.com"  # QQ numbers are the local part of many addresses
        else:
            email = f"{fake.first_name()}.{fake.last_name()}@{rng.choice(_FREE_MAIL[locale])}"
            email = _no_format_chars(email) if email.isascii() else fake.email()
        if rng.random() < 0.05:
            email = email.upper() if email.isascii() else email
        return email

    def _idn_email(self) -> str:
        rng, fake, locale = self.rng, self.fake, self.locale
        if locale in ("en_US", "en_GB"):
            local = rng.choice(_LATIN_LOCALS) + (str(rng.randint(1, 99)) if rng.random() < 0.5 else "")
        elif locale == "en_IN":
            local = faker_for("hi_IN", rng.getrandbits(32)).first_name()
        elif locale == "zh_CN":
            local = fake.last_name() + fake.first_name()
        else:
            local = fake.first_name() + rng.choice(("", ".", "_")) + fake.last_name()
            local = local.rstrip("._")
        local = self._legacy_text(_no_format_chars(local))
        if rng.random() < 0.3:
            local += str(rng.randint(1, 99))
        address = f"{local}@{rng.choice(_IDN_DOMAINS[locale])}"
        if self.legacy:
            try:
                address.encode(self.legacy)
            except UnicodeEncodeError:
                address = punycode_domain(address)
        return address

    def _phone(self) -> tuple[pn.PhoneNumber, str]:
        rng = self.rng
        if rng.random() < 0.2 and (faked := _faker_phone(self.fake, self.region)):
            raw, number = faked
        else:
            number = valid_number(rng, self.region, "mobile" if rng.random() < 0.75 else "fixed")
            raw = write_phone(number, rng.choices(PHONE_STYLES, _STYLE_WEIGHTS)[0], rng)
        if self.legacy is None and self.locale in _NATIVE_DIGITS:
            table, share = _NATIVE_DIGITS[self.locale]
            if rng.random() < share:
                raw = raw.translate(table)
            if self.locale != "zh_CN" and rng.random() < 0.1:
                before, after = rng.choice(_BIDI_WRAPS)
                raw = before + raw + after
        return number, raw


# ---------------------------------------------------------------------------------- leaks


@dataclass(frozen=True)
class Leak:
    shape: str
    locale: str
    body: bytes
    content_type: str
    emails: frozenset[str]  # canonical
    phones: frozenset[str]  # E.164
    content_encoding: str = ""
    request: RequestData | None = None  # set when the leak is in the URL rather than a body
    written: tuple[tuple[str, str, str], ...] = ()  # (kind, canonical, as first written), to explain misses

    @property
    def size(self) -> int:
        return len(self.body) + (len(self.request.path) if self.request else 0)


# Column headers of a customer export in each market (also used by tests/bench).
COLUMNS = {
    "en_US": ("id", "name", "email", "phone", "city", "created"),
    "en_GB": ("Customer ID", "Name", "Email", "Mobile", "Town", "Signed up"),
    "en_IN": ("Cust ID", "Name", "Email ID", "Mobile No", "City", "Reg Date"),
    "zh_CN": ("编号", "姓名", "邮箱", "手机", "城市", "注册日期"),
    "ru_RU": ("ID", "Имя", "Email", "Телефон", "Город", "Дата регистрации"),
    "ar_SA": ("المعرف", "الاسم", "البريد الإلكتروني", "الجوال", "المدينة", "تاريخ التسجيل"),
    "ar_EG": ("الكود", "الاسم", "الإيميل", "الموبايل", "المدينة", "تاريخ التسجيل"),
    "ar_AE": ("الرقم التعريفي", "الاسم", "البريد الإلكتروني", "الهاتف", "المدينة", "تاريخ الانضمام"),
    "fa_IR": ("شناسه", "نام", "ایمیل", "تلفن همراه", "شهر", "تاریخ ثبت نام"),
}
_JSON_PHONE_KEYS = ("phone", "mobile", "phoneNumber", "tel", "contact_phone", "msisdn")


def _row(c: Customer) -> tuple:
    return (c.customer_id, c.name, c.email, c.phone, c.city, c.created)


def _table(rows: list[Customer], locale: str, rng: random.Random, delimiter: str = ",", newline: str = "\n") -> str:
    header = COLUMNS[locale]
    # id, name, email, phone, city, created; exports differ in which field follows the phone,
    # and a numeric one (the date) right after it is a case of its own for the detector.
    order = rng.choice(((0, 1, 2, 3, 4, 5), (0, 1, 3, 2, 4, 5), (0, 1, 2, 4, 3, 5)))
    out = io.StringIO()
    quoting = csv.QUOTE_ALL if rng.random() < 0.3 else csv.QUOTE_MINIMAL
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline, quoting=quoting)
    writer.writerow([header[i] for i in order])
    for c in rows:
        row = _row(c)
        writer.writerow([row[i] for i in order])
    return out.getvalue()


def _json_records(rows: list[Customer], rng: random.Random) -> list[dict]:
    phone_key = rng.choice(_JSON_PHONE_KEYS)
    return [{"id": c.customer_id, "name": c.name, "email": c.email, phone_key: c.phone,
             "city": c.city, "created_at": c.created, "orders": rng.randint(0, 40),
             "ltv": round(rng.uniform(0, 5000), 2)} for c in rows]


_PASTE_TEMPLATES = {
    "en_US": ("{n}, phone {p}, {e}", "Customer {n} <{e}> called from {p} about order #{o}", "{n} - cell: {p} - {e}"),
    "en_GB": ("{n}, mob {p}, {e}", "{n} ({e}) rang from {p} re: order {o}", "{n} | tel {p} | {e}"),
    "en_IN": ("{n}, mobile: {p}, email: {e}", "{n} - contact no {p} - {e}", "Name: {n} Ph: {p} Mail: {e}"),
    "zh_CN": ("联系人：{n}，手机：{p}，邮箱：{e}", "{n} 电话 {p} 邮件 {e}，订单号 {o}", "客户{n}，联系电话{p}，{e}"),
    "ru_RU": ("{n}, тел. {p}, {e}", "Клиент {n}, моб. {p}, e-mail: {e}, заказ № {o}", "{n} — телефон {p}, почта {e}"),
    "ar_SA": ("العميل {n} جوال {p} البريد {e}", "{n}، هاتف: {p}، {e}", "الاسم: {n} - رقم الجوال {p} - {e}"),
    "ar_EG": ("العميل {n} موبايل {p} إيميل {e}", "{n} - تليفون {p} - {e} - طلب رقم {o}", "{n}، رقم الموبايل: {p}، {e}"),
    "ar_AE": ("{n} - هاتف: {p} - البريد: {e}", "العميل {n}، متحرك {p}، {e}", "{n} | واتساب {p} | {e}"),
    "fa_IR": ("مشتری {n} تلفن {p} ایمیل {e}", "{n}، شماره همراه {p}، {e}", "{n} - موبایل: {p} - ایمیل: {e}"),
}


def _paste(rows: list[Customer], locale: str, rng: random.Random) -> str:
    templates = _PASTE_TEMPLATES[locale]
    lines = []
    for c in rows:
        template = rng.choice(templates)
        lines.append(template.format(n=c.name, p=c.phone, e=c.email, o=rng.randint(100000, 9999999)))
    return "\n".join(lines) + "\n"


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html_table(rows: list[Customer], locale: str, rng: random.Random) -> str:
    header = COLUMNS[locale]
    rtl = ' dir="rtl"' if locale.startswith(("ar", "fa")) else ""
    lang = locale.split("_")[0]
    parts = [f'<!DOCTYPE html>\n<html lang="{lang}"{rtl}><head><meta charset="utf-8"><title>export</title>'
             "<style>td{padding:2px 6px}</style></head><body>\n<table class=\"grid\">\n<thead><tr>"]
    parts.extend(f"<th>{_html_escape(h)}</th>" for h in header)
    parts.append("</tr></thead>\n<tbody>\n")
    for c in rows:
        cells = "".join(f"<td>{_html_escape(str(v))}</td>" for v in _row(c))
        parts.append(f'<tr data-row="{rng.randint(1, 10**6)}">{cells}</tr>\n')
    parts.append("</tbody></table></body></html>\n")
    return "".join(parts)


def _boundary(rng: random.Random) -> str:
    return "----WebKitFormBoundary" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                                              for _ in range(16))


def multipart(fields: list[tuple[str, str | tuple[str, str, bytes]]], boundary: str) -> bytes:
    """fields: (name, value) or (name, (filename, content_type, content))."""
    out = []
    for name, value in fields:
        out.append(f"--{boundary}\r\n".encode())
        if isinstance(value, tuple):
            filename, ctype, content = value
            out.append(f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                       f"Content-Type: {ctype}\r\n\r\n".encode())
            out.append(content)
        else:
            out.append(f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode())
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _leak(shape: str, locale: str, rows: list[Customer], body: bytes, content_type: str, **kw) -> Leak:
    written = tuple(item for c in rows for item in (("email", c.email_canonical, c.email), ("phone", c.e164, c.phone)))
    return Leak(shape, locale, body, content_type, frozenset(c.email_canonical for c in rows),
                frozenset(c.e164 for c in rows), written=written, **kw)


def _csv(locale, rows, rng):
    return _leak("csv", locale, rows, _table(rows, locale, rng).encode(), "text/csv; charset=utf-8")


def _tsv(locale, rows, rng):
    return _leak("tsv", locale, rows, _table(rows, locale, rng, "\t").encode(), "text/tab-separated-values")


def _tsv_utf16(locale, rows, rng):
    # Excel's "Unicode text": UTF-16LE with a BOM, tabs, CRLF; browsers send it as text/plain.
    text = "\ufeff" + _table(rows, locale, rng, "\t", "\r\n")
    return _leak("tsv_utf16", locale, rows, text.encode("utf-16-le"), "text/plain")


def _csv_legacy(locale, rows, rng):
    # A file saved by a localised Windows Excel: legacy code page, no charset anywhere.
    text = _table(rows, locale, rng, ";" if locale == "ru_RU" else ",", "\r\n")
    if LEGACY_CHARSET[locale] == "cp1256":
        text = text.replace("ی", "ي")  # the headers; the customers were written this way already
    return _leak("csv_legacy", locale, rows, text.encode(LEGACY_CHARSET[locale]), "text/csv")


def _json(locale, rows, rng):
    records = _json_records(rows, rng)
    doc = records if rng.random() < 0.5 else {"data": {"customers": records}, "page": 1, "total": len(records)}
    return _leak("json", locale, rows, json.dumps(doc, ensure_ascii=rng.random() < 0.3).encode(),
                 "application/json")


def _ndjson(locale, rows, rng):
    lines = [json.dumps(r, ensure_ascii=False) for r in _json_records(rows, rng)]
    return _leak("ndjson", locale, rows, ("\n".join(lines) + "\n").encode(), "application/x-ndjson")


def _form(locale, rows, rng):
    pairs = [("list", "export"), ("csrf", "%032x" % rng.getrandbits(128))]
    for c in rows:
        pairs += [("name", c.name), ("email", c.email), ("phone", c.phone)]
    return _leak("form", locale, rows, urlencode(pairs).encode(), "application/x-www-form-urlencoded")


def _multipart(locale, rows, rng):
    boundary = _boundary(rng)
    body = multipart([("title", "contacts"), ("notify", "0"),
                      ("file", ("customers.csv", "text/csv", _table(rows, locale, rng).encode()))], boundary)
    return _leak("multipart", locale, rows, body, f"multipart/form-data; boundary={boundary}")


def _text(locale, rows, rng):
    return _leak("text", locale, rows, _paste(rows, locale, rng).encode(), "text/plain; charset=utf-8")


def _html(locale, rows, rng):
    return _leak("html", locale, rows, _html_table(rows, locale, rng).encode(), "text/html; charset=utf-8")


def _gzip_json(locale, rows, rng):
    body = gzip.compress(json.dumps(_json_records(rows, rng), ensure_ascii=False).encode(), mtime=0)
    return _leak("gzip_json", locale, rows, body, "application/json", content_encoding="gzip")


def _url_query(locale, rows, rng):
    pairs = [("utm_source", "crm"), ("ts", str(1_700_000_000_000 + rng.randint(0, 6 * 10**10)))]
    for c in rows:
        pairs += [("email", c.email), ("phone", c.phone)]
    path = "/api/share?" + urlencode(pairs, quote_via=quote)
    request = RequestData("GET", "forms.example.net", path, headers=(("user-agent", "Mozilla/5.0"),))
    return _leak("url_query", locale, rows, b"", "", request=request)


LEAK_SHAPES: dict[str, Callable] = {
    "csv": _csv, "tsv": _tsv, "tsv_utf16": _tsv_utf16, "csv_legacy": _csv_legacy, "json": _json,
    "ndjson": _ndjson, "form": _form, "multipart": _multipart, "text": _text, "html": _html,
    "gzip_json": _gzip_json, "url_query": _url_query,
}


def leak_cases() -> list[tuple[str, str]]:
    return [(shape, locale) for shape in LEAK_SHAPES for locale in LOCALES
            if shape != "csv_legacy" or locale in LEGACY_CHARSET]


@functools.lru_cache(maxsize=None)
def leak(shape: str, locale: str) -> Leak:
    seed = body_seed("leak", shape, locale)
    legacy = LEGACY_CHARSET[locale] if shape == "csv_legacy" else None
    n = CUSTOMERS_PER_URL if shape == "url_query" else CUSTOMERS_PER_LEAK
    rows = CustomerFactory(locale, seed, legacy).many(n)
    return LEAK_SHAPES[shape](locale, rows, random.Random(seed))


@functools.lru_cache(maxsize=None)
def same_customers_written_differently(locale: str, n: int = 30) -> Leak:
    """One customer list, each phone written three ways (E.164, INTERNATIONAL, national digits)
    and each email twice (as given and upper-cased, IDN domains also in punycode): distinct
    counts must equal the number of customers."""
    seed = body_seed("dedupe", locale)
    rows = CustomerFactory(locale, seed).many(n)
    lines = ["name,email,email_alt,phone,mobile,whatsapp"]
    for c in rows:
        alt = punycode_domain(c.email) if not c.email.isascii() else c.email.upper()
        lines.append(",".join((c.name, c.email, alt, write_phone(c.number, "international"),
                               write_phone(c.number, "digits"), write_phone(c.number, "e164"))))
    text = "\n".join(lines) + "\n"
    return _leak("dedupe_csv", locale, rows, text.encode(), "text/csv; charset=utf-8")


@functools.lru_cache(maxsize=None)
def same_customers_repeated_in_text(locale: str, n: int = 30) -> Leak:
    """The same customers mentioned three times in a paste, each time spelt differently."""
    seed = body_seed("dedupe-text", locale)
    rng = random.Random(seed)
    rows = CustomerFactory(locale, seed).many(n)
    templates = _PASTE_TEMPLATES[locale]
    lines = []
    for style in ("international", "digits", "e164"):
        for c in rows:
            email = c.email.upper() if style == "digits" and c.email.isascii() else c.email
            lines.append(rng.choice(templates).format(n=c.name, p=write_phone(c.number, style), e=email,
                                                      o=rng.randint(100000, 9999999)))
    return _leak("dedupe_text", locale, rows, ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8")


# ---------------------------------------------------------------------------------- benign


@dataclass(frozen=True)
class Benign:
    category: str
    name: str
    body: bytes
    content_type: str
    content_encoding: str = ""
    request: RequestData | None = None
    allowed: tuple[str, ...] = ("allow",)
    # (kind, canonical) put there on purpose, such as an invoice's contact: not false positives
    legit: frozenset[tuple[str, str]] = frozenset()

    @property
    def size(self) -> int:
        return len(self.body) + (len(self.request.path) if self.request else 0)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _epoch(rng: random.Random) -> int:
    return 1_700_000_000 + rng.randint(0, 60_000_000)


_SCREENS = ((1920, 1080), (1366, 768), (1440, 900), (1536, 864), (390, 844), (414, 896), (2560, 1440), (360, 800))
_LANGS = ("en-us", "en-gb", "en-in", "zh-cn", "ru-ru", "ar-sa", "ar-eg", "ar-ae", "fa-ir")


def _ga4(rng: random.Random) -> Benign:
    ms = _epoch(rng) * 1000 + rng.randint(0, 999)
    w, h = rng.choice(_SCREENS)
    query = [("v", "2"), ("tid", "G-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))),
             ("gtm", f"45je4{rng.randint(100, 999)}v9{rng.randint(10**8, 10**9 - 1)}za200"), ("_p", str(ms)),
             ("gcd", "13l3l3l3l1l1"), ("npa", "0"), ("dma", "0"),
             ("cid", f"{rng.randint(10**8, 2**31 - 1)}.{ms // 1000 - rng.randint(0, 10**7)}"),
             ("ul", rng.choice(_LANGS)), ("sr", f"{w}x{h}"), ("uaa", "x86"), ("uab", "64"),
             ("uafvl", f"Chromium;1{rng.randint(20, 31)}.0.{rng.randint(1000, 6999)}.{rng.randint(10, 200)}"),
             ("uamb", "0"), ("uap", "Windows"), ("uapv", "15.0.0"), ("_s", str(rng.randint(1, 40))),
             ("sid", str(ms // 1000 - rng.randint(0, 9999))), ("sct", str(rng.randint(1, 300))), ("seg", "1"),
             ("dl", f"https://shop.example.com/p/{rng.randint(10**6, 10**10)}?variant={rng.randint(10**9, 10**11)}"),
             ("dt", "Product page"), ("en", rng.choice(("page_view", "scroll", "view_item", "add_to_cart"))),
             ("_et", str(rng.randint(1, 90000))), ("tfd", str(rng.randint(100, 20000)))]
    events = "\r\n".join(f"en=user_engagement&_et={rng.randint(1, 90000)}&epn.percent_scrolled=90"
                         f"&ep.item_id={rng.randint(10**9, 10**12)}&epn.value={rng.randint(100, 10**6) / 100}"
                         for _ in range(rng.randint(0, 4)))
    request = RequestData("POST", "region1.google-analytics.com", "/g/collect?" + urlencode(query),
                          headers=(("content-type", "text/plain;charset=UTF-8"),), body=events.encode())
    return Benign("beacon", "ga4", events.encode(), "text/plain;charset=UTF-8", request=request)


def _metrica(rng: random.Random) -> Benign:
    ms = _epoch(rng) * 1000 + rng.randint(0, 999)
    w, h = rng.choice(_SCREENS)
    info = ":".join(f"{k}:{v}" for k, v in (
        ("pv", 1), ("vf", "%x" % rng.getrandbits(40)), ("fp", rng.randint(100, 5000)), ("fu", 0), ("en", "utf-8"),
        ("la", rng.choice(("ru-RU", "en-US", "zh-CN"))), ("v", rng.randint(1000, 1999)), ("cn", 1), ("dp", 0),
        ("ls", rng.randint(10**11, 10**12)), ("hid", rng.randint(10**8, 10**9)), ("z", 180),
        ("i", f"2024{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 235959):06d}"),
        ("et", ms // 1000), ("c", 1), ("rn", rng.randint(10**8, 10**9)), ("rqn", rng.randint(1, 99)),
        ("u", f"{ms // 1000}{rng.randint(10**8, 10**9)}"), ("w", f"{w}x{h - 143}"), ("s", f"{w}x{h}x24"),
        ("sk", 1), ("wv", 2), ("ds", ",".join(str(rng.randint(0, 900)) for _ in range(12))), ("t", "Каталог")))
    query = [("page-url", f"https://market.example.ru/catalog/{rng.randint(10**5, 10**8)}"),
             ("charset", "utf-8"), ("browser-info", info), ("t", "gdpr(14)clc(0-0-0)rqnt(1)aw(1)ti(2)")]
    path = f"/watch/{rng.randint(10**7, 10**8)}?" + urlencode(query)
    request = RequestData("GET", "mc.yandex.ru", path)
    return Benign("beacon", "metrica", b"", "", request=request)


def _pixel(rng: random.Random) -> Benign:
    ms = _epoch(rng) * 1000 + rng.randint(0, 999)
    w, h = rng.choice(_SCREENS)
    query = [("id", str(rng.randint(10**14, 10**15))), ("ev", rng.choice(("PageView", "ViewContent", "AddToCart"))),
             ("dl", "https://store.example.ae/ar/products/" + str(rng.randint(10**5, 10**7))), ("rl", ""),
             ("if", "false"), ("ts", str(ms)), ("sw", str(w)), ("sh", str(h)), ("v", "2.9.174"), ("r", "stable"),
             ("ec", str(rng.randint(0, 5))), ("o", str(rng.randint(1000, 9999))),
             ("fbp", f"fb.1.{ms - rng.randint(0, 10**9)}.{rng.randint(10**8, 2**31)}"),
             ("cd[value]", f"{rng.randint(10, 99999) / 100}"), ("cd[currency]", rng.choice(("AED", "SAR", "EGP"))),
             ("cd[content_ids]", json.dumps([str(rng.randint(10**9, 10**11))])),
             ("it", str(ms - rng.randint(0, 5000))), ("coo", "false"), ("rqm", "GET")]
    return Benign("beacon", "pixel", b"", "", request=RequestData("GET", "www.facebook.com", "/tr/?" + urlencode(query)))


def _baidu(rng: random.Random) -> Benign:
    w, h = rng.choice(_SCREENS)
    query = [("cc", "1"), ("ck", "1"), ("cl", "24-bit"), ("ds", f"{w}x{h}"), ("vl", str(h - 143)), ("et", "0"),
             ("ja", "0"), ("ln", "zh-cn"), ("lo", "0"), ("rnd", str(rng.randint(10**9, 2**31))),
             ("si", "%032x" % rng.getrandbits(128)), ("v", "1.3.2"), ("lv", str(rng.randint(1, 3))),
             ("lt", str(_epoch(rng))), ("sn", str(rng.randint(10000, 65535))), ("r", "0"), ("ww", str(w)),
             ("u", f"https://www.example.cn/item/{rng.randint(10**8, 10**11)}.html"), ("tt", "商品详情")]
    return Benign("beacon", "baidu", b"", "", request=RequestData("GET", "hm.baidu.com", "/hm.gif?" + urlencode(query)))


def _api_json(rng: random.Random) -> Benign:
    items = [{"sku": f"{rng.choice('ABCDEFGH')}{rng.randint(10**6, 10**8)}", "product_id": rng.randint(10**9, 10**12),
              "qty": rng.randint(1, 9), "price": round(rng.uniform(0.5, 999), 2), "variant": _uuid(rng),
              "barcode": str(rng.randint(10**12, 10**13 - 1))} for _ in range(rng.randint(1, 8))]
    doc = {
        "request_id": _uuid(rng), "order_id": rng.randint(10**9, 10**11),
        "ts": _epoch(rng), "ts_ms": _epoch(rng) * 1000 + rng.randint(0, 999),
        "session": "%032x" % rng.getrandbits(128), "build": f"{rng.randint(1, 30)}.{rng.randint(0, 99)}.{rng.randint(0, 9999)}",
        "device": {"w": rng.choice((1920, 1366, 390)), "h": rng.choice((1080, 768, 844)), "dpr": rng.choice((1, 1.5, 2, 3)),
                   "ip": ".".join(str(rng.randint(1, 254)) for _ in range(4)), "tz_offset": rng.choice((-300, 0, 180, 210, 240, 330, 480))},
        "geo": [round(rng.uniform(-90, 90), 6), round(rng.uniform(-180, 180), 6)],
        "items": items, "total": round(sum(i["price"] * i["qty"] for i in items), 2),
        "metrics": [rng.randint(0, 10**rng.randint(3, 10)) for _ in range(rng.randint(4, 24))],
        "sha256": "%064x" % rng.getrandbits(256), "etag": f'W/"{rng.getrandbits(64):x}"',
    }
    if rng.random() < 0.5:
        doc["blob"] = base64.b64encode(rng.randbytes(rng.randint(64, 3000))).decode()
    return Benign("api_json", "order", json.dumps(doc).encode(), "application/json")


def _api_list(rng: random.Random) -> Benign:
    """A paged list from an internal API: ids, timestamps and amounts in columns of the same key."""
    base = _epoch(rng)
    rows = [{"id": rng.randint(10**9, 10**10), "created": base + rng.randint(0, 86400 * 30),
             "updated_ms": (base + rng.randint(0, 86400 * 30)) * 1000, "amount_cents": rng.randint(100, 10**7),
             "account": rng.randint(10**9, 10**11), "ref": str(rng.randint(10**9, 10**12)),
             "counter": rng.randint(10**6, 10**10), "status": rng.choice(("paid", "open", "void"))}
            for _ in range(rng.randint(10, 40))]
    return Benign("api_json", "list", json.dumps({"data": rows, "has_more": True}).encode(), "application/json")


def _telemetry(rng: random.Random) -> Benign:
    t0 = _epoch(rng) * 1000
    lines = ["ts,cpu,mem_kb,rx_bytes,tx_bytes,fps,order_id,trace"]
    for i in range(rng.randint(10, 40)):
        lines.append(f"{t0 + i * 1000 + rng.randint(0, 50)},{rng.uniform(0, 100):.1f},{rng.randint(100000, 9000000)},"
                     f"{rng.randint(0, 10**9)},{rng.randint(0, 10**8)},{rng.randint(24, 144)},"
                     f"{rng.randint(10**10, 10**13)},{rng.getrandbits(64):016x}")
    return Benign("telemetry", "csv", ("\n".join(lines) + "\n").encode(), "text/csv")


def _telemetry_json(rng: random.Random) -> Benign:
    spans = [{"traceId": "%032x" % rng.getrandbits(128), "spanId": "%016x" % rng.getrandbits(64),
              "startTimeUnixNano": str(_epoch(rng) * 10**9 + rng.randint(0, 10**9)),
              "durationMs": rng.randint(1, 5000), "httpStatus": rng.choice((200, 204, 304, 404, 500)),
              "bytes": rng.randint(100, 10**8), "heapUsed": rng.randint(10**6, 10**9)} for _ in range(rng.randint(5, 30))]
    return Benign("telemetry", "otlp", json.dumps({"resourceSpans": spans}).encode(), "application/json")


_JS = """import {{ Component, Input }} from '@angular/core';
import {{ transform }} from '@babel/core';
import debounce from 'lodash@4.17.21/debounce';
import '@fontsource/inter@5.0.16';

@Component({{ selector: 'app-cart', templateUrl: './cart.component.html' }})
export class CartComponent {{
  @Input() items = [];
  static MAX_INT = 2147483647;
  // see git@github.com:{org}/{repo}.git and https://deploy:token@registry.example.com/
  started = Date.now() - {ms};
  key = '{sha}';
  retina = window.devicePixelRatio > 1 ? 'logo@2x.png' : 'logo.png';
  total() {{ return this.items.reduce((s, i) => s + i.price * i.qty, 0).toFixed(2); }}
  timeout = {timeout};
}}
"""
_PY = """from functools import lru_cache

import pytest
from flask import Flask

app = Flask(__name__)


@app.route("/api/v1/orders/<int:order_id>")
@lru_cache(maxsize=1024)
def order(order_id: int):
    # ssh deploy@10.0.{a}.{b}; admin@localhost gets the cron mail
    return {{"id": order_id, "ts": {epoch}, "hash": "{sha}", "amount": {amount}}}


@pytest.mark.parametrize("n", [{n1}, {n2}, {n3}])
def test_order(n):
    assert order(n)["id"] == n
"""
_CSS = """@import url("https://fonts.googleapis.com/css2?family=Inter:wght@400;700&display=swap");
@font-face {{ font-family: "Vazirmatn"; src: url("/fonts/vazirmatn@{v}.woff2") format("woff2"); }}
.hero {{ background-image: url("/img/hero@2x.jpg"); background-size: {w}px {h}px; }}
.logo {{ background: url(logo@2x.png) no-repeat; }}
@media (max-width: {bp}px) and (min-resolution: 2dppx) {{ .grid {{ grid-template-columns: 1fr; }} }}
@supports (display: grid) {{ .x {{ z-index: {z}; }} }}
@keyframes spin {{ from {{ transform: rotate(0deg); }} to {{ transform: rotate(360deg); }} }}
"""
_PACKAGE_LOCK = """    "node_modules/@{scope}/{pkg}": {{
      "version": "{major}.{minor}.{patch}",
      "resolved": "https://registry.npmjs.org/@{scope}/{pkg}/-/{pkg}-{major}.{minor}.{patch}.tgz",
      "integrity": "sha512-{b64}",
      "dependencies": {{ "@types/node": "^20.{minor}.{patch}", "tslib": "^2.6.{patch}" }}
    }}"""
_GITCONFIG = """[remote "origin"]
\turl = git@github.com:{org}/{repo}.git
\tfetch = +refs/heads/*:refs/remotes/origin/*
[submodule "vendor/lib"]
\turl = git@gitlab.example.com:{org}/lib.git
# commit {sha} Author: CI Bot <ci@{host}>  Date: {epoch} +0300
"""


def _code(rng: random.Random) -> Benign:
    kind = rng.choice(("js", "py", "css", "lock", "git"))
    sha = "%040x" % rng.getrandbits(160)
    org, repo = rng.choice(("acme", "shop", "infra")), rng.choice(("web", "api", "mobile-app"))
    if kind == "js":
        text = _JS.format(org=org, repo=repo, ms=rng.randint(10**12, 2 * 10**12), sha=sha, timeout=rng.randint(1000, 90000))
        return Benign("code", "js", text.encode(), "application/javascript")
    if kind == "py":
        text = _PY.format(a=rng.randint(0, 255), b=rng.randint(1, 254), epoch=_epoch(rng), sha=sha,
                          amount=rng.randint(100, 10**7) / 100, n1=rng.randint(10**6, 10**10),
                          n2=rng.randint(10**6, 10**10), n3=rng.randint(10**6, 10**10))
        return Benign("code", "py", text.encode(), "text/x-python")
    if kind == "css":
        text = _CSS.format(v=f"{rng.randint(1, 40)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}", w=rng.randint(300, 3000),
                           h=rng.randint(200, 2000), bp=rng.choice((480, 768, 1024)), z=rng.randint(1, 9999))
        return Benign("code", "css", text.encode(), "text/css")
    if kind == "lock":
        entries = ",\n".join(_PACKAGE_LOCK.format(scope=rng.choice(("babel", "types", "angular", "vue", "aws-sdk")),
                                               pkg=rng.choice(("core", "node", "runtime", "client-s3", "cli")),
                                               major=rng.randint(0, 20), minor=rng.randint(0, 40), patch=rng.randint(0, 99),
                                               b64=base64.b64encode(rng.randbytes(48)).decode())
                          for _ in range(rng.randint(5, 30)))
        return Benign("code", "package-lock", ('{\n  "packages": {\n' + entries + '\n  }\n}\n').encode(), "application/json")
    text = _GITCONFIG.format(org=org, repo=repo, sha=sha, host="localhost", epoch=_epoch(rng))
    return Benign("code", "gitconfig", text.encode(), "text/plain")


_HINDI = ("भारत एक विशाल देश है जिसकी संस्कृति बहुत पुरानी है।", "आज मौसम साफ़ है और बाज़ार में भीड़ है।",
          "सरकार ने नई योजना की घोषणा की जिससे किसानों को लाभ होगा।", "इस वर्ष बारिश सामान्य से अधिक हुई।",
          "विद्यार्थियों ने परीक्षा की तैयारी शुरू कर दी है।", "शहर में नई मेट्रो लाइन खुलने वाली है।",
          "कंपनी का मुनाफ़ा पिछली तिमाही में बढ़ा।", "त्योहारों के मौसम में मिठाइयों की माँग बढ़ जाती है।")

_NUMBER_SENTENCES = {
    "en": ("In {y}, revenue rose {pct}% to ${big:,}.", "The census counted {big:,} people on {d}.{m}.{y}.",
           "Flight {fl} departs at {hh}:{mm} from gate {g}.", "The stadium, built in {y}, seats {small:,}."),
    "zh": ("{y}年营收增长{pct}%，达到{big}元。", "截至{y}年{m}月{d}日，全市人口为{big}人。",
           "航班{fl}于{hh}:{mm}起飞。", "该项目总投资{big}万元，预计{y}年完工。"),
    "ru": ("В {y} году выручка выросла на {pct}% до {bigsp} руб.", "Население города на {d}.{m}.{y} — {bigsp} человек.",
           "Рейс {fl} вылетает в {hh}:{mm}.", "Стоимость проекта составила {bigsp} ₽."),
    "ar": ("في عام {y} ارتفعت الإيرادات بنسبة {pct}% إلى {big} ريال.", "بلغ عدد السكان {ar_big} نسمة في {ar_y}.",
           "تقلع الرحلة {fl} الساعة {hh}:{mm}.", "تم افتتاح المشروع في {d}/{m}/{y}."),
    "fa": ("در سال {y} درآمد {pct} درصد افزایش یافت و به {big} ریال رسید.", "جمعیت شهر در سال {fa_y} برابر {fa_big} نفر بود.",
           "پرواز {fl} ساعت {hh}:{mm} حرکت می‌کند.", "هزینه پروژه {big} تومان برآورد شد."),
    "hi": ("वर्ष {y} में राजस्व {pct}% बढ़कर {big} रुपये हो गया।", "उड़ान {fl} {hh}:{mm} बजे रवाना होगी।",
           "जनगणना {y} के अनुसार जनसंख्या {big} थी।"),
}
_PROSE = {"en": "en_US", "zh": "zh_CN", "ru": "ru_RU", "ar": "ar_AA", "fa": "fa_IR", "hi": None}
_PROSE_LEGACY = {"zh": "gbk", "ru": "cp1251", "ar": "cp1256", "fa": "cp1256"}


def _number_sentence(rng: random.Random, lang: str) -> str:
    big = rng.randint(10**6, 10**10)
    y = rng.randint(1990, 2025)
    values = dict(y=y, pct=round(rng.uniform(0.5, 40), 1), big=big, bigsp=f"{big:,}".replace(",", " "),
                  small=rng.randint(10**4, 10**5), d=rng.randint(1, 28), m=rng.randint(1, 12),
                  fl=f"{rng.choice(('SU', 'EK', 'SV', 'MS', 'CA', 'AI', 'IR'))}{rng.randint(100, 9999)}",
                  hh=f"{rng.randint(0, 23):02d}", mm=f"{rng.randint(0, 59):02d}", g=rng.randint(1, 60),
                  ar_big=f"{big:,}".translate(ARABIC_INDIC).replace(",", "٬"), ar_y=str(y).translate(ARABIC_INDIC),
                  fa_big=f"{big:,}".translate(PERSIAN).replace(",", "٬"), fa_y=str(y - 621).translate(PERSIAN))
    return rng.choice(_NUMBER_SENTENCES[lang]).format(**values)


def _prose_text(rng: random.Random, lang: str) -> str:
    paragraphs = []
    for _ in range(rng.randint(2, 5)):
        if lang == "hi":
            sentences = [rng.choice(_HINDI) for _ in range(rng.randint(3, 7))]
        else:
            fake = faker_for(_PROSE[lang], rng.getrandbits(32), "text")
            sentences = [fake.paragraph(nb_sentences=rng.randint(2, 5))]
        sentences.insert(rng.randint(0, len(sentences)), _number_sentence(rng, lang))
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs) + "\n"


def _prose(rng: random.Random, lang: str, legacy: bool) -> Benign:
    text = _prose_text(rng, lang)
    if legacy:
        codec = _PROSE_LEGACY[lang]
        if codec == "cp1256":
            text = text.replace("ی", "ي").replace("\u200c", " ")
        text = "".join(c for c in text if _encodable(c, codec))
        return Benign("prose", f"{lang}-{codec}", text.encode(codec), "text/plain")
    return Benign("prose", f"{lang}-utf8", text.encode(), "text/plain; charset=utf-8")


def _encodable(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


_SUPPORT = {  # a company's support line: toll-free where the market has it, else a landline
    "en_US": "1-800-555-0199", "en_GB": "0800 123 4567", "en_IN": "1800 266 1234", "zh_CN": "400-810-8888",
    "ru_RU": "8 (800) 555-35-35", "ar_SA": "920012345", "ar_EG": "19777", "ar_AE": "800 4444",
    "fa_IR": "021 8888 1234",
}
_INVOICE = {
    "en": "INVOICE {inv}\nDate: {date}    Due: {due}\nBill to: {company}\nPO number: {po}\n\n{lines}\n"
          "Subtotal: {sub}\nVAT ({vat}%): {tax}\nTotal due: {total}\n\nPay to IBAN {iban}, BIC {bic}, ref {inv}.\n"
          "Questions? billing@{domain} or call {phone}.\n",
    "zh": "发票号码：{inv}\n开票日期：{date}\n购买方：{company}\n纳税人识别号：{tax_id}\n\n{lines}\n"
          "合计：{sub}\n税额（{vat}%）：{tax}\n价税合计：{total}\n\n如有疑问请联系 billing@{domain}，客服热线 {phone}。\n",
    "ru": "Счёт № {inv} от {date}\nПокупатель: {company}\nИНН {tax_id}, КПП {kpp}\n\n{lines}\n"
          "Итого: {sub}\nНДС {vat}%: {tax}\nВсего к оплате: {total}\n\nР/с {acct}, БИК {bic_ru}\n"
          "Вопросы: billing@{domain}, тел. {phone}\n",
    "ar": "فاتورة ضريبية رقم {inv}\nالتاريخ: {date}\nالعميل: {company}\nالرقم الضريبي: {tax_id}\n\n{lines}\n"
          "المجموع: {sub}\nضريبة القيمة المضافة {vat}%: {tax}\nالإجمالي: {total}\n\n"
          "للاستفسار: billing@{domain} أو اتصل على {phone}\n",
    "fa": "صورتحساب شماره {inv}\nتاریخ: {date}\nخریدار: {company}\nشناسه ملی: {tax_id}\n\n{lines}\n"
          "جمع: {sub}\nمالیات {vat}٪: {tax}\nمبلغ قابل پرداخت: {total}\n\nپشتیبانی: billing@{domain} تلفن {phone}\n",
}


def _invoice(rng: random.Random, locale: str) -> Benign:
    lang = locale.split("_")[0] if locale.split("_")[0] in _INVOICE else "en"
    fake = faker_for(locale, rng.getrandbits(32))
    lines, subtotal = [], 0.0
    for i in range(rng.randint(3, 12)):
        qty, price = rng.randint(1, 50), round(rng.uniform(1, 900), 2)
        subtotal += qty * price
        lines.append(f"{i + 1}. SKU {rng.randint(10**7, 10**9)}  x{qty}  {price:.2f}  {qty * price:.2f}")
    domain = f"{rng.choice(('acme-supplies', 'northwind', 'globex'))}.{_COMPANY_TLD[locale][0]}"
    vat = rng.choice((5, 13, 15, 18, 20))
    tax = subtotal * vat / 100
    text = _INVOICE[lang].format(
        inv=f"INV-{rng.randint(2023, 2025)}-{rng.randint(1, 999999):06d}", date=fake.date(), due=fake.date(),
        company=fake.company() if locale not in _PERSON_LOCALE else "شركة النور للتجارة", po=rng.randint(10**9, 10**10),
        lines="\n".join(lines), sub=f"{subtotal:.2f}", vat=vat, tax=f"{tax:.2f}", total=f"{subtotal + tax:.2f}",
        iban=f"GB{rng.randint(10, 99)}NWBK{rng.randint(10**13, 10**14)}", bic="NWBKGB2L",
        tax_id=str(rng.randint(10**11, 10**12)), kpp=str(rng.randint(10**8, 10**9)),
        acct=str(rng.randint(10**19, 10**20)), bic_ru=f"04{rng.randint(10**6, 10**7)}",
        phone=_SUPPORT[locale], domain=domain)
    legit = {("email", f"billing@{domain}")}
    support = pn.parse(_SUPPORT[locale], REGION[locale])
    if pn.is_valid_number(support) and pn.number_type(support) in _MOBILE_TYPES | _FIXED_TYPES:
        legit.add(("phone", e164(support)))  # a landline counts as a phone; toll-free lines do not
    return Benign("invoice", locale, text.encode(), "text/plain; charset=utf-8", allowed=("allow", "log"),
                  legit=frozenset(legit))


_CHAT = {
    "en": ("@{u} can you check order {o}?", "thanks @{u} 👍 merged in {sha}", "meeting moved to {hh}:{mm}, cc @{u} @{v}",
           "@here build {b} is green"),
    "zh": ("@{u} 帮忙看一下订单 {o}", "@{u} 已经合并了 {sha}", "会议改到{hh}:{mm}，@{v} 请参加"),
    "ru": ("@{u} посмотри заказ {o}, пожалуйста", "спасибо @{u}, залил {sha}", "созвон в {hh}:{mm} @{v}"),
    "ar": ("@{u} ممكن تراجع الطلب {o}؟", "شكرا @{u} تم الدمج {sha}", "الاجتماع الساعة {hh}:{mm} @{v}"),
    "fa": ("@{u} لطفا سفارش {o} را بررسی کن", "ممنون @{u} ادغام شد {sha}", "جلسه ساعت {hh}:{mm} @{v}"),
    "hi": ("@{u} कृपया ऑर्डर {o} देखें", "धन्यवाद @{u}, {sha} मर्ज हो गया"),
}


def _chat(rng: random.Random, lang: str) -> Benign:
    users = [faker_for("en_US", rng.getrandbits(32)).user_name() for _ in range(5)]
    messages = []
    for _ in range(rng.randint(5, 20)):
        text = rng.choice(_CHAT[lang]).format(u=rng.choice(users), v=rng.choice(users), o=rng.randint(10**6, 10**10),
                                              sha="%07x" % rng.getrandbits(28), hh=f"{rng.randint(8, 20):02d}",
                                              mm=f"{rng.randint(0, 59):02d}", b=rng.randint(1000, 99999))
        messages.append({"type": "message", "channel": "C" + "%08X" % rng.getrandbits(32),
                         "user": "U" + "%09X" % rng.getrandbits(36), "text": text + f" <@U{rng.getrandbits(36):09X}>",
                         "ts": f"{_epoch(rng)}.{rng.randint(0, 999999):06d}", "client_msg_id": _uuid(rng)})
    return Benign("chat", lang, json.dumps({"messages": messages}, ensure_ascii=False).encode(), "application/json")


_SHOP = {
    "en_US": ("${p:,.2f}", "{m}/{d}/{y}"), "en_GB": ("£{p:,.2f}", "{d}/{m}/{y}"), "en_IN": ("₹{p:,.0f}", "{d}-{m}-{y}"),
    "zh_CN": ("¥{p:,.2f}", "{y}年{m}月{d}日"), "ru_RU": ("{psp} ₽", "{d}.{m}.{y}"), "ar_SA": ("{par} ر.س", "{d}/{m}/{y}"),
    "ar_EG": ("{p:,.2f} ج.م", "{d}/{m}/{y}"), "ar_AE": ("{p:,.2f} د.إ", "{d}/{m}/{y}"), "fa_IR": ("{pfa} ریال", "{y}/{m}/{d}"),
}


def _shop_page(rng: random.Random, locale: str) -> Benign:
    price_fmt, date_fmt = _SHOP[locale]
    fake = faker_for(locale, rng.getrandbits(32), "text")
    cards = []
    for _ in range(rng.randint(8, 30)):
        p = round(rng.uniform(1, 250000), 2)
        y, m, d = rng.randint(2023, 2025), rng.randint(1, 12), rng.randint(1, 28)
        price = price_fmt.format(p=p, psp=f"{p:,.0f}".replace(",", " "),
                                 par=f"{p:,.2f}".translate(ARABIC_INDIC), pfa=f"{int(p * 1000):,}".translate(PERSIAN))
        cards.append(f'<div class="card" data-product-id="{rng.randint(10**9, 10**12)}" data-sku="{rng.randint(10**6, 10**8)}">'
                     f'<img src="/img/{rng.randint(10**5, 10**7)}@2x.webp" srcset="/img/a@2x.webp 2x, /img/a@3x.webp 3x">'
                     f"<h3>{_html_escape(fake.sentence(nb_words=4))}</h3><span class=\"price\">{price}</span>"
                     f"<time datetime=\"{y}-{m:02d}-{d:02d}T{rng.randint(0, 23):02d}:00:00Z\">"
                     f"{date_fmt.format(y=y, m=f'{m:02d}', d=f'{d:02d}')}</time>"
                     f"<small>{rng.randint(1, 99999)} reviews · EAN {rng.randint(10**12, 10**13 - 1)}</small></div>")
    html = (f'<!DOCTYPE html><html lang="{locale[:2]}"><head><meta charset="utf-8"><title>shop</title>'
            f'<script>window.__STATE__={{"ts":{_epoch(rng) * 1000},"build":"{rng.getrandbits(32):08x}"}}</script></head>'
            f'<body><main class="grid">' + "\n".join(cards) + "</main></body></html>\n")
    return Benign("html", locale, html.encode(), "text/html; charset=utf-8")


def _gzip_api(rng: random.Random) -> Benign:
    plain = _api_list(rng)
    return Benign("api_json", "gzip", gzip.compress(plain.body, mtime=0), "application/json", content_encoding="gzip")


@functools.cache
def benign_corpus() -> tuple[Benign, ...]:
    rng = random.Random(body_seed("benign"))
    out: list[Benign] = []
    for _ in range(60):
        out.append(rng.choice((_ga4, _ga4, _metrica, _pixel, _baidu))(rng))
    out += [_api_json(rng) for _ in range(60)]
    out += [_api_list(rng) for _ in range(20)]
    out += [_gzip_api(rng) for _ in range(5)]
    out += [_telemetry(rng) for _ in range(20)] + [_telemetry_json(rng) for _ in range(10)]
    out += [_code(rng) for _ in range(40)]
    for lang in _PROSE:
        out += [_prose(rng, lang, legacy=False) for _ in range(6)]
        if lang in _PROSE_LEGACY:
            out += [_prose(rng, lang, legacy=True) for _ in range(4)]
    out += [_invoice(rng, locale) for locale in LOCALES for _ in range(2)]
    out += [_chat(rng, lang) for lang in _CHAT for _ in range(3)]
    out += [_shop_page(rng, locale) for locale in LOCALES for _ in range(2)]
    return tuple(out)
