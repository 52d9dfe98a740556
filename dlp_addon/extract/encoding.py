"""Content-Encoding: undo every coding the sender stacked, within hard caps.

mitmproxy's own decoding is not used: it has no output cap, refuses stacked codings, and
from 12.2.1 reads only the first member of a multi-member gzip body (../shared/MITMPROXY.md 5),
which would let a sender hide data behind a harmless first member. Here every gzip member is
read, output is bounded both in total (`max_decoded_bytes`) and against the input
(`max_ratio`), and a coding that fails or is unknown is a `bad_encoding` problem: such a body
is never treated as empty.
"""

from __future__ import annotations

import zlib

import brotli
import zstandard

from dlp_addon.extract.budget import Budget

_IDENTITY = {"", "identity"}
# Brotli 1.1 (the newest mitmproxy 11 allows) and zstandard's decompressobj cannot cap their
# output, so input is fed in small pieces and the output checked after each: 32 bytes of a
# brotli bomb expand to ~24 MiB, 64 bytes of a zstd bomb to ~2 MiB (measured), which bounds
# the overshoot past the cap.
_BROTLI_STEP = 32
_STEP = 64


# Small inputs legitimately compress far better than max_ratio (a 2 KB gzip of repeated JSON
# rows), and expanding them costs nothing; the ratio only starts to count past this size.
RATIO_FREE_BYTES = 1 << 20


def ratio_limit(compressed_size: int, max_ratio: int) -> int:
    """Most output a compressed input of this size may expand to before it counts as a bomb."""
    return max(RATIO_FREE_BYTES, compressed_size * max_ratio)


class DecodeError(Exception):
    pass


class TooLarge(Exception):
    pass


def codings(header: str) -> list[str]:
    """Codings in the order they were applied (the header lists them that way)."""
    return [c.strip().lower() for c in header.split(",") if c.strip().lower() not in _IDENTITY]


def decode_body(data: bytes, header: str, budget: Budget, where: str) -> bytes | None:
    """The body with every Content-Encoding undone, or None with the problem recorded."""
    for coding in reversed(codings(header)):
        limit = min(budget.decoded_room(), ratio_limit(len(data), budget.limits.max_ratio))
        try:
            decoded = _decode_one(coding, data, limit)
        except TooLarge:
            room = budget.decoded_room()
            why = (f"{coding} output over the decoded-size limit ({budget.limits.max_decoded_bytes} bytes)"
                   if limit >= room else f"{coding} expands more than {budget.limits.max_ratio} times")
            budget.problem("too_large", where, why)
            return None
        except DecodeError as e:
            budget.problem("bad_encoding", where, f"{coding}: {e}")
            return None
        budget.spend_decoded(len(decoded))
        data = decoded
    return data


def _decode_one(coding: str, data: bytes, limit: int) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _zlib(data, limit, gzip=True)
    if coding == "deflate":
        # Servers and clients disagree on whether "deflate" has the zlib header; accept both.
        try:
            return _zlib(data, limit, wbits=zlib.MAX_WBITS)
        except DecodeError:
            return _zlib(data, limit, wbits=-zlib.MAX_WBITS)
    if coding == "br":
        return _brotli(data, limit)
    if coding == "zstd":
        return _zstd(data, limit)
    raise DecodeError("unknown content coding")


def _zlib(data: bytes, limit: int, *, gzip: bool = False, wbits: int = zlib.MAX_WBITS) -> bytes:
    out = bytearray()
    remaining = data
    while True:
        engine = zlib.decompressobj(wbits=31 if gzip else wbits)
        try:
            out += engine.decompress(remaining, limit + 1 - len(out))
            while engine.unconsumed_tail and len(out) <= limit:
                out += engine.decompress(engine.unconsumed_tail, limit + 1 - len(out))
        except zlib.error as e:
            raise DecodeError(str(e)) from None
        if len(out) > limit:
            raise TooLarge
        if not engine.eof:
            raise DecodeError("truncated stream")
        remaining = engine.unused_data
        # Gzip bodies may hold several members back to back; all of them are content.
        if not gzip or not remaining.strip(b"\0"):
            return bytes(out)


def _brotli(data: bytes, limit: int) -> bytes:
    engine = brotli.Decompressor()
    out = bytearray()
    try:
        for start in range(0, len(data), _BROTLI_STEP):
            out += engine.process(data[start:start + _BROTLI_STEP])
            if len(out) > limit:
                raise TooLarge
        finished = engine.is_finished()
    except brotli.error as e:
        raise DecodeError(str(e) or "corrupt brotli stream") from None
    if not finished:
        raise DecodeError("truncated stream")
    return bytes(out)


def _zstd(data: bytes, limit: int) -> bytes:
    out = bytearray()
    remaining = data
    try:
        # Like gzip members, every concatenated frame is content.
        while remaining:
            engine = zstandard.ZstdDecompressor().decompressobj()
            for start in range(0, len(remaining), _STEP):
                out += engine.decompress(remaining[start:start + _STEP])
                if len(out) > limit:
                    raise TooLarge
                if engine.eof:
                    break
            if not engine.eof:
                raise DecodeError("truncated stream")
            remaining = engine.unused_data + remaining[start + _STEP:]
    except zstandard.ZstdError as e:
        raise DecodeError(str(e)) from None
    return bytes(out)
