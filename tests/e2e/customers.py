"""Deterministic customer data for the end-to-end tests, and leak checks that never echo it.

Every identifier a test sends is drawn from a `Customers` book, so that a module can check at
the end that none of them reached the proxy's log or the incident file. The checks return
counts, never the identifiers themselves: a failing assertion must not print customer data.
"""

from __future__ import annotations

import random

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

FIRST = ["olga", "wei", "james", "priya", "ahmed", "sara", "ivan", "li", "maria", "reza",
         "fatima", "john", "anna", "chen", "dmitry", "aisha", "tom", "neha", "omar", "elena"]
LAST = ["ivanova", "zhang", "smith", "sharma", "hassan", "jones", "petrov", "wang", "garcia",
        "karimi", "alsaud", "brown", "kuznetsova", "liu", "sokolov", "khan", "wilson", "gupta"]
DOMAINS = ["gmail.com", "yandex.ru", "qq.com", "outlook.com", "mail.ru", "163.com",
           "hotmail.co.uk", "yahoo.co.in", "gmx.de", "icloud.com"]

# Regions of the default policy; mobile numbers, because toll-free and premium numbers
# deliberately do not count.
PHONE_REGIONS = ["CN", "RU", "GB", "US", "IN", "IR", "SA", "AE", "EG"]
_MOBILE = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


class Customers:
    """Hands out distinct identifiers and remembers them for the leak checks."""

    def __init__(self, book: str):
        self._book = book
        self._rng = random.Random(f"dlp-e2e:{book}")
        self._serial = 0
        self.sent: list[str] = []

    def emails(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            self._serial += 1
            first, last, domain = (self._rng.choice(FIRST), self._rng.choice(LAST), self._rng.choice(DOMAINS))
            # The book name and serial keep every address distinct across tests and modules.
            out.append(f"{first}.{last}.{self._book}{self._serial}@{domain}")
        self.sent.extend(out)
        return out

    def phones(self, n: int, fmt: int = PhoneNumberFormat.INTERNATIONAL) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        while len(out) < n:
            region = PHONE_REGIONS[len(out) % len(PHONE_REGIONS)]
            example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
            national = str(example.national_number)
            keep = max(len(national) - 6, 2)
            candidate = phonenumbers.parse(
                f"+{example.country_code}{national[:keep]}{self._rng.randrange(10 ** (len(national) - keep)):0{len(national) - keep}d}")
            e164 = phonenumbers.format_number(candidate, PhoneNumberFormat.E164)
            if (e164 in seen or not phonenumbers.is_valid_number(candidate)
                    or phonenumbers.number_type(candidate) not in _MOBILE):
                continue
            seen.add(e164)
            out.append(phonenumbers.format_number(candidate, fmt))
            self.sent.append(e164)
        self.sent.extend(out)
        return out

    def rows(self, n: int) -> list[tuple[str, str, str]]:
        """(name, email, phone) rows, as a CRM export would have them."""
        emails, phones = self.emails(n), self.phones(n)
        return [(email.split(".")[0].title() + " " + email.split(".")[1].title(), email, phone)
                for email, phone in zip(emails, phones)]


def plain_forms(identifier: str) -> set[str]:
    """The spellings under which an identifier would count as leaked in plain text."""
    forms = {identifier, identifier.lower()}
    if "@" not in identifier and identifier.startswith("+"):
        number = phonenumbers.parse(identifier)
        forms.add(phonenumbers.format_number(number, PhoneNumberFormat.E164))
        forms.add(str(number.national_number))
    return forms


def count_leaked(text: str, identifiers) -> int:
    """How many of the identifiers occur in the text, in any plain spelling."""
    folded = text.lower()
    return sum(1 for ident in identifiers if any(form.lower() in folded for form in plain_forms(ident)))


def bulk_csv(target_bytes: int, seed: int = 0) -> bytes:
    """A customer export of about `target_bytes`, without the cost of validating each phone.

    `+86 139 NNNN NNNN` is always a valid Chinese mobile number, so no per-row check is needed.
    """
    lines = ["name,email,phone"]
    size, i = len(lines[0]) + 1, 0
    while size < target_bytes:
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        n = (seed * 10_000_000 + i) % 100_000_000
        line = f"{first.title()} {last.title()},{first}.{last}.bulk{seed}x{i}@{DOMAINS[i % len(DOMAINS)]},+86 139 {n // 10000:04d} {n % 10000:04d}"
        lines.append(line)
        size += len(line) + 1
        i += 1
    return ("\n".join(lines) + "\n").encode()
