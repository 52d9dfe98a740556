"""`make bench`: the DLP gateway's speed, accuracy and cost, each next to a baseline measured in
the same run, against the targets of issue 4.

    python -m tests.bench.run                 # full run, bounded to ~15 min on 2 cores
    python -m tests.bench.run --quick         # smoke run, 1-2 min, smaller bodies, 1 repetition
    python -m tests.bench.run --only engine,ka --json bench.json --profile

Sections (--only): engine (throughput, false positives, recall), naive (the baseline scanner),
decision (10 MiB list in the engine), ka (keep-alive POST loads; 16 KiB ones also through the
addon with workers that answer at once, null_addon.py), block (10 MiB list through
the proxy), hol (head-of-line blocking), mem (peak RSS), profile (cProfile of the engine on
benign traffic; also --profile).

Everything is built and started here: seeded corpora in a temp dir (deterministic), an asyncio
upstream sink, plain mitmdump and mitmdump with the addon, on free ports of 127.0.0.1 only.
Engine figures come from fresh processes (one per repetition, nothing cached between them);
proxy figures are the median (min-max) of repetitions that alternate DLP and plain, each DLP
repetition on a freshly started gateway (new workers, empty state), after a warm-up request. Every
subprocess is ended when the run ends, also on Ctrl-C or an error. MB = 10^6 bytes; body sizes
are KiB/MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from tests.bench import corpora, engine_bench, proxy
from tests.bench.corpora import KiB, MiB
from tests.bench.fresh import run_fresh
from tests.bench.report import (Row, Stat, Target, at_least_ratio, at_least_value, at_most_ratio, at_most_value,
                                num, summary, table)

SECTIONS = ("engine", "naive", "decision", "ka", "block", "hol", "mem", "profile")
POLICY = "policies/default.yaml"
BLOCK_THRESHOLD = 10  # default.yaml's bulk-in-one-request, applied to the naive scanner's counts too
SLOW = 30.0  # a DLP repetition slower than this is not repeated: the run stays bounded while the engine is slow


@dataclass(frozen=True)
class LoadSpec:
    name: str
    size: int
    connections: int
    max_requests: int
    max_seconds: float


@dataclass(frozen=True)
class Config:
    name: str
    benign_bytes: int
    list_bytes: int
    slice_bytes: int
    decision_bytes: int
    hol_bytes: int
    mem_repeat: int  # the memory upload is the HOL export this many times
    engine_reps: int
    naive_reps: int
    proxy_reps: int
    mem_reps: int
    mem_inspected: bool
    loads: tuple[LoadSpec, ...]
    post_counts: tuple[tuple[int, int], ...]
    profile_bytes: int

    def corpus_spec(self) -> corpora.CorpusSpec:
        return corpora.CorpusSpec(self.benign_bytes, self.list_bytes, self.slice_bytes,
                                  (self.decision_bytes, self.hol_bytes), self.post_counts)


FULL = Config(
    name="full", benign_bytes=8 * MiB, list_bytes=2 * MiB, slice_bytes=256 * KiB, decision_bytes=10 * MiB,
    hol_bytes=20 * MiB, mem_repeat=5, engine_reps=3, naive_reps=3, proxy_reps=3, mem_reps=3, mem_inspected=True,
    loads=(LoadSpec("16k", 16 * KiB, 8, 2000, 8.0), LoadSpec("1m", MiB, 4, 60, 10.0),
           LoadSpec("20m", 20 * MiB, 2, 6, 30.0)),
    post_counts=((16 * KiB, 1024), (MiB, 16), (20 * MiB, 2)), profile_bytes=2 * MiB)
QUICK = Config(
    name="quick", benign_bytes=MiB, list_bytes=512 * KiB, slice_bytes=160 * KiB, decision_bytes=MiB,
    hol_bytes=MiB, mem_repeat=100, engine_reps=1, naive_reps=1, proxy_reps=1, mem_reps=1, mem_inspected=False,
    loads=(LoadSpec("16k", 16 * KiB, 8, 300, 3.0), LoadSpec("1m", MiB, 4, 12, 4.0),
           LoadSpec("20m", 20 * MiB, 2, 2, 15.0)),
    post_counts=((16 * KiB, 128), (MiB, 4), (20 * MiB, 1)), profile_bytes=512 * KiB)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, cfg: Config, workdir: Path, corpus_dir: Path, only: set[str]):
        self.cfg, self.workdir, self.only = cfg, workdir, only
        self.corpus_dir = corpus_dir
        self.results: dict = {}
        self.errors: dict[str, str] = {}
        self.notes: list[str] = []
        self.incidents: Counter = Counter()  # rule of every incident the DLP gateways recorded, by scenario
        self.procs = proxy.Processes(workdir)
        self.corpora: corpora.Corpora | None = None

    def wants(self, name: str) -> bool:
        return name in self.only

    def section(self, name: str, fn) -> None:
        if self.wants(name):
            self.section_inline(name, fn)

    # -- corpora -----------------------------------------------------------------------------

    def build_corpora(self) -> None:
        start = time.perf_counter()
        self.corpora = corpora.build(self.corpus_dir, self.cfg.corpus_spec())
        sizes = {name: sum(len(b.data) for b in self.corpora.bodies(name)) for name in ("benign", "lists")}
        self.results["corpora"] = {
            "dir": str(self.corpus_dir), "seconds": time.perf_counter() - start,
            "benign_bytes": sizes["benign"], "benign_bodies": len(self.corpora.bodies("benign")),
            "list_bytes": sizes["lists"], "list_bodies": len(self.corpora.bodies("lists")),
            "slice_bodies": {n: len(corpora.slice_of(self.corpora.bodies(n), self.cfg.slice_bytes))
                             for n in ("benign", "lists")},
            "slice_kinds": {n: len({b.kind for b in corpora.slice_of(self.corpora.bodies(n), self.cfg.slice_bytes)})
                            for n in ("benign", "lists")},
            "slice_bytes": {n: sum(len(b.data) for b in corpora.slice_of(self.corpora.bodies(n), self.cfg.slice_bytes))
                            for n in ("benign", "lists")},
        }
        log(f"corpora ready in {self.results['corpora']['seconds']:.0f} s: {self.corpus_dir}")

    # -- engine ------------------------------------------------------------------------------

    def engine(self) -> None:
        out = self.results.setdefault("engine", {"benign": [], "lists": []})
        for rep in range(self.cfg.engine_reps):
            for name in ("benign", "lists"):
                rows = run_fresh(engine_bench.engine_pass, str(self.corpora.path(name)))["bodies"]
                out[name].append(_summarise(rows, self.results["corpora"]["slice_bodies"][name]))
                log(f"  engine {name} rep {rep + 1}: {out[name][-1]['mbps']:.2f} MB/s")

    def naive(self) -> None:
        out = self.results.setdefault("naive", {"benign": [], "lists": []})
        for rep in range(self.cfg.naive_reps):
            for name in ("benign", "lists"):
                rows = run_fresh(engine_bench.naive_pass, str(self.corpora.path(name)), self.cfg.slice_bytes)["bodies"]
                out[name].append(_summarise(rows, len(rows)))
                log(f"  naive {name} rep {rep + 1}: {out[name][-1]['mbps']:.3f} MB/s")

    def decision(self) -> None:
        out = self.results.setdefault("decision", [])
        path = self.corpora.path(f"export_{self.cfg.decision_bytes}")
        limit = hard_timeout()
        killed = {"seconds": limit, "timed_out": True, "action": "block", "rule": "uninspectable:timeout",
                  "count": None, "planted": self.corpora.export(self.cfg.decision_bytes).planted,
                  "problems": [f"killed at {limit:.0f} s, as the gateway's hard timeout would"]}
        for rep in range(self.cfg.engine_reps):
            try:  # the margin covers the child's start-up, which its own clock does not count
                result = run_fresh(engine_bench.decision, str(path), timeout=limit + 20)
            except TimeoutError:
                result = killed
            # Past the hard timeout the gateway kills the worker and records a timeout: so does the bench.
            out.append(killed if result["seconds"] > limit else result)
            log(f"  decision rep {rep + 1}: {out[-1]['seconds'] * 1000:.0f} ms, {out[-1]['action']} "
                f"({out[-1]['rule']}), {out[-1]['count']} of {out[-1]['planted']}")
            if out[-1]["seconds"] > SLOW and rep + 1 < self.cfg.engine_reps:
                self.notes.append(f"decision: one repetition took more than {SLOW:.0f} s, so it was not repeated")
                break

    def profile(self) -> None:
        self.results["profile"] = run_fresh(engine_bench.profile, str(self.corpora.path("benign")),
                                            self.cfg.profile_bytes, 10)

    # -- proxy -------------------------------------------------------------------------------

    def upstream(self) -> int:
        if not self.procs.upstream_port:
            self.procs.start_upstream()
        return self.procs.upstream_port

    def bench_policy(self) -> str:
        """policies/default.yaml with limits.max_body_bytes raised to 128MiB, so 100 MiB is inspected."""
        path = self.workdir / "bench-policy-128MiB.yaml"
        doc = yaml.safe_load(Path(proxy.REPO / POLICY).read_text(encoding="utf-8"))
        doc.setdefault("limits", {})["max_body_bytes"] = "128MiB"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return str(path)

    @contextlib.contextmanager
    def fresh_dlp(self, name: str, policy: str = POLICY, addon: str = proxy.ADDON):
        """A DLP gateway with new workers and an empty state dir for one repetition: nothing a
        previous repetition validated is cached, and no user history carries over."""
        gw = self.procs.start_gateway(name, policy, addon)
        try:
            yield gw
        finally:
            self.incidents.update(f"{name.split('-r')[0]}: {i.get('rule', '?')}" for i in gw.incidents()
                                  if "update" not in i)
            self.procs.stop(gw)

    def ka(self) -> None:
        up = self.upstream()
        plain = self.procs.start_gateway("plain", None)
        out = self.results.setdefault("ka", {})
        try:
            for spec in self.cfg.loads:
                bodies = [(b.content_type, b.data) for b in self.corpora.posts(spec.size)]
                runs = out.setdefault(spec.name, {"plain": [], "dlp": [], "spec": asdict(spec)})
                # For small bodies, also the addon whose workers answer at once without
                # inspecting: what the hand-off to a worker and back costs on its own.
                labels = ("plain", "dlp", "null") if spec.name == "16k" else ("plain", "dlp")
                slow = False
                for rep in range(self.cfg.proxy_reps):
                    offset = rep * spec.max_requests
                    for label in (labels if rep % 2 == 0 else labels[::-1]):
                        if label == "dlp" and slow:
                            continue
                        if label == "plain":
                            load, cpu = self._load(plain, up, bodies, spec, offset)
                        else:
                            addon = proxy.NULL_ADDON if label == "null" else proxy.ADDON
                            with self.fresh_dlp(f"ka-{spec.name}-{label}-r{rep}", addon=addon) as dlp:
                                load, cpu = self._load(dlp, up, bodies, spec, offset)
                        lat = sorted(load.latencies)
                        per_request = 1000 / max(load.completed, 1)
                        runs.setdefault(label, []).append({
                            "rps": load.rps, "mbps": load.mbps, "p50_ms": _pct(lat, 50) * 1000,
                            "p99_ms": _pct(lat, 99) * 1000, "completed": load.completed, "seconds": load.seconds,
                            "statuses": load.statuses, "errors": load.errors, "main_cpu_ms": cpu[0] * per_request,
                            "workers_cpu_ms": cpu[1] * per_request, "main_busy": cpu[0] / load.seconds if load.seconds else 0.0})
                        log(f"  ka {spec.name} {label} rep {rep + 1}: {load.rps:.1f} req/s {load.mbps:.1f} MB/s "
                            f"p50 {_pct(lat, 50) * 1000:.1f} ms, statuses {load.statuses}, errors {load.errors}")
                        if label == "dlp" and load.seconds > SLOW:
                            slow = True
                            self.notes.append(f"ka {spec.name}: one DLP repetition took more than {SLOW:.0f} s, "
                                              f"so it was not repeated")
        finally:
            self.procs.stop(plain)

    @staticmethod
    def _load(gateway: proxy.Gateway, upstream: int, bodies: list, spec: LoadSpec, offset: int):
        """The keep-alive load through `gateway`, and the CPU seconds its own process and its
        workers spent meanwhile."""
        before = proxy.cpu_split(gateway)
        load = asyncio.run(proxy.keep_alive_load(gateway.port, upstream, bodies, spec.connections,
                                                 spec.max_requests, spec.max_seconds, offset))
        after = proxy.cpu_split(gateway)
        return load, (after[0] - before[0], after[1] - before[1])

    def block_and_hol(self) -> None:
        if not (self.wants("block") or self.wants("hol")):
            return
        try:
            up = self.upstream()
            plain = self.procs.start_gateway("plain", None)
        except Exception as e:  # noqa: BLE001
            for name in ("block", "hol"):
                if self.wants(name):
                    self.errors[name] = f"{type(e).__name__}: {e}"
            log(f"block/hol FAILED to start: {e}")
            return
        try:
            if self.wants("block"):
                self.section_inline("block", lambda: self._block(up, plain))
            if self.wants("hol"):
                self.section_inline("hol", lambda: self._hol(up, plain))
        finally:
            self.procs.stop(plain)

    def section_inline(self, name: str, fn) -> None:
        start = time.perf_counter()
        log(f"{name} ...")
        try:
            fn()
            log(f"{name} done in {time.perf_counter() - start:.0f} s")
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - one broken section must not cost the others
            self.errors[name] = f"{type(e).__name__}: {e}"
            log(f"{name} FAILED: {e}\n{traceback.format_exc()}")

    def _block(self, up: int, plain: proxy.Gateway) -> None:
        body = self.corpora.export(self.cfg.decision_bytes)
        out = self.results.setdefault("block", [])
        slow = False
        for rep in range(self.cfg.proxy_reps):
            path = f"/bench/block/r{rep}"
            relay = asyncio.run(proxy.upload(plain.port, up, body.data, body.content_type, path))
            if slow:
                out.append({"plain_s": relay.seconds, "plain_status": relay.status})
                continue
            with self.fresh_dlp(f"block-r{rep}") as dlp:
                start = time.perf_counter()
                answer = asyncio.run(proxy.upload(dlp.port, up, body.data, body.content_type, path))
                # The same list twice more at once: while the first one's full count runs,
                # their starts must still find a worker.
                behind = [asyncio.run(proxy.upload(dlp.port, up, body.data, body.content_type, f"{path}/{k}"))
                          for k in (1, 2)]
                incident_id = answer.headers.get("x-dlp-incident", "")
                complete = asyncio.run(dlp.settled(incident_id, hard_timeout() + 10))
                settled_s = time.perf_counter() - start
                incident, _ = dlp.incident(incident_id)
            final = complete or incident or {}
            if settled_s > SLOW:
                slow = True
                self.notes.append(f"block: one DLP repetition took more than {SLOW:.0f} s, so it was not repeated")
            out.append({"plain_s": relay.seconds, "plain_status": relay.status, "dlp_s": answer.seconds,
                        "dlp_status": answer.status, "incident_id": incident_id,
                        "partial": bool((incident or {}).get("partial")),
                        "first_count": (incident or {}).get("counts", {}).get("total"),
                        "count": final.get("counts", {}).get("total"), "settled_s": settled_s,
                        "rule": (incident or {}).get("rule"), "uninspected": final.get("uninspected"),
                        "planted": body.planted, "behind_s": [b.seconds for b in behind],
                        "behind_statuses": [b.status for b in behind]})
            log(f"  block rep {rep + 1}: plain {relay.status} in {relay.seconds * 1000:.0f} ms, dlp {answer.status} "
                f"in {answer.seconds * 1000:.0f} ms, incident {out[-1]['rule']} count {out[-1]['first_count']}"
                f"{' (partial), complete ' + str(out[-1]['count']) + f' after {settled_s:.1f} s' if out[-1]['partial'] else ''}"
                f"; the next two {[b.status for b in behind]} in {[round(b.seconds * 1000) for b in behind]} ms")

    def _hol(self, up: int, plain: proxy.Gateway) -> None:
        body = self.corpora.export(self.cfg.hol_bytes)
        out = self.results.setdefault("hol", {"plain": [], "dlp": []})
        slow = False
        for rep in range(self.cfg.proxy_reps):
            for label in (("plain", "dlp") if rep % 2 == 0 else ("dlp", "plain")):
                if label == "dlp" and slow:
                    continue
                if label == "plain":
                    r = asyncio.run(proxy.head_of_line(plain.port, up, body.data, body.content_type,
                                                       f"/bench/hol/r{rep}"))
                else:
                    with self.fresh_dlp(f"hol-r{rep}") as dlp:
                        async def settle(result, dlp=dlp):
                            await dlp.settled(result.headers.get("x-dlp-incident", ""), hard_timeout() + 10)

                        r = asyncio.run(proxy.head_of_line(dlp.port, up, body.data, body.content_type,
                                                           f"/bench/hol/r{rep}", settle=settle))
                lat = sorted(r.latencies)
                out[label].append({"p50_ms": _pct(lat, 50) * 1000, "p99_ms": _pct(lat, 99) * 1000, "gets": len(lat),
                                   "before_p50_ms": _pct(sorted(r.before), 50) * 1000, "uploads": len(r.uploads),
                                   "upload_s": r.upload_seconds, "each_s": [u.seconds for u in r.uploads],
                                   "window_s": r.seconds,
                                   "upload_statuses": dict(Counter(u.status for u in r.uploads))})
                log(f"  hol {label} rep {rep + 1}: {len(r.uploads)} uploads {dict(Counter(u.status for u in r.uploads))} "
                    f"{[round(u.seconds, 2) for u in r.uploads]}"
                    f" of {r.upload_seconds:.2f} s, {len(lat)} GETs p50 {_pct(lat, 50) * 1000:.1f} ms p99 "
                    f"{_pct(lat, 99) * 1000:.1f} ms")
                slow = slow or (label == "dlp" and r.upload_seconds > SLOW)
        if slow:
            self.notes.append(f"hol: one DLP repetition took more than {SLOW:.0f} s, so it was not repeated")

    def mem(self) -> None:
        up = self.upstream()
        export = self.corpora.export(self.cfg.hol_bytes)
        body = export.data * self.cfg.mem_repeat
        out = self.results.setdefault("mem", {"plain": [], "default": [], "inspected": [], "bytes": len(body)})
        scenarios = [("plain", None), ("default", POLICY)]
        if self.cfg.mem_inspected:
            scenarios.append(("inspected", self.bench_policy()))
        else:
            self.notes.append("mem: the inspected 100 MiB case (bench policy, max_body_bytes 128MiB) runs in the "
                              "full run only")
        slow = set()
        for rep in range(self.cfg.mem_reps):
            for label, policy in scenarios:
                if label in slow:
                    continue
                gw = self.procs.start_gateway(f"mem-{label}", policy)
                try:
                    time.sleep(0.5)
                    processes = len(gw.tree())
                    began = time.perf_counter()
                    with proxy.RssSampler(gw) as sampler:
                        r = asyncio.run(proxy.upload(gw.port, up, body, export.content_type, f"/bench/mem/r{rep}"))
                        # A block decided on the start of the body is still being counted: wait for it.
                        asyncio.run(gw.settled(r.headers.get("x-dlp-incident", ""), hard_timeout() + 10))
                        inspected_s = time.perf_counter() - began
                        time.sleep(0.5)
                    incident = gw.incident(r.headers.get("x-dlp-incident", ""))[0] or {}
                    out[label].append({"idle_mib": sampler.idle / MiB, "peak_mib": sampler.peak / MiB,
                                       "status": r.status, "seconds": r.seconds, "inspected_s": inspected_s,
                                       "processes": processes,
                                       "rule": incident.get("rule"),
                                       "uninspected": incident.get("uninspected")})
                    log(f"  mem {label} rep {rep + 1}: {r.status} in {r.seconds:.1f} s (inspection over after "
                        f"{inspected_s:.1f} s), idle "
                        f"{sampler.idle / MiB:.0f} MiB, peak {sampler.peak / MiB:.0f} MiB, rule {incident.get('rule')}")
                    if label != "plain" and inspected_s > SLOW:
                        slow.add(label)
                        self.notes.append(f"mem {label}: one repetition took more than {SLOW:.0f} s, so it was "
                                          f"not repeated")
                finally:
                    self.procs.stop(gw)


def hard_timeout() -> float:
    """The gateway's hard limit on one inspection (workers.py: max_seconds * 2 + 5)."""
    from dlp_addon.policy import load_policy

    return load_policy(POLICY).limits.max_seconds * 2 + 5


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def _summarise(rows: list[dict], slice_n: int) -> dict:
    def agg(part: list[dict]) -> dict:
        nbytes, seconds = sum(r["bytes"] for r in part), sum(r["seconds"] for r in part)
        sums = {k: sum(r[k] for r in part) for k in ("emails_found", "phones_found", "false_emails", "false_phones",
                                                     "emails_planted", "phones_planted")}
        blocked = sum(1 for r in part if r.get("action", _naive_action(r)) == "block")
        logged = sum(1 for r in part if r.get("action") == "log")
        return {"bytes": nbytes, "seconds": seconds, "mbps": nbytes / seconds / 1e6 if seconds else float("nan"),
                "bodies": len(part), "blocked": blocked, "logged": logged, **sums}

    whole = agg(rows)
    whole["slice"] = agg(rows[:slice_n])
    whole["problems"] = dict(Counter(p for r in rows for p in r.get("problems", [])))
    whole["by_kind"] = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        part = agg([r for r in rows if r["kind"] == kind])
        whole["by_kind"][kind] = {k: part[k] for k in ("bytes", "mbps", "false_emails", "false_phones", "blocked")}
    return whole


