"""The addon's hooks with mitmproxy's own test helpers and a real worker process."""

import asyncio
import gzip
import json
import logging

import pytest
from mitmproxy import http
from mitmproxy.exceptions import OptionsError
from mitmproxy.test import taddons, tflow, tutils

from dlp_addon import full_count
from dlp_addon.gateway import DlpAddon

EMAILS = [f"customer{i}@example.com" for i in range(12)]
PHONES = ["+86 138 0013 8000", "+7 912 345-67-89", "+44 7911 123456"]
POLICY = """
rules:
  - {name: block10, threshold: 10, action: block}
  - {name: log3, threshold: 3, action: log}
  - {name: hour, scope: user, window: 1h, threshold: 50, action: block}
exemptions:
  destinations: ["*.trusted.example"]
  company_email_domains: ["ourcompany.example"]
limits:
  max_body_bytes: 64KiB
block_page:
  contact: security@ourcompany.example
"""


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, loop):
    state = tmp_path_factory.mktemp("state")
    policy = state / "policy.yaml"
    policy.write_text(POLICY)
    addon = DlpAddon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, dlp_policy=str(policy), dlp_state_dir=str(state), dlp_workers=1)
        yield tctx, addon, state
        addon.done()


def post(body: bytes, *, headers=(), path=b"/upload", host="upload.example.net", user=None):
    request = tutils.treq(method=b"POST", path=path, content=body,
                          headers=http.Headers([(b"content-type", b"text/plain"), *headers]))
    flow = tflow.tflow(req=request)
    flow.request.host = host
    if user:
        flow.metadata["proxyauth"] = (user, "secret-password")
    return flow


def run(loop, addon, flow):
    async def hooks():
        await addon.requestheaders(flow)
        await addon.request(flow)
    loop.run_until_complete(hooks())
    return flow


def incidents(state):
    path = state / "incidents.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_bulk_request_is_blocked_with_an_incident(gateway, loop):
    _, addon, state = gateway
    flow = run(loop, addon, post(", ".join(EMAILS).encode(), headers=[(b"accept", b"application/json")]))
    assert flow.response.status_code == 403
    incident_id = flow.response.headers["X-DLP-Incident"]
    assert json.loads(flow.response.content)["incident"] == incident_id
    [record] = [i for i in incidents(state) if i["id"] == incident_id]
    assert record["action"] == "block" and record["counts"]["email"] == 12 and record["rule"] == "block10"
    assert len(record["hashes"]["email"]) == 12
    assert flow.metadata["dlp"]["action"] == "block" and flow.marked
    assert incident_id in flow.comment and "@" not in flow.comment


def test_browser_gets_a_page(gateway, loop):
    _, addon, _ = gateway
    flow = run(loop, addon, post(", ".join(EMAILS).encode(), headers=[(b"accept", b"text/html")]))
    assert flow.response.status_code == 403
    assert flow.response.headers["content-type"].startswith("text/html")
    assert flow.response.headers["X-DLP-Incident"].encode() in flow.response.content


def test_a_few_identifiers_pass_and_are_logged(gateway, loop):
    _, addon, state = gateway
    flow = run(loop, addon, post(", ".join(EMAILS[:2] + PHONES[:1]).encode()))
    assert flow.response is None
    assert flow.metadata["dlp"]["action"] == "log"
    record = next(i for i in incidents(state) if i["id"] == flow.metadata["dlp"]["incident"])
    assert record["action"] == "log" and record["counts"]["total"] == 3


def test_clean_request_is_untouched(gateway, loop):
    _, addon, _ = gateway
    flow = run(loop, addon, post(b"hello world, order 1234567 costs $12.50"))
    assert flow.response is None and "dlp" not in flow.metadata and not flow.comment


def test_company_addresses_do_not_count(gateway, loop):
    _, addon, _ = gateway
    body = ", ".join(f"staff{i}@ourcompany.example" for i in range(20)).encode()
    flow = run(loop, addon, post(body))
    assert flow.response is None and "dlp" not in flow.metadata


def test_exempt_destination(gateway, loop):
    _, addon, _ = gateway
    flow = run(loop, addon, post(", ".join(EMAILS).encode(), host="crm.trusted.example"))
    assert flow.response is None


def test_already_answered_flows_are_left_alone(gateway, loop):
    _, addon, _ = gateway
    flow = post(", ".join(EMAILS).encode())
    flow.response = http.Response.make(407)
    run(loop, addon, flow)
    assert flow.response.status_code == 407 and "dlp" not in flow.metadata


def test_proxy_password_is_dropped_and_user_recorded(gateway, loop):
    _, addon, state = gateway
    flow = run(loop, addon, post(", ".join(EMAILS).encode(), user="alice"))
    assert flow.metadata["proxyauth"] == ("alice", "")
    record = next(i for i in incidents(state) if i["id"] == flow.metadata["dlp"]["incident"])
    assert (record["user"], record["user_source"]) == ("alice", "proxyauth")


