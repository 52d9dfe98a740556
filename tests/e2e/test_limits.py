"""Bodies over the policy's inspection limit are blocked, never forwarded uninspected."""

from __future__ import annotations

import http.client

import pytest

from tests.e2e.customers import Customers, count_leaked
from tests.e2e.support import IO_TIMEOUT, via_proxy

pytestmark = pytest.mark.e2e

book = Customers("limits")
LIMIT = 64 * 1024
# regions is spelt out so that these tests exercise the limits alone; test_minimal_policy.py
# covers a policy that leaves everything but the rules to the defaults.
POLICY = """\
version: 1
regions: [US, GB, CN, RU, IR, SA, AE, EG, IN]
rules:
  - {name: bulk-in-one-request, scope: request, kinds: [email, phone], threshold: 10, action: block}
  - {name: several-in-one-request, scope: request, kinds: [email, phone], threshold: 3, action: log}
uninspectable:
  default: block
limits:
  max_body_bytes: 64KiB
"""
API = {"Accept": "*/*", "Content-Type": "text/plain"}


@pytest.fixture(scope="module")
def gateway_policy(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "small-limit.yaml"
    path.write_text(POLICY)
    return path


def filler(size: int) -> bytes:
    line = b"lorem ipsum dolor sit amet, consectetur adipiscing elit\n"
    return (line * (size // len(line) + 1))[:size]


def reasons(record) -> list[str]:
    return [u["sub_reason"] for u in record["uninspected"]]


def test_body_under_the_limit_is_inspected(gateway, upstream):
    body = filler(LIMIT // 2) + "\n".join(book.emails(12)).encode()
    reply = via_proxy(gateway, "POST", upstream.url("/under/bulk"), body, API)
    assert reply.status == 403
    record = gateway.incident(reply.incident_id)
    assert record["counts"]["email"] == 12
    assert record["path"] == "/under/bulk"
    clean = filler(LIMIT - 1)
    assert via_proxy(gateway, "POST", upstream.url("/under/clean"), clean, API).status == 200
    [received] = upstream.at("/under/clean")
    assert len(received.body) == LIMIT - 1


def test_declared_body_over_the_limit_is_blocked_as_too_large(gateway, upstream):
    reply = via_proxy(gateway, "POST", upstream.url("/over/declared"), filler(LIMIT + 1024), API)
    assert reply.status == 403
    assert reply.incident_id
    forwarded = len(upstream.at("/over/declared"))
    assert forwarded == 0, "the upstream received an uninspected body"
    record = gateway.incident(reply.incident_id)
    assert record["action"] == "block"
    assert "too_large" in reasons(record)


def test_chunked_body_over_the_limit_is_blocked_as_too_large(gateway, upstream):
    body = filler(LIMIT + 1024)
    chunks = (body[i:i + 8192] for i in range(0, len(body), 8192))
    # No Content-Length: http.client sends it chunked.
    reply = via_proxy(gateway, "POST", upstream.url("/over/chunked"), chunks, API)
    assert reply.status == 403
    forwarded = len(upstream.at("/over/chunked"))
    assert forwarded == 0, "the upstream received an uninspected body"
    record = gateway.incident(reply.incident_id)
    assert "too_large" in reasons(record)


def test_body_declared_far_over_the_limit_gets_the_connection_reset(gateway, upstream):
    # More than 4x the limit: the gateway resets rather than buffer it (policies/README.md).
    body = filler(5 * LIMIT)
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=IO_TIMEOUT)
    status = None
    try:
        conn.request("POST", upstream.url("/over/huge"), body=body, headers=API)
        status = conn.getresponse().status
    except (ConnectionError, http.client.HTTPException, OSError):
        status = None
    finally:
        conn.close()
    assert status is None, "expected the connection to be reset"
    forwarded = len(upstream.at("/over/huge"))
    assert forwarded == 0, "the upstream received an uninspected body"
    records = [i for i in gateway.incidents_for("/over/huge") if "too_large" in reasons(i)]
    assert len(records) == 1
    assert records[0]["action"] == "block"


def test_no_identifier_in_proxy_output(gateway):
    leaked = count_leaked(gateway.log(), book.sent)
    assert leaked == 0, f"{leaked} plain identifiers in mitmdump's output"
