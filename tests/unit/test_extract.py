"""Extraction: every way a body can arrive, and every way it can fail, ends in segments or problems."""

import gzip
import json
import random
import struct
import zlib

import brotli
import pytest
import zstandard

from dlp_addon.extract import extract_content, extract_request, json_doc
from dlp_addon.extract.charset import decode_text
from dlp_addon.model import RequestData
from dlp_addon.policy import Limits

LIMITS = Limits()


def texts(extraction) -> str:
    return "\n".join(s.text for s in extraction.segments)


def reasons(extraction) -> list[str]:
    return [p.sub_reason for p in extraction.problems]


# -- Content-Encoding ------------------------------------------------------------------------

@pytest.mark.parametrize("encode, header", [
    (gzip.compress, "gzip"),
    (lambda b: zlib.compress(b), "deflate"),
    (lambda b: zlib.compress(b)[2:-4], "deflate"),  # raw deflate, as some clients send it
    (brotli.compress, "br"),
    (lambda b: zstandard.ZstdCompressor().compress(b), "zstd"),
    (lambda b: brotli.compress(gzip.compress(b)), "gzip, br"),  # stacked: applied in header order
    (lambda b: b, "identity"),
])
def test_content_encodings_are_undone(encode, header):
    extraction = extract_content(encode(b"write to a@example.com"), LIMITS, content_encoding=header)
    assert texts(extraction) == "write to a@example.com" and not extraction.problems


def test_every_gzip_member_is_read():
    # mitmproxy 12.2.1+ would return only the first member.
    body = gzip.compress(b"harmless ") + gzip.compress(b"hidden@example.com")
    assert "hidden@example.com" in texts(extract_content(body, LIMITS, content_encoding="gzip"))


def test_every_zstd_frame_is_read():
    compress = zstandard.ZstdCompressor().compress
    body = compress(b"harmless ") + compress(b"hidden@example.com")
    assert "hidden@example.com" in texts(extract_content(body, LIMITS, content_encoding="zstd"))


@pytest.mark.parametrize("body, header", [
    (b"not gzip at all", "gzip"),
    (gzip.compress(b"a@example.com " * 100)[:-9], "gzip"),  # truncated
    (zstandard.ZstdCompressor().compress(b"a@example.com " * 100)[:-3], "zstd"),
    (b"\xff\xfe junk", "br"),
    (b"plain", "x-custom"),
])
def test_broken_or_unknown_coding_is_a_problem_not_an_empty_body(body, header):
    extraction = extract_content(body, LIMITS, content_encoding=header)
    assert reasons(extraction) == ["bad_encoding"] and not extraction.segments


@pytest.mark.parametrize("compress, header", [
    (gzip.compress, "gzip"),
    (brotli.compress, "br"),
    (lambda b: zstandard.ZstdCompressor().compress(b), "zstd"),
])
def test_compression_bombs_stop_at_the_ratio_limit(compress, header):
    bomb = compress(b"\0" * (64 * 1024 * 1024))
    extraction = extract_content(bomb, LIMITS, content_encoding=header)
    assert reasons(extraction) == ["too_large"] and "expands more than" in extraction.problems[0].detail


def test_decoded_size_limit():
    limits = Limits(max_decoded_bytes=1000, max_ratio=10_000)
    extraction = extract_content(gzip.compress(b"a" * 5000), limits, content_encoding="gzip")
    assert reasons(extraction) == ["too_large"] and "decoded-size limit" in extraction.problems[0].detail


def test_body_over_the_inspection_limit():
    extraction = extract_content(b"x" * 2000, Limits(max_body_bytes=1000))
    assert reasons(extraction) == ["too_large"] and not extraction.segments


