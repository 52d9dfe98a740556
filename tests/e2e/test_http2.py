"""HTTP/2 end to end: curl --http2 through the gateway to an h2 site.

With mitmproxy's default (eager) connection strategy the client is offered what the upstream
speaks, so an h2 upstream makes both legs HTTP/2, as with real sites.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.customers import Customers, count_leaked
from tests.e2e.support import curl, curl_path

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(curl_path() is None, reason="curl is not installed")]

book = Customers("h2")
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def test_bulk_upload_over_http2_is_blocked(gateway, h2_upstream, tmp_path):
    body = json.dumps([{"email": e, "tel": p} for e, p in zip(book.emails(8), book.phones(8))]).encode()
    reply = curl(gateway, h2_upstream.url("/v2/contacts/import"), tmp_path, data=body, headers=JSON)
    assert reply.http_version == "2"
    assert reply.status == 403
    incident_id = reply.headers.get("x-dlp-incident", "")
    assert incident_id
    assert json.loads(reply.body)["incident"] == incident_id
    forwarded = len(h2_upstream.at("/v2/contacts/import"))
    assert forwarded == 0, "the upstream received a blocked request"
    record = gateway.incident(incident_id)
    assert record["counts"]["total"] == 16
    assert record["scheme"] == "https"


def test_small_request_over_http2_reaches_the_h2_upstream(gateway, h2_upstream, tmp_path):
    body = json.dumps({"status": "ok", "build": 4182, "branch": "main"}).encode()
    reply = curl(gateway, h2_upstream.url("/v2/heartbeat"), tmp_path, data=body, headers=JSON)
    assert reply.http_version == "2"
    assert reply.status == 200
    [received] = h2_upstream.at("/v2/heartbeat")
    assert received.version == "HTTP/2"
    same = received.body == body
    assert same, "upstream body differs from what the client sent"


def test_no_identifier_in_proxy_output(gateway):
    leaked = count_leaked(gateway.log(), book.sent)
    assert leaked == 0, f"{leaked} plain identifiers in mitmdump's output"
