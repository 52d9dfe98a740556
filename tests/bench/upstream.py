"""The benchmark's upstream: an asyncio HTTP/1.1 sink on 127.0.0.1 that reads and discards each
request body (Content-Length or chunked) and answers `200 ok`, keeping connections alive.

    python -m tests.bench.upstream [--port 0]      # prints "listening <port>" once bound
"""

from __future__ import annotations

import argparse
import asyncio
import sys

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
_CHUNK = 1 << 20


async def _discard(reader: asyncio.StreamReader, n: int) -> None:
    while n > 0:
        data = await reader.read(min(n, _CHUNK))
        if not data:
            raise ConnectionError("end of stream inside a body")
        n -= len(data)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            version = lines[0].rsplit(" ", 1)[-1]
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip().lower()
            if "chunked" in headers.get("transfer-encoding", ""):
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await _discard(reader, size + 2)
                    if size == 0:
                        break
            else:
                await _discard(reader, int(headers.get("content-length") or 0))
            connection = headers.get("connection", "")
            keep = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
            writer.write(_OK if keep else _OK_CLOSE)
            await writer.drain()
            if not keep:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=1024, limit=1 << 20)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
