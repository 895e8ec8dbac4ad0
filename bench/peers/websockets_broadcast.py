"""Peer: a python-websockets server using its ``broadcast()`` (encode once, write to every
connection without awaiting; the design the gateway's hub follows). On uvloop, like the gateway.

Usage: ``python -m bench.peers.websockets_broadcast --port 9000``
"""

from __future__ import annotations

import argparse

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve


async def main(port: int) -> None:
    receivers: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/send":
            async for message in ws:
                broadcast(receivers, message)  # str: a text frame, encoded once
            return
        receivers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            receivers.discard(ws)

    # No compression (a picows client asks for none anyway), no keepalive pings in the run.
    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(main(parser.parse_args().port))
