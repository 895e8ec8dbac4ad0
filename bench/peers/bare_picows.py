"""Peer: the bare picows broadcast loop of docs/architecture.md's measured facts — one ``transport.send`` per message and
per socket, no protocol, no coalescing, no bound on buffers. The floor the gateway is held to.

Usage: ``python -m bench.peers.bare_picows --port 9000``
"""

from __future__ import annotations

import argparse
import logging

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

_TEXT, _CLOSE = WSMsgType.TEXT, WSMsgType.CLOSE


class Receiver(WSListener):
    """A socket that only receives; registered while connected."""

    def __init__(self, receivers: set[WSTransport]) -> None:
        self.receivers = receivers

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.receivers.add(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is _CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.receivers.discard(transport)


class Sender(Receiver):
    """The sender: every text frame goes to every receiver, one send (syscall) each."""

    def on_ws_connected(self, transport: WSTransport) -> None:
        pass

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is _TEXT:
            payload = frame.get_payload_as_bytes()  # the frame's buffer is reused after return
            for receiver in self.receivers:
                receiver.send(_TEXT, payload)
        elif frame.msg_type is _CLOSE:
            transport.disconnect()


async def serve(port: int) -> None:
    receivers: set[WSTransport] = set()

    def listener(request: WSUpgradeRequest) -> WSListener:
        return Sender(receivers) if request.path.startswith(b"/send") else Receiver(receivers)

    logging.getLogger("picows").setLevel(logging.WARNING)  # an INFO line per connection
    server = await ws_create_server(listener, "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))