# -- charsets --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, charset", [
    ("张伟,zhang@qq.com,手机 13800138000", "gbk"),
    ("张伟,zhang@qq.com,手机 13800138000", "gb18030"),
    ("Иван Петров, ivan@почта.рф, тел. 8 912 345-67-89", "cp1251"),
    ("Иван Петров, ivan@почта.рф, тел. 8 912 345-67-89", "koi8-r"),
    ("محمد العتيبي، هاتف 0501234567", "cp1256"),
    ("name\temail\nAlice\talice@example.com", "utf-16-le"),
    ("name\temail\nAlice\talice@example.com", "utf-16-be"),
    ("имя\tтелефон\nИван\t+7 912 345 67 89", "utf-16-le"),
    ("\ufeffname\temail\nAlice\talice@example.com", "utf-16-le"),  # what Excel writes
    ("\ufeff电话,邮箱", "utf-8"),
])
def test_undeclared_charsets_are_detected(text, charset):
    assert decode_text(text.encode(charset)) == text.lstrip("\ufeff")


def test_declared_charset_is_used_and_a_wrong_one_is_not_believed():
    text = "Иван ivan@почта.рф"
    assert decode_text(text.encode("koi8-r"), "koi8-r") == text
    assert decode_text(text.encode("cp1251"), "utf-8") == text  # the bytes are not UTF-8
    assert decode_text(text.encode("cp1251"), "no-such-charset") == text


def test_utf8_is_judged_on_its_start_whatever_follows():
    # The whole body is decoded once where it is UTF-8 throughout; a bad byte only past the
    # sample that the charset is judged on leaves it UTF-8, its bad bytes replaced, as does a
    # sequence the sample ends inside of; one inside the sample makes it another charset.
    from dlp_addon.extract.charset import _DETECTION_SAMPLE, detect

    long_text = "Иван, тел. +7 912 345 67 89\n" * (3 * _DETECTION_SAMPLE // 40)
    assert decode_text(long_text.encode()) == long_text
    bad_after = long_text.encode()[:_DETECTION_SAMPLE + 10] + b"\xff" + b"tail"
    assert detect(bad_after) == ("utf-8", 0)
    assert decode_text(bad_after) == bad_after.decode("utf-8", errors="replace")
    cut_at_the_end = b"a" * (_DETECTION_SAMPLE - 1) + b"\xd0" + b"x" * 100
    assert detect(cut_at_the_end) == ("utf-8", 0)
    assert decode_text(cut_at_the_end) == cut_at_the_end.decode("utf-8", errors="replace")
    bad_inside = "Привет, мир. ".encode("cp1251") * 8000
    assert detect(bad_inside)[0] != "utf-8"
    # A declared charset is believed on the same terms.
    assert detect(bad_after, "utf-8") == ("utf-8", 0) and decode_text(bad_after, "utf-8") == decode_text(bad_after)
    assert detect(bad_inside, "utf-8")[0] != "utf-8" and decode_text(bad_inside, "utf-8") == decode_text(bad_inside)
    long_cp1251 = long_text.encode("cp1251")
    assert detect(long_cp1251, "windows-1251") == ("cp1251", 0) and decode_text(long_cp1251, "cp1251") == long_text


def test_html_meta_charset():
    page = '<html><head><meta charset="windows-1251"></head><body>Привет, мир</body></html>'
    assert decode_text(page.encode("cp1251")) == page


# -- structure -------------------------------------------------------------------------------

def test_url_path_and_query_values_are_segments():
    request = RequestData("GET", "h", "/u/john%40example.com/p?email=a%40example.com&q=%7B%22e%22%3A%22c%40example.com%22%7D")
    segments = {s.where: s for s in extract_request(request, LIMITS).segments}
    assert segments["url:path"].text == "/u/john@example.com/p"
    assert segments["query:email"].text == "a@example.com" and segments["query:email"].field == "email"
    assert segments["query:q:json:$.e"].text == "c@example.com"  # a JSON document inside a parameter


def test_urlencoded_form_fields_keep_their_names_and_charset():
    body = "name=%D0%98%D0%B2%D0%B0%D0%BD&phone=%2B7+912+345-67-89&email=a%40b.com&email=c%40d.com"
    extraction = extract_content(body.encode(), LIMITS, content_type="application/x-www-form-urlencoded")
    by_where = [(s.where, s.field, s.text) for s in extraction.segments]
    assert ("body:form:name", "name", "Иван") in by_where
    assert ("body:form:phone", "phone", "+7 912 345-67-89") in by_where
    assert [s.group for s in extraction.segments if s.field == "email"] == ["body:form:email"] * 2


def test_form_field_names_that_could_be_identifiers_are_read():
    # A list can leave as the names of a form's fields as well as in their values.
    body = "79161234567=on&%2B79261234567=on&ivan%40mail.ru=1&utm_source=x&page=2"
    extraction = extract_content(body.encode(), LIMITS, content_type="application/x-www-form-urlencoded")
    names = [s.text for s in extraction.segments if s.where.endswith(":name")]
    assert names == ["79161234567", "+79261234567", "ivan@mail.ru"]
    assert all(s.group == "body:form:names" for s in extraction.segments if s.where.endswith(":name"))


def test_a_body_declared_a_form_but_holding_no_field_is_read_as_text():
    # `curl --data` labels any text a form; with no "=" in it, it is no field name either.
    body = "customers: +79161234567, %2B79261234567, ivan@mail.ru"
    extraction = extract_content(body.encode(), LIMITS, content_type="application/x-www-form-urlencoded")
    assert extraction.segments[0].text == body and extraction.segments[0].where == "body:form:text"
    assert any("+79261234567" in s.text for s in extraction.segments[1:])  # its escapes undone too


def test_gbk_form_is_decoded_as_a_whole():
    from urllib.parse import quote_from_bytes
    body = "&".join(f"{k}={quote_from_bytes(v.encode('gbk'))}" for k, v in
                    [("name", "张伟"), ("note", "手机号码"), ("city", "北京市朝阳区")])
    texts_ = [s.text for s in extract_content(body.encode(), LIMITS).segments]
    assert texts_ == ["张伟", "手机号码", "北京市朝阳区"]


def test_unlabelled_form_is_recognised():
    extraction = extract_content(b"tel=13800138000&tel=13912345678", LIMITS, content_type="text/plain")
    assert [s.field for s in extraction.segments] == ["tel", "tel"]


def multipart(*parts: bytes, boundary: bytes = b"XyZ") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts) + b"--" + boundary + b"--\r\n"