def _naive_action(row: dict) -> str:
    found = row["emails_found"] + row["phones_found"] + row["false_emails"] + row["false_phones"]
    return "block" if found >= BLOCK_THRESHOLD else "allow"


# -- the table ---------------------------------------------------------------------------------


def _stat(runs: list[dict] | None, fn) -> Stat | None:
    if not runs:
        return None
    return Stat.of([fn(r) for r in runs])


def build_rows(b: Bench) -> list[Row]:
    cfg, R = b.cfg, b.results
    c = R.get("corpora", {})
    eng, nai = R.get("engine", {}), R.get("naive", {})
    slice_kib = cfg.slice_bytes // KiB
    rows: list[Row] = []
    sec = "Engine: one process, one thread, policies/default.yaml (decode, extract, normalise, detect, decide)"
    nb, nl = eng.get("benign"), eng.get("lists")
    vb, vl = nai.get("benign"), nai.get("lists")
    mb = lambda r: r["mbps"]  # noqa: E731
    benign_desc = f"{c.get('benign_bytes', 0) / MiB:.0f} MiB, {c.get('benign_bodies', 0)} bodies"
    list_desc = f"{c.get('list_bytes', 0) / MiB:.1f} MiB, {c.get('list_bodies', 0)} bodies"
    rows.append(Row(sec, f"benign traffic MB/s, whole corpus ({benign_desc}) vs naive scanner on its first "
                         f"{slice_kib} KiB", _stat(nb, mb), _stat(vb, mb), "MB/s",
                    target=at_least_value(100, "MB/s")))
    rows.append(Row(sec, f"benign traffic MB/s, the same {slice_kib} KiB slice "
                         f"({c.get('slice_bodies', {}).get('benign', 0)} bodies of 16 KiB, {c.get('slice_kinds', {}).get('benign', 0)} "
                         f"kinds): engine vs naive",
                    _stat(nb, lambda r: r["slice"]["mbps"]), _stat(vb, mb), "MB/s", target=at_least_ratio(500)))
    rows.append(Row(sec, f"customer lists MB/s, whole corpus ({list_desc}) vs naive on its first {slice_kib} KiB",
                    _stat(nl, mb), _stat(vl, mb), "MB/s"))
    rows.append(Row(sec, f"customer lists MB/s, the same {slice_kib} KiB slice "
                         f"({c.get('slice_bodies', {}).get('lists', 0)} bodies, "
                         f"{c.get('slice_kinds', {}).get('lists', 0)} format-market pairs): engine vs naive",
                    _stat(nl, lambda r: r["slice"]["mbps"]), _stat(vl, mb), "MB/s"))
    per_mb = lambda key: (lambda r: r[key] / (r["bytes"] / 1e6))  # noqa: E731
    rows.append(Row(sec, "benign: false emails per MB (engine: whole corpus; naive: slice)",
                    _stat(nb, per_mb("false_emails")), _stat(vb, per_mb("false_emails")), "/MB"))
    rows.append(Row(sec, "benign: false phones per MB (engine: whole corpus; naive: slice)",
                    _stat(nb, per_mb("false_phones")), _stat(vb, per_mb("false_phones")), "/MB"))
    rows.append(Row(sec, f"benign: bodies blocked (naive: >= {BLOCK_THRESHOLD} distinct found), share",
                    _stat(nb, lambda r: 100 * r["blocked"] / r["bodies"]),
                    _stat(vb, lambda r: 100 * r["blocked"] / r["bodies"]), "%",
                    dlp_text=_count_text(nb, "blocked", "bodies", extra="logged"),
                    base_text=_count_text(vb, "blocked", "bodies")))
    for kind in ("email", "phone"):
        rows.append(Row(sec, f"lists: {kind} recall, distinct found and planted / planted (engine: whole corpus; naive: slice)",
                        _stat(nl, lambda r, k=kind: 100 * r[f"{k}s_found"] / max(1, r[f"{k}s_planted"])),
                        _stat(vl, lambda r, k=kind: 100 * r[f"{k}s_found"] / max(1, r[f"{k}s_planted"])), "%"))
    rows.append(Row(sec, "lists: identifiers found that were not planted, per MB",
                    _stat(nl, lambda r: (r["false_emails"] + r["false_phones"]) / (r["bytes"] / 1e6)),
                    _stat(vl, lambda r: (r["false_emails"] + r["false_phones"]) / (r["bytes"] / 1e6)), "/MB"))
    dec = R.get("decision")
    dsize = cfg.decision_bytes // MiB
    naive_extrapolated = None
    if vl:
        naive_extrapolated = Stat.of([cfg.decision_bytes / 1e6 / r["mbps"] * 1000 for r in vl])
    all_block = bool(dec) and all(r["action"] == "block" for r in dec)
    decided = _stat(dec, lambda r: r["seconds"] * 1000)
    rows.append(Row(sec, f"{dsize} MiB customer export (CSV): time to a block decision, inspect_content + decide "
                         f"(baseline: naive scanner over {dsize} MiB at its lists MB/s, extrapolated)",
                    decided, naive_extrapolated, "ms",
                    target=Target("<= 10 ms, block", lambda v, r: None if v is None else v <= 10 and all_block),
                    note=_decision_note(dec),
                    dlp_text=f">= {decided.format('ms')} (killed)" if dec and all(r.get("timed_out") for r in dec)
                    else None))
    rows.append(Row(sec, f"{dsize} MiB export: distinct identifiers counted vs planted",
                    _stat(dec, lambda r: r["count"]), _stat(dec, lambda r: r["planted"])))
    gw = [r["gateway"] for r in dec or [] if r.get("gateway")]
    if gw:
        rows.append(Row(sec, f"{dsize} MiB export: time to a block decision the way the gateway takes it "
                             f"(engine.probe_request: the start of the body; decide.certain_block; else the whole "
                             f"body) vs the whole body with inspect_content + decide",
                        _stat(gw, lambda r: r["seconds"] * 1000), _stat(dec, lambda r: r["seconds"] * 1000), "ms",
                        target=Target("<= 10 ms, block", lambda v, r: None if v is None else
                                      v <= 10 and all(g["action"] == "block" for g in gw)),
                        note=", ".join(sorted({f"{g['action']} on the {g['on']}" + (
                            f" ({num(g['probe_bytes'] / KiB)} KiB, {g['count']} identifiers)" if g["on"] == "start"
                            else "") for g in gw}))))

    sec = "Through the proxy: mitmdump + DLP addon vs plain mitmdump, 127.0.0.1, keep-alive HTTP/1.1"
    ka = R.get("ka", {})
    for spec in cfg.loads:
        runs = ka.get(spec.name, {})
        d, p = runs.get("dlp"), runs.get("plain")
        label = {"16k": "16 KiB", "1m": "1 MiB", "20m": "20 MiB"}[spec.name]
        load = f"{spec.connections} connections, <= {spec.max_requests} requests or {spec.max_seconds:.0f} s"
        answers = _statuses(d)
        if spec.name == "16k":
            rows.append(Row(sec, f"{label} benign POSTs, requests/s ({load})", _stat(d, lambda r: r["rps"]),
                            _stat(p, lambda r: r["rps"]), "req/s", target=at_least_ratio(0.9), note=answers))
            rows.append(Row(sec, f"{label} benign POSTs, p50 latency", _stat(d, lambda r: r["p50_ms"]),
                            _stat(p, lambda r: r["p50_ms"]), "ms"))
            rows.append(Row(sec, f"{label} benign POSTs, p99 latency", _stat(d, lambda r: r["p99_ms"]),
                            _stat(p, lambda r: r["p99_ms"]), "ms"))
        else:
            rows.append(Row(sec, f"{label} benign POSTs, MB/s ({load})", _stat(d, lambda r: r["mbps"]),
                            _stat(p, lambda r: r["mbps"]), "MB/s",
                            target=at_least_ratio(0.8) if spec.name == "1m" else None, note=answers))
        if spec.name in ("16k", "1m") and d and p and all(r.get("main_cpu_ms") for r in d + p):
            # What bounds the load: mitmdump's own process (one core at most) or the workers.
            busy = {name: _stat(runs, lambda r: r["main_busy"] * 100).median for name, runs in (("dlp", d), ("plain", p))}
            workers = _stat(d, lambda r: r["workers_cpu_ms"]).median
            rows.append(Row(sec, f"{label} benign POSTs, CPU per request of mitmdump's own process [busy "
                                 f"{num(busy['dlp'])}% of the load's time with the addon, {num(busy['plain'])}% "
                                 f"plain; the inspection workers {num(workers)} ms per request in all]",
                            _stat(d, lambda r: r["main_cpu_ms"]), _stat(p, lambda r: r["main_cpu_ms"]), "ms"))
        hand_off = runs.get("null")
        if spec.name == "16k" and hand_off and p:
            # The hand-off on its own: every body still goes to a worker, which answers at once.
            rows.append(Row(sec, f"{label} benign POSTs, requests/s through the addon with workers that answer at "
                                 f"once without inspecting (the hand-off to a worker and back alone)",
                            _stat(hand_off, lambda r: r["rps"]), _stat(p, lambda r: r["rps"]), "req/s"))
            if all(r.get("main_cpu_ms") for r in hand_off):
                rows.append(Row(sec, f"{label} benign POSTs, CPU per request of mitmdump's own process, workers "
                                     f"answering at once", _stat(hand_off, lambda r: r["main_cpu_ms"]),
                                _stat(p, lambda r: r["main_cpu_ms"]), "ms"))
    blk = R.get("block")
    both = [r for r in blk or [] if r.get("dlp_s") is not None]
    rows.append(Row(sec, f"{dsize} MiB customer export: time to the 403 vs plain mitmdump relaying it to the upstream",
                    _stat(both, lambda r: r["dlp_s"] * 1000), _stat(blk, lambda r: r["plain_s"] * 1000), "ms",
                    note=_block_note(both)))
    rows.append(Row(sec, f"{dsize} MiB export: decision time seen by the client (time to 403 - plain relay time)",
                    _stat(both, lambda r: (r["dlp_s"] - r["plain_s"]) * 1000), None, "ms",
                    target=at_most_value(10, "ms")))
    behind = [r for r in both if r.get("behind_s")]
    rows.append(Row(sec, f"{dsize} MiB export sent twice more right after the first, to the same gateway while "
                         f"the first one's full count runs: time to their 403 vs the first's",
                    _stat(behind, lambda r: max(r["behind_s"]) * 1000), _stat(behind, lambda r: r["dlp_s"] * 1000),
                    "ms", note="answers " + ", ".join(f"{k}: {v}" for k, v in Counter(
                        s for r in behind for s in r["behind_statuses"]).items()) if behind else ""))
    partial = [r for r in both if r.get("partial")]
    rows.append(Row(sec, f"{dsize} MiB export: count the incident finally records vs planted",
                    _stat(both, lambda r: r.get("count")), _stat(both, lambda r: r["planted"]),
                    note=(f"decided on the start: first record {Stat.of([r['first_count'] for r in partial]).format()}"
                          f", the completion recorded {Stat.of([r['settled_s'] for r in partial]).format('s')} "
                          f"after the upload began" + _uninspected(partial) if partial else _uninspected(both))))
    hol = R.get("hol", {})
    hsize = cfg.hol_bytes // MiB
    for p in ("p50", "p99"):
        rows.append(Row(sec, f"small GETs on 4 other connections (one every 10 ms) while a {hsize} MiB customer list "
                             f"is inspected vs relayed by plain mitmdump: {p}",
                        _stat(hol.get("dlp"), lambda r, p=p: r[f"{p}_ms"]),
                        _stat(hol.get("plain"), lambda r, p=p: r[f"{p}_ms"]), "ms",
                        target=at_most_ratio(1.5) if p == "p50" else None,
                        note=_hol_note(hol) if p == "p50" else ""))
    mem = R.get("mem", {})
    msize = mem.get("bytes", cfg.hol_bytes * cfg.mem_repeat) / MiB
    peak = lambda r: r["peak_mib"]  # noqa: E731
    rows.append(Row(sec, f"peak RSS of the gateway's process tree (mitmdump + workers) while a {msize:.0f} MiB "
                         f"list is uploaded, policies/default.yaml: over max_body_bytes 64MiB, answered per its "
                         f"over-limit policy", _stat(mem.get("default"), peak), _stat(mem.get("plain"), peak), "MiB",
                    target=at_most_ratio(1.3), note=_mem_note(mem.get("default"))))
    rows.append(Row(sec, f"peak RSS, same {msize:.0f} MiB upload, bench copy of the policy with max_body_bytes 128MiB "
                         f"(inspected)", _stat(mem.get("inspected"), peak), _stat(mem.get("plain"), peak), "MiB",
                    target=at_most_ratio(1.3), note=_mem_note(mem.get("inspected"))))
    return rows


