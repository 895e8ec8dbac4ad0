"""Offsets per (publisher, channel), so a receiver can prove it heard every message: sans-I/O.

A publisher (one :class:`~core.bus.redis.RedisBus`, i.e. one worker incarnation) numbers the
messages it sends on each channel separately: a **chain** per channel, named by an ``epoch``
(the publisher's global sequence number when the chain began, so a later chain of the same
channel always has a larger epoch) and counting ``offset`` 1, 2, 3... Per channel, not per
publisher: a receiver hears only the channels it subscribed to, so a per-publisher sequence
would skip numbers there by design and prove nothing.

A receiver keeps, per channel it listens to and per publisher, the chain's epoch and the last
offset heard (:class:`Continuity`). Within one subscriber connection Redis delivers a
publisher's messages in order and loses none, so the next message of a chain must carry the
next offset; anything else is a gap. A retried pipeline sends offsets again (they are given
when an event is published, not when it is sent): those are duplicates, not gaps. The first
message heard of a chain only sets where it starts: before the subscription was confirmed the
bus promises nothing (``Bus.subscribed``).

Both sides are bounded: the publisher forgets its oldest chains past ``CHAINS_MAX`` (the
channel's next message starts a new chain, which receivers accept), the receiver forgets a
channel when it unsubscribes, keeps at most ``PUBLISHERS_MAX`` publishers per channel and
drops publishers not heard for ``IDLE_S``. Forgetting never invents a gap; it can only miss
one where a publisher dropped events right before, which the publisher announces itself
(the bus's loss marker).
"""

from __future__ import annotations

__all__ = ["CHAINS_MAX", "IDLE_S", "PUBLISHERS_MAX", "Chains", "Continuity", "Verdict"]

import enum

# Channels a publisher numbers at once; the oldest chain is forgotten past it.
CHAINS_MAX = 65_536
# Publishers remembered per channel by a receiver (worker incarnations come and go).
PUBLISHERS_MAX = 64
# A receiver forgets a publisher on a channel not heard for this long, in seconds.
IDLE_S = 600.0


class Chains:
    """The publisher's side: the next ``(epoch, offset)`` of each channel it publishes on."""

    __slots__ = ("_chains", "_max")

    def __init__(self, max_chains: int = CHAINS_MAX) -> None:
        self._chains: dict[bytes, list[int]] = {}  # channel -> [epoch, last offset]
        self._max = max_chains

    def next(self, channel: bytes, seq: int) -> tuple[int, int]:
        """The position of one more message on ``channel``; ``seq`` starts a new chain's epoch."""
        chain = self._chains.get(channel)
        if chain is None:
            if len(self._chains) >= self._max:
                del self._chains[next(iter(self._chains))]
            chain = self._chains[channel] = [seq, 0]
        chain[1] += 1
        return chain[0], chain[1]

    def __len__(self) -> int:
        return len(self._chains)


class Verdict(enum.Enum):
    """What a message's position says."""

    NEXT = "next"  # the next offset, or the first message heard of its chain
    DUPLICATE = "duplicate"  # heard already (a retried pipeline), or an older chain
    GAP = "gap"  # offsets were skipped: messages of this chain were lost


class Continuity:
    """The receiver's side: the last position heard per channel and publisher.

    Args:
        idle_s: a publisher not heard on a channel for this long is forgotten (:meth:`expire`).
        publishers_max: publishers remembered per channel at most (the oldest forgotten).
    """

    __slots__ = ("_channels", "_idle", "_max")

    def __init__(self, idle_s: float = IDLE_S, publishers_max: int = PUBLISHERS_MAX) -> None:
        # channel -> publisher -> [epoch, last offset, time last heard]
        self._channels: dict[bytes, dict[str, list[float]]] = {}
        self._idle = idle_s
        self._max = publishers_max

    def heard(self, channel: bytes, publisher: str, epoch: int, first: int, count: int,
              now: float) -> Verdict:
        """A message of ``count`` events at offsets ``first``.. of ``publisher``'s chain
        ``epoch`` on ``channel`` arrived: is it the next one?"""
        last = first + count - 1
        streams = self._channels.get(channel)
        if streams is None:
            streams = self._channels[channel] = {}
        state = streams.get(publisher)
        if state is None:
            if len(streams) >= self._max:
                del streams[next(iter(streams))]
            streams[publisher] = [epoch, last, now]
            return Verdict.NEXT
        state[2] = now
        if epoch != state[0]:
            if epoch < state[0]:
                return Verdict.DUPLICATE  # a retry of a chain since replaced
            state[0], state[1] = epoch, last  # a new chain: where it starts is where we are
            return Verdict.NEXT
        expected = int(state[1]) + 1
        if first == expected:
            state[1] = last
            return Verdict.NEXT
        if first < expected:
            state[1] = max(state[1], last)
            return Verdict.DUPLICATE
        state[1] = last
        return Verdict.GAP

    def position(self, channel: bytes, publisher: str) -> tuple[int, int] | None:
        """The chain epoch and last offset heard of ``publisher`` on ``channel``, if any."""
        state = self._channels.get(channel, {}).get(publisher)
        return None if state is None else (int(state[0]), int(state[1]))

    def forget(self, channel: bytes) -> None:
        """``channel`` was unsubscribed: what is heard after a new subscription starts anew."""
        self._channels.pop(channel, None)

    def clear(self) -> None:
        """The subscription was lost: every chain starts anew on the next connection."""
        self._channels.clear()

    def expire(self, now: float) -> int:
        """Forget publishers not heard for ``idle_s``; returns how many were forgotten."""
        forgotten = 0
        for channel in tuple(self._channels):
            streams = self._channels[channel]
            for publisher in [p for p, s in streams.items() if now - s[2] > self._idle]:
                del streams[publisher]
                forgotten += 1
            if not streams:
                del self._channels[channel]
        return forgotten

    def __len__(self) -> int:
        return sum(len(s) for s in self._channels.values())
