"""Archives and compressed files: ZIP, TAR, .gz, .bz2, .xz and .zst, every member opened.

Members, and what a compressed file holds, go back through `open_content` one level deeper,
so a customer list in a .tar.gz inside a ZIP is read like any upload. Output is read in
chunks against two caps, the message's remaining decoded budget and a ratio to the compressed
size, and never against the sizes an archive declares: a zip bomb lies about them. A declared
size over the cap is refused before anything is decompressed.

What was read before an archive turned out broken is still inspected, with a `corrupt`
problem: the default policy lets corrupt files pass with a record, on the promise that what
could be read of them counted (policies/README.md).
"""

from __future__ import annotations

import bz2
import copy
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Iterator

import zstandard

from dlp_addon.extract import binary, content
from dlp_addon.extract.budget import Budget, OverBudget
from dlp_addon.extract.encoding import TooLarge, ratio_limit

_CHUNK = 1 << 20
# zipfile hands its whole read to the bzip2 and LZMA decompressors with no output cap (81
# bytes of bzip2 are 50 MB of zeros), so those members are decoded here from their raw bytes:
# bzip2 by a reader that caps each read, LZMA fed 64 bytes at a time (at most ~0.5 MB out).
_UNCAPPED_IN_ZIPFILE = (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_LZMA_STEP = 64
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, *_UNCAPPED_IN_ZIPFILE)
_ENCRYPTED = 0x1  # general purpose flag bit 0: traditional PKWARE and WinZip AES alike
_WINZIP_AES = 99  # the method AES members carry: encrypted even if a tool cleared the flag


def extract_zip(data: bytes, budget: Budget, where: str, depth: int) -> None:
    if budget.too_deep(depth, where):
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except Exception as e:  # noqa: BLE001 - zipfile raises many kinds for a broken archive
        budget.problem("corrupt", where, f"ZIP archive does not open ({type(e).__name__}); its strings were read")
        # Without its central directory an archive still holds its stored members as they are.
        binary.extract(data, budget, where)
        return
    # Bytes the central directory does not account for (data appended to the archive, or
    # slipped between members, or a member whose listed size is 0) are still bytes that left:
    # the archive's own readable strings are read too. Compressed members are noise there,
    # and what is found twice counts once.
    binary.extract(data, budget, f"{where}:raw")
    for info in members:
        if budget.out_of_time(where) or not budget.take_part(where):
            return
        # Nothing stored, nothing to read; a declared size of 0 alone is not believed.
        if info.is_dir() or info.compress_size == 0:
            continue
        place = f"{where}[{info.filename}]"
        if info.flag_bits & _ENCRYPTED or info.compress_type == _WINZIP_AES:
            budget.problem("encrypted", place, "password-protected ZIP member")
            continue
        if info.compress_type not in _METHODS:
            budget.problem("unsupported", place, f"ZIP member compressed with method {info.compress_type}, "
                                                 "which the gateway cannot read")
            continue
        limit, why = _cap(budget, min(info.compress_size, len(data)))
        if info.file_size > limit:
            budget.problem("too_large", place, f"ZIP member declares {info.file_size} bytes and {why}")
        else:
            try:
                member, error = _capped(_zip_member(archive, info, limit), limit, budget, place)
            except TooLarge:
                budget.problem("too_large", place, f"ZIP member {why}")
            except OverBudget:
                return
            else:
                _inspect(member, error, budget, "ZIP member", place, depth + 1)
                continue
        if not budget.decoded_room():
            return  # every member left would be refused the same way


def extract_tar(data: bytes, budget: Budget, where: str, depth: int) -> None:
    if budget.too_deep(depth, where):
        return
    try:
        # ignore_zeros: read on past an end-of-archive marker and damaged headers, as `tar -i`
        # does, so that a second archive appended to the first is not a hiding place.
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:", ignore_zeros=True)
    except Exception as e:  # noqa: BLE001 - tarfile raises several kinds for a broken archive
        budget.problem("corrupt", where, f"TAR archive does not open ({type(e).__name__}); its strings were read")
        binary.extract(data, budget, where)
        return
    expected = 0  # where the next header should start, were every block a member's
    while True:
        if budget.out_of_time(where):
            return
        try:
            member = archive.next()
        except Exception as e:  # noqa: BLE001
            _unread(data, archive.offset, budget, where, f"TAR header is broken ({type(e).__name__})")
            return
        if member is None:
            break
        if member.offset > expected and data[expected:member.offset].strip(b"\0"):
            # ignore_zeros skips blocks that are no header without a word: data slipped
            # between members is read as it is.
            budget.problem("corrupt", where, "TAR archive holds data between its members; its strings were read")
            binary.extract(data[expected:member.offset], budget, f"{where}:gap")
        expected = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        # Every header costs a parse and stays in tarfile's member list, directories too.
        if not budget.take_part(where):
            return
        if not member.isfile() or member.size == 0:
            continue
        place = f"{where}[{member.name}]"
        limit, why = _cap(budget, len(data))
        if member.size > limit:  # only sparse members can be larger than the archive
            budget.problem("too_large", place, f"TAR member declares {member.size} bytes and {why}")
        else:
            try:
                got, error = _capped(_reads(archive.extractfile(member)), limit, budget, place)
            except TooLarge:
                budget.problem("too_large", place, f"TAR member {why}")
            except OverBudget:
                return
            else:
                _inspect(got, "", budget, "TAR member", place, depth + 1)
                if error:
                    # Cut short: what tarfile would not hand over is still in the archive as it is.
                    _unread(data, member.offset_data + len(got), budget, where, f"TAR member is broken ({error})")
                    return
                continue
        if not budget.decoded_room():
            return
    if archive.offset > expected and data[expected:archive.offset].strip(b"\0"):
        budget.problem("corrupt", where, "TAR archive holds data after its last member; its strings were read")
        binary.extract(data[expected:archive.offset], budget, f"{where}:gap")
    # Past the last header tarfile could read: a truncated header, or anything but padding.
    if data[archive.offset:].strip(b"\0"):
        _unread(data, archive.offset, budget, where, "TAR archive ends in data that is not a member")


