"""Peer: an aiohttp websocket broadcast server, written as aiohttp's docs suggest — the
payload encoded once, then ``await ws.send_frame(...)`` per receiver (it only suspends when a
receiver's buffer is over its limit). On uvloop, like the gateway.

Usage: ``python -m bench.peers.aiohttp_broadcast --port 9000``
"""

from __future__ import annotations

import argparse

import uvloop
from aiohttp import WSMsgType, web

_RECEIVERS = web.AppKey("receivers", set[web.WebSocketResponse])


async def handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20)
    await ws.prepare(request)
    receivers = request.app[_RECEIVERS]
    if request.path == "/send":
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                payload = msg.data.encode()  # once per message, not per receiver
                for receiver in tuple(receivers):
                    await receiver.send_frame(payload, WSMsgType.TEXT)
        return ws
    receivers.add(ws)
    try:
        async for _ in ws:  # receivers send nothing; this waits for the close
            pass
    finally:
        receivers.discard(ws)
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    app = web.Application()
    app[_RECEIVERS] = set()
    app.router.add_get("/send", handler)
    app.router.add_get("/recv", handler)
    web.run_app(app, host="127.0.0.1", port=parser.parse_args().port,
                access_log=None, print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
