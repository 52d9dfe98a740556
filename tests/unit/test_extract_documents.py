"""Documents: customer lists inside office files, PDFs and RTF are found; benign ones are not blocked.

Every file is generated here, with seeded data, by the libraries people's tools write them
with (openpyxl, python-docx, python-pptx, odfpy, fpdf2, xlwt, msoffcrypto-tool), and run
through the full engine. `python -m tests.unit.test_extract_documents` prints the recall
per format and the time per MB of a large workbook.
"""

from __future__ import annotations

import datetime
import functools
import io
import logging
import random
import re
import struct
import time
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import phonenumbers as pn
import pytest
from faker import Faker

from dlp_addon.decide import decide
from dlp_addon.engine import Engine
from dlp_addon.extract import extract_content, xlsx
from dlp_addon.extract.budget import Budget
from dlp_addon.model import EMAIL, PHONE
from dlp_addon.policy import Limits, load_policy

SEED = 20261122
CUSTOMERS = 30
LIMITS = Limits()


@functools.cache
def engine() -> Engine:
    return Engine(load_policy("policies/default.yaml"), b"k" * 32)


def inspect(data: bytes):
    return engine().inspect_content(data)


def action(inspection) -> str:
    return decide(inspection, engine().policy).action


def reasons(data: bytes, limits: Limits = LIMITS) -> list[str]:
    return [p.sub_reason for p in extract_content(data, limits).problems]


def segments(data: bytes, limits: Limits = LIMITS) -> dict[str, str]:
    return {s.where: s.text for s in extract_content(data, limits).segments}


# ---------------------------------------------------------------------------------- customers

@dataclass(frozen=True)
class Market:
    region: str
    header: tuple[str, str, str, str, str]  # id, name, email, phone as written, mobile as a number
    idn_domain: str
    free_mail: tuple[str, ...]
    idn_locale: str = ""


MARKETS = {
    "zh_CN": Market("CN", ("编号", "姓名", "邮箱", "电话", "手机"), "例子.中国", ("qq.com", "163.com")),
    "ru_RU": Market("RU", ("ID", "ФИО", "Email", "Телефон", "Мобильный"), "пример.рф", ("yandex.ru", "mail.ru")),
    "ar_SA": Market("SA", ("المعرف", "الاسم", "البريد الإلكتروني", "الهاتف", "الجوال"), "مثال.السعودية",
                    ("gmail.com", "hotmail.com")),
    "fa_IR": Market("IR", ("شناسه", "نام", "ایمیل", "تلفن", "موبایل"), "مثال.ایران", ("gmail.com", "yahoo.com")),
    "en_US": Market("US", ("id", "name", "email", "phone", "mobile"), "bücher.de", ("gmail.com", "outlook.com")),
    "en_IN": Market("IN", ("Cust ID", "Name", "Email ID", "Phone", "Mobile No"), "उदाहरण.भारत",
                    ("gmail.com", "rediffmail.com"), "hi_IN"),
}
# The shapes named in the issue, planted first in their markets.
_FIXED = {
    "zh_CN": ("张伟@例子.中国", "+86 138 0013 8000", 8613800138000, "+8613800138000"),
    "ru_RU": ("иван@пример.рф", "8 (912) 345-67-89", 89161234567, "+79161234567"),
    "ar_SA": ("", "+966 50 123 4567", 966551234567, "+966551234567"),
}


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    email: str
    phone: str  # as written
    mobile: int  # as a spreadsheet stores it
    phones: tuple[str, str]  # E.164 of both

    def row(self) -> tuple:
        return (self.id, self.name, self.email, self.phone, self.mobile)


def _valid_mobile(rng: random.Random, region: str) -> pn.PhoneNumber:
    national = str(pn.example_number_for_type(region, pn.PhoneNumberType.MOBILE).national_number)
    while True:
        digits = national[:-7] + "".join(rng.choice("0123456789") for _ in range(7))
        number = pn.parse(digits, region)
        if pn.is_valid_number(number) and pn.number_type(number) in (
                pn.PhoneNumberType.MOBILE, pn.PhoneNumberType.FIXED_LINE_OR_MOBILE):
            return number


def _e164(number: pn.PhoneNumber) -> str:
    return pn.format_number(number, pn.PhoneNumberFormat.E164)


def _ascii_local(fake: Faker, rng: random.Random) -> str:
    local = unicodedata.normalize("NFKD", fake.user_name()).encode("ascii", "ignore").decode()
    return (local or "user") + str(rng.randint(1, 999))


