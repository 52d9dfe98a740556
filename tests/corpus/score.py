"""Run the engine over the generated corpora and compare what it found with what was planted.

Shared by test_corpus.py and measure.py so that the figures printed are the ones asserted.
Comparison is by keyed digest, as an investigator would do it: the engine hands out no plain
identifiers, so the truth is hashed with the same key.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass

from dlp_addon.decide import decide
from dlp_addon.engine import Engine
from dlp_addon.model import EMAIL, PHONE, Inspection
from dlp_addon.policy import load_policy

from tests.corpus import generate
from tests.corpus.generate import Benign, Leak

POLICY_PATH = "policies/default.yaml"
KEY = b"k" * 32


@functools.cache
def engine(first_region: str | None = None) -> Engine:
    """The default policy's engine; `first_region` moves one region to the front of the
    tie-break order, as a gateway deployed for that market alone would have it."""
    policy = load_policy(POLICY_PATH)
    if first_region is not None:
        policy = dataclasses.replace(
            policy, regions=(first_region, *(r for r in policy.regions if r != first_region)))
    return Engine(policy, key=KEY)


def inspect(item: Leak | Benign, eng: Engine | None = None) -> Inspection:
    eng = eng or engine()
    if item.request is not None:
        return eng.inspect(item.request)
    return eng.inspect_content(item.body, content_type=item.content_type, content_encoding=item.content_encoding)


@dataclass(frozen=True)
class LeakScore:
    leak: Leak
    emails_found: int  # distinct planted emails found
    phones_found: int
    false_emails: int  # distinct emails found that were not planted
    false_phones: int
    action: str
    problems: tuple[str, ...]
    missed: tuple[str, ...]  # planted identifiers not found, as written (synthetic data)
    false_samples: tuple[str, ...]  # found but not planted, masked as the engine reports them
    seconds: float

    @property
    def email_recall(self) -> float:
        return self.emails_found / len(self.leak.emails)

    @property
    def phone_recall(self) -> float:
        return self.phones_found / len(self.leak.phones)

    @property
    def false_share(self) -> float:
        found = self.emails_found + self.phones_found + self.false_emails + self.false_phones
        return (self.false_emails + self.false_phones) / found if found else 0.0

    def explain(self, kind: str | None = None, limit: int = 8) -> str:
        missed = [m for m in self.missed if kind is None or m.startswith(kind)]
        return (f"{self.leak.shape}/{self.leak.locale}: missed {len(missed)} e.g. {missed[:limit]}; "
                f"not planted {len(self.false_samples)} e.g. {list(self.false_samples[:limit])}; "
                f"problems {list(self.problems)}")


def score_leak(leak: Leak, eng: Engine | None = None) -> LeakScore:
    eng = eng or engine()
    start = time.perf_counter()
    inspection = inspect(leak, eng)
    seconds = time.perf_counter() - start
    found = inspection.digests()
    truth = {eng.digest(kind, canonical): (kind, raw) for kind, canonical, raw in leak.written}
    hit = found & truth.keys()
    false = [e for e in inspection.evidence if e.digest not in truth]
    missed = tuple(f"{kind}:{raw!r}" for digest, (kind, raw) in truth.items() if digest not in hit)
    return LeakScore(
        leak, sum(truth[d][0] == EMAIL for d in hit), sum(truth[d][0] == PHONE for d in hit),
        sum(e.kind == EMAIL for e in false), sum(e.kind == PHONE for e in false),
        decide(inspection, eng.policy).action, tuple(p.sub_reason for p in inspection.problems), missed,
        tuple(f"{e.kind}:{e.masked}" for e in false), seconds)


@functools.cache
def leak_score(shape: str, locale: str) -> LeakScore:
    return score_leak(generate.leak(shape, locale))


@dataclass(frozen=True)
class BenignScore:
    item: Benign
    false_emails: int
    false_phones: int
    legit_found: int
    action: str
    problems: tuple[str, ...]
    false_samples: tuple[str, ...]  # masked, with where it was found
    seconds: float

    def explain(self) -> str:
        return f"{self.item.category}/{self.item.name} -> {self.action}: {list(self.false_samples[:6])}"


def score_benign(item: Benign) -> BenignScore:
    start = time.perf_counter()
    inspection = inspect(item)
    seconds = time.perf_counter() - start
    legit = frozenset(engine().digest(kind, value) for kind, value in item.legit)
    false = [e for e in inspection.evidence if e.digest not in legit]
    return BenignScore(item, sum(e.kind == EMAIL for e in false), sum(e.kind == PHONE for e in false),
                       len(inspection.evidence) - len(false), decide(inspection, engine().policy).action,
                       tuple(p.sub_reason for p in inspection.problems),
                       tuple(f"{e.kind}:{e.masked} at {e.where}" for e in false), seconds)


@functools.cache
def benign_scores() -> tuple[BenignScore, ...]:
    return tuple(score_benign(item) for item in generate.benign_corpus())
