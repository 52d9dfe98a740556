"""Close an intercepted WebSocket with a status code and reason.

mitmproxy can drop a message but has no way to close a WebSocket from an addon (`flow.kill()`
does nothing there, see ../shared/MITMPROXY.md 4.2). Its WebSocket layer does handle a close
from either side by closing both with the same code and reason, so we give the flow's own
WebSocket layer a close "from the client" and wake it with an empty injected message (the
same event mitmproxy's `inject.websocket` command sends, which passes through TLS layers
untouched). The layer then sends the close frames through the layers above it, encrypted
where the connection is TLS: the client gets 1008 and our reason back, the server gets the
same close, and both connections end. The addon drops the empty wake-up message itself, so
nothing of it is forwarded. The end-to-end tests check this over ws:// and wss:// on the
mitmproxy version in use.
"""

from __future__ import annotations

import logging

import wsproto.events
from mitmproxy import ctx, http
from mitmproxy.proxy.layers.websocket import WebsocketLayer

logger = logging.getLogger(__name__)

_MAX_LAYER_DEPTH = 32


def _websocket_layer(root, flow: http.HTTPFlow) -> WebsocketLayer | None:
    """The layer serving this flow, found by walking the connection's layer tree."""
    pending, seen = [(root, 0)], set()
    while pending:
        layer, depth = pending.pop()
        if layer is None or id(layer) in seen or depth > _MAX_LAYER_DEPTH:
            continue
        seen.add(id(layer))
        if isinstance(layer, WebsocketLayer) and layer.flow is flow:
            return layer
        # Children are held as `layer` (NextLayer), `child_layer`, `streams` (HTTP), or only
        # by the bound handler a layer hands its events to (proxy mode layers).
        handler = getattr(layer, "_handle_event", None)
        children = (getattr(layer, "layer", None), getattr(layer, "child_layer", None), getattr(handler, "__self__", None))
        pending.extend((child, depth + 1) for child in children)
        streams = getattr(layer, "streams", None)
        if isinstance(streams, dict):
            pending.extend((stream, depth + 1) for stream in streams.values())
    return None


def close_from_client(flow: http.HTTPFlow, code: int, reason: str) -> bool:
    """Start closing the flow's WebSocket; False when the connection is already gone."""
    proxyserver = ctx.master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(flow.client_conn.id) if proxyserver else None
    layer = _websocket_layer(getattr(handler, "layer", None), flow) if handler else None
    if layer is None:
        # Later messages are still dropped (see the addon); only the close itself is lost.
        logger.warning("DLP: could not close the WebSocket to %s: connection not found", flow.request.pretty_host)
        return False
    layer.client_ws._events.append(wsproto.events.CloseConnection(code, reason))
    ctx.master.commands.call("inject.websocket", flow, False, b"", True)
    return True
