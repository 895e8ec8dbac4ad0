"""The shared cache: rate-limit buckets, token lookups, nonce claims and who is online.

:class:`Cache` is what the router, auth and the API need from it. Two implementations:

- :class:`MemoryCache`, in this process, for the embedded single-worker default. Its maps are
  bounded (see the class docstring) so a flood of distinct keys cannot grow it without end.
- ``core.store.redis.RedisCache``, shared by every worker when there is more than one.

Both pass ``tests/integration/test_cache_contract.py``. Times are milliseconds.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

__all__ = ["Cache", "MemoryCache", "latest_status"]


class Cache(Protocol):
    """Small shared state that may be lost without harm beyond what each method documents."""

    async def rate_hit(self, key: str, limit: int, window_ms: int) -> tuple[bool, int, int]:
        """Count one request against ``key``'s fixed window.

        The window starts at the first request counted in it and lasts ``window_ms``.

        Args:
            key: the bucket, e.g. ``"route:user"``.
            limit: requests allowed per window (>= 1).
            window_ms: the window's length in milliseconds (>= 1).

        Returns:
            ``(allowed, remaining, reset_after_ms)``: whether this request is within the
            limit, how many more the window allows, and the milliseconds until it resets.
        """

    async def token_get(self, token_hash: bytes) -> int | None:
        """The user id cached for a hashed token, or None."""

    async def token_set(self, token_hash: bytes, user_id: int, ttl_ms: int) -> None:
        """Cache a hashed token's user id for ``ttl_ms``."""

    async def token_delete(self, token_hash: bytes) -> None:
        """Forget a hashed token (on revocation); no error if it is not cached."""

    async def claim_nonce(self, key: str, message_id: int, ttl_ms: int) -> int | None:
        """Claim ``key`` for ``message_id`` for ``ttl_ms``, atomically.

        Returns:
            None if this call made the claim, else the message id that holds it.
        """

    async def presence_set(self, user_id: int, worker: str, status: str | None
                           ) -> tuple[str, str]:
        """Record what ``worker`` says of ``user_id``, atomically with reading the result.

        Args:
            worker: this worker process's own id (a new one per process: a restarted worker
                must not revive the statuses its killed predecessor left).
            status: the status others see of the user's sessions on ``worker`` (``online``,
                ``idle``, ``dnd``; ``offline`` for invisible); None when none is connected there.

        Returns:
            The user's status across live workers before and after: the one reported last
            by a worker that still has the user (a status is the user's, as on Discord: the
            latest op 3 or Identify sets it), ``offline`` when none has the user. Of several
            workers reporting at once exactly one sees a given change, so it is published once.
        """

    async def presence_get(self, user_ids: Sequence[int]) -> dict[int, str]:
        """The status across live workers of those of ``user_ids`` not offline."""

    async def presence_alive(self, worker: str, ttl_ms: int) -> None:
        """``worker`` is alive for ``ttl_ms`` more; a worker that stops saying so (killed)
        has its users' statuses ignored from then on. ``ttl_ms`` 0: it stopped."""

    async def aclose(self) -> None:
        """Release connections; safe to call twice."""


class _TtlMap:
    """A map whose entries expire, capped at ``max_entries`` (oldest-touched evicted first)."""

    __slots__ = ("_entries", "_max")

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[object, tuple[int, int]] = OrderedDict()
        self._max = max_entries

    def get(self, key: object, now: int) -> tuple[int, int] | None:
        """``(expires_at, value)`` if present and unexpired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        return entry

    def put(self, key: object, expires_at: int, value: int) -> None:
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def pop(self, key: object) -> None:
        self._entries.pop(key, None)


class MemoryCache:
    """The in-process :class:`Cache` of a single worker.

    Each of its three maps holds at most ``max_entries`` entries; past that, the entry
    written (or, for rate buckets, hit) longest ago goes first. What losing one costs:

    - a rate bucket: that client's window starts over (a little more traffic is allowed);
    - a token: one more lookup in the metadata store;
    - a nonce claim: a retry with that nonce would make a second message. Claims share one
      TTL, so the one evicted is the one closest to expiring anyway; keep ``max_entries``
      above the number of sends per nonce TTL.

    Args:
        max_entries: the cap on each map.
        clock: milliseconds on a monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self._clock = clock or (lambda: time.monotonic_ns() // 1_000_000)
        self._rates = _TtlMap(max_entries)
        self._tokens = _TtlMap(max_entries)
        self._nonces = _TtlMap(max_entries)
        # user -> worker -> (report order, status)
        self._presence: dict[int, dict[str, tuple[int, str]]] = {}
        self._reports = itertools.count(1)

    async def rate_hit(self, key: str, limit: int, window_ms: int) -> tuple[bool, int, int]:
        now = self._clock()
        entry = self._rates.get(key, now)
        reset_at, count = entry if entry is not None else (now + window_ms, 0)
        count += 1
        self._rates.put(key, reset_at, count)
        return count <= limit, max(limit - count, 0), reset_at - now

    async def token_get(self, token_hash: bytes) -> int | None:
        entry = self._tokens.get(token_hash, self._clock())
        return None if entry is None else entry[1]

    async def token_set(self, token_hash: bytes, user_id: int, ttl_ms: int) -> None:
        self._tokens.put(token_hash, self._clock() + ttl_ms, user_id)

    async def token_delete(self, token_hash: bytes) -> None:
        self._tokens.pop(token_hash)

    async def claim_nonce(self, key: str, message_id: int, ttl_ms: int) -> int | None:
        now = self._clock()
        entry = self._nonces.get(key, now)
        if entry is not None:
            return entry[1]
        self._nonces.put(key, now + ttl_ms, message_id)
        return None

    async def presence_set(self, user_id: int, worker: str, status: str | None
                           ) -> tuple[str, str]:
        # One process: every worker of this cache is this one, always alive. Not capped by
        # max_entries: an entry lives exactly while the user has a connected session.
        workers = self._presence.get(user_id, {})
        before = latest_status(workers.values())
        if status is None:
            workers.pop(worker, None)
        else:
            workers[worker] = (next(self._reports), status)
        if workers:
            self._presence[user_id] = workers
        else:
            self._presence.pop(user_id, None)
        return before, latest_status(workers.values())

    async def presence_get(self, user_ids: Sequence[int]) -> dict[int, str]:
        out = {}
        for user_id in user_ids:
            status = latest_status(self._presence.get(user_id, {}).values())
            if status != "offline":
                out[user_id] = status
        return out

    async def presence_alive(self, worker: str, ttl_ms: int) -> None:
        return None  # one process: its own statuses go when its sessions do

    async def aclose(self) -> None:
        # Nothing to release; kept for the Cache lifecycle.
        return None


def latest_status(reports: Iterable[tuple[int, str]]) -> str:
    """The status of the latest ``(when, status)`` report; ``offline`` if there is none."""
    return max(reports, default=(0, "offline"))[1]
