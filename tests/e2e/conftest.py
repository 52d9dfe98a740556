"""Fixtures: one real mitmdump per module, real upstreams, fresh state and CA in tmp.

A module that needs a different gateway overrides `gateway_policy` and/or `gateway_args`.
"""

from __future__ import annotations

import pytest

from tests.e2e.support import (DEFAULT_POLICY, MITMDUMP, H2Upstream, HttpUpstream, WebSocketEcho,
                               self_signed_cert, server_tls, start_gateway)


def pytest_collection_modifyitems(items):
    # The suite cannot run without the mitmdump of this venv; say so once rather than 30 times.
    if not MITMDUMP.exists():
        skip = pytest.mark.skip(reason=f"{MITMDUMP} not found")
        for item in items:
            if "tests/e2e/" in str(item.fspath).replace("\\", "/"):
                item.add_marker(skip)


@pytest.fixture(scope="module")
def gateway_policy():
    return DEFAULT_POLICY


@pytest.fixture(scope="module")
def gateway_args():
    return ()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, gateway_policy, gateway_args):
    gw = start_gateway(tmp_path_factory.mktemp("gateway"), gateway_policy, tuple(gateway_args))
    yield gw
    gw.stop()


@pytest.fixture(scope="session")
def upstream_cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("upstream-tls"))


@pytest.fixture(scope="module")
def upstream():
    server = HttpUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def tls_upstream(upstream_cert):
    server = HttpUpstream(tls=server_tls(*upstream_cert))
    yield server
    server.close()


@pytest.fixture(scope="module")
def h2_upstream(upstream_cert):
    server = H2Upstream(server_tls(*upstream_cert))
    yield server
    server.close()


@pytest.fixture(scope="module")
def ws_echo():
    server = WebSocketEcho()
    yield server
    server.close()


@pytest.fixture(scope="module")
def wss_echo(upstream_cert):
    server = WebSocketEcho(tls=server_tls(*upstream_cert))
    yield server
    server.close()
