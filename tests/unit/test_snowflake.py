"""Unit tests for core.snowflake: Discord's id layout, ordering and time helpers.

The generator takes its clock as an argument, so every test drives a fake clock; none sleeps.
Layout, per Discord's "Reference" docs (Snowflakes): 42 bits of milliseconds since
2015-01-01T00:00:00Z, 5 bits internal worker id, 5 bits internal process id, 12-bit increment.
"""

from __future__ import annotations

import pytest

from core.snowflake import (
    DISCORD_EPOCH_MS,
    SnowflakeGenerator,
    iso_timestamp,
    snowflake_from_ms,
    snowflake_time_ms,
)

# Discord's documented example: 175928847299117063 was made at 1462015105796 (2016-04-30
# 11:18:25.796 UTC) by worker 1, process 0, with increment 7.
DOC_ID = 175928847299117063
DOC_MS = 1462015105796
T0 = 1_700_000_000_000  # an arbitrary Unix ms, 2023-11-14


class FakeClock:
    """A settable ``time.time`` replacement, in seconds like the real one."""

    def __init__(self, unix_ms: int) -> None:
        self.ms = unix_ms

    def __call__(self) -> float:
        return self.ms / 1000


def _fields(snowflake: int) -> tuple[int, int, int, int]:
    """(unix ms, worker, process, increment), decoded independently of the module."""
    return (
        (snowflake >> 22) + DISCORD_EPOCH_MS,
        (snowflake >> 17) & 0x1F,
        (snowflake >> 12) & 0x1F,
        snowflake & 0xFFF,
    )


def _generator(
    unix_ms: int = T0, worker: int = 0, process: int = 0
) -> tuple[SnowflakeGenerator, FakeClock]:
    clock = FakeClock(unix_ms)
    return SnowflakeGenerator(worker, process, clock=clock), clock


def test_epoch_is_discord_epoch_when_read() -> None:
    assert DISCORD_EPOCH_MS == 1_420_070_400_000
    assert iso_timestamp(DISCORD_EPOCH_MS) == "2015-01-01T00:00:00.000000+00:00"


def test_time_ms_decodes_discord_example_when_documented_id() -> None:
    assert snowflake_time_ms(DOC_ID) == DOC_MS
    assert _fields(DOC_ID) == (DOC_MS, 1, 0, 7)


def test_generator_reproduces_discord_example_when_same_inputs() -> None:
    gen, _ = _generator(DOC_MS, worker=1, process=0)
    ids = [gen.next() for _ in range(8)]
    assert ids[-1] == DOC_ID


def test_layout_packs_fields_when_first_id_in_ms() -> None:
    gen, _ = _generator(T0, worker=5, process=9)
    snowflake = gen.next()
    assert snowflake == ((T0 - DISCORD_EPOCH_MS) << 22) | (5 << 17) | (9 << 12)
    assert _fields(snowflake) == (T0, 5, 9, 0)


@pytest.mark.parametrize(("worker", "process"), [(0, 0), (31, 0), (0, 31), (31, 31), (17, 3)])
def test_worker_and_process_bits_round_trip_when_in_range(worker: int, process: int) -> None:
    gen, _ = _generator(T0, worker, process)
    for increment in range(3):
        assert _fields(gen.next()) == (T0, worker, process, increment)


def test_worker_bits_do_not_collide_when_generators_share_a_ms() -> None:
    ids: set[int] = set()
    for worker in range(32):
        for process in (0, 31):
            gen, _ = _generator(T0, worker, process)
            ids.update(gen.next() for _ in range(4))
    assert len(ids) == 32 * 2 * 4


@pytest.mark.parametrize(("worker", "process"), [(-1, 0), (32, 0), (0, -1), (0, 32), (1 << 10, 0)])
def test_constructor_raises_when_worker_or_process_out_of_range(worker: int, process: int) -> None:
    with pytest.raises(ValueError):
        SnowflakeGenerator(worker, process, clock=FakeClock(T0))