def _count_text(runs, key, of, extra=None) -> str | None:
    if not runs:
        return None
    r = runs[0]
    text = f"{r[key]} of {r[of]}"
    if extra:
        text += f" ({r[extra]} logged)"
    return text


def _uninspected(runs) -> str:
    reasons = Counter(p.get("sub_reason", "?") for r in runs for p in r.get("uninspected") or [])
    return f", uninspected: {', '.join(reasons)}" if reasons else ""


def _statuses(runs) -> str:
    if not runs:
        return ""
    total: Counter = Counter()
    errors = 0
    for r in runs:
        total.update({int(k): v for k, v in r["statuses"].items()})
        errors += r["errors"]
    text = "DLP answers " + ", ".join(f"{k}: {v}" for k, v in sorted(total.items()))
    return text + (f", {errors} connection errors" if errors else "")


def _decision_note(runs) -> str:
    if not runs:
        return ""
    rules = Counter(f"{r['action']} by {r['rule'] or '-'}" for r in runs)
    problems = Counter(p for r in runs for p in r["problems"])
    text = ", ".join(f"{k}" + (f" x{v}" if len(runs) > 1 else "") for k, v in rules.items())
    return text + (f"; uninspected: {dict(problems)}" if problems else "")


def _block_note(runs) -> str:
    if not runs:
        return ""
    answers = Counter(r["dlp_status"] for r in runs)
    rules = Counter(str(r["rule"]) for r in runs)
    return "DLP answers " + ", ".join(f"{k}: {v}" for k, v in answers.items()) + "; incident rule " + \
        ", ".join(f"{k}" for k in rules)


