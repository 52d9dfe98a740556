"""`make bench`'s building blocks on a tiny corpus: that they run and the table comes out whole.
Structure only: no figure here is a speed, and nothing asserts one."""

import asyncio
import dataclasses

import pytest

from tests.bench import corpora, engine_bench, proxy, run
from tests.bench.corpora import KiB
from tests.bench.report import Row, Stat, at_least_ratio, table

pytestmark = pytest.mark.e2e

TINY = dataclasses.replace(run.QUICK, benign_bytes=80 * KiB, list_bytes=48 * KiB, slice_bytes=32 * KiB,
                           decision_bytes=24 * KiB, hol_bytes=32 * KiB, post_counts=((4 * KiB, 4),))


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bench")
    b = run.Bench(TINY, workdir, workdir / "corpora", {"engine", "naive", "decision"})
    b.results["machine"] = run.machine()
    b.build_corpora()
    yield b
    b.procs.close()


def test_corpora_are_seeded_and_keep_their_truth(bench, tmp_path):
    again = corpora.build(tmp_path, TINY.corpus_spec())
    for name in ("benign", "lists", f"export_{TINY.decision_bytes}"):
        assert [b.data for b in again.bodies(name)] == [b.data for b in bench.corpora.bodies(name)]
    lists = bench.corpora.bodies("lists")
    assert all(b.emails and b.phones and b.content_type for b in lists)
    assert not any(b.emails or b.phones for b in bench.corpora.bodies("benign"))
    kinds = {b.kind for b in corpora.slice_of(bench.corpora.bodies("benign"), TINY.slice_bytes)}
    assert len(kinds) == TINY.slice_bytes // (16 * KiB)  # the slice cycles through the kinds


def test_engine_naive_and_decision_fill_every_engine_row(bench):
    slice_n = bench.results["corpora"]["slice_bodies"]
    for name in ("benign", "lists"):
        rows = engine_bench.engine_pass(str(bench.corpora.path(name)))["bodies"]
        bench.results.setdefault("engine", {}).setdefault(name, []).append(run._summarise(rows, slice_n[name]))
        naive = engine_bench.naive_pass(str(bench.corpora.path(name)), 16 * KiB)["bodies"]
        bench.results.setdefault("naive", {}).setdefault(name, []).append(run._summarise(naive, len(naive)))
    bench.results["decision"] = [engine_bench.decision(str(bench.corpora.path(f"export_{TINY.decision_bytes}")))]

    rows = run.build_rows(bench)
    engine_rows = [r for r in rows if r.section.startswith("Engine")]
    assert len(engine_rows) >= 12  # one more where the engine offers a decision on the start of a body
    assert all(r.dlp is not None and r.base is not None for r in engine_rows)
    assert all(r.ratio is not None for r in engine_rows if r.base.median)
    assert {r.cells()[5] for r in rows if r.target} <= {"met", "NOT MET", "not measured"}
    text = run.render(bench, 1.0, interrupted=False)
    assert "| measurement (DLP vs baseline) | DLP | baseline | ratio | target | result |" in text
    assert ">= 100 MB/s" in text and ">= 500x" in text and "targets:" in text


def test_client_and_upstream_talk_keep_alive(tmp_path):
    procs = proxy.Processes(tmp_path)
    try:
        port = procs.start_upstream()
        bodies = [("text/plain", b"x" * 1000), ("application/json", b"{}")]
        # The sink ignores the absolute-form target, so the client can talk to it as if it were the proxy.
        load = asyncio.run(proxy.keep_alive_load(port, port, bodies, connections=2, max_requests=20, max_seconds=10))
        assert load.completed == 20 and load.statuses == {200: 20} and load.errors == 0
    finally:
        procs.close()


def test_table_prints_ratios_and_verdicts():
    rows = [Row("s", "faster", Stat.of([2.0, 3.0, 4.0]), Stat.of([1.0]), "MB/s", target=at_least_ratio(2)),
            Row("s", "missing", None, Stat.of([1.0]), target=at_least_ratio(2))]
    text = table(rows)
    assert "| faster | 3.00 (2.00-4.00) MB/s | 1.00 MB/s | 3.00x | >= 2.00x | met |" in text
    assert "| missing | - | 1.00 | - | >= 2.00x | not measured |" in text


def test_the_loads_name_what_bounds_them(bench):
    # A load's CPU split between mitmdump's own process and its workers becomes a row of its
    # own, for the 16 KiB and 1 MiB loads; without the split (no psutil) there is no such row.
    def runs(main_ms, workers_ms):
        return [{"rps": 700.0, "mbps": 11.0, "p50_ms": 10.0, "p99_ms": 15.0, "completed": 300, "seconds": 0.4,
                 "statuses": {"200": 300}, "errors": 0, "main_cpu_ms": main_ms, "workers_cpu_ms": workers_ms,
                 "main_busy": 0.97}]

    bench.results["ka"] = {"16k": {"dlp": runs(1.4, 0.6), "plain": runs(0.96, 0.0)},
                           "1m": {"dlp": runs(3.8, 21.0), "plain": [{**runs(2.5, 0.0)[0], "main_cpu_ms": 0}]}}
    cpu = [r for r in run.build_rows(bench) if "CPU per request" in r.what]
    assert len(cpu) == 1 and cpu[0].what.startswith("16 KiB")
    assert cpu[0].dlp.median == 1.4 and cpu[0].base.median == 0.96 and "workers 0.600 ms" in cpu[0].what
    # With the gateway whose workers answer at once, two rows more for the hand-off alone.
    bench.results["ka"]["16k"]["null"] = runs(1.3, 0.05)
    hand_off = [r for r in run.build_rows(bench) if "answer" in r.what and r.what.startswith("16 KiB")]
    assert [r.unit for r in hand_off] == ["req/s", "ms"] and hand_off[1].dlp.median == 1.3
    bench.results.pop("ka")


def test_the_hand_off_gateway_answers_without_inspecting(tmp_path):
    # Its workers run tests.bench.null_inspection: a customer list the addon blocks passes.
    listing = "\n".join(f"customer{i}@example.com,+7 916 123-{i:02d}-45" for i in range(60)).encode()
    procs = proxy.Processes(tmp_path)
    try:
        up = procs.start_upstream()
        answers = {}
        for name, addon in (("real", proxy.ADDON), ("hand-off", proxy.NULL_ADDON)):
            gateway = procs.start_gateway(name, run.POLICY, addon)
            answers[name] = asyncio.run(proxy.upload(gateway.port, up, listing, "text/csv", "/export")).status
            procs.stop(gateway)
        assert answers == {"real": 403, "hand-off": 200}
    finally:
        procs.close()
