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

Addresses written out to slip past filters (`ivan [at] mail [dot] ru`, `name AT domain DOT
com`, `name @ domain . com`, `ivan собака mail точка ru`, `zhang艾特qq点com`, `ahmed ات gmail
نقطة com`) are first rewritten to "@" and "." where the parts form an address with a known
top-level domain, then checked like any other; they count as the address they spell. A bare
English "at" is also a word, so it needs more: the local part must start a field (start of a
line, after a separator or a label's colon), must not be a common word that prose puts before
"at" (`look at example dot com`, `meet me at home dot com`), and the dot must be written out
too or the local part must look like a handle (`j.doe at example.com`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

import regex
from email_validator import EmailNotValidError, validate_email
from publicsuffixlist import PublicSuffixList

from dlp_addon.model import EMAIL, Finding
from dlp_addon.normalize import Normalized, normalize, substitute
from dlp_addon.substrings import contains_any, substrings

# RFC 5322 also allows ! # $ & * / = ? ^ ` { | } ~ in local parts, but customer addresses do
# not use them, while URLs, markup and tables put them right next to addresses
# (`?email=john@x.com`, `|john@x.com|`): admitting them would glue syntax onto the address.
_ATEXT = r"[\w\p{M}%+-]"
_CANDIDATE = regex.compile(
    rf"(?<![\w\p{{M}}.%+'-])"
    rf"(?P<local>{_ATEXT}+(?:[.']{_ATEXT}+)*)"
    r"@"
    # DNS bounds (labels of at most 63 characters, at most 126 of them before the TLD) keep a
    # hostile "a.a.a.a..." from being retried at every length.
    r"(?P<domain>(?:[\p{L}\p{N}](?:[\p{L}\p{N}\p{M}-]{0,61}[\p{L}\p{N}\p{M}])?\.){1,126}"
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


@functools.lru_cache(maxsize=65536)  # a list's addresses share a few dozen domains
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
    # A punycode domain (xn--) is an internationalised one: a Cyrillic or Chinese local part
    # in front of it belongs to the address.
    if not domain.isascii() or "xn--" in domain.lower() or local.isascii():
        return local
    tail = _LATIN_TAIL.search(local)
    if tail and tail.start() > 0 and _OTHER_SCRIPT_LETTER.search(local[: tail.start()]):
        return tail.group().lstrip(".")
    return local


def _is_machine_token(local: str) -> bool:
    """Message ids, hashes and API keys in front of an "@" are not people."""
    return bool(_HEX_TOKEN.match(local) or _MIXED_TOKEN.match(local))


_CREDENTIAL_REACH = 256
_URL_ENDS = frozenset("/\"'<>()[]{},;|")


def _is_url_credential_or_remote(text: str, start: int, end: int) -> bool:
    # https://user@host/ and https://user:token@host/ : a credential in a URL, not an address.
    before = text[max(0, start - _CREDENTIAL_REACH):start]
    scheme = before.rfind("//")
    if scheme >= 0 and not any(c.isspace() or c in _URL_ENDS for c in before[scheme + 2:]):
        return True
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


# Addresses seen again (a sender's own, a list sent twice); a list's addresses are distinct,
# and keeping them all is memory the next list does not use (see phone._READINGS_KEPT).
@functools.lru_cache(maxsize=8192)
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


# -- addresses written out ------------------------------------------------------------------

# Written "@"s are found with `str.find`, which runs at memory speed (a regex alternation of
# them scans at ~15 MB/s, and English prose is full of " at "); text without any of the hints
# gets no further. Every written "@" but the Chinese ones has a space or a bracket next to it,
# which base64 and ids lack.
_ENGLISH_AT = (" at ", " AT ", " At ")
_SPACED_AT = (" собака ", " собачка ", " Собака ", " Собачка ", " СОБАКА ", " СОБАЧКА ",
              " آت ", " اَت ", " ات ")
_CHINESE_AT = ("艾特", "圈a", "圈A")
_BRACKETED_AT = re.compile(r"[\[({<][ \t]*(?:at|@|собака|собачка|艾特|圈a|آت|اَت|ات)[ \t]*[\])}>]",
                           re.IGNORECASE)
_FOREIGN_HINTS = (" соба", " Соба", " СОБА", " آت ", " اَت ", " ات ", "艾特", "圈")
_DOT_HINTS = (" dot ", " DOT ", " Dot ", "(dot)", "[dot]", "{dot}", "<dot>", "(DOT)", "[DOT]", " . ", "[.]",
              "(.)", "точк", "ТОЧК", "点", "點", "。", "نقط", "دوت", "دات")
# Read in one pass each (`contains_any`): an "@" written out, and signs of one around a real "@".
_WRITTEN_AT_HINTS = (*_ENGLISH_AT, *_FOREIGN_HINTS)
_SPACED_OR_WRITTEN_DOT = (" @ ", *_DOT_HINTS)
# What `_BRACKETED_AT` can open with: a bracket, then a space or a word's first character in
# any case its IGNORECASE takes (U+1C83 is a form of "с"; a test checks every code point);
# in ASCII text, where only "at" and "@" can follow, the word's first two.
_BRACKETED_AT_STARTS = tuple(bracket + first for bracket in "[({<" for first in " \t@aAсСᲃ艾圈آا")
_BRACKETED_AT_ASCII_STARTS = tuple(bracket + word for bracket in "[({<"
                                   for word in (" ", "\t", "@", "at", "aT", "At", "AT"))
# The same, built once for `contains_any`: they are looked for in every text.
_ENGLISH_AT_NEEDLES, _WRITTEN_AT_NEEDLES, _SPACED_OR_WRITTEN_DOT_NEEDLES = map(
    substrings, (_ENGLISH_AT, _WRITTEN_AT_HINTS, _SPACED_OR_WRITTEN_DOT))
_BRACKETED_AT_NEEDLES, _BRACKETED_AT_ASCII_NEEDLES = map(substrings, (_BRACKETED_AT_STARTS, _BRACKETED_AT_ASCII_STARTS))
_DOT_WORDS = "dot|точка|نقطة|نقطه|دوت|دات"
# Case-insensitive only where needed: the flag on a whole V1 pattern makes it 8x slower.
_SPELT_DOT = (rf"[ \t]*[\[({{<][ \t]*(?i:{_DOT_WORDS}|点|點|。|\.)[ \t]*[\])}}>][ \t]*"
              rf"|[ \t]+(?i:{_DOT_WORDS}|\.)[ \t]+")
# Labels of a domain as the candidate pattern reads them, less the Chinese dots: `qq点com`.
# Bounded to 63 characters, the longest DNS label: a run of letters as long as the text
# (Chinese prose has no spaces) must not be tried at every length.
_LABEL = r"[[\p{L}\p{N}]--[点點]](?:[[\p{L}\p{N}\p{M}-]--[点點]]{0,61}[[\p{L}\p{N}\p{M}]--[点點]])?"
_WRITTEN_DOMAIN = regex.compile(
    rf"(?P<label>{_LABEL})(?:(?P<dot>{_SPELT_DOT}|[ \t]*[点點。][ \t]*|\.)(?P<label>{_LABEL}))+",
    regex.V1)
# No Chinese dots in a local part: they are word characters there, and would make the split
# into parts ambiguous (and the search exponential).
_WRITTEN_LOCAL = regex.compile(
    rf"(?<![\w\p{{M}}.%+'-])(?P<atom>{_ATEXT}+)(?:(?P<dot>{_SPELT_DOT}|[.'])(?P<atom>{_ATEXT}+))*\Z",
    regex.V1)
_LOCAL_WINDOW = 256  # characters before a written "@" searched for its local part
_FIELD_START = "\n\r\t,;:|\"'<>([{=*•-"
_HANDLE = regex.compile(r"[._+\d-]")
# What English puts before "at" when it is not writing an address.
_PROSE_WORDS = frozenset("""
    a all am an and any anyone are arrive arrived arrives as be been being best but by can come
    could did do does dot email find found get go going good great had has have he her here him
    his home i in info is it its join just last least look looked looking looks mail me meet
    more most my not now of on one online only or our out over read reach see site so stay
    that the their them then there they this those time to up us very visit was we were what
    when where who will with work works you your
""".split())


def _may_be_written_out(text: str) -> bool:
    # One-character scans (at memory speed) first: blobs, ids and tokens have no space, no
    # bracket and no "@", and most text has no bracket.
    if text.isascii():
        if " " in text and contains_any(text, _ENGLISH_AT_NEEDLES):
            return True
    elif contains_any(text, _WRITTEN_AT_NEEDLES):
        return True
    if ("(" in text or "[" in text or "{" in text or "<" in text) and \
            contains_any(text, _BRACKETED_AT_ASCII_NEEDLES if text.isascii() else _BRACKETED_AT_NEEDLES) and \
            _BRACKETED_AT.search(text):
        return True  # user agents have brackets on every line, and hardly one opening a word like these
    return "@" in text and contains_any(text, _SPACED_OR_WRITTEN_DOT_NEEDLES)  # name @ domain . com, ivan@mail dot ru


def _at_markers(text: str) -> list[tuple[int, int, str]]:
    """Every "@" in `text`, written out or not, as (start, end, how it is written), in order."""
    found = [(i + 1, i + len(word) - 1, "english") for word in _ENGLISH_AT for i in _occurrences(text, word)]
    found += [(i, i + 1, "spaced" if text[i - 1:i] == " " and text[i + 1:i + 2] == " " else "plain")
              for i in _occurrences(text, "@")]
    if "(" in text or "[" in text or "{" in text or "<" in text:
        found += [(m.start(), m.end(), "bracketed") for m in _BRACKETED_AT.finditer(text)]
    if not text.isascii():
        found += [(i + 1, i + len(word) - 1, "spaced") for word in _SPACED_AT for i in _occurrences(text, word)]
        found += [(i, i + len(word), "chinese") for word in _CHINESE_AT for i in _occurrences(text, word)]
    return sorted(found)


def _occurrences(text: str, word: str) -> Iterator[int]:
    position = text.find(word)
    while position >= 0:
        yield position
        position = text.find(word, position + 1)


def _marker_span(text: str, start: int, end: int, how: str) -> tuple[int, int]:
    """The written "@" with the spaces around it, which belong to it, not to the address."""
    if how != "plain":
        while start > 0 and text[start - 1] in " \t":
            start -= 1
        while end < len(text) and text[end] in " \t":
            end += 1
    return start, end


_MAX_LABELS = 127  # a domain name has at most 127 labels
# A written-out domain's longest spelling: 253 characters of name plus " dot " for each dot.
_WRITTEN_REACH = 253 * 3


def _labels_with_known_suffix(labels: list[str]) -> int:
    """How many leading labels make a domain with a real top-level domain (`mail dot ru dot
    Then` is `mail.ru`); 0 when none do."""
    for count in range(min(len(labels), _MAX_LABELS), 1, -1):
        if _trim_domain(".".join(labels[:count])) is not None:
            return count
    return 0


def _starts_a_field(text: str, start: int) -> bool:
    while start > 0 and text[start - 1] == " ":
        start -= 1
    return start == 0 or text[start - 1] in _FIELD_START


def _reads_as_an_address(text: str, local: regex.Match, written_dots: bool) -> bool:
    """For a bare English "at": an address in a list or after a label, not a sentence."""
    name = local.group()
    if name.casefold() in _PROSE_WORDS or not _starts_a_field(text, local.start()):
        return False
    return written_dots or _HANDLE.search(name) is not None


def _written_out_edits(text: str) -> list[tuple[int, int, str]]:
    """Spans of `text` to read as "@" or ".", one written-out address after another."""
    edits: list[tuple[int, int, str]] = []
    done = 0
    for found in _at_markers(text):
        how = found[2]
        start, end = _marker_span(text, *found)
        # Bounded: a domain is at most 253 characters, however it is spelt out around it.
        domain = _WRITTEN_DOMAIN.match(text, end, min(len(text), end + _WRITTEN_REACH)) if start >= done else None
        if domain is None or (how == "plain" and not _spelt(text, domain.spans("dot"))):
            continue  # a plain address: the candidate pattern reads it as it is
        kept = _labels_with_known_suffix(domain.captures("label"))
        local = _WRITTEN_LOCAL.search(text, max(done, start - _LOCAL_WINDOW), start) if kept else None
        if local is None:
            continue
        dots = _spelt(text, domain.spans("dot")[:kept - 1]) + _spelt(text, local.spans("dot"))
        if how == "english" and not _reads_as_an_address(text, local, bool(dots)):
            continue
        edits += sorted([(start, end, "@"), *((a, b, ".") for a, b in dots)])
        done = edits[-1][1]
    return edits


def _spelt(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The dots among `spans` that are written out rather than a plain "." or "'"."""
    return [(a, b) for a, b in spans if text[a:b] not in ".'"]


def unobfuscated(norm: Normalized) -> Normalized:
    """`norm` with written-out addresses spelled plainly, still mapped back to what was sent."""
    if not _may_be_written_out(norm.text):
        return norm
    edits = _written_out_edits(norm.text)
    return substitute(norm, edits) if edits else norm


def split_written(raw: str) -> tuple[str, str, str] | None:
    """An address as it was written, in three: the local part, the "@" as written and the
    domain in plain dots. `ivan [at] mail [dot] ru` -> ('ivan', ' [at] ', 'mail.ru')."""
    text = normalize(raw).text
    for found in _at_markers(text):
        start, end = _marker_span(text, *found)
        domain = _WRITTEN_DOMAIN.match(text, end, min(len(text), end + _WRITTEN_REACH))
        if start > 0 and domain is not None:
            return text[:start], text[start:end], ".".join(domain.captures("label"))
    return None


_BATCH_CHARACTERS = 64 * 1024


def may_hold_emails(texts: list[str]) -> bool:
    """False when none of the texts can hold an address, plain or written out: the checks
    `find_emails` makes of each text first, made of short texts joined in batches (each check
    holds for the whole when it holds for a part). A JSON document or a form is thousands of
    short values; a long text is looked at alone, so that no batch copies much of a body."""
    if sum(map(len, texts)) <= _BATCH_CHARACTERS * 16:
        # A message of up to a MiB of text or so: one copy, no Python per text.
        return _may_hold_an_address("\n".join(texts))
    batch: list[str] = []
    size = 0
    for text in texts:
        if len(text) >= _BATCH_CHARACTERS:
            if _may_hold_an_address(text):
                return True
            continue
        batch.append(text)
        size += len(text)
        if size >= _BATCH_CHARACTERS:
            if _may_hold_an_address("\n".join(batch)):
                return True
            batch, size = [], 0
    return bool(batch) and _may_hold_an_address("\n".join(batch))


def _may_hold_an_address(text: str) -> bool:
    return "@" in text or _may_be_written_out(text)


def find_emails(norm: Normalized, where: str) -> Iterator[Finding]:
    norm = unobfuscated(norm)
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
