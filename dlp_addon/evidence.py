"""Evidence without the data: masked samples and keyed hashes.

An investigator needs to recognise what left ("j***@g***.com", "+86 138 **** 8000") and to
correlate the same customer across incidents, but the gateway must not become a second copy
of the customer list. Samples keep only what is needed to recognise the shape; the keyed
hash (HMAC-SHA256 under a key that never leaves the gateway) lets the security team match a
known customer's identifier against incidents without the incidents holding it.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers
import regex

from dlp_addon.detect.email import split_written, suffix_of
from dlp_addon.model import EMAIL

_DIGIT = regex.compile(r"\d")


class Hasher:
    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("the hash key must be at least 16 bytes")
        # Keyed once: each digest copies the keyed state instead of padding the key again.
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def digest(self, kind: str, canonical: str) -> str:
        mac = self._keyed.copy()
        mac.update(f"{kind}:{canonical}".encode())
        return mac.hexdigest()


def mask(kind: str, raw: str) -> str:
    return mask_email(raw) if kind == EMAIL else mask_phone(raw)


def mask_email(raw: str) -> str:
    """'John.Doe@gmail.com' -> 'J***@g***.com': first letters and the public suffix. A
    written-out address keeps its "@" the way it was written and plain dots,
    'ivan [at] mail [dot] ru' -> 'i*** [at] m***.ru', so the sample still looks like what
    was sent while showing no more of it than any other sample."""
    local, at, domain = raw.rpartition("@")
    suffix = suffix_of(domain) if at and domain[:1].isalnum() and " " not in domain else ""
    if suffix:  # written plainly, as nearly every address is
        return f"{local[:1]}***@{domain[:1]}***.{suffix}"
    parts = split_written(raw)
    if parts is None:
        return f"{local[:1]}***@***"
    local, at, domain = parts
    suffix = suffix_of(domain)
    return f"{local[:1]}***{at}{domain[:1]}***.{suffix}" if suffix else f"{local[:1]}***{at}***"


def mask_phone(raw: str) -> str:
    """Keep the country code, the first digits and the last few, in the sender's own layout:
    '+86 138 0013 8000' -> '+86 138 **** 8000', '13800138000' -> '138****8000'."""
    digits = _DIGIT.findall(raw)
    total = len(digits)
    prefix = _prefix_digits(raw, total)
    national = total - prefix
    tail = 4 if national >= 11 else 3 if national >= 9 else 2
    head = max(0, min(3, national - tail - 3))
    keep_until, keep_from = prefix + head, total - tail
    positions = [i for i, char in enumerate(raw) if char.isdigit()]
    keep_from = min(keep_from, len(positions))
    if keep_until >= keep_from:
        return raw.strip()
    # Only the digits between the kept ones are starred; what stands between them stays.
    start, end = positions[keep_until], positions[keep_from - 1] + 1
    middle = "".join("*" if char.isdigit() else char for char in raw[start:end])
    return (raw[:start] + middle + raw[end:]).strip()


def _prefix_digits(raw: str, total: int) -> int:
    """Digits of an international prefix and country code, which say little about the person."""
    stripped = raw.lstrip("( ")
    if stripped.startswith("+"):
        return _country_code_length(_DIGIT.findall(stripped))
    if stripped.startswith("00"):
        return 2 + _country_code_length(_DIGIT.findall(stripped)[2:])
    return 0


def _country_code_length(digits: list[str]) -> int:
    for length in (1, 2, 3):
        code = "".join(digits[:length])
        if code and phonenumbers.region_code_for_country_code(int(code)) != "ZZ":
            return length
    return 0
