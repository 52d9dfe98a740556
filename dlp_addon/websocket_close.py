"""Close an intercepted WebSocket with a status code and reason.

mitmproxy can drop a message but has no way to close a WebSocket from an addon (`flow.kill()`
does nothing there, see ../shared/MITMPROXY.md 4.2). Its WebSocket layer does handle a close
frame from either side by closing both with the same code and reason, so we hand the layer a
close frame as if the client had sent it: the client gets 1008 and our reason back, the
server gets the same close, and both connections end. This uses mitmproxy's connection
handler (`proxyserver.connections`, `server_event`), the same path as its own `inject`
commands; the end-to-end tests check it on mitmproxy 11 and 12.
"""

from __future__ import annotations

import logging

from mitmproxy import ctx, http
from mitmproxy.proxy import events
from wsproto.frame_protocol import FrameProtocol

logger = logging.getLogger(__name__)


def client_close_frame(code: int, reason: str) -> bytes:
    # A client's frames are masked; the layer parses this exactly like the real client's bytes.
    return bytes(FrameProtocol(client=True, extensions=[]).close(code, reason))


async def close_from_client(flow: http.HTTPFlow, code: int, reason: str) -> None:
    proxyserver = ctx.master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(flow.client_conn.id) if proxyserver else None
    if handler is None:
        # Later messages are still dropped (see the addon); only the close itself is lost.
        logger.warning("DLP: could not close the WebSocket to %s: connection not found", flow.request.pretty_host)
        return
    await handler.server_event(events.DataReceived(flow.client_conn, client_close_frame(code, reason)))
