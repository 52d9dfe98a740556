"""The engine on its own, one process, one thread: throughput, what it finds, time to a decision.

Each function here runs in a fresh spawned process (see fresh.py) and returns plain numbers.
Timing covers the whole pipeline a worker runs for a body: `Engine.inspect_content` (decode,
extract, normalise, detect, count) plus `decide`. The engine is warmed up first the way the
gateway's workers are (one small inspection), so start-up costs are not counted, but nothing is
cached from an earlier repetition.

The naive scanner is the usual way to find these identifiers: one email regex plus
libphonenumber's `PhoneNumberMatcher` once per policy region, leniency VALID, `max_tries`
raised (its default of 65535 silently stops finding numbers in long digit-dense text).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import re
import time
from pathlib import Path

from tests.bench import corpora

POLICY = "policies/default.yaml"
_KEY = b"bench-key-0123456789abcdef012345"


def _engine(policy_path: str):
    from dlp_addon.engine import Engine
    from dlp_addon.policy import load_policy

    policy = load_policy(policy_path)
    engine = Engine(policy, _KEY)
    # What a gateway worker does once at start (workers.py): load the suffix list, tables,
    # metadata, then set the garbage collector for a long-lived inspecting process.
    engine.warm_up()
    try:
        from dlp_addon.workers import tune_garbage_collector
    except ImportError:  # a build from before the worker tuned its collector
        pass
    else:
        tune_garbage_collector()
    return engine, policy


def _as_a_worker_call():
    """What a gateway worker runs each call in (`workers.collections_deferred`), where the
    build being measured has it."""
    try:
        from dlp_addon.workers import collections_deferred
    except ImportError:
        return contextlib.nullcontext()
    return collections_deferred()


def _score(engine, inspection, body: corpora.Body) -> dict:
    from dlp_addon.model import EMAIL, PHONE

    emails, phones = inspection.digests((EMAIL,)), inspection.digests((PHONE,))
    true_emails = {engine.digest(EMAIL, e) for e in body.emails}
    true_phones = {engine.digest(PHONE, p) for p in body.phones}
    return {"emails_found": len(emails & true_emails), "phones_found": len(phones & true_phones),
            "false_emails": len(emails - true_emails), "false_phones": len(phones - true_phones),
            "emails_planted": len(true_emails), "phones_planted": len(true_phones)}


def engine_pass(corpus_path: str, policy_path: str = POLICY) -> dict:
    """Every body of a corpus once: per-body seconds, bytes, what was found, the decision."""
    from dlp_addon.decide import decide

    engine, policy = _engine(policy_path)
    rows = []
    for body in corpora.load(Path(corpus_path)):
        with _as_a_worker_call():
            start = time.perf_counter()
            inspection = engine.inspect_content(body.data, content_type=body.content_type)
            verdict = decide(inspection, policy)
            seconds = time.perf_counter() - start
        rows.append({"kind": body.kind, "bytes": len(body.data), "seconds": seconds, "action": verdict.action,
                     "rule": verdict.rule, "problems": sorted({p.sub_reason for p in inspection.problems}),
                     **_score(engine, inspection, body)})
    return {"bodies": rows}


def decision(corpus_path: str, policy_path: str = POLICY) -> dict:
    """One customer export: time until `inspect_content` returns and `decide` has said; and,
    first (so that it gains nothing from caches), the same decision the way the gateway takes
    it where the engine offers one: on the start of the body (`probe_request`), when that alone
    is certain to block (`certain_block`), else on the whole body."""
    from dlp_addon import decide as decide_module
    from dlp_addon import engine as engine_module
    from dlp_addon.model import RequestData

    engine, policy = _engine(policy_path)
    body = corpora.load(Path(corpus_path))[0]
    gateway = None
    probe, certain = getattr(engine_module, "probe_request", None), getattr(decide_module, "certain_block", None)
    if probe is not None and certain is not None:
        request = RequestData("POST", "upload.example.net", "/import", (("content-type", body.content_type),),
                              body.data)
        start = time.perf_counter()
        # engine.probe reads the start in growing steps until it is certain (or not).
        with _as_a_worker_call():
            part = engine.probe(request) if hasattr(engine, "probe") else None
        if part is not None and certain(part, policy):
            counts = part.counts()
            gateway = {"seconds": time.perf_counter() - start, "action": "block", "on": "start",
                       "probe_bytes": part.bytes_inspected, "count": sum(counts.values())}
        else:
            with _as_a_worker_call():
                inspection = engine.inspect(request)
            verdict = decide_module.decide(inspection, policy)
            gateway = {"seconds": time.perf_counter() - start, "action": verdict.action, "on": "whole body",
                       "count": sum(inspection.counts().values())}
    with _as_a_worker_call():
        start = time.perf_counter()
        inspection = engine.inspect_content(body.data, content_type=body.content_type)
        verdict = decide_module.decide(inspection, policy)
        seconds = time.perf_counter() - start
    counts = inspection.counts()
    return {"bytes": len(body.data), "seconds": seconds, "action": verdict.action, "rule": verdict.rule,
            "count": sum(counts.values()), "counts": counts, "planted": body.planted, "gateway": gateway,
            "problems": sorted({p.sub_reason for p in inspection.problems}), **_score(engine, inspection, body)}


# -- the naive scanner ---------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.\w{2,}")


def naive_pass(corpus_path: str, slice_bytes: int, policy_path: str = POLICY) -> dict:
    import phonenumbers
    from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher

    from dlp_addon.policy import load_policy

    regions = load_policy(policy_path).regions
    bodies = corpora.slice_of(corpora.load(Path(corpus_path)), slice_bytes)
    phonenumbers.parse("+12025550143")  # load the metadata before the clock starts
    rows = []
    for body in bodies:
        with _as_a_worker_call():  # the same collector settings as the engine gets
            start = time.perf_counter()
            text = body.data.decode("utf-8", errors="replace")
            emails = {corpora.canonical_email(m.group()) for m in _EMAIL.finditer(text)}
            phones = set()
            for region in regions:
                for match in PhoneNumberMatcher(text, region, leniency=Leniency.VALID, max_tries=2**30):
                    phones.add(phonenumbers.format_number(match.number, PhoneNumberFormat.E164))
            seconds = time.perf_counter() - start
        rows.append({"kind": body.kind, "bytes": len(body.data), "seconds": seconds,
                     "emails_found": len(emails & body.emails), "phones_found": len(phones & body.phones),
                     "false_emails": len(emails - body.emails), "false_phones": len(phones - body.phones),
                     "emails_planted": len(body.emails), "phones_planted": len(body.phones)})
    return {"bodies": rows, "regions": list(regions)}


# -- where the time goes ---------------------------------------------------------------------------


def profile(corpus_path: str, limit_bytes: int, top: int = 10, policy_path: str = POLICY) -> dict:
    """cProfile of the engine over the first `limit_bytes` of a corpus: the top functions by
    cumulative time (the profiler's own overhead inflates small, frequent calls)."""
    from dlp_addon.decide import decide

    engine, policy = _engine(policy_path)
    bodies = corpora.slice_of(corpora.load(Path(corpus_path)), limit_bytes)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for body in bodies:
        decide(engine.inspect_content(body.data, content_type=body.content_type), policy)
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = sum(b.data.__len__() for b in bodies)
    rows = []
    for (filename, line, name), (cc, nc, tt, ct, _callers) in stats.stats.items():
        if "tests/bench" in filename or name in ("<built-in method builtins.exec>",):
            continue
        rows.append({"function": _short(filename, line, name), "calls": nc, "tottime": tt, "cumtime": ct})
    rows.sort(key=lambda r: r["cumtime"], reverse=True)
    by_self = sorted(rows, key=lambda r: r["tottime"], reverse=True)
    return {"bytes": total, "bodies": len(bodies), "wall": wall, "cumulative": rows[:top], "self": by_self[:top]}


def _short(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name
    if "/dlp_addon/" in filename:
        filename = "dlp_addon/" + filename.rsplit("/dlp_addon/", 1)[1]
    elif "/site-packages/" in filename:
        filename = filename.rsplit("/site-packages/", 1)[1]
    else:
        filename = re.sub(r"^.*/lib/python3\.\d+/", "", filename)
    return f"{filename}:{line}({name})"
