"""The contract types passed between the pipeline stages.

    RequestData --extract--> Segment* (+ Problem*) --normalize/detect--> Finding*
    Finding* --engine (dedupe, exempt, hash, mask)--> Inspection --decide--> Verdict

Everything here is plain, immutable and picklable, so the engine can run in a worker process
and the same objects come back from the CLI, the tests and the proxy. Only `Finding` carries an
identifier in plain text; it never leaves the engine. `Inspection` and `Verdict` carry keyed
hashes and masked samples only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EMAIL = "email"
PHONE = "phone"
KINDS = (EMAIL, PHONE)


@dataclass(frozen=True, slots=True)
class RequestData:
    """What the engine needs to know about one outbound message, independent of mitmproxy."""

    method: str
    host: str
    path: str  # as sent: path plus query string, still percent-encoded
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    def header(self, name: str, default: str = "") -> str:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default


# Not frozen, unlike the rest: made by the tens of thousands per message, and a frozen
# dataclass takes four times as long to build (about 630 against 140 ns). Nothing changes
# them once made.
@dataclass(slots=True)
class Segment:
    """A piece of decoded text plus what is known about where it came from.

    `where` names the place for investigators and `dlp scan --explain`
    ("query:email", "body:json:$.rows[3].phone", "body:multipart[2 contacts.csv]").
    `field` is the label the sender gave the value (JSON key, form field, column header); the
    phone detector reads it as context ("phone", "手机", "телефон"...).
    `group` ties together values that are siblings in a structure (every `$.rows[*].phone`);
    digit-only phone numbers are only believed when their siblings look like phones too.
    `layout` is "value" for one field's value and "text" for free text, where the detector
    works out lines and columns itself.
    """

    text: str
    where: str
    field: str = ""
    group: str = ""
    layout: str = "text"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the pipeline could not inspect. The policy maps `sub_reason` to an action."""

    sub_reason: str  # one of model.SUB_REASONS
    where: str
    detail: str


# Why content could not be inspected. Policies name these under `uninspectable:`.
SUB_REASONS = (
    "too_large",  # body or decoded content over a size limit
    "bad_encoding",  # Content-Encoding that fails to decode, or an unknown coding
    "too_deep",  # nesting beyond the depth limit
    "encrypted",  # password-protected archive or document
    "corrupt",  # a file of a known format that does not parse
    "unsupported",  # a container format the gateway cannot open (7z, RAR)
    "timeout",  # inspection ran out of its time budget
    "error",  # an internal error while inspecting
)


# Not frozen: see Segment.
@dataclass(slots=True)
class Finding:
    """One occurrence of an identifier inside a segment. Holds plain text: engine-internal."""

    kind: str
    normalized: str  # canonical form used for distinct counting (casefolded email, E.164 phone)
    raw: str  # the text as the sender wrote it, used only to build a masked sample
    where: str
    start: int = 0
    end: int = 0


# Masked samples an incident and a block page show of each kind.
SAMPLES_PER_KIND = 3


# Not frozen: see Segment.
@dataclass(slots=True)
class Evidence:
    """One distinct identifier as the rest of the system sees it: no plain text."""

    kind: str
    digest: str  # HMAC-SHA256 of "kind:normalized" under the gateway's key
    # Masked sample of what was sent, e.g. "j***@g***.com". Only the first SAMPLES_PER_KIND of
    # each kind carry one, since that is all an incident or a block page shows: "" after them.
    masked: str
    where: str  # first place it was seen
    occurrences: int = 1


@dataclass(frozen=True, slots=True)
class Inspection:
    """The engine's result for one message: privacy-safe and picklable."""

    evidence: tuple[Evidence, ...] = ()
    problems: tuple[Problem, ...] = ()
    bytes_inspected: int = 0
    exempt: int = 0  # distinct identifiers seen but not counted (company's own domains)
    safe_path: str = "/"  # path with query values dropped and identifiers masked

    def counts(self) -> dict[str, int]:
        out = {kind: 0 for kind in KINDS}
        for item in self.evidence:
            out[item.kind] = out.get(item.kind, 0) + 1
        return out

    def digests(self, kinds: tuple[str, ...] = KINDS) -> frozenset[str]:
        return frozenset(e.digest for e in self.evidence if e.kind in kinds)

    def __reduce__(self):
        # A list's evidence crosses from a worker to the proxy by the ten thousand, and it is
        # unpickled on the proxy's event loop, which serves no one meanwhile: each window of a
        # full count took 59 ms with the dataclasses' own pickling. In columns, with the
        # digests as one string, it takes a fraction of that.
        evidence = self.evidence
        columns = ([e.kind for e in evidence], "\n".join(e.digest for e in evidence),
                   [e.masked for e in evidence], [e.where for e in evidence], [e.occurrences for e in evidence])
        return _inspection, (columns, self.problems, self.bytes_inspected, self.exempt, self.safe_path)


def _inspection(columns, problems, bytes_inspected, exempt, safe_path) -> Inspection:
    kinds, digests, masked, where, occurrences = columns
    evidence = tuple(map(Evidence, kinds, digests.split("\n"), masked, where, occurrences)) if kinds else ()
    return Inspection(evidence, problems, bytes_inspected, exempt, safe_path)


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: str
    action: str
    scope: str  # "request", "user" or "uninspectable"
    count: int = 0  # distinct identifiers that triggered the rule
    threshold: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str  # "allow", "log" or "block": what happens to the message
    rule: str = ""  # the rule that decided it
    hits: tuple[RuleHit, ...] = ()
    would_block: bool = False  # monitor mode turned a block into a log
    window: dict = field(default_factory=dict)  # per-user rule name -> distinct count in its window

    @property
    def recorded(self) -> bool:
        return self.action in ("log", "block")