def test_multipart_parts_keep_line_breaks_and_odd_header_order():
    csv = b"name,email\r\nA,a@example.com\r\nB,b@example.com"
    body = multipart(
        # Content-Type first: mitmproxy's multipart_form drops such a part.
        b'Content-Type: text/csv\r\nContent-Disposition: form-data; name="file"; filename="customers.csv"\r\n\r\n' + csv,
        b'Content-Disposition: form-data; name="phone"\r\n\r\n+86 138 0013 8000',
        b'Content-Disposition: form-data; name="note"\r\nContent-Transfer-Encoding: base64\r\n\r\nZUBleGFtcGxlLmNvbQ==',
    )
    extraction = extract_content(body, LIMITS, content_type="multipart/form-data; boundary=XyZ")
    segments = {s.where: s for s in extraction.segments}
    assert segments["body:multipart[1 customers.csv]:text"].text == csv.decode()
    assert segments["body:multipart[2 phone]"].field == "phone"
    assert segments["body:multipart[3 note]"].text == "e@example.com"
    assert not extraction.problems


def test_multipart_file_is_opened_by_content_not_by_label():
    body = multipart(b'Content-Disposition: form-data; name="f"; filename="data.bin"\r\n'
                     b'Content-Type: application/octet-stream\r\n\r\n'
                     + '姓名,手机\n张伟,13800138000'.encode("gbk"))
    assert "张伟,13800138000" in texts(extract_content(body, LIMITS, content_type="multipart/form-data; boundary=XyZ"))


def test_broken_multipart_is_read_as_text_and_recorded():
    body = multipart(b'Content-Disposition: form-data; name="f"\r\n\r\na@example.com')[:-9]
    extraction = extract_content(body, LIMITS, content_type="multipart/form-data; boundary=XyZ")
    assert reasons(extraction) == ["corrupt"] and "a@example.com" in texts(extraction)


