"""An inspection worker that dies (OOM killer, crash) must not open the gate.

README: "An exception anywhere in inspection blocks the request with an `error` incident", and
workers that die are replaced. The workers are children of this module's own mitmdump; they
are found and killed by pid through /proc.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import sys
import threading
import time

import pytest

from tests.e2e.customers import Customers, bulk_csv, count_leaked
from tests.e2e.support import IO_TIMEOUT, cpu_ticks, process_gone, via_proxy

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")]

book = Customers("resilience")
API = {"Accept": "*/*", "Content-Type": "application/json"}


def wait_until(condition, timeout: float = IO_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def bulk() -> bytes:
    return json.dumps({"recipients": book.emails(12)}).encode()


def live_worker(gateway, upstream) -> int:
    # A clean request with something to look at (a quiet one would not need a worker) makes
    # sure the pool has a started, idle worker.
    assert via_proxy(gateway, "POST", upstream.url("/warm/up"), b'{"ping": true, "sent_at": 1700000000}', API).status == 200
    assert wait_until(lambda: len(gateway.worker_pids()) == 1, timeout=15), "no inspection worker running"
    return gateway.worker_pids()[0]


def test_worker_killed_while_idle_does_not_let_requests_through(gateway, upstream):
    pid = live_worker(gateway, upstream)
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: process_gone(pid))

    reply = via_proxy(gateway, "POST", upstream.url("/after/idle/death"), bulk(), API)
    forwarded = len(upstream.at("/after/idle/death"))
    assert forwarded == 0, "a bulk request went out uninspected after a worker died"
    assert reply.status == 403


def test_worker_killed_mid_inspection_blocks_with_an_error_incident(gateway, upstream):
    pid = live_worker(gateway, upstream)
    # Compressed, so that the gateway cannot answer from the start of the body and the worker
    # has to open all of it.
    body = gzip.compress(bulk_csv(4 * 1024 * 1024, seed=7))
    idle = cpu_ticks(pid)
    result = {}

    def upload():
        result["reply"] = via_proxy(gateway, "POST", upstream.url("/export/big"), body,
                                    {"Accept": "*/*", "Content-Type": "text/csv", "Content-Encoding": "gzip"},
                                    timeout=IO_TIMEOUT * 2)

    sender = threading.Thread(target=upload)
    sender.start()
    # The worker has nothing else to do: CPU time it spends from now on is this inspection.
    busy = wait_until(lambda: cpu_ticks(pid) - idle >= 20)
    os.kill(pid, signal.SIGKILL)
    sender.join(IO_TIMEOUT * 3)
    assert busy, "the worker never started on the upload"

    reply = result["reply"]
    assert reply.status == 403
    forwarded = len(upstream.at("/export/big"))
    assert forwarded == 0
    record = gateway.incident(reply.incident_id)
    assert [u["sub_reason"] for u in record["uninspected"]] == ["error"]
    assert record["path"] == "/export/big", "the incident does not say which request it was"


def test_gateway_recovers_after_worker_deaths(gateway, upstream):
    reply = via_proxy(gateway, "POST", upstream.url("/after/recovery"), bulk(), API)
    assert reply.status == 403
    record = gateway.incident(reply.incident_id)
    assert record["counts"]["email"] == 12, "requests are no longer inspected after a worker died"


def test_no_identifier_in_proxy_output(gateway):
    leaked = count_leaked(gateway.log(), book.sent)
    assert leaked == 0, f"{leaked} plain identifiers in mitmdump's output"
