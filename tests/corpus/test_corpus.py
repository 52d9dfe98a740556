"""Recall on seeded customer lists of the seed markets, false blocks on ordinary traffic.

The floors are the product's promises, not the figures of the day: when a shape falls below
one, the detector or extractor is what needs fixing. `python -m tests.corpus.measure` prints
the figures behind these assertions.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

import phonenumbers
import pytest

from dlp_addon.decide import decide
from dlp_addon.model import EMAIL, PHONE

from tests.corpus import generate
from tests.corpus.generate import LOCALES, REGION, Leak
from tests.corpus.score import benign_scores, engine, inspect, leak_score

pytestmark = pytest.mark.corpus

EMAIL_RECALL_FLOOR = 0.95
PHONE_RECALL_FLOOR = 0.95
# Of the distinct identifiers found in a leak, at most this share may be ones nobody planted:
# a customer counted twice (two spellings read as two numbers) or a number read in the wrong country.
FALSE_SHARE_CEILING = 0.02
# Ordinary traffic should hold no identifiers at all; this leaves room for the odd digit run
# that a label makes believable. Measured on this corpus when written: see the module's report.
BENIGN_FALSE_PER_MB_MAX = 10.0
BLOCK_THRESHOLD = 10  # policies/default.yaml, bulk-in-one-request

LEAK_CASES = generate.leak_cases()
LEAK_IDS = [f"{shape}-{locale}" for shape, locale in LEAK_CASES]
BENIGN_CATEGORIES = sorted({item.category for item in generate.benign_corpus()})


# ------------------------------------------------------------------ the corpus itself

def test_generation_is_deterministic():
    for shape, locale in (("csv", "zh_CN"), ("json", "ar_EG"), ("multipart", "fa_IR"), ("url_query", "en_IN")):
        assert generate.leak.__wrapped__(shape, locale) == generate.leak(shape, locale)
    assert generate.benign_corpus.__wrapped__() == generate.benign_corpus()


@pytest.mark.parametrize("shape, locale", LEAK_CASES, ids=LEAK_IDS)
def test_planted_identifiers_are_real(shape, locale):
    leak = generate.leak(shape, locale)
    for e164 in leak.phones:
        number = phonenumbers.parse(e164)
        assert phonenumbers.is_valid_number(number), e164
        assert phonenumbers.region_code_for_number(number) == REGION[locale], e164
    assert len(leak.emails) + len(leak.phones) >= BLOCK_THRESHOLD


def test_corpus_has_the_hard_spellings():
    written = [raw for shape, locale in LEAK_CASES for kind, _, raw in generate.leak(shape, locale).written]
    assert sum(any("\u0660" <= c <= "\u0669" for c in w) for w in written) >= 100  # Arabic-Indic digits
    assert sum(any("\u06f0" <= c <= "\u06f9" for c in w) for w in written) >= 50  # Persian digits
    assert sum(any("\uff10" <= c <= "\uff19" for c in w) for w in written) >= 20  # fullwidth digits
    assert sum("@" in w and not w.isascii() for w in written) >= 50  # IDN / Unicode addresses
    assert sum(w.startswith("00") for w in written) >= 50


# ------------------------------------------------------------------ leaks

@pytest.mark.parametrize("shape, locale", LEAK_CASES, ids=LEAK_IDS)
def test_leak_is_fully_inspected(shape, locale):
    assert leak_score(shape, locale).problems == ()


@pytest.mark.parametrize("shape, locale", LEAK_CASES, ids=LEAK_IDS)
def test_leak_email_recall(shape, locale):
    score = leak_score(shape, locale)
    assert score.email_recall >= EMAIL_RECALL_FLOOR, score.explain(EMAIL)


@pytest.mark.parametrize("shape, locale", LEAK_CASES, ids=LEAK_IDS)
def test_leak_phone_recall(shape, locale):
    score = leak_score(shape, locale)
    assert score.phone_recall >= PHONE_RECALL_FLOOR, score.explain(PHONE)


@pytest.mark.parametrize("shape, locale", LEAK_CASES, ids=LEAK_IDS)
def test_leak_finds_nothing_that_was_not_planted(shape, locale):
    score = leak_score(shape, locale)
    assert score.false_share <= FALSE_SHARE_CEILING, score.explain()


@pytest.mark.parametrize("shape, locale", LEAK_CASES, ids=LEAK_IDS)
def test_leak_is_blocked(shape, locale):
    score = leak_score(shape, locale)
    assert score.action == "block", score.explain()


# ------------------------------------------------------------------ one customer, several spellings

def _exact(leak: Leak) -> tuple[dict, dict, set, set]:
    inspection = inspect(leak)
    want = {EMAIL: len(leak.emails), PHONE: len(leak.phones)}
    truth = {engine().digest(EMAIL, e) for e in leak.emails} | {engine().digest(PHONE, p) for p in leak.phones}
    return inspection.counts(), want, set(inspection.digests()), truth


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("make", [generate.same_customers_written_differently,
                                  generate.same_customers_repeated_in_text], ids=["table", "text"])
def test_one_customer_written_three_ways_counts_once(make, locale):
    counts, want, found, truth = _exact(make(locale))
    assert counts == want
    assert found == truth


_CN_MOBILES = ("+8613800138000", "+8613912345678", "+8615012345678", "+8618611112222", "+8617755556666",
               "+8613055551234", "+8615988887777", "+8618233334444", "+8619912345678", "+8613698765432")


def _three_ways(e164: str) -> tuple[str, str, str]:
    number = phonenumbers.parse(e164)
    return (generate.write_phone(number, "international"), generate.write_phone(number, "digits"), e164)


@pytest.mark.parametrize("shape", ["csv", "json", "text"])
def test_chinese_mobiles_in_three_spellings_are_ten_customers(shape):
    rows = [(f"客户{i}", *_three_ways(e164)) for i, e164 in enumerate(_CN_MOBILES)]
    if shape == "csv":
        body, ctype = "\n".join(["姓名,手机,电话,微信"] + [",".join(r) for r in rows]).encode(), "text/csv; charset=utf-8"
    elif shape == "json":
        body = json.dumps([{"name": n, "phone": a, "mobile": b, "tel": c} for n, a, b, c in rows], ensure_ascii=False)
        body, ctype = body.encode(), "application/json"
    else:
        body = "\n".join(f"{n}：手机 {a}，备用 {b}，微信 {c}" for n, a, b, c in rows).encode()
        ctype = "text/plain; charset=utf-8"
    inspection = engine().inspect_content(body, content_type=ctype)
    assert inspection.counts() == {EMAIL: 0, PHONE: len(_CN_MOBILES)}
    assert set(inspection.digests()) == {engine().digest(PHONE, p) for p in _CN_MOBILES}
    assert decide(inspection, engine().policy).action == "block"


# ------------------------------------------------------------------ benign traffic

def _by_category() -> dict[str, list]:
    out = defaultdict(list)
    for score in benign_scores():
        out[score.item.category].append(score)
    return out


@pytest.mark.parametrize("category", BENIGN_CATEGORIES)
def test_benign_traffic_is_never_blocked(category):
    blocked = [s.explain() for s in _by_category()[category] if s.action == "block"]
    assert not blocked, f"{len(blocked)} of {len(_by_category()[category])} blocked: {blocked[:5]}"


@pytest.mark.parametrize("category", BENIGN_CATEGORIES)
def test_benign_traffic_is_allowed(category):
    flagged = [s.explain() for s in _by_category()[category] if s.action not in s.item.allowed]
    assert not flagged, f"{len(flagged)} of {len(_by_category()[category])} recorded: {flagged[:5]}"


def test_benign_bodies_are_fully_inspected():
    assert not [(s.item.category, s.item.name, s.problems) for s in benign_scores() if s.problems]


def test_benign_corpus_false_identifiers_stay_under_bound():
    scores = benign_scores()
    megabytes = sum(s.item.size for s in scores) / 1e6
    false = sum(s.false_emails + s.false_phones for s in scores)
    per_category = {c: sum(s.false_emails + s.false_phones for s in group) for c, group in _by_category().items()}
    assert false <= math.ceil(BENIGN_FALSE_PER_MB_MAX * megabytes), \
        f"{false} false identifiers in {megabytes:.2f} MB: {per_category}"


def test_invoice_contact_is_seen_but_not_blocked():
    invoices = [s for s in benign_scores() if s.item.category == "invoice"]
    assert all(s.action in ("allow", "log") for s in invoices)
    assert all(s.legit_found >= 1 for s in invoices), [s.explain() for s in invoices if not s.legit_found]