@functools.cache
def customers(locale: str, n: int = CUSTOMERS) -> tuple[Customer, ...]:
    market = MARKETS[locale]
    rng = random.Random(f"{SEED}/{locale}")
    fake, ascii_fake = Faker(locale), Faker("en_US")
    fake.seed_instance(SEED)
    ascii_fake.seed_instance(SEED)
    idn_fake = Faker(market.idn_locale) if market.idn_locale else fake
    idn_fake.seed_instance(SEED)
    out, seen = [], set()
    fixed = _FIXED.get(locale)
    while len(out) < n:
        i = len(out)
        name = fake.name()
        if i % 4 == 0:
            local = (idn_fake.first_name().lower() if locale != "zh_CN" else fake.name()).replace(" ", "")
            email = f"{local}{rng.randint(1, 99)}@{market.idn_domain}"
        else:
            email = f"{_ascii_local(ascii_fake, rng)}@{rng.choice(market.free_mail)}"
        first, second = _valid_mobile(rng, market.region), _valid_mobile(rng, market.region)
        style = pn.PhoneNumberFormat.INTERNATIONAL if i % 2 else pn.PhoneNumberFormat.NATIONAL
        phone = pn.format_number(first, style)
        mobile = int(_e164(second)[1:])
        if locale == "zh_CN" and i % 3 == 1:
            mobile = second.national_number  # 13800138000, as Chinese sheets hold them
        if locale == "ru_RU":
            # 89161234567, with the trunk 8. (Stored as 79161234567 the detector reads it as a
            # valid Chinese landline, +86 791..., before the Russian reading without "+".)
            mobile = int(f"8{second.national_number}")
        if fixed and i == 0:
            email = fixed[0] or email
            first, phone = pn.parse(fixed[1], market.region), fixed[1]
            second, mobile = pn.parse(fixed[3]), fixed[2]
        phones = (_e164(first), _e164(second))
        if email in seen or set(phones) & seen:
            continue
        seen.update((email, *phones))
        out.append(Customer(100_000 + 7 * i, name, email, phone, mobile, phones))
    return tuple(out)


def planted(people) -> tuple[frozenset[str], frozenset[str]]:
    from dlp_addon.detect.email import canonical_email
    emails = frozenset(canonical_email(*c.email.rsplit("@", 1)) for c in people)
    return emails, frozenset(p for c in people for p in c.phones)


def recall(data: bytes, people) -> tuple[float, float, str, tuple]:
    inspection = inspect(data)
    emails, phones = planted(people)
    digests = lambda kind, values: {engine().digest(kind, v) for v in values}  # noqa: E731
    found_emails = len(inspection.digests((EMAIL,)) & digests(EMAIL, emails))
    found_phones = len(inspection.digests((PHONE,)) & digests(PHONE, phones))
    return found_emails / len(emails), found_phones / len(phones), action(inspection), inspection.problems


# ---------------------------------------------------------------------------------- writers

def _rewrite_zip(data: bytes, changes: dict[str, bytes | None] | None = None, add: dict[str, bytes] | None = None,
                 edit=None) -> bytes:
    """The same ZIP with members replaced, removed (None), added or edited (name, bytes) -> bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = (changes or {}).get(info.filename, source.read(info.filename))
            if body is None:
                continue
            if edit:
                body = edit(info.filename, body)
            target.writestr(info.filename, body, compress_type=info.compress_type)
        for name, body in (add or {}).items():
            target.writestr(name, body)
    return out.getvalue()


def write_xlsx(people, header, *, title: str = "Customers") -> bytes:
    """Half the customers on the first sheet, the rest on a hidden second one; mobiles as numbers,
    as ints and as floats, one of them written in scientific notation in the XML as Excel does."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = title
    second = workbook.create_sheet("Archive")
    second.sheet_state = "hidden"
    half = len(people) // 2
    for sheet, rows in ((first, people[:half]), (second, people[half:])):
        sheet.append(header)
        for i, c in enumerate(rows):
            row = list(c.row())
            row[4] = float(c.mobile) if i % 2 else c.mobile
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    scientific = people[1].mobile
    mantissa = f"{scientific / 10 ** (len(str(scientific)) - 1):.13f}".rstrip("0")
    return _rewrite_zip(buffer.getvalue(), edit=lambda name, body: body.replace(
        f"<v>{scientific}</v>".encode(), f"<v>{mantissa}E+{len(str(scientific)) - 1}</v>".encode())
        if name.startswith("xl/worksheets/") else body)


def write_docx(people, header, *, embed: bytes | None = None) -> bytes:
    import docx
    document = docx.Document()
    document.add_heading("Customer export", level=1)
    intro = document.add_paragraph("Exported for the spring campaign.")
    table = document.add_table(rows=1, cols=len(header))
    for cell, label in zip(table.rows[0].cells, header):
        cell.text = label
    for c in people:
        for cell, value in zip(table.add_row().cells, c.row()):
            cell.text = str(value)
    document.sections[0].header.paragraphs[0].text = "Internal"
    document.add_comment(intro.runs, text="Check with the sales team first", author="QA")
    buffer = io.BytesIO()
    document.save(buffer)
    data = buffer.getvalue()
    return _rewrite_zip(data, add={"word/embeddings/Microsoft_Excel_Worksheet.xlsx": embed}) if embed else data


