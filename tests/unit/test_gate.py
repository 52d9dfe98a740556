"""The raw-byte gate lets only requests that cannot hold an identifier skip inspection."""

import base64
import gzip
import quopri

import pytest

from dlp_addon import gate
from dlp_addon.model import RequestData
from tests.corpus import generate

LIMIT = 64 * 1024 * 1024


def request(body: bytes = b"", path: str = "/submit", headers: tuple = ()) -> RequestData:
    return RequestData("POST", "example.net", path, headers, body)


def quiet(body: bytes = b"", path: str = "/submit", headers: tuple = ()) -> bool:
    return gate.quiet(request(body, path, headers), LIMIT)


@pytest.mark.parametrize("body", [
    b"",
    b"q=running+shoes&page=2&sort=price",
    b'{"liked": true, "post": 31337, "reaction": "heart", "draft": null}',
    b"Thanks for the quick reply, see you on Monday.",
    b"cpu,mem\n12,30\n13,31\n",
])
def test_ordinary_requests_are_quiet(body):
    assert quiet(body)
    assert quiet(path="/search?q=shoes&page=2")


@pytest.mark.parametrize("body", [
    b"contact: ivan.petrov@mail.ru",
    b"13800138000",
    b"+7 912 345-67-89",
    b"(202) 555-0143",
    b"202.555.0143",
    b"to=ivan%40mail.ru",
    b"to=ivan=40mail.ru",
    b"ivan&#64;mail.ru",
    b'"ivan\\u0040mail.ru"',
    b"ivan [at] mail [dot] ru",
    b"write to john at example dot com",
    b"john(at)example.com",
    b"ivan.petrov\tAT\tmail.ru",
    base64.b64encode(b"name,phone\nIvan,+79123456789\n"),
    "тел: ٠٥٠١٢٣٤٥٦٧".encode(),
    "手机 13800138000".encode("gb18030"),
    "13800138000".encode("utf-16-le"),
    quopri.encodestring("Иван <ivan@mail.ru>".encode()),
    gzip.compress(b"hello"),
    b"<p>call 1380<b></b>013 8000</p>",
    b"%PDF-1.4\nBT (138) Tj (0013) Tj (8000) Tj ET",
    b"a=138+0013+8000",
])
def test_anything_that_could_hide_an_identifier_opens_the_gate(body):
    assert not quiet(body)


def test_the_path_is_gated_too():
    assert not quiet(path="/users/ivan%40mail.ru")
    assert not quiet(path="/lookup?tel=13800138000")
    assert not quiet(path="/u/иван")


def test_a_declared_encoding_or_an_oversized_body_always_opens():
    assert not quiet(b"hello", headers=(("Content-Encoding", "gzip"),))
    assert quiet(b"hello", headers=(("Content-Encoding", "identity"),))
    assert not gate.quiet(request(b"hello world"), max_bytes=4)


@pytest.mark.parametrize("shape,locale", generate.leak_cases())
def test_no_planted_identifier_passes_on_its_own(shape, locale):
    # Every identifier of the seeded leak corpus, as it was first written there, alone and in
    # a sentence: none of them may look quiet, nor the whole leak.
    leak = generate.leak(shape, locale)
    assert not gate.quiet(leak.request or request(leak.body), LIMIT)
    for _kind, _canonical, written in leak.written:
        assert not quiet(written.encode("utf-8", "surrogatepass")), written
        assert not quiet(f"please note {written} thanks".encode("utf-8", "surrogatepass")), written