def test_increment_counts_up_when_same_ms() -> None:
    gen, _ = _generator()
    assert [_fields(gen.next())[3] for _ in range(5)] == [0, 1, 2, 3, 4]


def test_increment_resets_when_clock_advances() -> None:
    gen, clock = _generator()
    gen.next()
    gen.next()
    clock.ms += 1
    assert _fields(gen.next()) == (T0 + 1, 0, 0, 0)


def test_increment_rolls_over_into_next_ms_when_4096_ids_in_one_ms() -> None:
    gen, _ = _generator()
    ids = [gen.next() for _ in range(4096 + 2)]
    assert _fields(ids[4095]) == (T0, 0, 0, 4095)
    # The 4097th id borrows the next millisecond instead of waiting for it.
    assert _fields(ids[4096]) == (T0 + 1, 0, 0, 0)
    assert _fields(ids[4097]) == (T0 + 1, 0, 0, 1)
    assert ids == sorted(set(ids))


def test_ids_stay_unique_when_clock_catches_up_with_borrowed_ms() -> None:
    gen, clock = _generator()
    ids = [gen.next() for _ in range(4097)]  # the last one is already at T0 + 1
    clock.ms += 1
    ids.append(gen.next())
    assert _fields(ids[-1]) == (T0 + 1, 0, 0, 1)
    assert ids == sorted(set(ids))


def test_ids_stay_increasing_when_clock_goes_backwards() -> None:
    gen, clock = _generator()
    ids = [gen.next()]
    for step in (-1, -1000, -3_600_000, +500, -5):
        clock.ms += step
        ids.append(gen.next())
    assert ids == sorted(set(ids))
    # Time never goes backwards in the ids: they keep the last millisecond seen.
    assert all(snowflake_time_ms(s) == T0 for s in ids)


def test_ids_resume_wall_clock_when_clock_recovers_after_going_backwards() -> None:
    gen, clock = _generator()
    first = gen.next()
    clock.ms -= 10_000
    gen.next()
    clock.ms = T0 + 5
    later = gen.next()
    assert later > first
    assert _fields(later) == (T0 + 5, 0, 0, 0)


def test_ids_strictly_increase_when_many_across_ms() -> None:
    gen, clock = _generator()
    ids = []
    for i in range(3000):
        if i % 7 == 0:
            clock.ms += 1
        ids.append(gen.next())
    assert ids == sorted(set(ids))


def test_time_ms_round_trips_when_generated() -> None:
    gen, clock = _generator(T0)
    for step in (0, 1, 999, 86_400_000):
        clock.ms += step
        assert snowflake_time_ms(gen.next()) == clock.ms


def test_from_ms_round_trips_when_after_epoch() -> None:
    for unix_ms in (DISCORD_EPOCH_MS, DOC_MS, T0, T0 + 123):
        assert snowflake_time_ms(snowflake_from_ms(unix_ms)) == unix_ms


def test_from_ms_is_lower_bound_when_paginating() -> None:
    # ``after=snowflake_from_ms(t)`` must include nothing made before t and every id made at t
    # except possibly the very first (worker 0, process 0, increment 0 equals the bound).
    gen, clock = _generator(T0, worker=3, process=2)
    made_at_t = gen.next()
    clock.ms += 1
    made_after = gen.next()
    assert snowflake_from_ms(T0) < made_at_t < snowflake_from_ms(T0 + 1) <= made_after
    assert snowflake_from_ms(T0) & ((1 << 22) - 1) == 0


def test_from_ms_clamps_to_zero_when_before_epoch() -> None:
    assert snowflake_from_ms(DISCORD_EPOCH_MS - 1) == 0
    assert snowflake_from_ms(0) == 0


def test_iso_timestamp_matches_discord_format_when_formatted() -> None:
    assert iso_timestamp(DOC_MS) == "2016-04-30T11:18:25.796000+00:00"