def write_pptx(people, header) -> bytes:
    import pptx
    from pptx.util import Inches
    deck = pptx.Presentation()
    half = len(people) // 2
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Customers"
    table = slide.shapes.add_table(half + 1, len(header), Inches(0.3), Inches(1.3), Inches(9.4), Inches(5)).table
    for column, label in enumerate(header):
        table.cell(0, column).text = label
    for row, c in enumerate(people[:half], start=1):
        for column, value in enumerate(c.row()):
            table.cell(row, column).text = str(value)
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    box = slide.shapes.add_textbox(Inches(0.3), Inches(0.3), Inches(9), Inches(7)).text_frame
    box.text = "\n".join([", ".join(header)] + [", ".join(map(str, c.row())) for c in people[half:-3]])
    slide.notes_slide.notes_text_frame.text = "Also call: " + "; ".join(
        f"{c.phone}, mobile {c.mobile} ({c.name}, {c.email})" for c in people[-3:])
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def _odf_table(people, header, name: str):
    from odf.table import Table, TableCell, TableRow
    from odf.text import P
    table = Table(name=name)
    for values in [header] + [c.row() for c in people]:
        row = TableRow()
        for value in values:
            if isinstance(value, int):
                # Displayed as LibreOffice shows a long number; the value is the number itself.
                cell = TableCell(valuetype="float", value=str(value))
                cell.addElement(P(text=f"{value:.2E}"))
            else:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=str(value)))
            row.addElement(cell)
        # LibreOffice's way of writing the rest of the row: one empty cell repeated.
        row.addElement(TableCell(numbercolumnsrepeated=16379))
        table.addElement(row)
    empty = TableRow(numberrowsrepeated=1048000)
    empty.addElement(TableCell(numbercolumnsrepeated=16384))
    table.addElement(empty)
    return table


def _odf_bytes(document) -> bytes:
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def write_ods(people, header) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    document = OpenDocumentSpreadsheet()
    document.spreadsheet.addElement(_odf_table(people, header, "Customers"))
    return _odf_bytes(document)


def write_odt(people, header) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P
    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Customer export"))
    document.text.addElement(P(text="Exported for the spring campaign."))
    document.text.addElement(_odf_table(people, header, "Table1"))
    return _odf_bytes(document)


def write_odp(people, header) -> bytes:
    from odf.draw import Frame, Page, TextBox
    from odf.opendocument import OpenDocumentPresentation
    from odf.style import MasterPage, PageLayout
    from odf.text import P
    document = OpenDocumentPresentation()
    layout = PageLayout(name="layout")
    document.automaticstyles.addElement(layout)
    master = MasterPage(name="Default", pagelayoutname=layout)
    document.masterstyles.addElement(master)
    page = Page(masterpagename=master)
    document.presentation.addElement(page)
    frame = Frame(width="25cm", height="18cm", x="1cm", y="1cm")
    page.addElement(frame)
    box = TextBox()
    frame.addElement(box)
    for values in [header] + [c.row() for c in people]:
        box.addElement(P(text=", ".join(map(str, values))))
    return _odf_bytes(document)


_FONT_FILES = {"latin": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian's fonts-dejavu-core
               "devanagari": Path("/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf")}
_CJK = re.compile(r"[\u3000-\u9fff]")
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")


def write_pdf(rows: list[tuple]) -> bytes:
    """A table (or lines, for rows of one cell) as word processors print them: each cell its own
    text object. fpdf2 embeds TrueType fonts; for Chinese, reportlab's built-in Adobe CID font
    (fpdf2's subsets of the CFF-based CJK fonts come out with wrong glyph widths)."""
    text = "".join(str(value) for row in rows for value in row)
    if _CJK.search(text):
        return _pdf_with_cid_font(rows)
    from fpdf import FPDF, FontFace
    needed = ["latin"] + (["devanagari"] if _DEVANAGARI.search(text) else [])
    for script in needed:
        if not _FONT_FILES[script].exists():
            pytest.skip(f"no {script} font at {_FONT_FILES[script]}")
    document = FPDF(orientation="L")
    for script in needed:
        document.add_font(script, fname=str(_FONT_FILES[script]))
    document.set_fallback_fonts(needed[1:])
    document.set_font("latin", size=7)
    document.add_page()
    if all(len(row) == 1 for row in rows):
        for (line,) in rows:
            document.cell(text=str(line), new_x="LMARGIN", new_y="NEXT")
    else:
        with document.table(headings_style=FontFace(emphasis="")) as table:
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(str(value))
    return bytes(document.output())


