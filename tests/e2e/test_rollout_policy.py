"""The roll-out example of policies/README.md, verbatim: monitor mode, every other field defaulted.

It leaves `regions`, `limits` and the rest to the defaults, so it also checks that a short
policy file gets the same defaults as the full one (national phone forms of the seed markets).
"""

from __future__ import annotations

import json

import pytest
from phonenumbers import PhoneNumberFormat

from tests.e2e.customers import Customers, count_leaked
from tests.e2e.support import via_proxy

pytestmark = pytest.mark.e2e

book = Customers("rollout")
ROLLOUT = """\
version: 1
monitor: true
rules:
  - {name: bulk-in-one-request, threshold: 10, action: block}
  - {name: several-in-one-request, threshold: 3, action: log}
  - {name: bulk-per-user-per-hour, scope: user, window: 1h, threshold: 50, action: block}
"""
JSON = {"Accept": "application/json", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def gateway_policy(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "rollout.yaml"
    path.write_text(ROLLOUT)
    return path


def test_clean_request_passes_without_incident(gateway, upstream):
    body = json.dumps({"report": "weekly", "rows": 1200, "generated": "2024-06-03T08:00:00Z"}).encode()
    assert via_proxy(gateway, "POST", upstream.url("/reports/weekly"), body, JSON).status == 200
    # Monitor mode lets even a failed inspection through, so look at every record (this is the
    # module's first request): there must be none, not even an `error` one.
    records = gateway.incidents()
    reasons = [u["sub_reason"] for r in records for u in r["uninspected"]]
    assert reasons == []
    assert len(records) == 0


def test_bulk_passes_in_monitor_mode_and_is_recorded_as_would_block(gateway, upstream):
    phones = book.phones(12, PhoneNumberFormat.NATIONAL)
    body = json.dumps({"contacts": [{"name": f"Contact {i}", "phone": p} for i, p in enumerate(phones)]}).encode()
    reply = via_proxy(gateway, "POST", upstream.url("/contacts/sync"), body, JSON)
    assert reply.status == 200
    assert len(upstream.at("/contacts/sync")) == 1
    [record] = gateway.incidents_for("/contacts/sync")
    assert record["action"] == "log" and record["would_block"] is True and record["monitor"] is True
    assert record["rule"] == "bulk-in-one-request"
    # National forms only count with the default regions in force.
    assert record["counts"]["phone"] == 12


def test_no_identifier_in_proxy_output_or_incidents(gateway):
    log_leaks = count_leaked(gateway.log(), book.sent)
    incident_leaks = count_leaked(gateway.incidents_path.read_text(encoding="utf-8"), book.sent)
    assert log_leaks == 0, f"{log_leaks} plain identifiers in mitmdump's output"
    assert incident_leaks == 0, f"{incident_leaks} plain identifiers in incidents.jsonl"
