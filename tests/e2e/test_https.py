"""HTTPS through CONNECT, intercepted with the gateway's CA, as a configured employee machine."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.e2e.customers import Customers, count_leaked
from tests.e2e.support import IO_TIMEOUT, client_tls, via_proxy, via_tunnel

pytestmark = pytest.mark.e2e

book = Customers("https")
JSON = {"Accept": "application/json", "Content-Type": "application/json"}


def test_bulk_json_with_international_phones_is_blocked(gateway, tls_upstream):
    phones = ["+86 138 0013 8000", "+7 912 345-67-89"] + book.phones(4)
    book.sent.extend(["+86 138 0013 8000", "+7 912 345-67-89"])
    emails = book.emails(6)
    body = json.dumps({"leads": [{"contact": {"mobile": p, "mail": e}} for p, e in zip(phones, emails)]}).encode()

    reply = via_tunnel(gateway, tls_upstream.port, "POST", "/api/leads", body, JSON)

    assert reply.status == 403
    assert reply.incident_id
    assert reply.json()["incident"] == reply.incident_id
    forwarded = len(tls_upstream.at("/api/leads"))
    assert forwarded == 0, "the upstream received a blocked request"
    record = gateway.incident(reply.incident_id)
    assert record["scheme"] == "https" and record["port"] == tls_upstream.port
    assert record["counts"] == {"email": 6, "phone": 6, "total": 12}
    assert len(record["hashes"]["phone"]) == 6
    leaked = count_leaked(gateway.incidents_path.read_text(encoding="utf-8"), book.sent)
    assert leaked == 0, f"{leaked} plain identifiers in incidents.jsonl"


def test_small_https_request_passes_unchanged(gateway, tls_upstream):
    body = json.dumps({"ticket": "HD-4411", "reporter": book.emails(1)[0], "text": "printer on floor 3 is jammed"}).encode()
    reply = via_tunnel(gateway, tls_upstream.port, "POST", "/api/tickets", body, JSON)
    assert reply.status == 200
    [received] = tls_upstream.at("/api/tickets")
    same = received.body == body
    assert same, "upstream body differs from what the client sent"
    assert gateway.incidents_for("/api/tickets") == []


def test_tunnel_stays_usable_after_a_block(gateway, tls_upstream):
    conn = http.client.HTTPSConnection("127.0.0.1", gateway.port, timeout=IO_TIMEOUT, context=client_tls(gateway))
    conn.set_tunnel("127.0.0.1", tls_upstream.port)
    try:
        conn.request("POST", "/api/share", json.dumps({"to": book.emails(12)}).encode(), JSON)
        first = conn.getresponse()
        first.read()
        conn.request("GET", "/api/inbox", headers={"Accept": "application/json"})
        second = conn.getresponse()
        second.read()
    finally:
        conn.close()
    assert first.status == 403 and second.status == 200
    forwarded = len(tls_upstream.at("/api/share"))
    assert forwarded == 0
    assert len(tls_upstream.at("/api/inbox")) == 1


def test_ca_certificate_is_served_at_mitm_it(gateway):
    # The onboarding page employees use to install the CA, through the gateway itself.
    reply = via_proxy(gateway, "GET", "http://mitm.it/cert/pem")
    assert reply.status == 200
    same = reply.body.strip() == gateway.ca.read_bytes().strip()
    assert same, "mitm.it serves a different certificate from <confdir>/mitmproxy-ca-cert.pem"


def test_no_identifier_in_proxy_output(gateway):
    leaked = count_leaked(gateway.log(), book.sent)
    assert leaked == 0, f"{leaked} plain identifiers in mitmdump's output"
