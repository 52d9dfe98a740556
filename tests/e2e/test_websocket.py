"""WebSocket messages through the gateway: a web messenger pasting a customer list."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.customers import Customers, count_leaked
from tests.e2e.support import IO_TIMEOUT, client_tls

pytestmark = pytest.mark.e2e

book = Customers("ws")


def ws_connect(gateway, url):
    # Explicit proxy: websockets sends CONNECT to the gateway, as a browser would; wss:// is
    # intercepted with the gateway's CA like any HTTPS site.
    tls = {"ssl": client_tls(gateway)} if url.startswith("wss:") else {}
    return connect(url, proxy=gateway.proxy_url, open_timeout=IO_TIMEOUT, close_timeout=10,
                   ping_interval=None, **tls)


@pytest.fixture(params=["ws", "wss"])
def echo(request):
    return request.getfixturevalue(f"{request.param}_echo")


def wait_until(condition, timeout: float = IO_TIMEOUT):
    """Bounded wait for something the server side records after the client has its answer."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_small_message_is_echoed(gateway, echo):
    message = "hi, order 4411 ships on 2024-06-03, see you at 10:30"
    with ws_connect(gateway, echo.url("/chat/small")) as ws:
        ws.send(message)
        echoed = ws.recv(timeout=IO_TIMEOUT)
    assert echoed == message
    assert echo.received("/chat/small") == [message]


def test_bulk_message_is_dropped_and_the_connection_closed_with_1008(gateway, echo):
    path = "/chat/bulk"
    bulk = "here is the list you asked for:\n" + "\n".join(book.emails(12))
    closed, timed_out = None, False
    with ws_connect(gateway, echo.url(path)) as ws:
        ws.send("hello")
        assert ws.recv(timeout=IO_TIMEOUT) == "hello"
        ws.send(bulk)
        try:
            ws.recv(timeout=IO_TIMEOUT)
        except ConnectionClosed as e:
            closed = e
        except TimeoutError:
            timed_out = True

    # What matters most first: the message did not leave, and the decision is on record.
    forwarded = sum(1 for m in echo.received(path) if m != "hello")
    assert forwarded == 0, "the upstream received the bulk message"
    records = [i for i in gateway.incidents() if i["channel"] == "websocket" and i["port"] == echo.port]
    assert len(records) == 1
    record = records[0]
    assert record["path"] == path
    assert record["scheme"] == ("https" if echo.scheme == "wss" else "http")
    assert record["action"] == "block"
    assert record["counts"]["email"] == 12

    assert not timed_out, "no close frame reached the client after the bulk message"
    assert closed is not None, "the connection stayed open after a bulk message"
    code = closed.rcvd.code if closed.rcvd else None
    assert code == 1008, "the client did not get a 1008 close frame (None: the connection was just dropped)"
    names_incident = record["id"] in closed.rcvd.reason
    assert names_incident, "the close reason does not name the incident"
    # The upstream is told the same: the gateway closes both legs with the client's 1008.
    assert wait_until(lambda: echo.closed(path))
    assert echo.closed(path)[0][0] == 1008


def test_no_identifier_in_proxy_output_or_incidents(gateway):
    log_leaks = count_leaked(gateway.log(), book.sent)
    incident_leaks = count_leaked(gateway.incidents_path.read_text(encoding="utf-8"), book.sent)
    assert log_leaks == 0, f"{log_leaks} plain identifiers in mitmdump's output"
    assert incident_leaks == 0, f"{incident_leaks} plain identifiers in incidents.jsonl"
