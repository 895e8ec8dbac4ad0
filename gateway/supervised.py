"""What a worker process knows of its supervisor: its index's lane, and the pipe to it.

The supervisor (``gateway.supervisor``) starts the workers and so imports their body
(``gateway.worker``); the worker needs only this much of the supervisor's protocol. It lives
here, in a leaf that imports nothing of the gateway, so the two never import each other.

- Worker index: a worker runs as ``target(config, slot + LANE * lane)``. The slot
  (``index % LANE``) is its identity (its own port, its logs); the lane (0 or 1) differs
  between the live processes of a slot, so a worker still draining and its replacement never
  share snowflake bits (``core.snowflake``: process bits ``2 * slot + lane``).
- The pipe: a supervised worker's environment holds :data:`READY_FD_ENV`, the write end of a
  pipe to the supervisor, which reads single bytes from it:

  - :data:`READY` once, from :func:`notify_ready`: "serving" (the idea of systemd's
    ``sd_notify``);
  - :data:`BEAT` every ``worker_heartbeat_timeout_s / BEATS_PER_TIMEOUT`` seconds, from a
    :class:`Heartbeat` timer on the worker's event loop. A loop that is blocked (a bug, a
    deadlock) runs no timer, so the beats stop, and the supervisor SIGKILLs a worker that
    beat once and then stayed silent past the timeout. A worker that never beats is watched
    for its exit only. Why the loop and not a thread: a thread would beat on while the loop
    that serves every socket of the worker is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

__all__ = ["BEAT", "BEATS_PER_TIMEOUT", "LANE", "READY", "READY_FD_ENV", "Heartbeat",
           "notify_ready"]

READY_FD_ENV = "DISCORD_ARCH_READY_FD"
# Index offset of the second lane: above every slot (core.snowflake.WORKER_SLOTS, 16).
LANE = 32
# What a worker writes on the pipe: one byte each, so a write is never split.
READY = b"R"
BEAT = b"."
# Beats per heartbeat timeout: the supervisor kills after this many beats in a row are missed.
BEATS_PER_TIMEOUT = 5


def _pipe_fd() -> int | None:
    """The write end of the pipe to the supervisor; None outside a supervised worker."""
    fd = os.environ.get(READY_FD_ENV)
    return int(fd) if fd is not None else None


def notify_ready() -> None:
    """Tell the supervisor this worker serves. A no-op outside a supervised worker."""
    fd = _pipe_fd()
    if fd is not None:
        with contextlib.suppress(OSError):  # the supervisor is gone: nobody to tell
            os.write(fd, READY)


class Heartbeat:
    """Beats on the supervisor pipe from the running event loop until :meth:`stop`.

    A ``call_later`` chain, not a task: one timer per worker, nothing to cancel but the last
    handle. The pipe is made non-blocking so that a beat never waits: a full pipe (a
    supervisor that stopped reading) drops the beat, a closed one ends the heartbeat.
    """

    def __init__(self, fd: int, interval_s: float) -> None:
        self._fd = fd
        self._interval_s = interval_s
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        os.set_blocking(fd, False)

    @classmethod
    def start(cls, timeout_s: float) -> Heartbeat | None:
        """Beat now and every ``timeout_s / BEATS_PER_TIMEOUT`` s; None (no heartbeat) outside
        a supervised worker or with ``timeout_s`` 0 (``worker_heartbeat_timeout_s``)."""
        fd = _pipe_fd()
        if fd is None or not timeout_s:
            return None
        heartbeat = cls(fd, timeout_s / BEATS_PER_TIMEOUT)
        heartbeat._beat()
        return heartbeat

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _beat(self) -> None:
        try:
            os.write(self._fd, BEAT)
        except BlockingIOError:
            pass  # the supervisor reads late: the next beat may pass
        except OSError:  # the supervisor is gone
            self._handle = None
            return
        self._handle = self._loop.call_later(self._interval_s, self._beat)
