"""Counting a large free-text body in windows gives what counting it whole gives."""

import asyncio
import codecs
import gzip
import json
from dataclasses import replace

import pytest

from dlp_addon import full_count, workers
from dlp_addon.engine import Engine
from dlp_addon.incident import samples
from dlp_addon.model import Evidence, Inspection, Problem, RequestData
from dlp_addon.policy import load_policy

POLICY = load_policy("policies/default.yaml")


def customer_list(rows: int = 300) -> str:
    """A CSV whose start names Russia (+7) and whose later rows are American (+1), then bare
    ten-digit numbers valid in both countries: which country they are read in is the body's
    start's to say, not a window's."""
    lines = ["name,email,phone"]
    lines += [f"Иван Петров {i},ivan.{i}@example.ru,+7 912 {i // 10000:03d}-{i // 100 % 100:02d}-{i % 100:02d}"
              for i in range(rows // 3)]
    lines += [f"John Smith {i},john.{i}@example.com,+1 202 289 {i:04d}" for i in range(rows // 3)]
    lines += [f"Jane Doe {i},jane.{i}@example.org,415216{i:04d}" for i in range(rows // 3)]
    return "\n".join(lines) + "\n"


def request(body: bytes, content_type: str = "text/csv", **headers) -> RequestData:
    return RequestData("POST", "h", "/upload", (("content-type", content_type), *headers.items()), body)


def counted_in_windows(engine: Engine, req: RequestData, size: int) -> Inspection:
    plan = engine.window_plan(full_count.plan_head(req))
    assert plan is not None
    tally = full_count.Tally(len(req.body), safe_path="/upload")
    mime = req.header("content-type").split(";")[0]
    for window in full_count.windows(req.body, plan, mime, size):
        tally.add(len(window.data) - window.header, engine.inspect_window(window))
    return tally.inspection()


def by_digest(inspection: Inspection) -> dict[str, tuple[str, int]]:
    return {e.digest: (e.kind, e.occurrences) for e in inspection.evidence}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(POLICY, b"k" * 32)


@pytest.mark.parametrize("encoding, bom", [("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("cp1251", b"")])
def test_windows_count_what_the_whole_body_holds(engine, encoding, bom):
    body = bom + customer_list().encode(encoding)
    req = request(body)
    whole = engine.inspect(req)
    windowed = counted_in_windows(engine, req, size=1024)
    assert len(body) > 8 * 1024  # many windows, most of them without the start's context
    assert whole.counts() == windowed.counts() == {"email": 300, "phone": 300}
    assert by_digest(windowed) == by_digest(whole)
    assert samples(windowed) == samples(whole)
    # The whole request's count includes its URL, which the probe has read already.
    assert windowed.bytes_inspected == whole.bytes_inspected - len("/upload")
    assert windowed.problems == whole.problems == ()


def test_a_window_reads_ambiguous_numbers_in_the_country_of_the_body_start(engine):
    """Without the start's countries, a window that starts among the American rows reads the
    bare numbers after them as American, while the whole body (and the probe) read them as
    Russian: the same customer would get two different hashes."""
    req = request(customer_list().encode())
    plan = engine.window_plan(full_count.plan_head(req))
    assert plan.document is not None and plan.document.written[:1] == ("RU",)
    whole = by_digest(engine.inspect(req))
    last = list(full_count.windows(req.body, plan, "text/csv", 2048))[-1]
    own_start = engine.inspect_window(replace(last, document=None))
    assert set(by_digest(engine.inspect_window(last))) <= set(whole)
    assert not set(by_digest(own_start)) <= set(whole)


def test_every_window_after_the_first_is_read_after_the_header_line(engine):
    body = customer_list().encode()
    plan = engine.window_plan(full_count.plan_head(request(body)))
    assert plan.header == b"name,email,phone\n"
    parts = list(full_count.windows(body, plan, "text/csv", 1000))
    assert parts[0].header == 0 and parts[0].data.startswith(plan.header)
    assert all(p.data.startswith(plan.header) and p.header == len(plan.header) for p in parts[1:])
    assert b"".join(p.data[p.header:] for p in parts) == body
    assert all(p.data.endswith(b"\n") and len(p.data) - p.header <= 1000 for p in parts)


def test_a_first_line_that_is_a_record_is_not_repeated(engine):
    body = customer_list().encode().split(b"\n", 1)[1]  # no header: the first line is a customer
    assert engine.window_plan(full_count.plan_head(request(body))).header == b""


def test_a_body_without_line_breaks_is_cut_between_values():
    body = b", ".join(b"customer%d@example.com" % i for i in range(2000))
    plan = full_count.Plan("utf-8", 0, b"")
    parts = [w.data for w in full_count.windows(body, plan, "text/plain", 1000)]
    assert b"".join(parts) == body
    assert all(p.endswith((b",", b" ")) for p in parts[:-1])
    assert len(parts) > 40


def test_a_body_without_any_separator_is_cut_at_the_window_size():
    body = b"x" * 5000
    parts = [w.data for w in full_count.windows(body, full_count.Plan("utf-8", 0, b""), "", 1000)]
    assert [len(p) for p in parts] == [1000] * 5


@pytest.mark.parametrize("body, content_type, headers", [
    (json.dumps([{"email": f"a{i}@example.com"} for i in range(100)]).encode(), "application/json", {}),
    (json.dumps([{"email": f"a{i}@example.com"} for i in range(100)]).encode(), "text/plain", {}),
    (b"&".join(b"email%d=a%d%%40example.com" % (i, i) for i in range(100)), "", {}),
    (b"<html><body><table>" + b"<tr><td>a@example.com</td></tr>" * 100 + b"</table></body></html>", "", {}),
    (gzip.compress(customer_list().encode()), "text/csv", {"content-encoding": "gzip"}),
    (customer_list().encode("utf-16"), "text/csv", {}),
    (customer_list().encode("utf-16-le"), "text/csv", {}),
    (customer_list().encode("iso2022_jp"), "text/csv; charset=iso-2022-jp", {}),  # shifts with escapes
    (b"PK\x03\x04" + customer_list().encode(), "", {}),
    (customer_list().encode(), "multipart/form-data; boundary=x", {}),
    (customer_list().encode(), "text/xml", {}),
    (b'<meta charset="koi8-r">\n' + customer_list().encode("koi8-r"), "text/plain", {}),
])
def test_only_bodies_read_whole_as_one_free_text_are_windowed(body, content_type, headers):
    assert full_count.plan(full_count.plan_head(request(body, content_type, **headers))) is None


def test_the_plan_reads_as_much_of_the_body_as_the_whole_body_reading_does():
    head = full_count.plan_head(request(b"a" * (3 * full_count.PLAN_BYTES)))
    assert len(head.body) == full_count.PLAN_BYTES


def test_the_tally_keeps_each_identifier_once_and_sums_its_occurrences():
    tally = full_count.Tally(total_bytes=300, safe_path="/p")
    timeout = Problem("timeout", "detection", "inspection time limit reached")
    tally.add(100, Inspection(evidence=(Evidence("email", "d1", "a***@x.com", "body:text", 2),
                                        Evidence("phone", "d2", "+7***", "body:text", 1)), bytes_inspected=90,
                              exempt=1))
    tally.add(100, Inspection(evidence=(Evidence("email", "d1", "", "body:text", 3),
                                        Evidence("email", "d3", "b***@x.com", "body:text", 1)),
                              problems=(timeout,), bytes_inspected=95, exempt=1))
    tally.add(50, Inspection(problems=(timeout,)))
    tally.stop("timeout", "after 20 s")
    result = tally.inspection()
    assert [(e.kind, e.digest, e.occurrences, e.masked) for e in result.evidence] == [
        ("email", "d1", 5, "a***@x.com"), ("email", "d3", 1, "b***@x.com"), ("phone", "d2", 1, "+7***")]
    assert result.bytes_inspected == 185 and result.exempt == 1 and result.safe_path == "/p"
    assert result.problems == (timeout, Problem("timeout", "body", "full count stopped after 20 s: "
                                                                   "250 of 300 bytes counted"))



def test_the_tally_keeps_where_each_identifier_was_first_seen():
    tally = full_count.Tally(total_bytes=200, safe_path="/p")
    tally.add(100, Inspection(evidence=(Evidence("email", "d1", "", "body:text", 1),
                                        Evidence("email", "d2", "", "body:line 7", 1))))
    tally.add(100, Inspection(evidence=(Evidence("email", "d2", "", "body:text", 1),
                                        Evidence("phone", "d3", "", "body:text", 1))))
    assert [(e.digest, e.where, e.occurrences) for e in tally.inspection().evidence] == [
        ("d1", "body:text", 1), ("d2", "body:line 7", 2), ("d3", "body:text", 1)]

def _count(policy, body: bytes, content_type: str = "text/csv", seconds: float | None = None) -> Inspection:
    async def scenario():
        pool = workers.InspectionPool(policy, b"k" * 32, 2)
        try:
            return await pool.count_in_windows(request(body, content_type), seconds)
        finally:
            pool.shutdown()

    return asyncio.run(scenario())


def test_the_pool_counts_a_large_list_window_by_window(engine):
    body = customer_list(30000).encode()
    assert len(body) > full_count.WINDOW_BYTES
    counted = _count(POLICY, body)
    whole = engine.inspect(request(body))
    assert counted.problems == ()
    assert by_digest(counted) == by_digest(whole) and counted.counts() == {"email": 30000, "phone": 30000}


def test_the_pool_stops_counting_at_the_time_limit_and_says_how_far_it_got():
    body = customer_list(30000).encode()
    counted = _count(POLICY, body, seconds=0.01)  # the first window takes longer than that
    [stopped] = [p for p in counted.problems if p.where == "body"]
    first = next(full_count.windows(body, full_count.Plan("utf-8", 0, b""), "text/csv"))
    assert stopped.sub_reason == "timeout"
    assert stopped.detail == f"full count stopped after 0 s: {len(first.data)} of {len(body)} bytes counted"
    assert counted.counts()["email"] == body[:len(first.data)].count(b"@")


def test_a_body_that_is_not_one_free_text_is_left_to_the_whole_count():
    records = json.dumps([{"email": f"a{i}@example.com"} for i in range(100)]).encode()
    assert _count(POLICY, records, "application/json") is None


def test_a_wrapped_base64_blob_at_a_window_edge_goes_whole_into_the_next_window(engine):
    import base64

    attachment = base64.encodebytes(customer_list(60).encode()).decode()  # 76-character lines
    body = ("name,email,note\n" + "".join(f"Row {i},row{i}@example.com,ok\n" for i in range(40))
            + "attachment:\n" + attachment + "end,done@example.com,ok\n").encode()
    req = request(body, "text/plain")
    size = len(attachment) + 200  # the blob fits in a window, but not in the first one
    assert len(body) > size
    windowed = counted_in_windows(engine, req, size)
    whole = engine.inspect(req)
    assert whole.counts()["email"] == 40 + 60 + 1
    # Occurrences differ: whether a text also reads as quoted-printable (base64's "=" at line
    # ends) is told of the whole text and of each window, and such a reading counts the blob again.
    assert set(by_digest(windowed)) == set(by_digest(whole))


def test_a_count_whose_pool_is_shut_down_stops_and_starts_no_new_workers():
    body = customer_list(120000).encode()

    async def scenario():
        pool = workers.InspectionPool(POLICY, b"k" * 32, 2)
        # Shut down while a window is being counted: not after a fixed time, which on a busy
        # machine can still be the workers' start or the plan.
        counting = asyncio.Event()
        run = pool._run

        async def noting_windows(function, *args):
            if function is workers._inspect_window:
                counting.set()
            return await run(function, *args)

        pool._run = noting_windows
        count = asyncio.ensure_future(pool.count_in_windows(request(body)))
        await asyncio.wait_for(counting.wait(), 60)
        await asyncio.sleep(0.2)  # the window is with its worker
        started = pool.processes_started
        pool.shutdown()
        counted = await asyncio.wait_for(count, 30)
        return counted, pool.processes_started - started

    counted, started_after = asyncio.run(scenario())
    assert started_after == 0, "the shut-down pool started new workers"
    [stopped] = [p for p in counted.problems if p.where == "body"]
    assert stopped.sub_reason == "error" and "where a worker failed" in stopped.detail
    assert counted.counts()["email"] < 40000
