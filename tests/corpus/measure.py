"""Print the corpus figures: recall per leak shape and market, false identifiers on benign traffic.

    python -m tests.corpus.measure                 # from the repository root
    python -m tests.corpus.measure --market-first  # also phone recall with each market first in
                                                   # the region order, which separates numbers that
                                                   # are ambiguous between markets from real misses

Same generator, engine and scoring as tests/corpus/test_corpus.py.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from tests.corpus import generate
from tests.corpus.generate import LOCALES, REGION
from tests.corpus.score import benign_scores, engine, leak_score, score_leak
from tests.corpus.test_corpus import EMAIL_RECALL_FLOOR, PHONE_RECALL_FLOOR


def _pct(value: float | None) -> str:
    return "   -" if value is None else f"{100 * value:4.0f}"


def _matrix(title: str, cell) -> None:
    shapes = list(generate.LEAK_SHAPES)
    print(f"\n{title}")
    print(f"{'shape':<11}" + "".join(f"{loc:>7}" for loc in LOCALES))
    for shape in shapes:
        print(f"{shape:<11}" + "".join(f"{_pct(cell(shape, loc)):>7}" for loc in LOCALES))


def _cases():
    return set(generate.leak_cases())


def leaks(market_first: bool) -> None:
    cases = _cases()
    start = time.perf_counter()
    scores = {case: leak_score(*case) for case in sorted(cases)}
    seconds = time.perf_counter() - start

    def get(attr):
        return lambda shape, loc: getattr(scores[shape, loc], attr) if (shape, loc) in cases else None

    _matrix("Email recall, % of distinct planted (floor {:.0f}%)".format(100 * EMAIL_RECALL_FLOOR), get("email_recall"))
    _matrix("Phone recall, % of distinct planted E.164 (floor {:.0f}%)".format(100 * PHONE_RECALL_FLOOR),
            get("phone_recall"))
    _matrix("Found but not planted, % of distinct found (ceiling 2%)", get("false_share"))
    if market_first:
        first = {}
        for shape, loc in sorted(cases):
            first[shape, loc] = score_leak(generate.leak(shape, loc), engine(REGION[loc])).phone_recall
        _matrix("Phone recall with the market's region first in policy.regions", lambda s, l: first.get((s, l)))

    total = {k: sum(getattr(s, k) for s in scores.values())
             for k in ("emails_found", "phones_found", "false_emails", "false_phones")}
    planted_e = sum(len(s.leak.emails) for s in scores.values())
    planted_p = sum(len(s.leak.phones) for s in scores.values())
    not_blocked = [f"{s}-{l}" for (s, l), v in scores.items() if v.action != "block"]
    size = sum(s.leak.size for s in scores.values())
    print(f"\nLeaks: {len(scores)} bodies, {size / 1e6:.2f} MB, {seconds:.1f} s; "
          f"emails {total['emails_found']}/{planted_e} ({100 * total['emails_found'] / planted_e:.1f}%), "
          f"phones {total['phones_found']}/{planted_p} ({100 * total['phones_found'] / planted_p:.1f}%), "
          f"not planted {total['false_emails']} emails + {total['false_phones']} phones; "
          f"not blocked: {not_blocked or 'none'}")

    print("\nOne customer written several ways (distinct found / customers, exact digest match):")
    for make, label in ((generate.same_customers_written_differently, "table"),
                        (generate.same_customers_repeated_in_text, "text")):
        row = []
        for loc in LOCALES:
            leak = make(loc)
            s = score_leak(leak)
            exact = s.emails_found == len(leak.emails) and s.phones_found == len(leak.phones) \
                and not (s.false_emails or s.false_phones)
            row.append(f"{loc} {s.emails_found + s.false_emails}+{s.phones_found + s.false_phones}"
                       f"/{len(leak.emails)}+{len(leak.phones)}{'' if exact else ' !'}")
        print(f"  {label:<6}" + "  ".join(row))


def benign() -> None:
    start = time.perf_counter()
    scores = benign_scores()
    seconds = time.perf_counter() - start
    groups = defaultdict(list)
    for s in scores:
        groups[s.item.category].append(s)
    print(f"\nBenign traffic ({len(scores)} bodies, {sum(s.item.size for s in scores) / 1e6:.2f} MB, {seconds:.1f} s)")
    print(f"{'category':<11}{'bodies':>7}{'KB':>8}{'false email':>12}{'false phone':>12}{'per MB':>8}"
          f"{'logged':>7}{'blocked':>8}  examples")
    totals = defaultdict(float)
    for category in sorted(groups):
        group = groups[category]
        kb = sum(s.item.size for s in group) / 1e3
        fe, fp = sum(s.false_emails for s in group), sum(s.false_phones for s in group)
        logged = sum(s.action == "log" and "log" not in s.item.allowed for s in group)
        blocked = sum(s.action == "block" for s in group)
        examples = [x for s in group for x in s.false_samples][:3]
        print(f"{category:<11}{len(group):>7}{kb:>8.0f}{fe:>12}{fp:>12}{(fe + fp) / (kb / 1e3):>8.0f}"
              f"{logged:>7}{blocked:>8}  {examples}")
        for key, value in (("kb", kb), ("fe", fe), ("fp", fp), ("logged", logged), ("blocked", blocked)):
            totals[key] += value
    print(f"{'total':<11}{len(scores):>7}{totals['kb']:>8.0f}{totals['fe']:>12.0f}{totals['fp']:>12.0f}"
          f"{(totals['fe'] + totals['fp']) / (totals['kb'] / 1e3):>8.0f}{totals['logged']:>7.0f}{totals['blocked']:>8.0f}")
    print(f"False blocks: {totals['blocked']:.0f} of {len(scores)} benign bodies; "
          f"logged without cause: {totals['logged']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--market-first", action="store_true",
                        help="also measure phone recall with each market's region first in the tie-break order")
    args = parser.parse_args()
    start = time.perf_counter()
    leaks(args.market_first)
    benign()
    print(f"\n{time.perf_counter() - start:.1f} s in all (seed {generate.SEED})")


if __name__ == "__main__":
    main()
