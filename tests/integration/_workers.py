"""Tiny worker bodies for the supervisor tests, and a runner for the supervisor itself.

``python -m tests.integration._workers TARGET DATA_DIR WORKERS DRAIN_S [HEARTBEAT_S]`` runs a
:class:`~gateway.supervisor.Supervisor` over ``TARGET`` (a function below). Every worker
appends a line ``start <slot> <index> <pid> <monotonic time>`` to ``DATA_DIR/log`` when it
starts and ``stop <slot> <index> <pid> <time>`` when it stops cleanly, so a test can tell who
ran when. Spawned workers import this module by name, hence no test-only imports here.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import sys
import time

from core.config import Config
from core.logs import configure_logging
from gateway.notify import Notifier
from gateway.supervised import LANE, Heartbeat, notify_ready
from gateway.supervisor import Supervisor


def _record(config: Config, what: str, index: int) -> None:
    line = f"{what} {index % LANE} {index} {os.getpid()} {time.monotonic()}\n"
    # One write of a short line to an O_APPEND file: workers never interleave.
    fd = os.open(os.path.join(config.data_dir, "log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def sleeper(config: Config, index: int) -> int:
    """Ready after 0.2 s (a new worker is not instant), then wait for SIGTERM and exit 0."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    _record(config, "start", index)
    time.sleep(0.2)
    notify_ready()
    signal.sigwait({signal.SIGTERM})
    _record(config, "stop", index)
    return 0


def stubborn(config: Config, index: int) -> int:
    """Ready at once, and ignores SIGTERM: only SIGKILL stops it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _record(config, "start", index)
    notify_ready()
    while True:
        time.sleep(3600)


def unavailable(config: Config, index: int) -> int:
    """Cannot start (as with an unreachable database): exit status 2, never ready."""
    _record(config, "start", index)
    return 2


def crasher(config: Config, index: int) -> int:
    """Ready, then crashes at once with status 1."""
    _record(config, "start", index)
    notify_ready()
    return 1


def unready(config: Config, index: int) -> int:
    """Serves (until SIGTERM) but never reports ready."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    _record(config, "start", index)
    signal.sigwait({signal.SIGTERM})
    return 0


def first_lane_only(config: Config, index: int) -> int:
    """A sleeper whose replacements (the second lane) crash before they are ready."""
    if index >= LANE:
        _record(config, "start", index)
        return 1
    return sleeper(config, index)


async def _beating(config: Config, index: int, hang_after_s: float | None) -> int:
    """Ready, with heartbeats from this loop as a real worker's (gateway.worker), until
    SIGTERM; after ``hang_after_s``, if given, the loop blocks for good instead."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    heartbeat = Heartbeat.start(config.worker_heartbeat_timeout_s)
    _record(config, "start", index)
    notify_ready()
    if hang_after_s is not None:
        await asyncio.sleep(hang_after_s)
        _record(config, "hang", index)
        time.sleep(3600)  # noqa: ASYNC251 - the bug, on purpose: the loop beats no more
    await stop.wait()
    if heartbeat is not None:
        heartbeat.stop()
    _record(config, "stop", index)
    return 0


def beater(config: Config, index: int) -> int:
    """A healthy worker: beats until SIGTERM."""
    return asyncio.run(_beating(config, index, None))


def hangs_once(config: Config, index: int) -> int:
    """Beats, is ready, then blocks its loop 0.5 s later; its replacements (the second lane)
    stay healthy."""
    return asyncio.run(_beating(config, index, 0.5 if index < LANE else None))


def main(argv: list[str]) -> int:
    target, data_dir, workers, drain, *heartbeat = argv
    config = Config(data_dir=data_dir, workers=int(workers), drain_timeout_s=float(drain),
                    redis_url="redis://127.0.0.1:1/0",  # required by workers > 1, never used
                    log_format="text",
                    worker_heartbeat_timeout_s=float(heartbeat[0]) if heartbeat else 10.0)
    configure_logging(config.log_level, json=False)
    # By its import name, not __main__, so that spawned workers find the function.
    module = importlib.import_module("tests.integration._workers")
    notifier = Notifier.from_env(os.environ)
    return Supervisor(config, target=getattr(module, target), notifier=notifier).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