def _pdf_with_cid_font(rows: list[tuple]) -> bytes:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    width, height = landscape(A4)
    page = canvas.Canvas(buffer, pagesize=(width, height))
    y = height - 40
    for values in rows:
        if y < 40:
            page.showPage()
            y = height - 40
        page.setFont("STSong-Light", 8)
        for x, value in zip((30, 90, 170, 330, 470, 600), values):
            page.drawString(x, y, str(value))
        y -= 12
    page.save()
    return buffer.getvalue()


def pdf_rows(people, header) -> list[tuple]:
    return [header] + [c.row() for c in people]


def write_rtf(people, header) -> bytes:
    """RTF as word processors write it: a table, every non-ASCII character as a \\u escape."""
    def escape(value) -> str:
        return "".join(ch if ord(ch) < 128 and ch not in "\\{}" else f"\\u{ord(ch) - 65536 if ord(ch) > 32767 else ord(ch)}?"
                       for ch in str(value))
    rows = []
    for values in [header] + [c.row() for c in people]:
        cells = "".join(f"\\cellx{1800 * (i + 1)}" for i in range(len(values)))
        rows.append(f"\\trowd{cells}\n\\pard\\intbl " + "".join(f"{escape(v)}\\cell " for v in values) + "\\row\n")
    return ("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Arial;}}\n\\pard Customer export\\par\n"
            + "".join(rows) + "}").encode("ascii")


