"""Archives, compressed files and saved e-mails, through the whole engine: a customer list is
found however it is packed, and a bomb costs a bounded amount of time and memory."""

import bz2
import dataclasses
import functools
import gzip
import io
import json
import lzma
import random
import struct
import tarfile
import time
import tracemalloc
import zipfile
import zlib
from email.message import EmailMessage
from pathlib import Path

import phonenumbers
import pytest
import zstandard
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from dlp_addon.decide import decide
from dlp_addon.engine import Engine
from dlp_addon.policy import load_policy

POLICY = load_policy(Path(__file__).resolve().parents[2] / "policies" / "default.yaml")
ENGINE = Engine(POLICY, b"k" * 32)
REGIONS = ["CN", "RU", "IR", "SA", "AE", "EG", "US", "GB", "IN"]
DOMAINS = ["gmail.com", "yandex.ru", "qq.com", "mail.ru", "outlook.com", "163.com", "yahoo.co.in"]
NAMES = ["Иван Петров", "张伟", "Reza Karimi", "فاطمة", "Ahmed Hassan", "John Smith", "Priya Sharma"]
MB = 1024 * 1024
MOBILE = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)  # US numbers are both


def _phones(n: int) -> list[str]:
    rng, out = random.Random(20261201), []
    while len(out) < n:
        region = REGIONS[len(out) % len(REGIONS)]
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
        national = str(example.national_number)
        number = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{rng.randrange(10_000):04d}")
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in MOBILE:
            formatted = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
            if formatted not in out:
                out.append(formatted)
    return out


CSV = ("name,email,phone\n" + "".join(
    f"{NAMES[i % len(NAMES)]},customer{i}.{REGIONS[i % 9].lower()}@{DOMAINS[i % len(DOMAINS)]},{phone}\n"
    for i, phone in enumerate(_phones(20)))).encode()
FOUND = {"email": 20, "phone": 20}


def inspect(data: bytes, engine: Engine = ENGINE):
    inspection = engine.inspect_content(data)
    return inspection, decide(inspection, engine.policy).action


def reasons(inspection) -> list[str]:
    return [p.sub_reason for p in inspection.problems]


