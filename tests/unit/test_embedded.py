"""Encodings inside bodies and fields: whatever base64, percent, \\u, character references or
quoted-printable hide is found, and what hides nothing costs next to nothing."""

import base64
import io
import json
import quopri
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from dlp_addon.engine import Engine
from dlp_addon.extract import content, extract_content
from dlp_addon.extract.budget import Budget
from dlp_addon.policy import Limits, load_policy

ENGINE = Engine(load_policy(Path(__file__).resolve().parents[2] / "policies" / "default.yaml"), b"k" * 32)
LIMITS = Limits()
CSV = "name,email,phone\n" + "".join(f"Customer {i},customer{i}@example.com,+7 912 345-67-{i:02d}\n"
                                     for i in range(12))
ALL = {"email": 12, "phone": 12}
EMAILS = [f"customer{i}@example.com" for i in range(12)]


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def counts(data: bytes, content_type: str = "") -> dict[str, int]:
    inspection = ENGINE.inspect_content(data, content_type=content_type)
    assert not inspection.problems
    return inspection.counts()


def places(data: bytes, content_type: str = "") -> set[str]:
    return {s.where for s in extract_content(data, LIMITS, content_type=content_type).segments}


def zipped(name: str, data: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def png(pixels: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


# -- base64 ----------------------------------------------------------------------------------

def test_data_uri_of_a_csv():
    page = f'<html><body><a href="data:text/csv;base64,{b64(CSV)}">export</a></body></html>'
    assert counts(page.encode(), "text/html") == ALL


def test_base64_json_field_holding_a_csv():
    body = json.dumps({"name": "export.csv", "content": b64(CSV)}).encode()
    assert counts(body, "application/json") == ALL
    assert "body:json:$.content:base64:text" in places(body, "application/json")


def test_whole_body_in_base64_standard_urlsafe_unpadded_and_mime_wrapped():
    data = CSV.encode()
    for body in (b64(CSV).encode(), base64.urlsafe_b64encode(data).rstrip(b"="), base64.encodebytes(data)):
        assert counts(body, "text/plain") == ALL


def test_url_safe_alphabet_is_decoded():
    encoded = base64.urlsafe_b64encode(b"customer1@example.com ~~~ ???").decode()
    assert "-" in encoded and "_" in encoded  # "~~~" and "???" encode to "+" and "/" in standard base64
    assert counts(json.dumps({"v": encoded}).encode(), "application/json")["email"] == 1


def test_the_original_stays_a_segment_next_to_the_decoded_one():
    body = f"note: see attachment {b64(CSV)} thanks".encode()
    segments = extract_content(body, LIMITS, content_type="text/plain").segments
    assert [s.where for s in segments] == ["body:text", "body:base64:text"]
    assert segments[0].text == body.decode() and segments[1].text == CSV


def test_base64_zip_inside_json_inside_multipart():
    payload = json.dumps({"attachments": [{"name": "customers.zip", "data": b64(zipped("customers.csv", CSV))}]})
    body = (b'--XyZ\r\nContent-Disposition: form-data; name="meta"; filename="upload.json"\r\n'
            b"Content-Type: application/json\r\n\r\n" + payload.encode() + b"\r\n--XyZ--\r\n")
    content_type = "multipart/form-data; boundary=XyZ"
    where = "body:multipart[1 upload.json]:json:$.attachments[0].data:base64"
    if "zip" not in content._extractors():
        # Until archives are opened, the zip is at least decoded and handed on as content.
        assert any(p.startswith(where) for p in places(body, content_type))
        pytest.skip("no zip extractor registered yet")
    assert counts(body, content_type) == ALL
    assert f"{where}:zip[customers.csv]:text" in places(body, content_type)


def test_jwt_payload_is_opened_but_not_its_header_or_signature():
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    token = ".".join([part(b'{"alg":"HS256","typ":"JWT"}'),
                      part(json.dumps({"sub": "42", "email": "customer1@example.com"}).encode()),
                      part(random.Random(1).randbytes(32))])
    body = json.dumps({"token": token}).encode()
    assert counts(body, "application/json")["email"] == 1
    decoded = sorted(p for p in places(body, "application/json") if ":base64" in p)
    assert decoded == ["body:json:$.token:base64:json:$.email", "body:json:$.token:base64:json:$.sub"]


def test_nesting_beyond_the_depth_limit_is_a_problem():
    value = "customer1@example.com"
    for _ in range(LIMITS.max_depth + 2):
        value = b64(value)
    inspection = ENGINE.inspect_content(value.encode(), content_type="text/plain")
    assert [p.sub_reason for p in inspection.problems] == ["too_deep"]
    shallow = b64(b64(b64("customer1@example.com")))
    assert counts(shallow.encode(), "text/plain") == {"email": 1, "phone": 0}


def test_decoded_output_spends_the_decoded_size_limit():
    body = json.dumps({"content": b64(CSV * 20)}).encode()
    extraction = extract_content(body, Limits(max_decoded_bytes=1000), content_type="application/json")
    assert [p.sub_reason for p in extraction.problems] == ["too_large"]


@pytest.mark.parametrize("blob", [
    random.Random(2).randbytes(200_000),  # random bytes: an encrypted file, a key
    png(random.Random(3).randbytes(200_000)),  # a picture
    random.Random(4).randbytes(32),  # a token, a signature
])
def test_blobs_that_hide_nothing_give_no_segments_and_little_work(blob):
    budget = Budget(LIMITS)
    body = json.dumps({"avatar": "data:image/png;base64," + b64(blob), "sig": b64(blob)[:43]})
    content.open_content(body.encode(), budget, content_type="application/json", where="body", depth=0)
    assert [s.where for s in budget.segments] == ["body:json:$.avatar", "body:json:$.sig"]
    assert budget.decoded_bytes <= 2 * 384  # the first bytes only, never the whole blob


@pytest.mark.parametrize("value", [
    "3f2a9c1e8b7d6f5a4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f",  # sha256
    "550e8400-e29b-41d4-a716-446655440000",  # uuid
    "1700000000123456789012",  # digits
    "internationalization",  # a word
])
def test_ids_hashes_and_words_are_not_decoded(value):
    budget = Budget(LIMITS)
    content.add_value(value, budget, where="v", field="id", group="v", depth=0)
    assert budget.decoded_bytes == 0 and [s.text for s in budget.segments] == [value]


def test_a_list_behind_a_picture_header_in_base64_is_read():
    disguised = png(random.Random(5).randbytes(3000))[:40] + CSV.encode()
    assert counts(json.dumps({"photo": b64(disguised)}).encode(), "application/json")["email"] == 12


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le"])  # with a BOM and without, as Windows tools write
def test_utf16_text_in_base64_is_read(codec):
    encoded = base64.b64encode(CSV.encode(codec)).decode()
    assert counts(json.dumps({"script": encoded}).encode(), "application/json") == ALL


# -- textual escapes -------------------------------------------------------------------------

def test_percent_encoding_inside_text():
    body = "\n".join(f"GET /track?to={e.replace('@', '%40')}&tel=%2B7%20912%20345-67-{i:02d}"
                     for i, e in enumerate(EMAILS))
    assert counts(body.encode(), "text/plain")["email"] == 12
    assert "body:percent:text" in places(body.encode(), "text/plain")


def test_a_long_log_decodes_only_its_encoded_parts_and_finds_them_all():
    # A beacon log: thousands of plain parameters, a few encoded ones. Only the encoded parameters
    # (and lines without parameters) are decoded again, and nothing they hide is lost.
    filler = "&".join(f"p{i}={i * 7919}" for i in range(40))
    lines = [f"v=2&{filler}&dl=https%3A%2F%2Fshop.example.com%2Fp%2F{i}" for i in range(200)]
    lines[50] = f"v=2&{filler}&uid={EMAILS[0].replace('@', '%40')}&x=1"
    lines[120] = f"note%3A%20write%20to%20{EMAILS[1].replace('@', '%40')}%20or%20call%20%2B7%20912%20345-67-01"
    lines[180] = f"v=2&tel=%2B7%20912%20345-67-02&{filler}"
    body = "\n".join(lines).encode()
    assert counts(body, "text/plain") == {"email": 2, "phone": 2}
    decoded = [s for s in extract_content(body, LIMITS, content_type="text/plain").segments
               if s.where == "body:percent:text"]
    assert len(decoded) == 1 and len(decoded[0].text) < len(body) / 10


def test_percent_encoding_inside_a_json_value():
    body = json.dumps({"note": " ".join(e.replace("@", "%40") for e in EMAILS)}).encode()
    assert counts(body, "application/json")["email"] == 12


def test_json_escapes_in_js_source_and_logs():
    source = "const list = [" + ", ".join(f'"{e}"'.replace("@", "\\u0040") for e in EMAILS) + "];"
    assert counts(source.encode(), "application/javascript")["email"] == 12
    log = 'INFO user="\\u0438\\u0432\\u0430\\u043d\\u0040\\u043f\\u0440\\u0438\\u043c\\u0435\\u0440.\\u0440\\u0444" ok'
    assert counts(log.encode(), "text/plain")["email"] == 1  # иван@пример.рф


def test_json_escapes_keep_the_non_ascii_around_them():
    text = "Иван Петров: ivan\\u0040пример.рф, 张伟"
    segments = extract_content(text.encode(), LIMITS, content_type="text/plain").segments
    assert segments[-1].text == "Иван Петров: ivan@пример.рф, 张伟"


@pytest.mark.parametrize("reference", ["&#64;", "&commat;", "&#x40;", "&#X40;"])
def test_character_references_in_any_text(reference):
    body = "\n".join(e.replace("@", reference) for e in EMAILS)
    assert counts(body.encode(), "text/plain")["email"] == 12
    assert counts(json.dumps({"bio": body}).encode(), "application/json")["email"] == 12


def test_a_query_string_in_text_is_not_read_as_references():
    segments = extract_content(b"GET /?a=1&para=2&copy=3 HTTP/1.1", LIMITS, content_type="text/plain").segments
    assert [s.text for s in segments] == ["GET /?a=1&para=2&copy=3 HTTP/1.1"]


def test_quoted_printable_escapes_and_soft_line_breaks():
    text = "Customers: " + ", ".join(EMAILS)
    soft_broken = quopri.encodestring(text.encode())
    assert b"=\n" in soft_broken
    escaped = soft_broken.replace(b"@", b"=40")
    assert counts(escaped, "text/plain")["email"] == 12
    assert "body:qp:text" in places(escaped, "text/plain")


def test_quoted_printable_utf8():
    body = quopri.encodestring("Иван: иван@пример.рф".encode()).replace(b"@", b"=40")
    assert counts(body, "text/plain")["email"] == 1


def test_escapes_nested_in_each_other():
    percent_of_reference = "%26%2364%3B".join(["customer1", "example.com"])  # "&#64;" percent-encoded
    assert counts(percent_of_reference.encode(), "text/plain")["email"] == 1
    percent_in_base64 = b64(" ".join(e.replace("@", "%40") for e in EMAILS))
    assert counts(json.dumps({"d": percent_in_base64}).encode(), "application/json")["email"] == 12


def test_a_lone_surrogate_next_to_escapes_is_no_error():
    body = b'{"v": "\\ud800 customer1%40example.com =40 \\u0040"}'
    assert counts(body, "application/json")["email"] == 1


def test_a_benign_api_body_with_blobs_ids_and_urls_yields_nothing():
    rng = random.Random(6)
    items = [{"id": f"{rng.getrandbits(128):032x}", "etag": b64(rng.randbytes(16)),
              "thumb": "data:image/png;base64," + b64(png(rng.randbytes(2000))),
              "url": f"https://cdn.example.net/a%20b/{rng.getrandbits(64):x}.png?v={rng.randrange(99)}",
              "note": "Shipped at 10:00 &amp; signed, see https://example.net/x?y=1&z=2"} for _ in range(50)]
    inspection = ENGINE.inspect_content(json.dumps({"items": items}).encode(), content_type="application/json")
    assert inspection.counts() == {"email": 0, "phone": 0} and not inspection.problems


def test_base64_inside_long_prose_of_any_script_is_opened():
    # A long text is only searched run by run when it holds a run of sixteen base64
    # characters; one list pasted as base64 into a page of prose is such a run.
    rows = "\n".join(f"Имя {i},+7916{1234500 + i}" for i in range(12))
    for prose in ("Это обычный текст без чисел. " * 60, "这是一段普通的文字。" * 120, "Plain words here. " * 60):
        body = (prose + " " + b64(rows) + " " + prose).encode()
        assert counts(body, "text/plain; charset=utf-8").get("phone") == 12
        assert not any(counts(prose.encode(), "text/plain; charset=utf-8").values())


def test_the_quick_looks_for_escapes_answer_as_the_patterns_do():
    from dlp_addon.extract import embedded

    rng = random.Random(20261208)
    alphabet = "ab=&%;#\\u0041x2F\n&#;"
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        assert embedded._has_references(text) == bool(embedded._REFERENCE.search(text)), repr(text)
        assert embedded._has_json_escapes(text) == bool(embedded._JSON_ESCAPES.search(text)), repr(text)
        # The parameters holding an escape, found from the escapes: those that splitting gives.
        split = [pair for pair in text.split("&") if "%" in pair or "\\u" in pair]
        assert embedded._escaped_pairs(text) == split, repr(text)