def _hol_note(hol) -> str:
    parts = []
    for label in ("dlp", "plain"):
        runs = hol.get(label)
        if runs:
            up = Stat.of([r["upload_s"] for r in runs])
            gets = Stat.of([r["gets"] for r in runs])
            statuses: Counter = Counter()
            for r in runs:
                statuses.update(r["upload_statuses"])
            window = Stat.of([r["window_s"] for r in runs])
            parts.append(f"{label}: {sum(r['uploads'] for r in runs)} uploads answered {dict(statuses)} in "
                         f"{up.format('s')}, GETs counted over {window.format('s')} per repetition (until the "
                         f"inspection ended), {num(gets.median)} GETs")
    return "; ".join(parts)


def _mem_note(runs) -> str:
    if not runs:
        return ""
    statuses = Counter(r["status"] for r in runs)
    rules = Counter(str(r["rule"]) for r in runs)
    idle = Stat.of([r["idle_mib"] for r in runs])
    over = Stat.of([r.get("inspected_s", r["seconds"]) for r in runs])
    return (f"answered {dict(statuses)} in {Stat.of([r['seconds'] for r in runs]).format('s')}, inspection over "
            f"after {over.format('s')}, incident rule {', '.join(rules)}, idle {idle.format('MiB')}, "
            f"{runs[0]['processes']} processes")


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for dist in ("mitmproxy", "phonenumbers", "regex", "email-validator"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "-"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions, "load_start": os.getloadavg()}


