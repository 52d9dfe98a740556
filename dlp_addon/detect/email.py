"""Email addresses: find candidates around "@", then keep only real, customer-like addresses.

Candidates come from one regex over normalised text; each then has to pass, in order:
  - a known top-level domain (public suffix list, bundled, never fetched), which removes
    `logo@2x.png`, `user@1.2.3`, `a@localhost`;
  - not a URL credential (`https://token@host/`) or an SSH remote (`git@github.com:org/repo`);
  - not a machine token in the local part (message ids, hex hashes);
  - email-validator's syntax check, which also gives the canonical domain form (IDNA).
The canonical form counts the same customer once however it was written: the local part
NFC-normalised and case-folded, the domain in Unicode lower case (so `пример.рф` and
`xn--e1afmkfd.xn--p1ai` are one domain).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator

import regex
from email_validator import EmailNotValidError, validate_email
from publicsuffixlist import PublicSuffixList

from dlp_addon.model import EMAIL, Finding
from dlp_addon.normalize import Normalized

# RFC 5322 also allows ! # $ & * / = ? ^ ` { | } ~ in local parts, but customer addresses do
# not use them, while URLs, markup and tables put them right next to addresses
# (`?email=john@x.com`, `|john@x.com|`): admitting them would glue syntax onto the address.
_ATEXT = r"[\w\p{M}%+-]"
_CANDIDATE = regex.compile(
    rf"(?<![\w\p{{M}}.%+'-])"
    rf"(?P<local>{_ATEXT}+(?:[.']{_ATEXT}+)*)"
    r"@"
    r"(?P<domain>(?:[\p{L}\p{N}](?:[\p{L}\p{N}\p{M}-]*[\p{L}\p{N}\p{M}])?\.)+"
    r"(?:xn--[a-zA-Z0-9-]+|[\p{L}\p{M}]{2,63}))"
)
_ASCII_TLD_END = regex.compile(r"^[A-Za-z]+")
_LATIN_TAIL = regex.compile(r"[\p{Latin}\p{N}\p{M}%+'._-]+$")
_OTHER_SCRIPT_LETTER = regex.compile(r"[^\p{Latin}\P{L}]")
_HEX_TOKEN = regex.compile(r"^[0-9a-fA-F._-]{16,}$")
_MIXED_TOKEN = regex.compile(r"^(?=(?:.*\d){4})(?=(?:.*[A-Za-z]){4})[A-Za-z0-9_=-]{24,}$")


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def suffix_of(domain: str) -> str:
    """The public suffix ("com", "co.uk", "рф") of a domain, or "" when it has no known one."""
    return _suffixes().publicsuffix(domain.lower(), accept_unknown=False) or ""


def _known_tld(domain: str) -> bool:
    return bool(suffix_of(domain))


def _trim_domain(domain: str) -> str | None:
    """Cut a domain back to a real top-level domain.

    Text without spaces (Chinese, Japanese) runs straight on after an address:
    `zhang@qq.com谢谢` or `李@例子.中国请回复`. The regex takes the whole letter run as the
    TLD, so shorten it until the public suffix list knows it.
    """
    labels = domain.split(".")
    tld = labels[-1]
    if tld.lower().startswith("xn--"):
        return domain if _known_tld(domain) else None
    ascii_start = _ASCII_TLD_END.match(tld)
    if ascii_start and ascii_start.end() < len(tld):
        tld = ascii_start.group()
    for end in range(len(tld), 1, -1):
        candidate = ".".join([*labels[:-1], tld[:end]])
        if _known_tld(candidate):
            return candidate
        if tld.isascii():
            break
    return None


def _trim_local(local: str, domain: str) -> str:
    """Drop words of another script glued to the front of an ASCII address (`联系zhang@qq.com`)."""
    if not domain.isascii() or local.isascii():
        return local
    tail = _LATIN_TAIL.search(local)
    if tail and tail.start() > 0 and _OTHER_SCRIPT_LETTER.search(local[: tail.start()]):
        return tail.group().lstrip(".")
    return local


def _is_machine_token(local: str) -> bool:
    """Message ids, hashes and API keys in front of an "@" are not people."""
    return bool(_HEX_TOKEN.match(local) or _MIXED_TOKEN.match(local))


def _is_url_credential_or_remote(text: str, start: int, end: int) -> bool:
    if text[max(0, start - 3):start].endswith("//"):
        return True  # https://user@host/ : a credential in a URL, not an address
    follow = text[end:end + 2]
    return len(follow) == 2 and follow[0] == ":" and not follow[1].isspace()  # git@host:org/repo


# Reserved names that never deliver mail (RFC 6761 and friends), as email-validator refuses them.
_SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def _canonical_ascii(local: str, domain: str) -> str | None:
    """The candidate pattern already enforces dot-atoms and hostname labels; what is left to
    check for a plain ASCII address is lengths and reserved names."""
    labels = domain.lower().split(".")
    if len(local) > 64 or len(local) + len(domain) > 253 or any(len(label) > 63 for label in labels):
        return None
    if labels[-1] in _SPECIAL_USE:
        return None
    return f"{local.lower()}@{domain.lower()}"


@functools.lru_cache(maxsize=65536)
def canonical_email(local: str, domain: str) -> str | None:
    """Validate and return the canonical form, or None when it is not an address.

    ASCII addresses are checked here (email-validator costs ~40 µs an address and would be
    most of the cost of a customer list); internationalised ones go through email-validator
    for IDNA and Unicode normalisation, which is where its work matters."""
    if local.isascii() and domain.isascii() and not domain.lower().startswith("xn--") \
            and ".xn--" not in domain.lower():
        return _canonical_ascii(local, domain)
    try:
        result = validate_email(f"{local}@{domain}", check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    local_part = unicodedata.normalize("NFC", result.local_part).casefold()
    return f"{local_part}@{result.domain.lower()}"


def email_domain(canonical: str) -> str:
    return canonical.rpartition("@")[2]


def find_emails(norm: Normalized, where: str) -> Iterator[Finding]:
    text = norm.text
    if "@" not in text:
        return
    for match in _CANDIDATE.finditer(text):
        domain = _trim_domain(match.group("domain"))
        if domain is None:
            continue
        local = _trim_local(match.group("local"), domain)
        start = match.end("local") - len(local)
        end = match.start("domain") + len(domain)
        if len(local) > 64 or _is_machine_token(local) or _is_url_credential_or_remote(text, start, end):
            continue
        canonical = canonical_email(local, domain)
        if canonical is None:
            continue
        o_start, o_end = norm.original_span(start, end)
        yield Finding(EMAIL, canonical, norm.original[o_start:o_end], where, o_start, o_end)
