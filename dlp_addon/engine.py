"""The inspection engine: one message in, one privacy-safe `Inspection` out.

    gate (raw bytes) -> extract (decode, split into segments) -> normalize -> detect
    -> dedupe, exempt, hash, mask

It is plain Python with no mitmproxy import, so the proxy's worker processes, `dlp scan` and
the tests run exactly the same code. Plain-text identifiers exist only inside `inspect`; what
comes out carries keyed hashes and masked samples.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import unquote

import phonenumbers
import regex

from dlp_addon import full_count, gate
from dlp_addon.decide import certain_block
from dlp_addon.detect.email import email_domain, find_emails, may_hold_emails
from dlp_addon.detect import phone
from dlp_addon.detect.phone import DocumentCountries, PhoneDetector
from dlp_addon.evidence import Hasher, mask
from dlp_addon.extract import Extraction, extract_content, extract_request, extract_window
from dlp_addon.extract.sniff import kind_of
from dlp_addon.model import (EMAIL, KINDS, PHONE, SAMPLES_PER_KIND, Evidence, Finding, Inspection, Problem,
                             RequestData)
from dlp_addon.normalize import Normalized, normalize
from dlp_addon.policy import Policy

# Bodies at least this large are probed first (see Engine.probe), with this much of their start.
PROBE_MIN_BODY = 256 * 1024
PROBE_BYTES = 16 * 1024
PROBE_STEPS = (1024, 4 * 1024, PROBE_BYTES)
_SAFE_QUERY_KEY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-[]")


@dataclass(slots=True)
class _Tally:
    """Distinct identifiers of one message, in the order first seen."""

    first: dict[tuple[str, str], Finding] = field(default_factory=dict)
    occurrences: dict[tuple[str, str], int] = field(default_factory=dict)
    exempt: set[tuple[str, str]] = field(default_factory=set)

    def add(self, finding: Finding, is_exempt: bool) -> None:
        key = (finding.kind, finding.normalized)
        if is_exempt:
            self.exempt.add(key)
            return
        self.first.setdefault(key, finding)
        self.occurrences[key] = self.occurrences.get(key, 0) + 1


class Engine:
    """Holds what is expensive to build once per policy: compiled detectors and the hash key."""

    def __init__(self, policy: Policy, key: bytes):
        self.policy = policy
        self._hasher = Hasher(key)
        self._phones = PhoneDetector(policy.regions)

    def warm_up(self) -> None:
        """Load and compile now what the first real request would otherwise pay for (about
        0.3 s): the suffix list, the digit table, and each policy country's numbering plan and
        formats. The numbering-plan automaton was built with the detector (about 0.75 s)."""
        lines = ["name,email,phone,тел,手机,هاتف"]
        for region in self.policy.regions:
            number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
            if number is None:
                continue
            national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            lines.append(f"warm {region},warm.{region.lower()}@example.com,{national},{international},"
                         f"{phonenumbers.national_significant_number(number)},۰۹۱۲")
        phone.warm_up(self.policy.regions)
        text = "\n".join(lines).encode()
        self.inspect_content(text, content_type="text/csv")
        self.inspect_content(text, content_type="text/plain")

    def digest(self, kind: str, normalized: str) -> str:
        """HMAC-SHA256 hex of an identifier's canonical form, as used in `Evidence.digest`."""
        return self._hasher.digest(kind, normalized)

    def probe(self, request: RequestData) -> Inspection | None:
        """The inspection of the start of a large body (see `probe_request`), or None."""
        head = probe_request(request)
        return self.inspect_start(head) if head is not None else None

    def inspect_start(self, head: RequestData) -> Inspection:
        """The start of a body, read in growing steps until it is certain to block: a list
        decides within its first kilobyte or so, and other content costs at most the whole
        start. Each step is cut at a line break."""
        body = head.body or b""
        for size in PROBE_STEPS:
            part = _cut_at_line(body, size)
            inspection = self.inspect(replace(head, body=part))
            if len(part) >= len(body) or certain_block(inspection, self.policy):
                return inspection
        return inspection

    def inspect(self, request: RequestData) -> Inspection:
        if gate.quiet(request, self.policy.limits.max_body_bytes):
            return Inspection(bytes_inspected=len(request.body or b""), safe_path=safe_path(request.path, ()))
        deadline = time.monotonic() + self.policy.limits.max_seconds
        return self._run(lambda: extract_request(request, self.policy.limits, deadline), deadline,
                         request.path)

    def inspect_content(self, content: bytes, *, content_type: str = "", content_encoding: str = "",
                        where: str = "body") -> Inspection:
        """A body, a file or a WebSocket message on its own."""
        deadline = time.monotonic() + self.policy.limits.max_seconds
        return self._run(
            lambda: extract_content(content, self.policy.limits, content_type=content_type,
                                    content_encoding=content_encoding, where=where, deadline=deadline),
            deadline, None)

    def inspect_message(self, content: bytes, *, is_text: bool | None = None, where: str = "ws") -> Inspection:
        content_type = "text/plain; charset=utf-8" if is_text else ""
        return self.inspect_content(content, content_type=content_type, where=where)

    def window_plan(self, head: RequestData) -> full_count.Plan | None:
        """How to count a large body in windows (`full_count.plan`), its header line checked
        to hold no identifier, since every window repeats it."""
        plan = full_count.plan(head)
        if plan is None:
            return None
        if plan.header:
            header = self.inspect_content(plan.header, content_type=f"text/plain; charset={plan.codec}")
            if header.evidence or header.exempt:
                plan = replace(plan, header=b"")
        extraction = extract_request(head, self.policy.limits, time.monotonic() + self.policy.limits.max_seconds)
        document = self._phones.document_countries([(s, normalize(s.text)) for s in extraction.segments])
        return replace(plan, document=document)

    def inspect_window(self, window: full_count.Window) -> Inspection:
        """One window of a body counted in windows; the header line it repeats is not counted
        as inspected again."""
        deadline = time.monotonic() + self.policy.limits.max_seconds
        inspection = self._run(lambda: extract_window(window.data, window.codec, self.policy.limits,
                                                      mime=window.mime, deadline=deadline),
                               deadline, None, window.document)
        if window.header:
            repeated = len(window.data[:window.header].decode(window.codec, errors="replace"))
            inspection = replace(inspection, bytes_inspected=max(0, inspection.bytes_inspected - repeated))
        return inspection

    def findings(self, extraction: Extraction, deadline: float | None = None,
                 document: DocumentCountries | None = None) -> tuple[list[Finding], list[Problem]]:
        """Every identifier occurrence in the extracted segments (plain text: engine-internal);
        `document` as in `PhoneDetector.find`."""
        found: list[Finding] = []
        problems: list[Problem] = []
        segments = extraction.segments
        # Each segment's normal form, made only for texts that are not ASCII (those are their
        # own, and most values are never looked at again after the detectors' first pass).
        texts = [segment.text for segment in segments]
        forms: dict[int, Normalized] = {}
        if not all(map(str.isascii, texts)):
            for index in [index for index, text in enumerate(texts) if not text.isascii()]:
                if deadline is not None and time.monotonic() > deadline:
                    del texts[index:]  # mapping is at memory speed: ASCII texts need no clock
                    break
                forms[index] = norm = normalize(texts[index])
                texts[index] = norm.text
        if may_hold_emails(texts):
            for index, text in enumerate(texts):
                norm = forms.get(index) or Normalized(text, text)
                found.extend(find_emails(norm, segments[index].where))
        found.extend(self._phones.find_in_texts(segments, texts, forms, deadline, document))
        if deadline is not None and time.monotonic() > deadline:
            # Checked once more after the detectors: a single long text can outlast the limit.
            problems.append(Problem("timeout", "detection", "inspection time limit reached"))
        return found, problems

    def _run(self, extract, deadline: float, path: str | None, document: DocumentCountries | None = None) -> Inspection:
        try:
            extraction = extract()
            found, problems = self.findings(extraction, deadline, document)
            return self._summarise(extraction, found, problems, path)
        except Exception as e:  # noqa: BLE001 - any failure must become a recorded decision, never a pass
            return Inspection(problems=(Problem("error", "engine", type(e).__name__),),
                              safe_path=coarse_safe_path(path) if path is not None else "")

    def _summarise(self, extraction: Extraction, found: Iterable[Finding], problems: list[Problem],
                   path: str | None) -> Inspection:
        tally = _Tally()
        exemptions = self.policy.exemptions
        for finding in found:
            is_exempt = finding.kind == EMAIL and exemptions.company_domain(email_domain(finding.normalized))
            tally.add(finding, is_exempt)
        # A list of 30,000 customers needs three masked samples of each kind, not 30,000; and
        # its places repeat (a CSV's rows are all "body").
        samples_left = dict.fromkeys(KINDS, SAMPLES_PER_KIND)
        places: dict[str, str] = {}
        evidence = []
        for (kind, canonical), finding in tally.first.items():
            masked = ""
            if samples_left.get(kind, 0) > 0:
                samples_left[kind] -= 1
                masked = mask(kind, finding.raw)
            place = places.get(finding.where)
            if place is None:
                place = places[finding.where] = safe_where(finding.where)
            evidence.append(Evidence(kind, self.digest(kind, canonical), masked, place,
                                     tally.occurrences[(kind, canonical)]))
        return Inspection(
            evidence=tuple(evidence),
            problems=tuple(replace(p, where=safe_where(p.where), detail=safe_where(p.detail, numbers=False))
                           for p in (*extraction.problems, *problems)),
            bytes_inspected=extraction.bytes_inspected,
            exempt=len(tally.exempt),
            safe_path=safe_path(path, found) if path is not None else "",
        )