def _unread(data: bytes, start: int, budget: Budget, where: str, why: str) -> None:
    budget.problem("corrupt", where, f"{why}; the strings of the rest were read")
    binary.extract(data[start:], budget, f"{where}:rest")


def extract_gzip(data: bytes, budget: Budget, where: str, depth: int) -> None:
    _compressed(gzip.GzipFile(fileobj=io.BytesIO(data)), "gzip", data, budget, where, depth)


def extract_bzip2(data: bytes, budget: Budget, where: str, depth: int) -> None:
    _compressed(bz2.BZ2File(io.BytesIO(data)), "bzip2", data, budget, where, depth)


def extract_xz(data: bytes, budget: Budget, where: str, depth: int) -> None:
    _compressed(lzma.LZMAFile(io.BytesIO(data)), "xz", data, budget, where, depth)


def extract_zstd(data: bytes, budget: Budget, where: str, depth: int) -> None:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    _compressed(reader, "zstd", data, budget, where, depth)


def extract_7z(data: bytes, budget: Budget, where: str, depth: int) -> None:
    budget.problem("unsupported", where, "7z archives cannot be opened by the gateway")


def extract_rar(data: bytes, budget: Budget, where: str, depth: int) -> None:
    budget.problem("unsupported", where, "RAR archives cannot be opened by the gateway")


def _compressed(stream, kind: str, data: bytes, budget: Budget, where: str, depth: int) -> None:
    """A compressed file, as opposed to a Content-Encoding: the stdlib's file readers (gzip
    members, bzip2 and xz streams back to back) cap each read, and unlike encoding.py's whole-body
    decoders they hand over what came before a truncation, which `zcat` would unpack too."""
    if budget.too_deep(depth, where):
        return
    limit, why = _cap(budget, len(data))
    try:
        decoded, error = _capped(_reads(stream), limit, budget, where)
    except TooLarge:
        budget.problem("too_large", where, f"{kind} file {why}")
        return
    except OverBudget:
        return
    # One layer, already counted by open_content: a compressed file is not a container.
    _inspect(decoded, error, budget, f"{kind} file", where, depth)
    if error:
        # What follows the broken part (data appended to the compressed stream) is read as it is.
        binary.extract(data, budget, f"{where}:raw")


def _cap(budget: Budget, compressed: int) -> tuple[int, str]:
    """The most output allowed from this many compressed bytes, and why it is that much."""
    room = budget.decoded_room()
    ratio = ratio_limit(compressed, budget.limits.max_ratio)
    if ratio < room:
        return ratio, f"expands more than {budget.limits.max_ratio} times"
    return room, f"goes over the decoded-size limit ({budget.limits.max_decoded_bytes} bytes)"


def _capped(chunks: Iterator[bytes], limit: int, budget: Budget, where: str) -> tuple[bytes, str]:
    """All the chunks, raising TooLarge past `limit` bytes; when the data breaks off, what came
    before with the error's class name (never its message, which may quote content)."""
    out: list[bytes] = []
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            budget.spend_decoded(len(chunk))
            if size > limit:
                raise TooLarge
            out.append(chunk)
            if budget.out_of_time(where):
                raise OverBudget
    except (TooLarge, OverBudget):
        raise
    except Exception as e:  # noqa: BLE001 - every library raises its own kinds for bad data
        return b"".join(out), type(e).__name__
    return b"".join(out), ""


def _inspect(data: bytes, error: str, budget: Budget, what: str, where: str, depth: int) -> None:
    if error:
        budget.problem("corrupt", where, f"{what} is broken ({error}); what could be read was inspected")
    if data:
        content.open_content(data, budget, content_type="", where=where, depth=depth)


def _reads(stream) -> Iterator[bytes]:
    # read1: one underlying read per call, so an error costs no buffered data before it.
    with stream:
        while chunk := stream.read1(_CHUNK):
            yield chunk


def _zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Iterator[bytes]:
    """The member's bytes up to the end of its compressed data, checked against its header after.

    Read through a copy of its entry without the CRC and with room for `limit` bytes: zipfile
    would otherwise stop at the declared size (a header that understates it hides the rest)
    and drop the last chunk of a member whose CRC does not match.
    """
    view = copy.copy(info)
    del view.CRC
    if info.compress_type in _UNCAPPED_IN_ZIPFILE:
        view.compress_type, view.file_size = zipfile.ZIP_STORED, info.compress_size
        with archive.open(view) as stream:
            raw = stream.read()  # compressed bytes: no more than the archive holds
        decoded = _reads(bz2.BZ2File(io.BytesIO(raw))) if info.compress_type == zipfile.ZIP_BZIP2 \
            else _zip_lzma(raw)
    else:
        view.file_size = limit + 1
        decoded = _reads(archive.open(view))
    crc = size = 0
    for chunk in decoded:
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        yield chunk
    if crc != info.CRC or size != info.file_size:
        raise zipfile.BadZipFile("member does not match its header")


def _zip_lzma(raw: bytes) -> Iterator[bytes]:
    engine = zipfile.LZMADecompressor()  # ZIP's own LZMA framing (version, properties) included
    for start in range(0, len(raw), _LZMA_STEP):
        yield engine.decompress(raw[start:start + _LZMA_STEP])
        if engine.eof:
            return
