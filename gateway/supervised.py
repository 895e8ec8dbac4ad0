"""What a worker process knows of its supervisor: its index's lane, and the readiness pipe.

The supervisor (``gateway.supervisor``) starts the workers and so imports their body
(``gateway.worker``); the worker needs only this much of the supervisor's protocol. It lives
here, in a leaf that imports nothing of the gateway, so the two never import each other.

- Worker index: a worker runs as ``target(config, slot + LANE * lane)``. The slot
  (``index % LANE``) is its identity (its own port, its logs); the lane (0 or 1) differs
  between the live processes of a slot, so a worker still draining and its replacement never
  share snowflake bits (``core.snowflake``: process bits ``2 * slot + lane``).
- Readiness: a supervised worker's environment holds :data:`READY_FD_ENV`, the write end of a
  pipe to the supervisor; :func:`notify_ready` says "serving" over it once (the idea of
  systemd's ``sd_notify``).
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection

__all__ = ["LANE", "READY_FD_ENV", "notify_ready"]

READY_FD_ENV = "DISCORD_ARCH_READY_FD"
# Index offset of the second lane: above every slot (core.snowflake.WORKER_SLOTS, 16).
LANE = 32


def notify_ready() -> None:
    """Tell the supervisor this worker serves. A no-op outside a supervised worker."""
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is None:
        return
    # A duplicate, so closing it leaves the worker's own end to the process exit.
    with Connection(os.dup(int(fd)), readable=False) as pipe:
        pipe.send_bytes(b"ready")