def merge(first: Inspection, second: Inspection) -> Inspection:
    """Both inspections of one message together: every distinct identifier once, every problem."""
    seen = {e.digest for e in second.evidence}
    evidence = second.evidence + tuple(e for e in first.evidence if e.digest not in seen)
    return replace(second, evidence=evidence, exempt=max(first.exempt, second.exempt),
                   problems=tuple(dict.fromkeys(first.problems + second.problems)),
                   bytes_inspected=max(first.bytes_inspected, second.bytes_inspected))


def probe_request(request: RequestData) -> RequestData | None:
    """The request with only the start of its large, plain body, or None where there is no such start.

    A customer list says what it is within its first kilobytes: answering a 10 MB upload
    from them takes milliseconds instead of the seconds the whole body takes. What the start
    holds is real (it is cut at a line break, or between values where it has none, so no
    identifier is cut in two), so when it alone reaches a blocking rule
    (`decide.certain_block`) the request is certain to be blocked, and the full count can
    follow for the record. Compressed and binary bodies have no readable start."""
    body = request.body or b""
    if len(body) < PROBE_MIN_BODY or request.header("content-encoding").strip().lower() not in ("", "identity"):
        return None
    head = _cut_at_line(body, PROBE_BYTES)
    if kind_of(head) is not None:
        return None
    return replace(request, body=head)


