"""A session's sequence counter and the bounded buffer of its last dispatches, for RESUME.

Discord's "Resuming": a client that reconnects with ``{session_id, seq}`` gets every dispatch
after ``seq``, in order, then RESUMED. The buffer holds the encoded :data:`~gateway.codec.Parts`
objects the hub shares between sessions (no copies): its byte bound counts their sizes as if
owned, so it bounds the worst case, while the real cost of a fanout event is one pointer per
session. Sequence numbers are contiguous, so only the last one is stored.

What the client acknowledged is dropped (:meth:`ReplayBuffer.ack`): Discord clients send the
last ``s`` they received in every heartbeat, and a RESUME names a ``seq`` at least that high,
so nothing at or below it can be asked for again. This matters for idle sessions, whose
buffer would otherwise hold their READY and every GUILD_CREATE (their own, unshared bytes:
the full member and presence lists of each small guild) for as long as they live. An idle
session's buffer is then empty, and holds no ``deque`` either: an empty one keeps its
64-slot block (624 bytes, a twentieth of an idle session), so it is made on the first
``append`` after an ``ack`` emptied it, and dropped by that ``ack``.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from gateway.codec import Parts

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """The last dispatches of one session, bounded by count and by bytes.

    Args:
        max_events: dispatches kept at most; once over, the oldest are dropped down to 7/8 of
            it (so a full buffer holds between 7/8 of the bound and the bound).
        max_bytes: encoded bytes kept at most (prefix + suffix of each), dropped the same way.
    """

    __slots__ = ("_bytes", "_entries", "_max_bytes", "_max_events", "last_seq")

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self._entries: deque[Parts] | None = None  # None: empty (made on the first append)
        self._bytes = 0
        self._max_events = max_events
        self._max_bytes = max_bytes
        self.last_seq = 0

    def __len__(self) -> int:
        return len(self._entries) if self._entries is not None else 0

    @property
    def size(self) -> int:
        """Bytes held, counted as if the parts were not shared."""
        return self._bytes

    @property
    def first_seq(self) -> int:
        """The sequence number of the oldest dispatch held (``last_seq + 1`` when empty)."""
        return self.last_seq - len(self) + 1

    def append(self, parts: Parts) -> int:
        """Keep ``parts`` as the next dispatch and return its sequence number."""
        # Once per recipient of every fanout: the bounds are checked, not enforced, here.
        entries = self._entries
        if entries is None:
            entries = self._entries = deque()
        entries.append(parts)
        size = self._bytes + len(parts[0]) + len(parts[1])
        if size > self._max_bytes or len(entries) > self._max_events:
            size = self._trim(size)
        self._bytes = size
        self.last_seq = seq = self.last_seq + 1
        return seq

    def ack(self, seq: int) -> None:
        """The client received every dispatch up to ``seq``: drop those (a heartbeat's ``d``).

        A ``seq`` above the last one given is ignored (a buggy client must not empty the
        buffer of what it has not seen); one below the oldest held changes nothing.
        """
        entries = self._entries
        drop = min(seq, self.last_seq) - self.first_seq + 1
        if drop <= 0 or entries is None:
            return
        size = self._bytes
        for _ in range(drop):
            old = entries.popleft()
            size -= len(old[0]) + len(old[1])
        self._bytes = size
        if not entries:
            self._entries = None  # every acknowledged idle session: no block kept

    def _trim(self, size: int) -> int:
        """Drop the oldest dispatches down to 7/8 of both bounds; return the bytes left.

        Every entry is still dropped once, but in one tight loop every eighth of the bound
        instead of a loop entered on every ``append`` of a full buffer (the steady state of
        every busy session), whose ``append`` is then a comparison and no call.
        """
        entries = self._entries
        assert entries is not None  # called by append, after it appended
        max_events = self._max_events - self._max_events // 8
        max_bytes = self._max_bytes - self._max_bytes // 8
        while entries and (len(entries) > max_events or size > max_bytes):
            old = entries.popleft()
            size -= len(old[0]) + len(old[1])
        return size

    def after(self, seq: int) -> list[tuple[int, Parts]] | None:
        """Every dispatch after ``seq`` with its sequence number, oldest first.

        Returns:
            None when some of them were already dropped (or ``seq`` is in the future).
        """
        first = self.first_seq
        if not first - 1 <= seq <= self.last_seq:
            return None
        if self._entries is None:
            return []
        start = seq - first + 1
        return [(first + i, p) for i, p in enumerate(islice(self._entries, start, None), start)]
