import json
import re
from dataclasses import replace
from string import Template

import pytest
from mitmproxy import http

from dlp_addon import respond
from dlp_addon.model import SUB_REASONS
from dlp_addon.respond import (
    CLOSE_REASON_LIMIT, LANGUAGES, PLURAL_RULES, BlockNotice, block_response, choose_language, prefers_html,
    render_html, render_json, websocket_close_reason,
)

NOTICE = BlockNotice(
    incident_id="20261122-3fa9c1b2d4",
    reason="bulk_request",
    counts={"email": 12, "phone": 3},
    samples=("j***@g***.com", "+86 138 **** 8000"),
    contact="security@corp.example",
    organisation="Example Trading",
    destination="upload.example.net",
)

CHROME_NAVIGATION = [
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
               "application/signed-exchange;v=b3;q=0.7"),
    ("Accept-Language", "en-US,en;q=0.9"),
    ("Sec-Fetch-Dest", "document"), ("Sec-Fetch-Mode", "navigate"), ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-User", "?1"), ("Upgrade-Insecure-Requests", "1"),
]
FIREFOX_NAVIGATION = [("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                      ("sec-fetch-dest", "document"), ("sec-fetch-mode", "navigate")]
SAFARI_WITHOUT_FETCH_METADATA = [("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")]
IFRAME_FORM_POST = [("Accept", "text/html,*/*;q=0.8"), ("Sec-Fetch-Dest", "iframe"), ("Sec-Fetch-Mode", "navigate")]
FETCH_XHR = [("Accept", "*/*"), ("Sec-Fetch-Dest", "empty"), ("Sec-Fetch-Mode", "cors"), ("Sec-Fetch-Site", "cross-site")]
FETCH_ASKING_FOR_HTML = [("Accept", "text/html"), ("Sec-Fetch-Dest", "empty"), ("Sec-Fetch-Mode", "cors")]
BEACON = [("Accept", "*/*"), ("Sec-Fetch-Dest", "empty"), ("Sec-Fetch-Mode", "no-cors")]
JQUERY_XHR = [("Accept", "application/json, text/javascript, */*; q=0.01"), ("X-Requested-With", "XMLHttpRequest")]
AXIOS = [("Accept", "application/json, text/plain, */*")]
CURL = [("User-Agent", "curl/8.5.0"), ("Accept", "*/*")]
PYTHON_REQUESTS = [("User-Agent", "python-requests/2.32.3"), ("Accept-Encoding", "gzip, deflate"), ("Accept", "*/*"),
                   ("Connection", "keep-alive")]
JSON_OVER_HTML = [("Accept", "application/json;q=0.9, text/html;q=0.5")]


@pytest.mark.parametrize("headers, html", [
    (CHROME_NAVIGATION, True),
    (FIREFOX_NAVIGATION, True),
    (SAFARI_WITHOUT_FETCH_METADATA, True),
    (IFRAME_FORM_POST, True),
    ([("Accept", "text/html")], True),
    (FETCH_XHR, False),
    (FETCH_ASKING_FOR_HTML, False),
    (BEACON, False),
    (JQUERY_XHR, False),
    (AXIOS, False),
    (CURL, False),
    (PYTHON_REQUESTS, False),
    (JSON_OVER_HTML, False),
    ([("Accept", "text/html;q=0")], False),
    ([], False),
])
def test_browsers_navigating_get_a_page_everyone_else_json(headers, html):
    status, response_headers, body = block_response(NOTICE, headers)
    assert status == 403
    assert response_headers["Content-Type"] == ("text/html; charset=utf-8" if html else "application/json; charset=utf-8")
    if html:
        assert body.startswith(b"<!doctype html>")
    else:
        assert json.loads(body)["error"] == "blocked_by_dlp"


def test_mixed_case_and_repeated_headers():
    assert prefers_html({"accept": "text/html"})
    _, headers, _ = block_response(NOTICE, [("ACCEPT", "text/html"), ("accept", "application/xhtml+xml")])
    assert headers["Content-Type"].startswith("text/html")


def test_every_answer_carries_the_incident_and_safety_headers():
    for request_headers in (CHROME_NAVIGATION, CURL):
        _, headers, _ = block_response(NOTICE, request_headers)
        assert headers["X-DLP-Incident"] == "20261122-3fa9c1b2d4"
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "charset=utf-8" in headers["Content-Type"]
        assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_mitmproxy_accepts_the_answer():
    status, headers, body = block_response(NOTICE, CHROME_NAVIGATION)
    response = http.Response.make(status, body, headers)
    assert response.status_code == 403
    assert response.headers["x-dlp-incident"] == "20261122-3fa9c1b2d4"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_json_body():
    _, _, body = block_response(NOTICE, CURL)
    assert json.loads(body) == {
        "error": "blocked_by_dlp", "incident": "20261122-3fa9c1b2d4", "reason": "bulk_request",
        "counts": {"email": 12, "phone": 3}, "samples": ["j***@g***.com", "+86 138 **** 8000"],
        "uninspectable": [], "contact": "security@corp.example",
        "message": "Your request to upload.example.net was stopped because it contained customer contact details "
                   "(email addresses: 12, phone numbers: 3).",
    }


def test_json_message_follows_accept_language():
    _, headers, body = block_response(NOTICE, CURL + [("Accept-Language", "ru-RU,ru;q=0.9,en;q=0.5")])
    assert json.loads(body)["message"].startswith("Ваш запрос к upload.example.net остановлен")
    assert headers["Content-Language"] == "ru"


@pytest.mark.parametrize("accept_language, language", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("zh-TW", "zh"),
    ("zh-Hans-CN", "zh"),
    ("fa-IR,fa;q=0.9,en-US;q=0.8", "fa"),
    ("ar-SA", "ar"),
    ("hi-IN,en-IN;q=0.9", "hi"),
    ("ru", "ru"),
    ("en-GB", "en"),
    ("de-DE,de;q=0.9,ru;q=0.8,en;q=0.7", "ru"),  # the first one we have
    ("en;q=0.5, ar;q=0.8", "ar"),  # q-values beat order
    ("fa;q=0.8, hi;q=0.8", "fa"),  # equal q: order
    ("ar;q=0, ru;q=0.1", "ru"),  # q=0 means "not this one"
    ("FA_ir", "fa"),
    ("de-DE,fr;q=0.9", "en"),
    ("*", "en"),
    ("ru;q=banana, hi", "hi"),
    ("", "en"),
])
def test_language_choice(accept_language, language):
    assert choose_language(accept_language) == language


@pytest.mark.parametrize("accept_language, lang, direction", [
    ("ar-SA,ar;q=0.9", "ar", "rtl"),
    ("fa-IR", "fa", "rtl"),
    ("zh-CN", "zh-Hans", "ltr"),
    ("hi", "hi", "ltr"),
    ("ru", "ru", "ltr"),
    ("en-US", "en", "ltr"),
])
def test_page_language_and_direction(accept_language, lang, direction):
    _, headers, body = block_response(NOTICE, CHROME_NAVIGATION[:1] + [("Accept-Language", accept_language)])
    assert f'<html lang="{lang}" dir="{direction}">'.encode() in body
    assert headers["Content-Language"] == lang


def test_persian_page_writes_numbers_in_persian_digits():
    page = render_html(NOTICE, "fa")
    assert "۱۲" in page and "۳" in page
    assert "20261122-3fa9c1b2d4" in page  # the id stays as typed into a ticket


def test_page_says_what_was_found_and_whom_to_ask():
    page = render_html(NOTICE, "en")
    text = _text(page)
    assert "Your request to upload.example.net was stopped because it contained customer contact details " \
           "(email addresses: 12, phone numbers: 3)." in text
    assert "Customer email addresses 12" in text and "Customer phone numbers 3" in text
    assert "j***@g***.com" in text and "+86 138 **** 8000" in text
    assert "20261122-3fa9c1b2d4" in text and "Example Trading" in text
    assert '<a dir="ltr" href="mailto:security@corp.example?subject=DLP%20incident%2020261122-3fa9c1b2d4">' in page


def test_page_is_self_contained():
    page = render_html(NOTICE, "ar")
    assert "<script" not in page and "src=" not in page and "<link" not in page
    assert not re.search(r"url\(|@import|https?://", page)


def test_counts_of_zero_are_left_out():
    notice = replace(NOTICE, counts={"email": 0, "phone": 11})
    assert render_json(notice)["message"].endswith("contained customer contact details (phone numbers: 11).")
    assert "Customer email addresses" not in render_html(notice, "en")


def test_user_window_reason():
    notice = replace(NOTICE, reason="user_window", counts={"email": 2, "phone": 0}, window_count=57, window_seconds=3600)
    assert render_json(notice)["message"] == (
        "Your request to upload.example.net was stopped because you have sent a large amount of customer contact "
        "details in the last hour (including this request: 57).")
    assert render_json(notice)["window"] == {"count": 57, "seconds": 3600}
    text = _text(render_html(notice, "en"))
    assert "Customer contact details sent in the last hour, including this request 57" in text
    assert "Until this period has passed" in text


@pytest.mark.parametrize("seconds, language, phrase", [
    (3600, "en", "in the last hour"),
    (86400, "en", "in the last 24 hours"),
    (7 * 86400, "en", "in the last 7 days"),
    (900, "en", "in the last 15 minutes"),
    (90, "en", "in the last 2 minutes"),
    (3600, "ru", "за последний час"),
    (21 * 3600, "ru", "за последний 21 час"),
    (2 * 3600, "ru", "за последние 2 часа"),
    (5 * 3600, "ru", "за последние 5 часов"),
    (3600, "ar", "خلال الساعة الأخيرة"),
    (2 * 3600, "ar", "خلال الساعتين الأخيرتين"),
    (5 * 3600, "ar", "خلال آخر 5 ساعات"),
    (24 * 3600, "ar", "خلال آخر 24 ساعة"),
    (3600, "zh", "在过去一小时内"),
    (24 * 3600, "zh", "在过去 24 小时内"),
    (24 * 3600, "fa", "در ۲۴ ساعت گذشته"),
    (24 * 3600, "hi", "पिछले 24 घंटों में"),
])
def test_window_phrases(seconds, language, phrase):
    notice = replace(NOTICE, reason="user_window", window_count=50, window_seconds=seconds)
    assert phrase in render_json(notice, language)["message"]


def test_user_window_without_a_known_window():
    notice = replace(NOTICE, reason="user_window", window_count=50, window_seconds=0)
    assert "recently sent" in render_json(notice)["message"]


def test_uninspectable_reason_names_every_sub_reason():
    notice = replace(NOTICE, reason="uninspectable", counts={"email": 0, "phone": 0}, samples=(),
                     uninspectable=SUB_REASONS + ("something_new",))
    assert render_json(notice)["message"] == \
        "Your request to upload.example.net was stopped because its content could not be checked for customer data."
    assert render_json(notice)["uninspectable"] == [*SUB_REASONS, "something_new"]
    text = _text(render_html(notice, "en"))
    for label in ("larger than the gateway can inspect", "compressed or encoded", "encrypted or password-protected",
                  "damaged", "cannot open", "nested too deeply", "took longer than allowed", "internal problem",
                  "The content could not be checked."):
        assert label in text
    assert "What was found" not in text and "Examples" not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_reason_renders_in_every_language(language):
    catalog = respond._catalog(language)
    for notice in (NOTICE,
                   replace(NOTICE, counts={}),
                   replace(NOTICE, reason="user_window", window_count=57, window_seconds=3600),
                   replace(NOTICE, reason="user_window", window_count=57),
                   replace(NOTICE, reason="uninspectable", uninspectable=("too_large",)),
                   replace(NOTICE, incident_id="unrecorded", contact="your IT security team", organisation="")):
        page = render_html(notice, language)
        message = render_json(notice, language)["message"]
        assert "$" not in page and "$" not in message
        assert "upload.example.net" in message
    assert catalog.messages["contact_default"] in render_html(replace(NOTICE, contact="your IT security team"), language)


def test_unrecorded_incident_says_so_instead_of_showing_an_id():
    notice = replace(NOTICE, incident_id="unrecorded")
    _, headers, body = block_response(notice, CHROME_NAVIGATION)
    assert headers["X-DLP-Incident"] == "unrecorded"
    assert b"could not be recorded" in body and b'class="id"' not in body


def test_hostile_values_are_escaped():
    hostile = "<script>alert(1)</script>"
    notice = replace(NOTICE, destination=f'evil.example"><script>x()</script>', samples=(hostile, "a&b"),
                     contact=f"{hostile} or sec@corp.example", organisation=hostile)
    for language in LANGUAGES:
        page = render_html(notice, language)
        assert "<script" not in page
        assert "&lt;script&gt;" in page and "a&amp;b" in page and "evil.example&quot;&gt;" in page
    _, _, body = block_response(notice, CURL)
    assert json.loads(body)["samples"][0] == hostile  # JSON is data: escaped by the JSON encoder, not HTML


def test_only_http_links_and_mail_addresses_become_links():
    page = render_html(replace(NOTICE, contact="javascript:alert(1) https://help.corp.example/dlp."), "en")
    assert 'href="https://help.corp.example/dlp"' in page and 'href="javascript' not in page


def test_incident_id_cannot_split_a_header():
    _, headers, _ = block_response(replace(NOTICE, incident_id="abc\r\nSet-Cookie: x=1"), CURL)
    assert headers["X-DLP-Incident"] == "abcSet-Cookie:x=1"


@pytest.mark.parametrize("incident, expected", [
    ("20261122-3fa9c1b2d4", "blocked by DLP, incident 20261122-3fa9c1b2d4"),
    ("", "blocked by DLP"),
    ("ünrecorded", "blocked by DLP, incident nrecorded"),
])
def test_close_reason(incident, expected):
    assert websocket_close_reason(incident) == expected


def test_close_reason_fits_a_close_frame_with_a_very_long_id():
    reason = websocket_close_reason("20261122-" + "ab" * 500 + "中文" * 50)
    assert reason.startswith("blocked by DLP, incident 20261122-abab")
    assert len(reason.encode("utf-8")) <= CLOSE_REASON_LIMIT == 123
    assert reason.isascii()


# -- translation files ---------------------------------------------------------------------

def _identifiers(message) -> set[str]:
    forms = message.values() if isinstance(message, dict) else [message]
    return {name for form in forms for name in Template(form).get_identifiers()}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_message(language):
    reference = respond._catalog("en").messages
    catalog = respond._catalog(language)
    assert set(catalog.messages) == set(reference), "missing or extra keys"
    for key, message in catalog.messages.items():
        assert message, key
        assert type(message) is type(reference[key]), key
        # A translation may drop a number it spells out ("in the last hour"), never invent one.
        assert _identifiers(message) <= _identifiers(reference[key]), key
        if isinstance(message, dict):
            categories, _ = PLURAL_RULES[catalog.plural]
            assert set(categories) <= set(message), f"{key}: plural forms missing"
            assert set(message) - set(categories) <= {str(n) for n in range(10)}, key


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sub_reason_has_a_label(language):
    messages = respond._catalog(language).messages
    assert all(f"uninspectable_{sub_reason}" in messages for sub_reason in SUB_REASONS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_language_metadata(language):
    catalog = respond._catalog(language)
    assert catalog.dir == ("rtl" if language in ("ar", "fa") else "ltr")
    assert catalog.lang.split("-")[0] == language
    assert catalog.plural in PLURAL_RULES
    assert catalog.digits == "" or len(catalog.digits) == 10


def test_translations_are_not_english_copies():
    english = respond._catalog("en").messages
    for language in LANGUAGES[1:]:
        messages = respond._catalog(language).messages
        same = [k for k, v in messages.items() if isinstance(v, str) and v == english[k] and v.strip(", ")]
        assert not same, f"{language}: {same}"


def _text(page: str) -> str:
    body = page.split("<body>", 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace(" .", ".").replace(" ,", ",").replace(" )", ")")