def test_too_many_parts():
    body = multipart(*[b'Content-Disposition: form-data; name="f"\r\n\r\nv'] * 20)
    extraction = extract_content(body, Limits(max_parts=5), content_type="multipart/form-data; boundary=XyZ")
    assert reasons(extraction) == ["too_large"] and len(extraction.segments) == 5


def test_json_values_keys_numbers_and_groups():
    body = b'{"rows": [{"phone": "13800138000", "n": 8613800138000, "ok": true, "x": 1.5},' \
           b' {"phone": "13912345678"}], "a@example.com": {"b": null}}'
    segments = extract_content(body, LIMITS, content_type="application/json").segments
    by_where = {s.where: s for s in segments}
    assert by_where["body:json:$.rows[0].phone"].field == "phone"
    assert by_where["body:json:$.rows[1].phone"].group == by_where["body:json:$.rows[0].phone"].group
    assert by_where["body:json:$.rows[0].n"].text == "8613800138000"
    assert any(s.text == "a@example.com" for s in segments)
    assert not any(s.text in ("True", "1.5") for s in segments)


def test_ndjson_and_unlabelled_json():
    body = b'{"email": "a@example.com"}\n{"email": "b@example.com"}\n'
    extraction = extract_content(body, LIMITS, content_type="text/plain")
    assert [s.where for s in extraction.segments] == ["body:json:$[0].email", "body:json:$[1].email"]


def test_json_that_is_not_json_is_read_as_text():
    extraction = extract_content(b'{"email": "a@example.com", broken', LIMITS, content_type="application/json")
    assert "a@example.com" in texts(extraction) and not extraction.problems


def test_absurdly_nested_json_is_bounded():
    extraction = extract_content(b"[" * 100_000 + b"]" * 100_000, LIMITS, content_type="application/json")
    assert "too_deep" in reasons(extraction)


def test_json_read_in_document_order_at_any_nesting():
    # Shallow nesting is walked by recursion, deep nesting by a stack: both read the same
    # values, in the same order, with the same places, fields and groups.
    record = ('{"e@x.com": 1, "rows": [{"phone": "13800138000", "n": 8613800138000, "f": 1.5},'
              ' {"phone": "+7 912 345 67 89", "tags": ["a@b.com", 79161234567]}], "id": 4444444}')

    def read(depth: int) -> list[tuple]:
        body = ('{"w": ' * depth + record + "}" * depth).encode()
        prefix = "." + ".".join(["w"] * depth) if depth else ""
        segments = extract_content(body, LIMITS, content_type="application/json").segments
        return [(s.text, s.where.replace(prefix, "", 1), s.field if depth == 0 or s.field != "w" else "",
                 s.group.replace(prefix, "", 1), s.layout) for s in segments]

    shallow = read(0)
    # The id is a number under a key that names it as something else: not read (see below).
    assert [text for text, *_ in shallow] == ["e@x.com", "13800138000", "8613800138000", "+7 912 345 67 89",
                                              "a@b.com", "79161234567"]
    assert ("79161234567", "body:json:$.rows[1].tags[1]", "tags", "body:json:$.rows[*].tags[*]", "value") in shallow
    assert read(3) == shallow and read(json_doc._RECURSE_TO + 5) == shallow


def test_json_numbers_named_as_something_else_are_not_read_but_counted():
    # A number can only ever be a phone number, and one whose key calls it an id, a time or
    # an amount is never believed as one: such numbers are not handed to the detectors, at
    # any depth and in lists under such a key, but they were inspected.
    document = {"order_id": 13800138000, "ts": [17000000000, 17000000001], "phone": 13800138000,
                "values": [79161234567], "note": "13912345678"}
    for depth in (0, json_doc._RECURSE_TO + 2):
        body = ('{"w": ' * depth + json.dumps(document) + "}" * depth).encode()
        extraction = extract_content(body, LIMITS, content_type="application/json")
        fields = [(s.field, s.text) for s in extraction.segments]
        assert fields == [("phone", "13800138000"), ("values", "79161234567"), ("note", "13912345678")]
        assert extraction.bytes_inspected == sum(len(t) for t in ("13800138000", "17000000000", "17000000001",
                                                                  "13800138000", "79161234567", "13912345678"))


