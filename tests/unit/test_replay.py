"""Unit tests for gateway.replay: the sequence and the bounded buffer RESUME replays from.

An acknowledged idle session keeps no ``deque`` at all (an empty one holds a 624-byte block):
it is made on the next append and dropped again once an ack empties it, and the sequence,
``after`` and the bounds behave as if it were always there.
"""

from __future__ import annotations

from gateway.codec import Parts
from gateway.replay import ReplayBuffer


def parts(i: int, size: int = 10) -> Parts:
    return (b"p%d" % i + b"x" * (size - 4), b"s%d" % i)


def test_a_new_buffer_holds_no_deque_and_replays_nothing() -> None:
    buffer = ReplayBuffer(10, 1000)
    assert buffer._entries is None  # noqa: SLF001 - the memory this test is about
    assert len(buffer) == 0 and buffer.size == 0 and buffer.first_seq == 1
    assert buffer.after(0) == []
    assert buffer.after(1) is None  # a seq never given


def test_ack_of_everything_drops_the_deque_and_the_sequence_goes_on() -> None:
    buffer = ReplayBuffer(10, 1000)
    kept = [parts(i) for i in range(3)]
    assert [buffer.append(p) for p in kept] == [1, 2, 3]
    buffer.ack(3)
    assert buffer._entries is None and len(buffer) == 0 and buffer.size == 0  # noqa: SLF001
    assert buffer.after(3) == [] and buffer.after(2) is None  # acknowledged: gone
    assert buffer.first_seq == 4
    assert buffer.append(parts(4)) == 4
    assert buffer.after(3) == [(4, parts(4))]


def test_a_partial_ack_keeps_the_rest_in_order() -> None:
    buffer = ReplayBuffer(10, 1000)
    for i in range(5):
        buffer.append(parts(i))
    buffer.ack(2)
    assert buffer._entries is not None  # noqa: SLF001
    assert buffer.after(2) == [(3, parts(2)), (4, parts(3)), (5, parts(4))]
    assert buffer.size == 3 * 10  # prefix and suffix of each


def test_ack_beyond_the_last_seq_or_of_an_empty_buffer_changes_nothing() -> None:
    buffer = ReplayBuffer(10, 1000)
    buffer.ack(5)  # nothing given yet
    assert buffer.append(parts(0)) == 1
    buffer.ack(9)  # a buggy client's future seq: only what it was given goes
    assert len(buffer) == 0 and buffer.first_seq == 2
    buffer.ack(9)
    assert buffer.last_seq == 1 and buffer.after(1) == []


def test_bounds_still_trim_a_lazily_made_deque() -> None:
    buffer = ReplayBuffer(8, 10_000)
    for i in range(9):
        buffer.append(parts(i))
    assert len(buffer) == 7  # over 8: down to 7/8 of it
    assert buffer.after(1) is None and [s for s, _ in buffer.after(2) or ()] == list(range(3, 10))
    by_bytes = ReplayBuffer(100, 100)
    for i in range(9):
        by_bytes.append(parts(i, 20))
    assert by_bytes.size == 100 and len(by_bytes) == 5  # trimmed twice to 80, then two more