def render(b: Bench, seconds: float, interrupted: bool) -> str:
    rows = build_rows(b)
    m = b.results.get("machine", {})
    c = b.results.get("corpora", {})
    lines = [f"DLP gateway benchmark ({b.cfg.name} run{', INTERRUPTED: partial' if interrupted else ''}): "
             f"{m.get('cores')} cores ({m.get('cpu')}), Python {m.get('python')}, "
             + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
             + f"; load average {m.get('load_start', [0])[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end.",
             f"Repetitions: engine {b.cfg.engine_reps} (fresh process each), naive {b.cfg.naive_reps}, proxy "
             f"{b.cfg.proxy_reps} (DLP and plain alternating, a fresh DLP gateway each), memory {b.cfg.mem_reps} "
             f"(fresh gateways). A DLP repetition slower than {SLOW:.0f} s is not repeated. "
             f"Figures are median (min-max). MB = 10^6 bytes.",
             "", table(rows), "", summary(rows)]
    lines.append(f"Run time {seconds / 60:.1f} min (corpora {c.get('seconds', 0):.0f} s, seeded, in {c.get('dir')}).")
    for note in b.notes:
        lines.append(f"Note: {note}.")
    for name, error in b.errors.items():
        lines.append(f"Section {name} failed: {error}")
    benign = {k: v for k, v in b.incidents.items() if k.startswith("ka-")}
    if benign:
        lines.append("Incidents during the benign POST loads (each a false block or log): "
                     + ", ".join(f"{k} x{v}" for k, v in sorted(benign.items())))
    eng = b.results.get("engine", {})
    if eng.get("benign"):
        r = eng["benign"][0]
        lines.append("Engine on benign traffic by kind (rep 1): " + "; ".join(
            f"{k} {num(v['mbps'])} MB/s" + (f", {v['false_emails'] + v['false_phones']} false ids" if
                                            v['false_emails'] + v['false_phones'] else "")
            for k, v in r["by_kind"].items()))
    if eng.get("lists"):
        r = eng["lists"][0]
        lines.append("Engine on customer lists by kind (rep 1): " + "; ".join(
            f"{k} {num(v['mbps'])}" for k, v in r["by_kind"].items()) + " MB/s")
        if r["problems"]:
            lines.append(f"Uninspected in the lists corpus: {r['problems']}")
    prof = b.results.get("profile")
    if prof:
        lines += ["", f"cProfile of the engine over {prof['bytes'] / MiB:.1f} MiB of benign traffic "
                      f"({prof['bodies']} bodies, {prof['wall']:.1f} s under the profiler), top functions by "
                      f"cumulative time:", "",
                  "| function | calls | cumulative s | own s |", "|---|---|---|---|"]
        lines += [f"| {r['function']} | {r['calls']} | {r['cumtime']:.2f} | {r['tottime']:.2f} |"
                  for r in prof["cumulative"]]
        lines += ["", "top functions by own time:", "", "| function | calls | own s | cumulative s |", "|---|---|---|---|"]
        lines += [f"| {r['function']} | {r['calls']} | {r['tottime']:.2f} | {r['cumtime']:.2f} |" for r in prof["self"]]
    return "\n".join(lines)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: smaller corpora and loads, one repetition")
    parser.add_argument("--only", default="", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--json", default="", help="also write every figure and raw repetition here")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of the engine on benign traffic")
    parser.add_argument("--corpus-dir", default="", help="build (or reuse, if built with the same settings) "
                                                          "the corpora here instead of in the temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, incidents, corpora)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    only = set(filter(None, args.only.split(","))) or (set(SECTIONS) - {"profile"})
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.profile:
        only.add("profile")

    os.chdir(proxy.REPO)  # policies/default.yaml and dlp_addon/addon.py are relative to the repository
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="dlp-bench-"))
    corpus_dir = Path(args.corpus_dir).resolve() if args.corpus_dir else workdir / "corpora"
    bench = Bench(cfg, workdir, corpus_dir, only)
    bench.results["machine"] = machine()
    start = time.perf_counter()
    interrupted = False
    log(f"{cfg.name} run, sections {','.join(s for s in SECTIONS if s in only)}; work dir {workdir}")
    try:
        bench.build_corpora()
        bench.section("engine", bench.engine)
        bench.section("naive", bench.naive)
        bench.section("decision", bench.decision)
        bench.section("profile", bench.profile)
        bench.section("ka", bench.ka)
        bench.block_and_hol()
        bench.section("mem", bench.mem)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: ending every process, then printing what was measured")
    finally:
        bench.procs.close()
    seconds = time.perf_counter() - start
    text = render(bench, seconds, interrupted)
    print(text, flush=True)
    if args.json:
        rows = build_rows(bench)
        Path(args.json).write_text(json.dumps({
            "config": asdict(cfg), "seconds": seconds, "interrupted": interrupted, "errors": bench.errors,
            "notes": bench.notes, "incidents": dict(bench.incidents),
            "results": bench.results,
            "rows": [dict(zip(("measurement", "dlp", "baseline", "ratio", "target", "result"), r.cells()))
                     for r in rows]}, indent=1, default=str), encoding="utf-8")
    if args.keep:
        log(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
