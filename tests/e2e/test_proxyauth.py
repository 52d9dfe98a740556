"""Per-user history with proxy authentication: a leak split into many small requests."""

from __future__ import annotations

import base64
import json

import pytest

from tests.e2e.customers import Customers, count_leaked
from tests.e2e.support import basic_auth, via_proxy, via_tunnel

pytestmark = pytest.mark.e2e

book = Customers("auth")
PASSWORD = "Tr0ub4dor-and-3-horses"
JSON = {"Accept": "application/json", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def gateway_args():
    # `any` accepts every user/password and records the user name, like a directory would.
    return ("--set", "proxyauth=any")


def as_user(user: str) -> dict:
    return {**JSON, "Proxy-Authorization": basic_auth(user, PASSWORD)}


def batch(n: int = 7) -> bytes:
    return json.dumps({"recipients": book.emails(n)}).encode()


def test_requests_without_credentials_are_refused(gateway, upstream):
    reply = via_proxy(gateway, "GET", upstream.url("/anonymous"), headers={"Accept": "*/*"})
    assert reply.status == 407
    assert upstream.at("/anonymous") == []


def test_a_leak_split_into_small_requests_is_stopped_by_the_user_window(gateway, upstream):
    statuses = []
    for i in range(8):
        reply = via_proxy(gateway, "POST", upstream.url(f"/newsletter/part/{'abcdefgh'[i]}"), batch(), as_user("mallory"))
        statuses.append(reply.status)
    assert statuses == [200] * 7 + [403]
    assert len(upstream.at("/newsletter/part/")) == 7
    forwarded = len(upstream.at("/newsletter/part/h"))
    assert forwarded == 0, "the upstream received the blocked request"
    assert all("proxy-authorization" not in r.headers for r in upstream.at("/newsletter/part/"))

    record = gateway.incident(reply.incident_id)
    assert record["action"] == "block"
    assert record["rule"] == "bulk-per-user-per-hour"
    assert record["user"] == "mallory" and record["user_source"] == "proxyauth"
    assert record["counts"]["email"] == 7
    assert record["window"]["bulk-per-user-per-hour"] >= 50
    logged = [i for i in gateway.incidents_for("/newsletter/part/") if i["action"] == "log"]
    assert len(logged) == 7 and all(i["user"] == "mallory" for i in logged)


def test_the_window_is_per_user_and_still_lets_the_user_browse(gateway, upstream):
    # Another user's history is separate.
    assert via_proxy(gateway, "POST", upstream.url("/newsletter/alice"), batch(), as_user("alice")).status == 200
    # The limited user can still work as long as no new identifiers leave.
    clean = json.dumps({"q": "quarterly report", "page": 2}).encode()
    assert via_proxy(gateway, "POST", upstream.url("/search/mallory"), clean, as_user("mallory")).status == 200


def test_https_user_comes_from_the_connect_credentials(gateway, tls_upstream):
    reply = via_tunnel(gateway, tls_upstream.port, "POST", "/api/export", batch(12), JSON,
                       proxy_headers={"Proxy-Authorization": basic_auth("trudy", PASSWORD)})
    assert reply.status == 403
    record = gateway.incident(reply.incident_id)
    assert record["user"] == "trudy" and record["user_source"] == "proxyauth"
    assert record["rule"] == "bulk-in-one-request"


def test_no_password_or_identifier_in_incidents_or_output(gateway):
    secrets = [PASSWORD, base64.b64encode(f"mallory:{PASSWORD}".encode()).decode(),
               base64.b64encode(f"trudy:{PASSWORD}".encode()).decode()]
    incidents = gateway.incidents_path.read_text(encoding="utf-8")
    log = gateway.log()
    password_leaks = sum(text.count(secret) for text in (incidents, log) for secret in secrets)
    assert password_leaks == 0, "the proxy-auth password was written out"
    log_leaks, incident_leaks = count_leaked(log, book.sent), count_leaked(incidents, book.sent)
    assert log_leaks == 0, f"{log_leaks} plain identifiers in mitmdump's output"
    assert incident_leaks == 0, f"{incident_leaks} plain identifiers in incidents.jsonl"