def test_compressed_body_is_inspected_and_bad_compression_blocked(gateway, loop):
    _, addon, state = gateway
    flow = post(gzip.compress(", ".join(EMAILS).encode()), headers=[(b"content-encoding", b"gzip")])
    assert run(loop, addon, flow).response.status_code == 403
    flow = run(loop, addon, post(b"not gzip at all", headers=[(b"content-encoding", b"gzip")]))
    assert flow.response.status_code == 403
    record = next(i for i in incidents(state) if i["id"] == flow.metadata["dlp"]["incident"])
    assert [p["sub_reason"] for p in record["uninspected"]] == ["bad_encoding"]


def test_declared_oversize_is_decided_before_the_body_arrives(gateway, loop):
    _, addon, _ = gateway
    flow = post(b"", headers=[(b"content-length", str(100 * 1024).encode())])
    flow.request.headers["content-length"] = str(100 * 1024)
    loop.run_until_complete(addon.requestheaders(flow))
    assert flow.response.status_code == 403
    assert flow.metadata["dlp"]["uninspected"] == ["too_large"]


def test_user_window_stops_a_split_leak(gateway, loop):
    _, addon, _ = gateway
    actions = []
    for batch in range(8):  # 8 requests of 7 distinct emails: the 8th reaches 56 >= 50
        body = ", ".join(f"split{batch}-{i}@example.org" for i in range(7)).encode()
        flow = run(loop, addon, post(body, user="mallory"))
        actions.append(flow.response.status_code if flow.response else "pass")
    assert actions == ["pass"] * 7 + [403]
    flow = run(loop, addon, post(b"one more: x1@example.org y1@example.org", user="someone-else"))
    assert flow.response is None


def test_record_failure_blocks(gateway, loop):
    _, addon, _ = gateway
    addon.runtime.incidents.close()
    try:
        flow = run(loop, addon, post(", ".join(EMAILS[:3]).encode()))
        assert flow.response.status_code == 403 and flow.metadata["dlp"]["rule"] == "record_unavailable"
    finally:
        addon.configure({"dlp_incidents"})  # rebuilds the runtime with a fresh log


def test_websocket_bulk_message_is_dropped(gateway, loop):
    _, addon, _ = gateway
    flow = tflow.twebsocketflow()
    flow.websocket.messages[-1].from_client = True
    flow.websocket.messages[-1].content = ", ".join(EMAILS).encode()
    loop.run_until_complete(addon.websocket_message(flow))
    assert flow.websocket.messages[-1].dropped
    assert flow.metadata["dlp"]["action"] == "block" and flow.metadata["dlp_websocket_closed"]


def test_bad_policy_is_refused(tmp_path, gateway):
    tctx, addon, _ = gateway
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: r, threshold: 0, action: block}\n")
    with pytest.raises(OptionsError, match=r"bad.yaml: rules\[0\].threshold"):
        tctx.configure(addon, dlp_policy=str(bad))


def test_misspelt_option_is_an_error_at_start(gateway, caplog):
    tctx, addon, _ = gateway
    tctx.options.deferred["dlp_polcy"] = "x"
    try:
        with caplog.at_level(logging.ERROR):
            addon.running()
        assert "dlp_polcy" in caplog.text
    finally:
        del tctx.options.deferred["dlp_polcy"]


def test_large_list_is_blocked_on_its_start_and_the_incident_completed(gateway, loop, monkeypatch):
    _, addon, state = gateway
    rows = "".join(f"Customer {i},big{i}@example.com\n" for i in range(1600))  # ~50 KB, under the 64 KiB limit
    # Probing starts at 256 KiB by default; this module's policy stops at 64 KiB. The full
    # count goes through windows of 8 KiB instead of a megabyte.
    monkeypatch.setattr("dlp_addon.engine.PROBE_MIN_BODY", 32 * 1024)
    monkeypatch.setattr("dlp_addon.full_count.WINDOW_BYTES", 8 * 1024)
    windows = []
    cut = full_count.windows
    monkeypatch.setattr("dlp_addon.full_count.windows", lambda *a: (windows.append(w) or w for w in cut(*a)))
    flow = run(loop, addon, post(rows.encode(), headers=[(b"content-type", b"text/csv")]))
    assert flow.response.status_code == 403
    loop.run_until_complete(asyncio.gather(*addon._completions))
    incident_id = flow.response.headers["X-DLP-Incident"]
    first, *rest = [i for i in incidents(state) if i["id"] == incident_id]
    assert first["partial"] is True and 10 <= first["counts"]["email"] < 1600
    [completion] = rest
    assert completion["update"] == "complete" and completion["counts"]["email"] == 1600
    assert completion["uninspected"] == [] and completion["bytes_inspected"] == len(rows)
    assert len(windows) == 7
    assert len(completion["hashes"]["email"]) == 1600 and "big1@example.com" not in json.dumps(completion)