def _cut_at_line(body: bytes, size: int) -> bytes:
    # Cut as the full count's windows are: a start without line breaks ends between values.
    return body[:full_count.cut_end(body, 0, size)]


# Places are named after what the sender named things: file names, JSON keys, form fields,
# archive members. Those can be identifiers themselves ({"john@x.com": ...}, "13800138000.csv").
_EMAIL_IN_PLACE = regex.compile(r"[^\s\[\]:/@\\]+@[^\s\[\]:/@\\]+")
_NUMBER_IN_PLACE = regex.compile(r"\+?\d[\d ()-]{5,}\d")


def safe_where(where: str, numbers: bool = True) -> str:
    """A place name for the record, with anything in it that could be an identifier masked.
    `numbers=False` for the gateway's own messages, whose numbers are sizes and limits."""
    if "@" in where:
        where = _EMAIL_IN_PLACE.sub(lambda m: mask(EMAIL, m.group()), where)
    if numbers:
        where = _NUMBER_IN_PLACE.sub(lambda m: mask(PHONE, m.group()), where)
    # File names that were not valid UTF-8 keep their bytes as escapes, which a UTF-8
    # incident file cannot hold.
    return where.encode("utf-8", "backslashreplace").decode("utf-8")


_RISKY_PATH_PART = regex.compile(r"[^/]*(?:@|%40|\d{5})[^/]*")


def coarse_safe_path(path: str) -> str:
    """For when detection did not run: hide every path part that could hold an identifier."""
    return _RISKY_PATH_PART.sub("…", path.split("?", 1)[0]) or "/"


def safe_path(path: str, found: Iterable[Finding]) -> str:
    """The request path for the record: identifiers in it masked, query values left out."""
    raw_path, _, query = path.partition("?")
    decoded = unquote(raw_path, errors="replace")
    in_path = sorted((f for f in found if f.where == "url:path"), key=lambda f: f.start, reverse=True)
    for finding in in_path:
        decoded = decoded[:finding.start] + mask(finding.kind, finding.raw) + decoded[finding.end:]
    if not query:
        return decoded
    keys = []
    for pair in query.split("&"):
        key = unquote(pair.split("=", 1)[0], errors="replace")
        keys.append(f"{key}=" if key and set(key) <= _SAFE_QUERY_KEY else "…=")
    return decoded + "?" + "&".join(keys)