def write_xls(people, header) -> bytes:
    import xlwt
    workbook = xlwt.Workbook(encoding="utf-8")
    sheet = workbook.add_sheet("Customers")
    for row, values in enumerate([header] + [c.row() for c in people]):
        for column, value in enumerate(values):
            sheet.write(row, column, value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE compound file (CFB v3, 512-byte sectors) holding the given root streams.
    No Python library writes new compound files, so the tests lay one out: streams are
    padded to the 4096-byte mini-stream cutoff so that all of them live in regular sectors."""
    sector, free, end, fat_mark, no_stream = 512, 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    bodies = [(name, body.ljust(max(4096, -(-len(body) // sector) * sector), b"\0")) for name, body in streams.items()]
    directory_sectors = -(-(len(bodies) + 1) // 4)
    data_sectors = sum(len(body) // sector for _, body in bodies)
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + directory_sectors + data_sectors:
        fat_sectors += 1
    fat = [fat_mark] * fat_sectors
    chain = lambda start, count: [start + i + 1 for i in range(count - 1)] + [end]  # noqa: E731
    fat += chain(len(fat), directory_sectors)
    starts = []
    for _, body in bodies:
        starts.append(len(fat))
        fat += chain(len(fat), len(body) // sector)
    fat += [free] * (fat_sectors * 128 - len(fat))

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (encoded.ljust(64, b"\0") + struct.pack("<HBB3I", len(encoded), kind, 1, no_stream, right, child)
                + b"\0" * 36 + struct.pack("<IQ", start, size))

    entries = [entry("Root Entry", 5, 1 if bodies else no_stream, no_stream, end, 0)]
    for index, ((name, body), start) in enumerate(zip(bodies, starts), start=1):
        entries.append(entry(name, 2, no_stream, index + 1 if index < len(bodies) else no_stream, start, len(body)))
    empty = b"\0" * 64 + struct.pack("<HBB3I", 0, 0, 0, no_stream, no_stream, no_stream) + b"\0" * 48
    directory = b"".join(entries).ljust(directory_sectors * sector, b"\0")
    directory = b"".join(directory[i:i + 128] if any(directory[i:i + 128]) else empty
                         for i in range(0, len(directory), 128))
    difat = list(range(fat_sectors)) + [free] * (109 - fat_sectors)
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<9I", 0, fat_sectors, fat_sectors, 0, 4096, end, 0, end, 0)
              + struct.pack("<109I", *difat))
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + b"".join(body for _, body in bodies)


def word_document(text: str, *, encrypted: bool = False) -> bytes:
    """A WordDocument stream: a File Information Block, then the text in UTF-16LE with Word's
    paragraph marks (CR) and cell marks (BEL)."""
    flags = 0x0100 if encrypted else 0
    fib = struct.pack("<HHHHHH", 0xA5EC, 0x00C1, 0, 0x0409, 0, flags)
    return fib.ljust(0x800, b"\0") + text.encode("utf-16-le")


def write_doc(people, header, *, encrypted: bool = False) -> bytes:
    table = "\r".join("\x07".join(map(str, values)) + "\x07" for values in [header] + [c.row() for c in people])
    return compound_file({"WordDocument": word_document("Customer export\r" + table + "\r", encrypted=encrypted),
                          "1Table": b"\0" * 64})


def encrypt_ooxml(data: bytes) -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt("secret", out)
    return out.getvalue()


WRITERS = {
    "xlsx": write_xlsx, "docx": write_docx, "pptx": write_pptx, "ods": write_ods, "odt": write_odt,
    "odp": write_odp, "rtf": write_rtf, "xls": write_xls, "doc": write_doc,
    "pdf": lambda people, header: write_pdf(pdf_rows(people, header)),
}
# A legacy .doc is read at strings level, and binary.strings reads UTF-16 runs of Latin,
# Cyrillic and Arabic only; .xls cells are read by calamine, numbers as numbers.
MIN_RECALL = {"doc": (0.7, 0.95)}


@pytest.mark.parametrize("kind", sorted(WRITERS))
@pytest.mark.parametrize("locale", sorted(MARKETS))
def test_customer_lists_are_found_and_blocked(kind, locale):
    people = customers(locale)
    data = WRITERS[kind](people, MARKETS[locale].header)
    email_recall, phone_recall, verdict, problems = recall(data, people)
    min_email, min_phone = MIN_RECALL.get(kind, (1.0, 1.0))
    if kind in MIN_RECALL and locale == "zh_CN":
        min_email = 0.7  # CJK UTF-16 runs are not read from binary streams
    assert email_recall >= min_email and phone_recall >= min_phone, (email_recall, phone_recall)
    assert verdict == "block" and not problems


def test_the_issue_examples_in_a_workbook():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Customers"
    sheet.append(["姓名", "邮箱", "手机"])
    sheet.append(["伊万", "иван@пример.рф", 8613800138000])
    sheet.append(["王芳", "wang@example.com", 13800138000 + 1111])
    sheet.append(["李娜", "li@example.com", 13800138000 + 2222])
    buffer = io.BytesIO()
    workbook.save(buffer)
    text = segments(buffer.getvalue())["body:xlsx[Customers]"]
    assert text.splitlines()[:2] == ["姓名\t邮箱\t手机", "伊万\tиван@пример.рф\t8613800138000"]
    assert inspect(buffer.getvalue()).counts() == {"email": 3, "phone": 3}


def test_every_sheet_every_row_and_numbers_as_digits():
    people = customers("zh_CN")
    found = segments(write_xlsx(people, MARKETS["zh_CN"].header))
    assert set(found) == {"body:xlsx[Customers]", "body:xlsx[Archive]"}  # the hidden sheet too
    text = "\n".join(found.values())
    assert all(str(c.mobile) in text for c in people)  # ints, floats and 8.6...E+12 alike
    assert "E+" not in text and ".0\t" not in text and not text.endswith(".0")


def test_a_sheet_that_understates_its_dimensions_still_gives_every_row():
    people = customers("en_US")
    data = _rewrite_zip(write_xlsx(people, MARKETS["en_US"].header), edit=lambda name, body: re.sub(
        rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:B2"/>', body) if "worksheets" in name else body)
    text = segments(data)["body:xlsx[Customers]"]
    assert all(c.email in text for c in people[:len(people) // 2])


def test_title_rows_above_a_table_do_not_hide_its_header():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Customer export 2026-03-01"])
    sheet.append([])
    sheet.append(["name", "mobile"])
    rng = random.Random(SEED)
    numbers = [_valid_mobile(rng, "CN") for _ in range(12)]
    for i, number in enumerate(numbers):
        sheet.append([f"client {i}", number.national_number])
    buffer = io.BytesIO()
    workbook.save(buffer)
    found = segments(buffer.getvalue())
    assert found["body:xlsx[Sheet]"].splitlines()[0] == "name\tmobile"
    assert found["body:xlsx[Sheet]:title"] == "Customer export 2026-03-01"
    assert inspect(buffer.getvalue()).counts()["phone"] == 12


def test_where_names_the_place():
    people = customers("ru_RU")
    header = MARKETS["ru_RU"].header
    assert {"body:docx:word/document.xml", "body:docx:word/document.xml[table 1]", "body:docx:word/comments.xml",
            "body:docx:word/header1.xml"} <= set(segments(write_docx(people, header)))
    pdf = write_pdf(pdf_rows(people * 4, header))
    assert {"body:pdf[page 1]", "body:pdf[page 2]", "body:pdf[page 3]"} <= set(segments(pdf))
    assert "body:ods[Customers]" in segments(write_ods(people, header))
    pptx = segments(write_pptx(people, header))
    assert {"body:pptx:ppt/slides/slide1.xml[table 1]", "body:pptx:ppt/slides/slide2.xml",
            "body:pptx:ppt/notesSlides/notesSlide1.xml"} <= set(pptx)


def test_a_docx_table_reads_like_a_csv():
    people = customers("en_US")[:3]
    table = segments(write_docx(people, MARKETS["en_US"].header))["body:docx:word/document.xml[table 1]"]
    assert table.splitlines() == ["\t".join(MARKETS["en_US"].header)] + ["\t".join(map(str, c.row())) for c in people]


def test_a_workbook_embedded_in_a_document_is_opened():
    people = customers("ar_SA")
    embedded = write_xlsx(people, MARKETS["ar_SA"].header)
    data = write_docx(customers("en_US")[:1], MARKETS["en_US"].header, embed=embedded)
    found = segments(data)
    assert "body:docx:word/embeddings/Microsoft_Excel_Worksheet.xlsx:xlsx[Customers]" in found
    assert recall(data, people)[:2] == (1.0, 1.0)


def test_files_inside_pdfs_and_ole_objects_are_opened():
    from pypdf import PdfReader, PdfWriter
    people = customers("ru_RU")
    workbook = write_xlsx(people, MARKETS["ru_RU"].header)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(write_pdf([("Please find the list attached.",)]))))
    writer.add_attachment("customers.xlsx", workbook)
    buffer = io.BytesIO()
    writer.write(buffer)
    assert "body:pdf[attachment 1]:xlsx[Customers]" in segments(buffer.getvalue())
    assert recall(buffer.getvalue(), people)[:2] == (1.0, 1.0)
    # An object embedded in a legacy document keeps the file itself in its Package stream.
    ole = compound_file({"Package": workbook, "\x01CompObj": b"\x01\x00\xfe\xff" * 16})
    assert "body:ole:Package:xlsx[Customers]" in segments(ole)


def test_a_binary_workbook_is_read_for_its_strings():
    # No library writes .xlsb; its shared strings are length-prefixed UTF-16LE in BIFF12 records.
    people = customers("ru_RU")
    table = b"".join(struct.pack("<BBI", 0x13, 0, len(value)) + value.encode("utf-16-le")
                     for c in people for value in (c.name, c.email, c.phone))
    data = _rewrite_zip(_small_xlsx(), {"xl/workbook.xml": None}, add={
        "xl/workbook.bin": b"\x83\x01\x00", "xl/sharedStrings.bin": table, "xl/worksheets/sheet1.bin": b"\0" * 64})
    assert "body:xlsx:xl/sharedStrings.bin:strings" in segments(data)
    email_recall, phone_recall, verdict, problems = recall(data, people)
    assert email_recall == 1.0 and phone_recall == 0.5 and verdict == "block"  # the typed phones, not the numbers


def test_word_links_and_non_breaking_hyphens():
    import docx
    document = docx.Document()
    document.add_paragraph("Write to the client")
    buffer = io.BytesIO()
    document.save(buffer)
    # A mailto link shows a name; Word stores 138‑0013‑8000 typed with non-breaking hyphens as elements.
    body = (b'<w:p><w:hyperlink r:id="rIdMail"><w:r><w:t>Ivan</w:t></w:r></w:hyperlink></w:p>'
            b'<w:p><w:r><w:t>tel 138</w:t><w:noBreakHyphen/><w:t>0013</w:t><w:noBreakHyphen/><w:t>8000</w:t></w:r></w:p>')
    rel = (b'<Relationship Id="rIdMail" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
           b'hyperlink" Target="mailto:%D0%B8%D0%B2%D0%B0%D0%BD@%D0%BF%D1%80%D0%B8%D0%BC%D0%B5%D1%80.%D1%80%D1%84"'
           b' TargetMode="External"/></Relationships>')
    data = _rewrite_zip(buffer.getvalue(), edit=lambda name, part: part.replace(b"<w:sectPr", body + b"<w:sectPr", 1)
                        if name == "word/document.xml" else part.replace(b"</Relationships>", rel)
                        if name == "word/_rels/document.xml.rels" else part)
    found = segments(data)
    assert "mailto:иван@пример.рф" in found["body:docx:word/_rels/document.xml.rels"]
    assert "tel 138-0013-8000" in found["body:docx:word/document.xml"]
    assert inspect(data).counts() == {"email": 1, "phone": 1}


def test_opendocument_numbers_are_read_from_their_value_and_repeats_stay_bounded():
    people = customers("zh_CN")
    start = time.perf_counter()
    found = segments(write_ods(people, MARKETS["zh_CN"].header))
    assert time.perf_counter() - start < 2
    lines = found["body:ods[Customers]"].splitlines()
    assert len(lines) == len(people) + 1 and all(len(line.split("\t")) == 5 for line in lines)
    assert lines[1].split("\t")[4] == str(people[0].mobile)  # not 8.61E+12


# ---------------------------------------------------------------------------------- benign

def _finance_rows(rng: random.Random) -> list[tuple]:
    rows = []
    for i in range(60):
        day = datetime.date(2026, 1, 1) + datetime.timedelta(days=rng.randint(0, 300))
        rows.append((f"INV-2026-{10000 + i * 37}", day, rng.randint(100000, 999999), round(rng.uniform(10, 99999), 2),
                     rng.randint(1_000_000_000, 9_999_999_999), rng.choice(("paid", "open", "overdue"))))
    return rows


FINANCE_HEADER = ("Invoice", "Date", "Customer no", "Amount", "Account", "Status")
INVOICE_TEXT = ["ACME Trading LLC — Invoice INV-2026-00417", "Date: 2026-03-14   Due: 2026-04-13",
                "Questions about this invoice: billing@acme-trading.com, +1 415 555 0100 ext 2",
                "Item   Qty   Price   Total", "Consulting hours   12   150.00   1800.00",
                "Licence renewal 2026   1   4200.00   4200.00", "Subtotal 6000.00   VAT 20% 1200.00   Total 7200.00",
                "IBAN GB29 NWBK 6016 1331 9268 19   Reference 2026031400417"]


def _benign_documents() -> dict[str, bytes]:
    rng = random.Random(SEED)
    rows = _finance_rows(rng)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Q1"
    sheet.append(FINANCE_HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)

    class Row:  # the writers take customers; a finance row has the same shape
        def __init__(self, values):
            self.values = values

        def row(self):
            return tuple(str(v) for v in self.values[:5])

    finance = [Row(r) for r in rows]
    import docx
    invoice = docx.Document()
    for line in INVOICE_TEXT:
        invoice.add_paragraph(line)
    docx_buffer = io.BytesIO()
    invoice.save(docx_buffer)
    return {
        "xlsx finance": buffer.getvalue(),
        "docx finance": write_docx(finance, FINANCE_HEADER[:5]),
        "ods finance": write_ods(finance, FINANCE_HEADER[:5]),
        "pdf finance": write_pdf(pdf_rows(finance, FINANCE_HEADER[:5])),
        "rtf finance": write_rtf(finance, FINANCE_HEADER[:5]),
        "docx invoice": docx_buffer.getvalue(),
        "pdf invoice": write_pdf([(line,) for line in INVOICE_TEXT]),
    }


@pytest.mark.parametrize("name", sorted(_benign_documents()))
def test_benign_documents_are_not_blocked(name):
    inspection = inspect(_benign_documents()[name])
    counts = inspection.counts()
    assert sum(counts.values()) <= 2, counts
    assert action(inspection) != "block" and not inspection.problems


# ---------------------------------------------------------------------------------- broken, encrypted, hostile

def _small_xlsx() -> bytes:
    return write_xlsx(customers("en_US"), MARKETS["en_US"].header)


def test_a_truncated_workbook_is_corrupt_not_an_exception():
    data = _small_xlsx()
    cut = data[: len(data) // 2]
    budget = Budget(LIMITS)
    xlsx.extract(cut, budget, "body:xlsx", 1)  # what the dispatcher does once it knows the kind
    assert [p.sub_reason for p in budget.problems] == ["corrupt"]
    assert inspect(cut).problems  # however it is told apart, it does not pass as clean


def test_a_workbook_with_a_damaged_sheet_is_corrupt():
    data = _small_xlsx()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
    damaged = data[:start] + bytes(b ^ 0x5A for b in data[start:start + 200]) + data[start + 200:]
    assert "corrupt" in reasons(damaged)


def test_a_workbook_cut_inside_its_xml_is_corrupt_with_what_was_read():
    people = customers("en_US")
    data = _rewrite_zip(_small_xlsx(), edit=lambda name, body: body[: len(body) // 2]
                        if name == "xl/worksheets/sheet1.xml" else body)
    extraction = extract_content(data, LIMITS)
    assert [p.sub_reason for p in extraction.problems] == ["corrupt"]
    assert "could not be parsed" in extraction.problems[0].detail
    assert people[0].email in "\n".join(s.text for s in extraction.segments)


def test_a_truncated_pdf_is_corrupt_and_its_readable_pages_still_count(caplog):
    people = customers("ru_RU") * 3
    data = write_pdf(pdf_rows(people, MARKETS["ru_RU"].header))
    with caplog.at_level(logging.DEBUG):
        for cut in (data[: len(data) // 2], data[: len(data) - 40], data[:200]):
            assert "corrupt" in reasons(cut)
            inspect(cut)
    # pypdf logs its repairs, some with bytes of the file: none of it may reach the gateway's logs.
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


def test_encrypted_pdf():
    from pypdf import PdfReader, PdfWriter
    data = write_pdf(pdf_rows(customers("ar_SA"), MARKETS["ar_SA"].header))
    for user_password, expected in (("secret", ["encrypted"]), ("", [])):
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
        buffer = io.BytesIO()
        writer.write(buffer)
        assert reasons(buffer.getvalue()) == expected
    # Restricted but not locked (no user password): read like any PDF.
    assert action(inspect(buffer.getvalue())) == "block"


@pytest.mark.parametrize("kind", ["xlsx", "docx", "pptx"])
def test_password_protected_office_files_are_encrypted(kind):
    data = WRITERS[kind](customers("en_US"), MARKETS["en_US"].header)
    extraction = extract_content(encrypt_ooxml(data), LIMITS)
    assert [p.sub_reason for p in extraction.problems] == ["encrypted"] and not extraction.segments
    assert action(inspect(encrypt_ooxml(data))) == "block"


def test_encrypted_legacy_files():
    people, header = customers("en_US"), MARKETS["en_US"].header
    assert reasons(write_doc(people, header, encrypted=True)) == ["encrypted"]
    import xlwt
    workbook = xlwt.Workbook()
    workbook.add_sheet("Customers").write(0, 0, "alice@example.com")
    biff = workbook.get_biff_data()
    bof_end = 4 + struct.unpack_from("<H", biff, 2)[0]
    filepass = struct.pack("<HHHHH", 0x002F, 6, 1, 1, 1)
    assert reasons(compound_file({"Workbook": biff[:bof_end] + filepass + biff[bof_end:]})) == ["encrypted"]
    assert reasons(compound_file({"Workbook": biff})) == []


def test_broken_ole_and_rtf_are_corrupt():
    data = write_doc(customers("en_US"), MARKETS["en_US"].header)
    assert reasons(data[:1024]) == ["corrupt"]
    # A font charset striprtf has no codec for (Mac Japanese) stops it: corrupt, not an exception.
    rtf = b"{\\rtf1\\ansi{\\fonttbl{\\f0\\fcharset78 Osaka;}}\\f0 \\'82\\'a0 a@example.com}"
    assert reasons(rtf) == ["corrupt"]
    assert reasons(b"{\\rtf1 unfinished a@example.com \\par") == []


def test_a_document_that_expands_past_the_limits_is_too_large():
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<w:document>" + b" " * (300 * 1024 * 1024) + b"</w:document>")
    start = time.perf_counter()
    assert reasons(bomb.getvalue()) == ["too_large"]
    assert time.perf_counter() - start < 1  # refused from the declared size, before inflating


def test_text_made_from_shared_strings_is_bounded():
    # One long shared string in many cells, as Excel (and XlsxWriter) store it: far more text than XML.
    import xlsxwriter
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet()
    for row in range(400):
        sheet.write_row(row, 0, ["x" * 5000] * 4)
    workbook.close()
    limits = Limits(max_decoded_bytes=2 * 1024 * 1024)
    extraction = extract_content(buffer.getvalue(), limits)
    assert [p.sub_reason for p in extraction.problems] == ["too_large"]
    assert 0 < extraction.bytes_inspected <= limits.max_decoded_bytes


def test_the_clock_is_checked_between_rows_and_pages():
    budget = Budget(LIMITS, deadline=time.monotonic() - 1)
    xlsx.extract(_small_xlsx(), budget, "body:xlsx", 1)
    assert [p.sub_reason for p in budget.problems] == ["timeout"]


# ---------------------------------------------------------------------------------- measurement

def large_workbook(rows: int = 50_000) -> bytes:
    """Written by XlsxWriter, which stores strings in a shared table as Excel does (openpyxl
    writes them inline, which openpyxl reads ~1.5x slower)."""
    import xlsxwriter
    people = customers("zh_CN", 200)
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("Customers")
    sheet.write_row(0, 0, MARKETS["zh_CN"].header)
    for i in range(rows):
        c = people[i % len(people)]
        sheet.write_row(i + 1, 0, (c.id + i, c.name, c.email, c.phone, c.mobile))
    workbook.close()
    return buffer.getvalue()


def main() -> None:
    print(f"{'format':6} " + " ".join(f"{locale:>13}" for locale in sorted(MARKETS)) + "   (email/phone recall)")
    for kind in sorted(WRITERS):
        cells = []
        for locale in sorted(MARKETS):
            people = customers(locale)
            try:
                email_recall, phone_recall, _, _ = recall(WRITERS[kind](people, MARKETS[locale].header), people)
                cells.append(f"{email_recall:5.0%}/{phone_recall:4.0%}")
            except pytest.skip.Exception:
                cells.append("skipped")
        print(f"{kind:6} " + " ".join(f"{cell:>13}" for cell in cells))
    data = large_workbook()
    start = time.perf_counter()
    extraction = extract_content(data, LIMITS)
    extracted = time.perf_counter() - start
    start = time.perf_counter()
    inspection = inspect(data)
    total = time.perf_counter() - start
    mb = len(data) / 1e6
    print(f"xlsx 50k rows x 5 columns, {mb:.1f} MB, {extraction.bytes_inspected / 1e6:.1f} M chars of text: "
          f"extraction {extracted:.2f} s ({extracted / mb:.2f} s/MB), extraction and detection {total:.2f} s "
          f"({total / mb:.2f} s/MB), counts {inspection.counts()}, "
          f"problems {[p.sub_reason for p in inspection.problems]}")


if __name__ == "__main__":
    main()
