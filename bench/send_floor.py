"""The kernel's floor under a fanout: what one ``send()`` of a gateway frame costs on this host.

A fanout to N sockets is at least N write system calls, whatever the server does in Python, and
on loopback the sender's CPU also pays for the receiving side of TCP (the softirq that queues
the segment and wakes the reader runs inside the sender's ``send``). This measures those calls
alone: N loopback TCP connections, the sending ends in this process (pinned to
``--server-cpu``), the receiving ends drained by a child process pinned to ``--client-cpu`` (so
the reader's wakeups cost what they cost in ``bench fanout``), and rounds of one
``socket.send`` per connection for each frame size (the sizes a fanout writes: one
MESSAGE_CREATE frame, or several coalesced into one write).

The figures bound the gateway's fanout from below on the host they were measured on: a round
to 1,000 sockets costs at least 1,000 × the CPU per send, and bench/RESULTS.md uses them to
explain the half-load latency.

Usage: ``python -m bench.send_floor [--sockets 1000] [--sizes 930,3720,32550] [--rounds 40]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import selectors
import socket
import statistics
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

__all__ = ["measure", "main"]

_BACKLOG = 4096
_PAUSE_S = 0.005  # between rounds: the reader drains, as between fanouts


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _reader(port: int, sockets: int, cpu: int | None, pipe: Pipe) -> None:
    """The child: open ``sockets`` connections to ``port`` and read them until told to stop."""
    _pin(cpu)
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(sockets)]
    sel = selectors.DefaultSelector()
    for c in conns:
        c.setblocking(False)
        sel.register(c, selectors.EVENT_READ)
    sel.register(pipe, selectors.EVENT_READ)
    pipe.send("connected")
    received = 0
    while True:
        for key, _ in sel.select():
            if key.fileobj is pipe:
                pipe.recv()
                # What a send() returned for is queued here already (loopback): read it all.
                pipe.send(received + sum(_drain(c) for c in conns))
                return
            received += _drain(key.fileobj)  # type: ignore[arg-type]


def _drain(conn: socket.socket) -> int:
    n = 0
    try:
        while chunk := conn.recv(1 << 16):
            n += len(chunk)
    except BlockingIOError:
        pass
    return n


def measure(sockets: int, sizes: list[int], rounds: int, server_cpu: int | None,
            client_cpu: int | None) -> dict[str, Any]:
    """One send per socket per round for each size; the CPU and wall time of the sends."""
    _pin(server_cpu)
    listener = socket.create_server(("127.0.0.1", 0), backlog=_BACKLOG)
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_reader, args=(listener.getsockname()[1], sockets, client_cpu,
                                              theirs), daemon=True)
    child.start()
    conns = []
    for _ in range(sockets):
        conn, _addr = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as every server here
        conn.setblocking(False)
        conns.append(conn)
    if ours.recv() != "connected":
        raise RuntimeError("the reader did not connect")
    rows, sent = [], 0
    for size in sizes:
        data = b"x" * size
        for _ in range(3):  # warm-up: buffers allocated, windows open
            sent += _round(conns, data)
            time.sleep(_PAUSE_S)
        walls, cpus, syss = [], [], []
        for _ in range(rounds):
            t0, c0, s0 = time.perf_counter(), time.process_time(), _sys()
            sent += _round(conns, data)
            s1, c1, t1 = _sys(), time.process_time(), time.perf_counter()
            walls.append(t1 - t0)
            cpus.append(c1 - c0)
            syss.append(s1 - s0)
            time.sleep(_PAUSE_S)
        per = sockets * rounds
        rows.append({
            "frame_bytes": size,
            "wall_us_per_send": statistics.median(walls) / sockets * 1e6,
            "cpu_us_per_send": sum(cpus) / per * 1e6,
            "sys_share": min(1.0, sum(syss) / sum(cpus)) if sum(cpus) else 0.0,
            "round_ms": statistics.median(walls) * 1e3,
        })
    ours.send("stop")
    received = ours.recv()
    child.join(10)
    for conn in conns:
        conn.close()
    listener.close()
    return {"sockets": sockets, "rounds": rounds, "sizes": rows, "sent_bytes": sent,
            "received_bytes": received, "server_cpu": server_cpu, "client_cpu": client_cpu}


def _sys() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def _round(conns: list[socket.socket], data: bytes) -> int:
    sent = 0
    for conn in conns:
        try:
            sent += conn.send(data)
        except BlockingIOError:  # the reader fell behind: that byte count tells
            pass
    return sent


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['sockets']:,} loopback TCP sockets, one `send` each per round, "
        f"{result['rounds']} rounds per size (median round):",
        "",
        "| frame bytes | wall µs per send | CPU µs per send | of it in the kernel | round of "
        f"{result['sockets']:,} sends, ms |",
        "|---|---|---|---|---|",
    ]
    for row in result["sizes"]:
        lines.append(f"| {row['frame_bytes']:,} | {row['wall_us_per_send']:.1f} | "
                     f"{row['cpu_us_per_send']:.1f} | {row['sys_share']:.0%} | "
                     f"{row['round_ms']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.send_floor", description=__doc__.split("\n")[0])
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--sizes", default="930,3720,32550",
                   help="frame bytes, comma-separated (default: 1, 4 and 35 MESSAGE_CREATEs)")
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--server-cpu", type=lambda s: None if s == "none" else int(s), default=0)
    p.add_argument("--client-cpu", type=lambda s: None if s == "none" else int(s), default=1)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    result = measure(args.sockets, [int(s) for s in args.sizes.split(",")], args.rounds,
                     args.server_cpu, args.client_cpu)
    if result["received_bytes"] != result["sent_bytes"]:
        raise SystemExit(f"received {result['received_bytes']:,} of {result['sent_bytes']:,} bytes")
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