def measured(data: bytes, engine: Engine = ENGINE):
    """The inspection, its decision, seconds taken and peak Python-heap bytes (zlib, bz2 and
    lzma allocate through Python's allocator, so their buffers are counted too)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        inspection, action = inspect(data, engine)
        return inspection, action, time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def zip_of(members: dict, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def tar_of(members: dict, mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def patched_zip(data: bytes, **fields: int) -> bytes:
    """A one-member ZIP with header fields rewritten in both its local header and its central
    directory entry, as a hand-made archive would have them: zipfile cannot write lies."""
    local = {"flags": (6, "<H"), "method": (8, "<H"), "crc": (14, "<I"), "size": (22, "<I")}
    central = {"flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<I"), "size": (24, "<I")}
    out = bytearray(data)
    for signature, offsets in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        at = out.index(signature)
        for name, value in fields.items():
            offset, fmt = offsets[name]
            if name == "flags":
                value |= struct.unpack_from(fmt, out, at + offset)[0]
            struct.pack_into(fmt, out, at + offset, value)
    return bytes(out)


def mail(body: EmailMessage) -> bytes:
    body["From"] = "sales@shop-example.com"
    body["To"] = "partner@agency-example.com"
    body["Subject"] = "the list"
    return body.as_bytes()


def eml_with_zip() -> bytes:
    message = EmailMessage()
    message.set_content("See attached.")
    message.add_attachment(zip_of({"customers.csv": CSV}), maintype="application", subtype="zip",
                           filename="customers.zip")
    return mail(message)


def eml_quoted_printable() -> bytes:
    message = EmailMessage()
    message.set_content(CSV.decode(), cte="quoted-printable")
    return mail(message)


# -- every way of packing the list ------------------------------------------------------------

@pytest.mark.parametrize("packed, found", [
    (lambda: zip_of({"customers.csv": CSV}), FOUND),
    (lambda: zip_of({"export/inner.zip": zip_of({"customers.csv": CSV})}), FOUND),
    (lambda: zip_of({"customers.csv": CSV}, zipfile.ZIP_STORED), FOUND),
    (lambda: zip_of({"customers.csv": CSV}, zipfile.ZIP_BZIP2), FOUND),
    (lambda: zip_of({"customers.csv": CSV}, zipfile.ZIP_LZMA), FOUND),
    (lambda: tar_of({"customers.csv": CSV}, "w:gz"), FOUND),
    (lambda: tar_of({"docs/readme.txt": b"hello", "customers.csv": CSV}), FOUND),
    (lambda: gzip.compress(CSV), FOUND),
    (lambda: bz2.compress(CSV), FOUND),
    (lambda: lzma.compress(CSV), FOUND),
    (lambda: zstandard.ZstdCompressor().compress(CSV), FOUND),
    (lambda: gzip.compress(b"harmless\n") + gzip.compress(CSV), FOUND),  # every gzip member is read
    (eml_with_zip, {"email": 22, "phone": 20}),  # the sender and recipient count too
    (eml_quoted_printable, {"email": 22, "phone": 20}),
], ids=["zip", "zip-in-zip", "zip-stored", "zip-bzip2", "zip-lzma", "tar.gz", "tar", "gz", "bz2", "xz",
        "zst", "gz-members", "eml-zip-attachment", "eml-quoted-printable"])
def test_a_customer_list_is_found_however_it_is_packed(packed, found):
    inspection, action = inspect(packed())
    assert inspection.counts() == found and not inspection.problems and action == "block"


def test_places_name_the_member():
    inspection, _ = inspect(tar_of({"out/customers.csv": CSV}, "w:gz"))
    assert {e.where for e in inspection.evidence} == {"body:gzip:tar[out/customers.csv]:text"}
    inspection, _ = inspect(eml_with_zip())
    assert "body:eml[2 customers.zip]:zip[customers.csv]:text" in {e.where for e in inspection.evidence}


def test_a_mailing_leaks_through_its_recipients():
    message = EmailMessage()
    message["From"] = "news@shop-example.com"
    message["To"] = ", ".join(f"Customer {i} <c{i}@gmail.com>" for i in range(5))
    message["Cc"] = ", ".join(f"c{i}@yandex.ru" for i in range(5, 10))
    message["Bcc"] = ", ".join(f"c{i}@qq.com" for i in range(10, 15))
    message["Subject"] = "Our new catalogue"
    message.set_content("Dear customer, ...")
    inspection, action = inspect(message.as_bytes())
    assert inspection.counts()["email"] == 16 and action == "block"
    assert {e.where for e in inspection.evidence} == {"body:eml:headers"}


def test_a_forwarded_message_and_the_mime_preamble_are_read():
    inner = EmailMessage()
    inner["From"] = "a@gmail.com"
    inner["To"] = ", ".join(f"c{i}@mail.ru" for i in range(12))
    inner["Subject"] = "fw"
    inner.set_content("hi")
    outer = EmailMessage()
    outer.set_content("forwarding")
    outer.add_attachment(inner)
    outer.preamble = "hidden " + " ".join(f"p{i}@qq.com" for i in range(3))
    inspection, _ = inspect(mail(outer))
    assert inspection.counts()["email"] == 2 + 13 + 3


# -- bombs -----------------------------------------------------------------------------------

ZEROS = b"\0" * (50 * MB)


@functools.cache
def zero_zip(method: int = zipfile.ZIP_DEFLATED) -> bytes:
    return zip_of({"zeros.bin": ZEROS}, method)


def assert_bounded(seconds: float, peak: int, limit_mb: int = 30) -> None:
    # The bombs below expand to 50 MB and more: a bounded read stays far below that.
    assert seconds < 3 and peak < limit_mb * MB, (seconds, peak / MB)


def test_a_member_that_expands_1000_times_is_refused_before_it_is_read():
    inspection, action, seconds, peak = measured(zero_zip())
    assert reasons(inspection) == ["too_large"] and action == "block"
    assert "declares 52428800 bytes" in inspection.problems[0].detail
    assert_bounded(seconds, peak, limit_mb=5)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
                         ids=["deflate", "bzip2", "lzma"])
def test_a_member_lying_about_its_size_is_stopped_at_the_cap(method):
    # zipfile alone would decompress all 50 MB of a bzip2 member in one call.
    liar = patched_zip(zero_zip(method), size=1000)
    inspection, action, seconds, peak = measured(liar)
    assert reasons(inspection) == ["too_large"] and action == "block"
    assert "expands more than 200 times" in inspection.problems[0].detail
    assert_bounded(seconds, peak)


@pytest.mark.parametrize("declared", [50, 0])
def test_a_header_that_understates_a_member_hides_nothing(declared):
    # zipfile would stop at the declared size and, the CRC matching what it read, say nothing.
    liar = patched_zip(zip_of({"customers.csv": CSV}), size=declared, crc=zlib.crc32(CSV[:declared]))
    inspection, action = inspect(liar)
    assert inspection.counts() == FOUND and reasons(inspection) == ["corrupt"] and action == "block"


def test_nested_zips_stop_at_the_depth_limit():
    level = zip_of({"zeros.bin": b"\0" * MB})
    for depth in range(10):  # 42.zip-style: every level holds copies of the one below
        level = zip_of({f"{depth}-{copy}.zip": level for copy in range(2)})
    inspection, action, seconds, peak = measured(level)
    assert set(reasons(inspection)) == {"too_deep"} and action == "block"
    assert len(inspection.problems) == 2 ** 4  # four levels opened, the fifth refused
    assert_bounded(seconds, peak)


def test_too_many_members():
    archive = zip_of({f"{i}.txt": b"x" for i in range(10_001)})
    start = time.perf_counter()
    inspection, action = inspect(archive)
    assert reasons(inspection) == ["too_large"] and action == "block"
    assert "more than 10000 parts" in inspection.problems[0].detail
    assert time.perf_counter() - start < 5
    limits = dataclasses.replace(POLICY.limits, max_parts=5)
    engine = Engine(dataclasses.replace(POLICY, limits=limits), b"k" * 32)
    inspection, _ = inspect(tar_of({f"{i}.txt": b"x" for i in range(50)}), engine)
    assert reasons(inspection) == ["too_large"]


@pytest.mark.parametrize("compress", [
    gzip.compress, bz2.compress, lzma.compress, lambda b: zstandard.ZstdCompressor().compress(b),
], ids=["gzip", "bzip2", "xz", "zstd"])
def test_compressed_file_bombs(compress):
    bomb = compress(ZEROS)
    inspection, action, seconds, peak = measured(bomb)
    assert reasons(inspection) == ["too_large"] and action == "block"
    assert_bounded(seconds, peak)


def test_decoded_size_limit_across_members():
    limits = dataclasses.replace(POLICY.limits, max_decoded_bytes=3 * MB)
    engine = Engine(dataclasses.replace(POLICY, limits=limits), b"k" * 32)
    archive = zip_of({f"{i}.bin": bytes([65 + i]) * MB for i in range(6)})
    inspection, action = inspect(archive, engine)
    assert reasons(inspection) == ["too_large"] and "decoded-size limit" in inspection.problems[0].detail
    assert action == "block"


# -- what cannot be opened -------------------------------------------------------------------

@pytest.mark.parametrize("header", [{"flags": 0x1}, {"method": 99}], ids=["flag", "aes-method"])
def test_encrypted_member(header):
    inspection, action = inspect(patched_zip(zip_of({"customers.csv": CSV}), **header))
    assert reasons(inspection) == ["encrypted"] and action == "block"
    assert inspection.problems[0].where == "body:zip[customers.csv]"
    assert not inspection.evidence  # an encrypted member is never read


def test_truncated_zip_is_corrupt():
    archive = zip_of({"customers.csv": CSV, "more.csv": CSV})
    inspection, action = inspect(archive[:len(archive) // 2])
    assert reasons(inspection) == ["corrupt"] and inspection.problems[0].detail.startswith("ZIP archive does not open")
    assert action == "log"  # the default policy lets corrupt files pass, with a record


def test_what_a_broken_file_still_holds_is_counted():
    bad_crc = patched_zip(zip_of({"customers.csv": CSV}), crc=1234)
    for broken in (bad_crc, gzip.compress(CSV)[:-6], bz2.compress(CSV)[:-8], lzma.compress(CSV)[:-20],
                   tar_of({"customers.csv": CSV})[:600 + len(CSV) // 2]):
        inspection, action = inspect(broken)
        assert "corrupt" in reasons(inspection) and action == "block"
        assert inspection.counts()["email"] >= 10


def test_exceptions_name_their_class_not_their_content():
    inspection, _ = inspect(patched_zip(zip_of({"customers.csv": CSV}), crc=1234))
    assert inspection.problems[0].detail == "ZIP member is broken (BadZipFile); what could be read was inspected"


def test_a_compression_method_zipfile_lacks_is_unsupported():
    inspection, action = inspect(patched_zip(zip_of({"customers.csv": CSV}), method=9))  # Deflate64
    assert reasons(inspection) == ["unsupported"] and action == "block"


def test_absurdly_nested_mail_is_bounded():
    raw = b"From: a@gmail.com\r\nTo: b@gmail.com\r\nSubject: x\r\n\r\nhello\r\n"
    for _ in range(3000):
        raw = b"From: a@gmail.com\r\nTo: b@gmail.com\r\nContent-Type: message/rfc822\r\n\r\n" + raw
    inspection, action = inspect(raw)
    assert reasons(inspection) == ["too_deep"] and action == "block"


@pytest.mark.parametrize("data", [b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(64), b"Rar!\x1a\x07\x01\x00" + bytes(64)],
                         ids=["7z", "rar"])
def test_7z_and_rar_are_unsupported(data):
    inspection, action = inspect(data)
    assert reasons(inspection) == ["unsupported"] and action == "block"
    assert "cannot be opened by the gateway" in inspection.problems[0].detail


# -- what must pass ---------------------------------------------------------------------------

def test_a_code_archive_passes():
    package = {
        "name": "@acme/storefront", "version": "2.14.3",
        "repository": "git+ssh://git@github.com:acme/storefront.git",
        "dependencies": {"@babel/core": "^7.24.0", "lodash": "4.17.21", "@scope/pkg": "1.2.3"},
        "buildTime": 1733070000123, "buildNumber": 20241201093015,
    }
    members = {
        "package.json": json.dumps(package, indent=2).encode(),
        "src/app.py": b'@dataclass(frozen=True)\nclass Item:\n    id: int = 20241201093015\n\n'
                      b'@app.route("/items/<int:item_id>")\ndef item(item_id):\n    return {"ts": 1733070000}\n',
        "src/index.js": b'import core from "@babel/core";\nimport pkg from "@scope/pkg@1.2.3";\n'
                        b'// clone git@github.com:org/repo.git, published 2024-12-01T09:30:15Z\n'
                        b'const version = "10.22.3", started = 1733070000123;\n',
        "src/style.css": b'@import url("base.css");\n@media (max-width: 600px) {\n'
                         b'  .logo { background: url("img/logo@2x.png"); }\n}\n@font-face { font-family: x; }\n',
        "img/logo@2x.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "db/migrate/20241201093015_create_items.rb": b"class CreateItems < ActiveRecord::Migration[7.1]\nend\n",
        "CHANGELOG.md": b"## 2.14.3 (2024-12-01)\n- bump lodash@4.17.21, @babel/core@7.24.0\n- build 8812345678\n",
    }
    inspection, action = inspect(tar_of(members, "w:gz"))
    assert action == "allow" and not inspection.problems, inspection.counts()
    inspection, action = inspect(zip_of(members))
    assert action == "allow" and not inspection.problems, inspection.counts()
