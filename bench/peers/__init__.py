"""Peer broadcast servers measured beside the gateway in the same run (``bench.gateway``).

Each is a few dozen lines serving ``ws://host:port/recv`` (receivers: they only read) and
``ws://host:port/send`` (the sender: each of its text frames is broadcast verbatim to every
receiver). No protocol, no persistence: they bound what a Python websocket server can deliver.
"""

__all__: list[str] = []
