"""One live host per node id: the claim ``discord-arch serve`` holds in Redis while it runs.

A host's node id is the worker bits of every snowflake its processes make (``core.snowflake``),
so two hosts serving with one id could make the same id in the same millisecond: a write batch
would fail on the duplicate, or two messages would share an id. ``serve`` therefore claims
``node:{id}`` before it starts any worker and refuses to start while another live process
holds it (:class:`NodeIdInUse`, one line and status 2).

- Claim: ``SET node:{id} TOKEN NX PX ttl``: only if nobody holds it, and only for a while.
- Keep-alive: a thread of the serving process (the supervisor, or the one worker) extends the
  TTL every third of it while the key still holds our token. A thread because the supervisor
  runs no event loop, and the one worker's loop must never wait on this.
- Release: a clean stop deletes the key if it still holds our token. A process that is killed
  leaves its claim to lapse: the id is free again at most ``CLAIM_TTL_S`` later.
- Lost: if the key lapsed (Redis away longer than the TTL, or flushed) it is claimed again;
  if another process took it meanwhile, ``on_lost`` is called (the CLI stops the server).

The three steps are redis-py's :class:`~redis.lock.Lock` (``SET NX PX``, and Lua scripts that
extend or delete the key only while it holds our token), with a token that says who holds it
(host name, pid, since when), so a refused start names the holder. Without Redis there is
nothing to claim: without it no event crosses hosts, so there is one host.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from redis import Redis, RedisCluster
from redis.exceptions import LockNotOwnedError, RedisClusterException, RedisError
from redis.lock import Lock

from core.store.base import StoreUnavailable

__all__ = ["CLAIM_TTL_S", "NodeClaim", "NodeIdInUse", "claim_key"]

logger = logging.getLogger(__name__)

# How long a claim outlives its process: a killed server's node id is free again this much
# later. The keep-alive extends it every third of it, so two refreshes may fail in a row
# (Redis restarting, a slow network) before the claim lapses.
CLAIM_TTL_S = 15.0
# Seconds for connecting to Redis and for each command of the claim.
SOCKET_TIMEOUT_S = 2.0


class NodeIdInUse(Exception):
    """Another live process holds the node id (the message names it, in one line)."""


def claim_key(node_id: int) -> str:
    """The Redis key of node ``node_id``'s claim."""
    return f"node:{node_id}"


