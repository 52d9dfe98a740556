"""What a blob of bytes is, from its first bytes: never from a file name or a declared type.

A renamed `customers.xlsx -> holiday.jpg`, or an upload labelled application/octet-stream,
is opened for what it is. Containers (ZIP-based office files, archives, PDF...) are told
apart here; everything else is left to charset detection (text) or read for strings.
"""

from __future__ import annotations

import io
import zipfile

_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # empty archive
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"(\xb5/\xfd", "zstd"),
    (b"%PDF-", "pdf"),
    (b"{\\rtf", "rtf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),  # legacy Office files and encrypted OOXML
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x89PNG\r\n\x1a\n", "media"),
    (b"\xff\xd8\xff", "media"),
    (b"GIF87a", "media"),
    (b"GIF89a", "media"),
    (b"\x00\x00\x01\x00", "media"),  # .ico
    (b"OggS", "media"),
    (b"ID3", "media"),
    (b"\x1aE\xdf\xa3", "media"),  # Matroska / WebM
    (b"wOFF", "media"),
    (b"wOF2", "media"),
)
_OPENDOCUMENT = {
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.presentation": "odp",
}
_MAIL_HEADERS = (b"received:", b"from:", b"to:", b"subject:", b"mime-version:", b"return-path:",
                 b"message-id:", b"date:", b"delivered-to:", b"x-")


def kind_of(data: bytes) -> str | None:
    """'zip', 'xlsx', 'docx', 'pptx', 'ods', 'odt', 'odp', 'gzip', 'bzip2', 'xz', 'zstd', 'tar',
    'pdf', 'rtf', 'ole', '7z', 'rar', 'media' or 'eml'; None for anything else (text or
    unknown binary)."""
    head = data[:16]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return _zip_kind(data) if kind == "zip" else kind
    if head[4:12] in (b"ftypisom", b"ftypmp42", b"ftypM4A ", b"ftypheic", b"ftypavif", b"ftypqt  ") \
            or (head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI ")):
        return "media"
    if len(data) > 262 and data[257:262] == b"ustar":
        return "tar"
    if _looks_like_mail(data):
        return "eml"
    return None


def _zip_kind(data: bytes) -> str:
    """Office Open XML and OpenDocument files are ZIP archives told apart by their members."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        if "[Content_Types].xml" in names:
            for prefix, kind in (("xl/", "xlsx"), ("word/", "docx"), ("ppt/", "pptx")):
                if any(name.startswith(prefix) for name in names):
                    return kind
        info = archive.getinfo("mimetype") if "mimetype" in names else None
        # OpenDocument stores its mimetype uncompressed; reading only such a member keeps a
        # compressed "mimetype" (a bomb, with a lying size) from being expanded here.
        if info is not None and info.compress_type == zipfile.ZIP_STORED and info.compress_size < 200:
            mimetype = archive.read(info).decode("ascii", "replace").strip()
            return _OPENDOCUMENT.get(mimetype, "zip")
    except Exception:  # noqa: BLE001 - zipfile raises many kinds; the archive extractor records them
        return "zip"
    return "zip"


def _looks_like_mail(data: bytes) -> bool:
    """A saved e-mail (.eml) starts with header lines; two known ones in the first lines."""
    head = data[:2048].lower()
    if not head[:1].isalpha() or b"\n" not in head:
        return False
    lines = head.split(b"\n", 12)[:12]
    known = sum(1 for line in lines if line.startswith(_MAIL_HEADERS))
    return known >= 2 and b"\n\n" in data[:65536].replace(b"\r\n", b"\n")
