"""Plain HTTP through the gateway as an explicit proxy, with the default policy."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import threading
import time
from urllib.parse import parse_qsl, urlencode

import pytest

from tests.e2e.customers import Customers, bulk_csv, count_leaked
from tests.e2e.support import IO_TIMEOUT, via_proxy

pytestmark = pytest.mark.e2e

book = Customers("http")
API = {"Accept": "*/*"}
HEX64 = re.compile(r"[0-9a-f]{64}")


def customers_json(emails=(), phones=()) -> bytes:
    rows = [{"name": f"Customer {i}", "email": e} for i, e in enumerate(emails)]
    rows += [{"name": f"Caller {i}", "phone": p} for i, p in enumerate(phones)]
    return json.dumps({"customers": rows}).encode()


def assert_blocked(reply, gateway, upstream, path):
    assert reply.status == 403
    assert reply.incident_id, "blocked answer without X-DLP-Incident"
    forwarded = len(upstream.at(path))
    assert forwarded == 0, "the upstream received a blocked request"
    leaked = count_leaked(reply.body.decode("utf-8", "replace"), book.sent)
    assert leaked == 0, "the block answer holds plain identifiers"
    return gateway.incident(reply.incident_id)


# -- 1. bulk, several, clean ---------------------------------------------------------------------


def test_bulk_emails_are_blocked_and_recorded_without_plain_text(gateway, upstream):
    emails = book.emails(12)
    reply = via_proxy(gateway, "POST", upstream.url("/crm/bulk"), customers_json(emails),
                      {**API, "Content-Type": "application/json"})
    record = assert_blocked(reply, gateway, upstream, "/crm/bulk")

    assert reply.headers.get_content_type() == "application/json"
    assert reply.json()["incident"] == reply.incident_id
    assert record["action"] == "block"
    assert record["rule"] == "bulk-in-one-request"
    assert record["channel"] == "http" and record["scheme"] == "http" and record["method"] == "POST"
    assert record["host"] == "127.0.0.1" and record["port"] == upstream.port
    assert record["user"] == "127.0.0.1" and record["user_source"] == "client_address"
    assert record["counts"] == {"email": 12, "phone": 0, "total": 12}
    digests = record["hashes"]["email"]
    assert len(digests) == 12 and len(set(digests)) == 12
    assert all(HEX64.fullmatch(d) for d in digests)
    assert record["samples"], "no masked samples"
    assert all("*" in s for s in record["samples"])
    leaked = count_leaked(gateway.incidents_path.read_text(encoding="utf-8"), emails)
    assert leaked == 0, f"{leaked} plain addresses in incidents.jsonl"


def test_a_few_identifiers_pass_unchanged_and_are_logged(gateway, upstream):
    body = customers_json(book.emails(3))
    reply = via_proxy(gateway, "POST", upstream.url("/crm/few"), body, {**API, "Content-Type": "application/json"})
    assert reply.status == 200
    [received] = upstream.at("/crm/few")
    same = received.body == body
    assert same, "upstream body differs from what the client sent"
    assert received.method == "POST"
    [record] = gateway.incidents_for("/crm/few")
    assert record["action"] == "log" and record["rule"] == "several-in-one-request"
    assert record["counts"]["total"] == 3


def test_clean_business_traffic_passes_without_incident(gateway, upstream):
    body = json.dumps({
        "order_id": 100234567, "invoice": "INV-2024-000871", "created": "2024-05-17T10:22:31Z",
        "ts": 1715941351, "ts_ms": 1715941351123,
        "items": [{"sku": "A-1001", "qty": 3, "price": "1299.00"}, {"sku": "B-2040", "qty": 1, "price": "89.90"}],
        "total": 3986.9, "currency": "EUR", "tracking": "1Z999AA10123456784", "zip": "10115",
    }).encode()
    reply = via_proxy(gateway, "POST", upstream.url("/shop/order"), body, {**API, "Content-Type": "application/json"})
    assert reply.status == 200
    [received] = upstream.at("/shop/order")
    same = received.body == body
    assert same, "upstream body differs from what the client sent"
    assert gateway.incidents_for("/shop/order") == []


def test_keep_alive_connection_stays_usable_after_a_block(gateway, upstream):
    # Browsers and API clients reuse connections: a 403 must not poison the next request.
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=IO_TIMEOUT)
    try:
        conn.request("POST", upstream.url("/reuse/bulk"), customers_json(book.emails(12)),
                     {**API, "Content-Type": "application/json"})
        first = conn.getresponse()
        first.read()
        conn.request("GET", upstream.url("/reuse/next"), headers=API)
        second = conn.getresponse()
        second.read()
    finally:
        conn.close()
    assert first.status == 403 and second.status == 200
    assert len(upstream.at("/reuse/next")) == 1
    forwarded = len(upstream.at("/reuse/bulk"))
    assert forwarded == 0


def test_start_up_banner_says_where_everything_is(gateway):
    log = gateway.log()
    for shown in (f"127.0.0.1:{gateway.port}", str(gateway.ca), str(gateway.incidents_path), "1 inspection process"):
        assert shown in log, f"start-up banner does not show {shown}"


# -- 4. multipart, compression, fail closed ------------------------------------------------------


def test_multipart_csv_upload_is_blocked(gateway, upstream):
    csv = "name,email,phone\n" + "".join(f"{n},{e},{p}\n" for n, e, p in book.rows(20))
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQ3 leads\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"customers.csv\"\r\n"
        f"Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    ).encode()
    reply = via_proxy(gateway, "POST", upstream.url("/files/upload"), body,
                      {**API, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    record = assert_blocked(reply, gateway, upstream, "/files/upload")
    assert record["counts"]["email"] == 20
    assert any("multipart" in where for where in record["where"])


def test_gzip_body_is_decoded_and_blocked(gateway, upstream):
    body = gzip.compress(customers_json(book.emails(12)))
    reply = via_proxy(gateway, "POST", upstream.url("/sync/gzip"), body,
                      {**API, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    record = assert_blocked(reply, gateway, upstream, "/sync/gzip")
    assert record["counts"]["email"] == 12


def test_body_that_is_not_the_gzip_it_claims_fails_closed(gateway, upstream):
    body = b"this is not gzip at all, just bytes pretending to be compressed"
    reply = via_proxy(gateway, "POST", upstream.url("/sync/fake"), body,
                      {**API, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    record = assert_blocked(reply, gateway, upstream, "/sync/fake")
    assert record["action"] == "block"
    assert "bad_encoding" in [u["sub_reason"] for u in record["uninspected"]]


# -- 5. query string -----------------------------------------------------------------------------


def test_emails_in_the_query_string_are_blocked_and_not_recorded(gateway, upstream):
    emails = book.emails(12)
    query = urlencode({"q": ",".join(emails), "page": "2"})
    reply = via_proxy(gateway, "GET", upstream.url(f"/search?{query}"), headers=API)
    record = assert_blocked(reply, gateway, upstream, "/search")
    assert record["counts"]["email"] == 12
    path, _, recorded_query = record["path"].partition("?")
    assert path == "/search"
    assert all(value == "" for _, value in parse_qsl(recorded_query, keep_blank_values=True)), \
        "incident path keeps query values"
    leaked = count_leaked(json.dumps(record, ensure_ascii=False), emails)
    assert leaked == 0, f"{leaked} plain addresses in the incident"


# -- 7. browser ----------------------------------------------------------------------------------


CHROME = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Safari/537.36",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
              "application/signed-exchange;v=b3;q=0.7",
    "Accept-Language": "ru-RU,ru;q=0.9",
    "Accept-Encoding": "gzip, deflate",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-User": "?1",
    "Upgrade-Insecure-Requests": "1",
}


def test_browser_gets_a_block_page_in_its_language(gateway, upstream):
    body = urlencode({"to": "; ".join(book.emails(12)), "subject": "price list"}).encode()
    reply = via_proxy(gateway, "POST", upstream.url("/mail/send"), body,
                      {**CHROME, "Content-Type": "application/x-www-form-urlencoded",
                       "Origin": f"http://127.0.0.1:{upstream.port}"})
    assert_blocked(reply, gateway, upstream, "/mail/send")
    assert reply.headers.get_content_type() == "text/html"
    body = reply.body
    if reply.headers.get("Content-Encoding", "identity") == "gzip":
        body = gzip.decompress(body)
    page = body.decode(reply.headers.get_content_charset() or "utf-8")
    names_incident = reply.incident_id in page
    assert names_incident, "the block page does not show the incident id"
    russian = re.search(r"[А-Яа-яЁё]{4,}", page) is not None
    assert russian, "no Russian text on the page for Accept-Language ru-RU"


def test_xhr_from_a_browser_gets_json(gateway, upstream):
    headers = {**CHROME, "Accept": "application/json, text/plain, */*", "Sec-Fetch-Mode": "cors",
               "Sec-Fetch-Dest": "empty", "Content-Type": "application/json"}
    del headers["Sec-Fetch-User"], headers["Upgrade-Insecure-Requests"]
    reply = via_proxy(gateway, "POST", upstream.url("/app/api/share"), customers_json(book.emails(12)), headers)
    assert_blocked(reply, gateway, upstream, "/app/api/share")
    assert reply.headers.get_content_type() == "application/json"
    assert reply.json()["incident"] == reply.incident_id


# -- 11. a large inspection does not hold up other connections -----------------------------------


def small_gets(gateway, upstream, tag: str, n: int = 3) -> list[int]:
    # Letters-only paths: the addon sends them straight on, so only the event loop is exercised.
    return [via_proxy(gateway, "GET", upstream.url(f"/status/{tag}/{'abc'[i]}"), headers=API).status for i in range(n)]


def test_other_connections_flow_while_a_large_upload_is_inspected(gateway, upstream):
    body = bulk_csv(4 * 1024 * 1024)
    chunk = 256 * 1024
    statuses: dict[str, list[int]] = {}

    def body_chunks():
        for offset in range(0, len(body), chunk):
            if offset == len(body) // 2 // chunk * chunk:
                statuses["mid-upload"] = small_gets(gateway, upstream, "midupload")
            yield body[offset:offset + chunk]

    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=IO_TIMEOUT + 30)
    try:
        conn.request("POST", upstream.url("/export/customers"), body=body_chunks(),
                     headers={**API, "Content-Type": "text/csv", "Content-Length": str(len(body))})
        # The body is sent: the gateway is now inspecting it while these go through.
        during = threading.Thread(target=lambda: statuses.__setitem__("inspection",
                                                                      small_gets(gateway, upstream, "inspection")))
        during.start()
        response = conn.getresponse()
        response.read()
        during.join(IO_TIMEOUT * 4)
    finally:
        conn.close()

    assert response.status == 403
    forwarded = len(upstream.at("/export/customers"))
    assert forwarded == 0
    assert statuses.get("mid-upload") == [200, 200, 200]
    assert statuses.get("inspection") == [200, 200, 200]
    got = len(upstream.at("/status/"))
    assert got == 6


def test_a_large_list_is_answered_from_its_start_and_counted_whole_afterwards(gateway, upstream):
    body = bulk_csv(2 * 1024 * 1024 + 300 * 1024, seed=7)  # three windows of the full count
    rows = body.count(b"\n") - 1
    reply = via_proxy(gateway, "POST", upstream.url("/export/whole"), body, {**API, "Content-Type": "text/csv"})
    first = assert_blocked(reply, gateway, upstream, "/export/whole")
    assert first["partial"] is True and first["counts"]["email"] < rows
    deadline = time.monotonic() + 90
    while not (done := [i for i in gateway.incidents() if i.get("id") == reply.incident_id
                        and i.get("update") == "complete"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    [completion] = done
    assert completion["counts"] == {"email": rows, "phone": rows, "total": 2 * rows}
    assert completion["uninspected"] == [] and completion["bytes_inspected"] == len(body)
    assert len(set(completion["hashes"]["email"])) == rows
    assert set(first["hashes"]["phone"]) <= set(completion["hashes"]["phone"])


# -- privacy of the gateway's own output ---------------------------------------------------------


def test_no_identifier_in_proxy_output_or_incidents(gateway):
    log_leaks = count_leaked(gateway.log(), book.sent)
    incident_leaks = count_leaked(gateway.incidents_path.read_text(encoding="utf-8"), book.sent)
    assert log_leaks == 0, f"{log_leaks} plain identifiers in mitmdump's output"
    assert incident_leaks == 0, f"{incident_leaks} plain identifiers in incidents.jsonl"