class NodeClaim:
    """This process's claim on a node id, kept alive by a thread until released.

    Use :meth:`take`; :meth:`release` on a clean stop. ``lost`` tells whether another process
    took the id while this one held it.
    """

    def __init__(
        self, client: Redis | RedisCluster, node_id: int, ttl_s: float, on_lost: Callable[[str], None]
    ) -> None:
        self.node_id = node_id
        self.lost = False
        self._client = client
        self._ttl_s = ttl_s
        self._on_lost = on_lost
        # thread_local=False: the token is set here and used by the keep-alive thread.
        self._lock = Lock(client, claim_key(node_id), timeout=ttl_s, blocking=False,
                          thread_local=False)
        self._token = _token()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False  # the last refresh failed (logged once per outage)

    @classmethod
    def take(
        cls, url: str, node_id: int, *, ttl_s: float = CLAIM_TTL_S, cluster: bool = False,
        on_lost: Callable[[str], None] = lambda reason: None,
    ) -> NodeClaim:
        """Claim ``node_id`` in the Redis at ``url`` and keep the claim alive.

        Args:
            url: the Redis URL (``redis_url``).
            node_id: this host's node id.
            ttl_s: how long the claim outlives this process (``CLAIM_TTL_S``).
            cluster: ``url`` is a node of a Redis Cluster (``redis_cluster``); the claim is
                one key, so the lock's scripts run on its master alone.
            on_lost: called once, from the keep-alive thread, if another process took the id
                while this one held it, with a one-line reason.

        Raises:
            NodeIdInUse: another live process holds it.
            StoreUnavailable: the URL is malformed or Redis does not answer.
        """
        client: Redis | RedisCluster
        try:
            if cluster:  # reads the cluster's slots at once
                client = RedisCluster.from_url(url, socket_timeout=SOCKET_TIMEOUT_S,
                                               socket_connect_timeout=SOCKET_TIMEOUT_S)
            else:
                client = Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S,
                                        socket_connect_timeout=SOCKET_TIMEOUT_S)
        except ValueError:  # redis-py's message may quote the URL, and its password
            raise StoreUnavailable(
                "malformed Redis URL (expected redis://, rediss:// or unix://)") from None
        except (RedisError, RedisClusterException, OSError) as exc:
            raise StoreUnavailable(f"Redis Cluster unreachable: {_reason(exc)}") from None
        claim = cls(client, node_id, ttl_s, on_lost)
        try:
            claim._acquire()
        except BaseException:
            client.close()
            raise
        claim._thread = threading.Thread(target=claim._keep_alive, name=f"node-claim-{node_id}",
                                         daemon=True)
        claim._thread.start()
        logger.info("node id %d claimed in Redis (%s)", node_id, claim_key(node_id))
        return claim

    def release(self) -> None:
        """Stop the keep-alive and delete the claim if it is still ours (idempotent)."""
        if self._end_keep_alive():
            try:
                self._lock.release()  # deletes the key only while it holds our token
            except (RedisError, RedisClusterException, OSError) as exc:  # lapsed, or away
                logger.warning("node id %d: claim not released (%s); it lapses within %.0f s",
                               self.node_id, _reason(exc), self._ttl_s)
        self._client.close()

    def abandon(self) -> None:
        """Stop the keep-alive and leave the claim to lapse, as a killed process does."""
        self._end_keep_alive()
        self._client.close()

    # -- the claim itself ------------------------------------------------------------------------

    def _acquire(self) -> None:
        for _ in range(2):  # the holder may stop between our SET NX and our GET
            try:
                if self._lock.acquire(token=self._token):
                    return
                holder = self._client.get(self._lock.name)
            except (RedisError, RedisClusterException, OSError) as exc:
                raise StoreUnavailable(
                    f"Redis unreachable at {_address(self._client)}: {_reason(exc)}") from None
            if holder is not None:
                raise NodeIdInUse(
                    f"node id {self.node_id} is in use by another host "
                    f"({_describe(holder)}): give each host its own node_id; a killed "
                    f"server's claim lapses within {self._ttl_s:.0f} s")
        raise NodeIdInUse(f"node id {self.node_id} is in use by another host (claimed and "
                          "released twice while this one tried)")

    def _keep_alive(self) -> None:
        while not self._stop.wait(self._ttl_s / 3):
            self._refresh()

    def _refresh(self) -> None:
        try:
            try:
                self._lock.reacquire()  # the TTL again, only while the key holds our token
            except LockNotOwnedError:
                # Lapsed (Redis away longer than the TTL, or flushed): claim it again. Or
                # another process took it meanwhile: this one must stop serving.
                if not self._lock.acquire(token=self._token):
                    self._lost(self._client.get(self._lock.name))
                    return
                logger.warning("node id %d: the claim had lapsed; claimed again", self.node_id)
        except (RedisError, RedisClusterException, OSError) as exc:
            if not self._failing:
                logger.warning("node id %d: claim not refreshed (Redis: %s); retrying every "
                               "%.0f s", self.node_id, _reason(exc), self._ttl_s / 3)
            self._failing = True
            return
        if self._failing:
            logger.info("node id %d: claim refreshed again", self.node_id)
        self._failing = False

    def _lost(self, holder: bytes | str | None) -> None:
        reason = (f"node id {self.node_id} was claimed by another host ({_describe(holder)}) "
                  "while this one served")
        logger.error("%s: stopping", reason)
        self.lost = True
        self._stop.set()
        self._on_lost(reason)

    def _end_keep_alive(self) -> bool:
        """Stop the thread; whether the claim was still ours to release."""
        held = not self._stop.is_set() and not self.lost
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        return held


def _token() -> str:
    """Who claims: host name, pid, since when (UTC), and a random part (a pid is reused)."""
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"{socket.gethostname()} pid {os.getpid()} since {since} #{secrets.token_hex(4)}"


def _describe(holder: bytes | str | None) -> str:
    if holder is None:
        return "a process that has just stopped"
    text = holder.decode(errors="replace") if isinstance(holder, bytes) else holder
    return text.rsplit(" #", 1)[0][:200]  # one line, never long


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _address(client: Redis | RedisCluster) -> str:
    """Host and port (or socket path), never the credentials."""
    if isinstance(client, RedisCluster):
        node = client.get_default_node()  # type: ignore[no-untyped-call]
        return "a Redis Cluster" if node is None else f"{node.host}:{node.port} (Redis Cluster)"
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
