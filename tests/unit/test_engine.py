"""The engine as a whole: probing the start of large bodies, and deciding on it."""

import gzip

from dlp_addon.decide import certain_block
from dlp_addon.engine import PROBE_BYTES, PROBE_MIN_BODY, Engine, probe_request
from dlp_addon.model import Inspection, Problem, RequestData
from dlp_addon.policy import Policy, Rule

LIST = "".join(f"Customer {i},c{i}@example.com,+44 7911 {i % 1000000:06d}\n" for i in range(20000)).encode()
POLICY = Policy(rules=(Rule("bulk", "request", ("email", "phone"), 10, "block"),
                       Rule("some", "request", ("email", "phone"), 3, "log")))


def request(body: bytes, **headers) -> RequestData:
    return RequestData("POST", "h", "/u", tuple(headers.items()), body)


def test_probe_is_the_start_of_a_large_plain_body_cut_at_a_line():
    head = probe_request(request(LIST))
    assert head is not None and len(head.body) <= PROBE_BYTES and head.body.endswith(b"\n")
    assert LIST.startswith(head.body)


def test_no_probe_for_small_compressed_or_binary_bodies():
    assert probe_request(request(LIST[:PROBE_MIN_BODY - 1])) is None
    assert probe_request(request(gzip.compress(LIST) * 20, **{"content-encoding": "gzip"})) is None
    assert probe_request(request(b"PK\x03\x04" + LIST)) is None


def test_a_list_is_certain_to_be_blocked_from_its_start():
    engine = Engine(POLICY, b"k" * 32)
    partial = engine.probe(request(LIST))
    assert certain_block(partial, POLICY)
    assert partial.counts()["email"] < 20000  # only the start was read


def test_nothing_is_certain_below_a_blocking_rule_or_in_monitor_mode():
    engine = Engine(POLICY, b"k" * 32)
    few = engine.inspect(request(b"a@example.com b@example.com c@example.com"))
    assert not certain_block(few, POLICY)
    partial = engine.probe(request(LIST))
    from dataclasses import replace
    assert not certain_block(partial, replace(POLICY, monitor=True))


def test_places_named_after_identifiers_are_masked():
    from dlp_addon.engine import safe_where
    masked = safe_where("body:json:$.john.doe@gmail.com.phone")
    assert masked.startswith("body:json:") and "john" not in masked and "gmail" not in masked
    assert safe_where("body:multipart[1 13800138000.csv]:text") == "body:multipart[1 13*****8000.csv]:text"
    assert safe_where("body:zip[customers/2024.csv]") == "body:zip[customers/2024.csv]"
    engine = Engine(POLICY, b"k" * 32)
    inspection = engine.inspect_content(b'{"ivan@mail.ru": {"tel": "+7 912 345-67-89"}}', content_type="application/json")
    assert all("ivan@mail.ru" not in e.where for e in inspection.evidence)


def test_the_start_is_read_in_steps_until_certain():
    engine = Engine(POLICY, b"k" * 32)
    partial = engine.probe(request(LIST))
    assert partial.bytes_inspected <= 1100  # the first step, a kilobyte, already holds ten customers


def test_merge_keeps_every_identifier_once_and_every_problem():
    from dataclasses import replace
    from dlp_addon.engine import merge
    from dlp_addon.model import Problem
    engine = Engine(POLICY, b"k" * 32)
    first = engine.inspect(request(b"a@example.com b@example.com"))
    second = replace(engine.inspect(request(b"b@example.com c@example.com")),
                     problems=(Problem("timeout", "body", "inspection time limit reached"),))
    merged = merge(first, second)
    assert merged.counts()["email"] == 3 and [p.sub_reason for p in merged.problems] == ["timeout"]


def test_problem_places_are_masked_and_writable():
    import io
    import zipfile
    from dlp_addon.extract import archive  # noqa: F401 - the zip extractor is registered on first use
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("john.doe@gmail.com +1 202 555 0143.csv", b"x")
    data = bytearray(buffer.getvalue())
    for offset in (6, data.rfind(b"PK\x01\x02") + 8):  # mark the member encrypted in both headers
        data[offset] |= 1
    inspection = Engine(POLICY, b"k" * 32).inspect_content(bytes(data))
    [problem] = [p for p in inspection.problems if p.sub_reason == "encrypted"]
    assert "john.doe" not in problem.where and "202 555 0143" not in problem.where
    from dlp_addon.engine import safe_where
    assert safe_where("body:tar[caf\udce9.csv]").encode("utf-8")  # an undecodable name stays writable


def test_a_detector_that_outlasts_the_deadline_is_a_timeout():
    from dlp_addon.policy import Limits
    from dataclasses import replace
    engine = Engine(replace(POLICY, limits=Limits(max_seconds=0.001)), b"k" * 32)
    inspection = engine.inspect_content(b"12 " * 60000, content_type="text/plain")
    assert "timeout" in [p.sub_reason for p in inspection.problems]


def test_a_list_carries_the_masked_samples_an_incident_shows_and_no_more():
    from dlp_addon.incident import samples
    from dlp_addon.model import SAMPLES_PER_KIND

    engine = Engine(POLICY, b"k" * 32)
    inspection = engine.inspect_content(LIST[:4000], content_type="text/csv")
    assert inspection.counts()["email"] > 50 and inspection.counts()["phone"] > 50
    for kind in ("email", "phone"):
        masks = [e.masked for e in inspection.evidence if e.kind == kind]
        assert all(masks[:SAMPLES_PER_KIND]) and not any(masks[SAMPLES_PER_KIND:])
    shown = samples(inspection)
    assert len(shown) == 2 * SAMPLES_PER_KIND
    assert shown == ["c***@e***.com"] * 3 + ["+44 791* ***000", "+44 791* ***001", "+44 791* ***002"]


def test_an_inspection_crosses_between_processes_unchanged():
    import pickle

    engine = Engine(POLICY, b"k" * 32)
    inspection = engine.inspect(request(LIST[:100_000] + b"\xff\xfe broken"))
    assert len(inspection.evidence) > 1000
    assert pickle.loads(pickle.dumps(inspection)) == inspection
    empty = Inspection(problems=(Problem("timeout", "body", "x"),), safe_path="")
    assert pickle.loads(pickle.dumps(empty)) == empty


def test_the_probe_of_a_body_without_line_breaks_ends_between_values():
    """Cut anywhere, `customer123@example.com` could become `customer123@example.co`: an
    address nobody sent, in the incident for good."""
    body = b", ".join(b"customer%d@example.com" % i for i in range(20000))
    head = probe_request(request(body))
    assert head.body.endswith((b",", b" ")) and len(head.body) <= PROBE_BYTES
    inspection = Engine(POLICY, b"k" * 32).inspect(head)
    assert inspection.counts()["email"] == head.body.count(b"@")


def test_a_list_sent_as_form_field_names_or_as_a_form_without_fields_is_counted():
    import random

    from dlp_addon.policy import load_policy

    engine = Engine(load_policy("policies/default.yaml"), b"k" * 32)
    rng = random.Random(4)
    numbers = ["7916%07d" % rng.randrange(10 ** 7) for _ in range(11)]
    for body in ("&".join(f"{n}=on" for n in numbers), "&".join(f"%2B{n}=on" for n in numbers),
                 "customers: " + ", ".join(f"%2B{n}" for n in numbers)):
        inspection = engine.inspect_content(body.encode(), content_type="application/x-www-form-urlencoded")
        assert inspection.counts()["phone"] == 11, body[:60]