def test_json_keys_are_read_when_they_could_be_an_identifier():
    keys = ["sha256", "x1", "utf8", "e@x.com", "13800138000", "+7", "0044 20", "ivan2 (at) mail.ru", "name"]
    body = json.dumps({key: 1 for key in keys}).encode()
    extraction = extract_content(body, LIMITS, content_type="application/json")
    assert [s.text for s in extraction.segments] == ["e@x.com", "13800138000", "+7", "0044 20", "ivan2 (at) mail.ru"]
    assert all(s.where.endswith(":key") for s in extraction.segments)


def test_a_long_json_list_is_walked_against_the_clock():
    # One container of 100,000 values: the clock is read inside it, not only between containers.
    from dlp_addon.extract.budget import Budget

    budget = Budget(LIMITS, deadline=0.0)  # already past when the walk starts
    assert json_doc.extract("[" + ",".join(["13800138000"] * 100_000) + "]", budget, "body", 0)
    assert [p.sub_reason for p in budget.problems] == ["timeout"] and 0 < len(budget.segments) < 100_000


def test_html_entities_are_decoded():
    extraction = extract_content(b"<p>write to john&#64;example.com</p>", LIMITS, content_type="text/html")
    assert "john@example.com" in texts(extraction)


def test_strings_inside_binary():
    # An unknown binary export, such as a database page, can still carry a contact list.
    blob = b"SQLite format 3\x00\x10\x00\x01\x01\xff owner@example.com \x00\x00" + "名单 x@y.com".encode("utf-16-le")
    extraction = extract_content(blob, LIMITS, content_type="application/octet-stream")
    assert [s.where for s in extraction.segments] == ["body:strings"]
    assert "owner@example.com" in texts(extraction) and "x@y.com" in texts(extraction)


def png(pixels: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 256, len(pixels) // 769, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def test_a_real_picture_yields_no_identifiers_but_a_list_behind_a_picture_header_is_read():
    from dlp_addon.engine import Engine
    from dlp_addon.policy import Policy
    engine = Engine(Policy(), b"k" * 32)
    picture = png(random.Random(7).randbytes(769 * 300))
    assert engine.inspect_content(picture, content_type="image/png").counts() == {"email": 0, "phone": 0}
    disguised = picture[:40] + b"\n".join(f"c{i}@example.com".encode() for i in range(20))
    assert engine.inspect_content(disguised, content_type="image/png").counts()["email"] == 20


def test_deadline_is_a_timeout_problem():
    extraction = extract_content(b"a@example.com", LIMITS, deadline=0.0)
    assert reasons(extraction) == ["timeout"]


def test_json_repeated_keys_are_all_read():
    body = "{" + ", ".join(f'"e": "user{i}@example.com"' for i in range(50)) + "}"
    assert texts(extract_content(body.encode(), LIMITS, content_type="application/json")).count("@") == 50


def test_data_hidden_around_archives_is_read():
    import io
    import tarfile
    import zipfile
    rows = "".join(f"c{i}@example.com\n" for i in range(20)).encode()
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "c19@example.com" in texts(extract_content(zipped.getvalue() + rows, LIMITS))
    assert "c19@example.com" in texts(extract_content(gzip.compress(b"hello") + rows, LIMITS))
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w") as archive:
        info = tarfile.TarInfo("a.txt")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    raw = tarred.getvalue()
    padded = rows + b"\0" * (-len(rows) % 512)
    extraction = extract_content(raw[:1024] + padded + raw[1024:], LIMITS)
    assert "c19@example.com" in texts(extraction) and "corrupt" in reasons(extraction)
