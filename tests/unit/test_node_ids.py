"""Snowflakes unique across a cluster: node id, worker slot and lane (core.snowflake's layout).

Every process a cluster can run at once (each host's workers in both lanes, and each host's
admin command) makes ids in the same millisecond from one fake clock; none may equal another.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Config, ConfigError
from core.snowflake import (
    LANES,
    NODE_ID_MAX,
    TOOLS_NODE,
    WORKER_SLOTS,
    SnowflakeGenerator,
)

T0 = 1_700_000_000_000  # Unix ms
REDIS = "redis://127.0.0.1:6379/0"


def _clock() -> float:
    return T0 / 1000  # every generator reads the same millisecond, always


def _bits(snowflake: int) -> tuple[int, int]:
    """(internal worker id, internal process id), decoded independently of the module."""
    return (snowflake >> 17) & 0x1F, (snowflake >> 12) & 0x1F


def _every_process() -> list[tuple[str, SnowflakeGenerator]]:
    """Each server worker of every host in both lanes, and each host's admin command."""
    out = [(f"node {node} slot {slot} lane {lane}",
            SnowflakeGenerator.for_worker(node, slot, lane, clock=_clock))
           for node in range(NODE_ID_MAX + 1) for slot in range(WORKER_SLOTS)
           for lane in range(LANES)]
    out += [(f"admin on node {node}", SnowflakeGenerator.for_tool(node, clock=_clock))
            for node in range(NODE_ID_MAX + 1)]
    return out


def test_every_process_of_a_full_cluster_makes_distinct_ids_in_one_millisecond() -> None:
    processes = _every_process()
    assert len(processes) == 31 * 16 * 2 + 31  # the documented limits
    made: dict[int, str] = {}
    for _ in range(5):  # interleaved, as processes running at once would
        for who, gen in processes:
            snowflake = gen.next()
            assert snowflake not in made, f"{who} made {made.get(snowflake)}'s id {snowflake}"
            made[snowflake] = who
    assert len(made) == len(processes) * 5
    assert {(s >> 22) for s in made} == {T0 - 1_420_070_400_000}  # all in one millisecond


def test_the_ten_bits_name_the_process() -> None:
    bits = {}
    for who, gen in _every_process():
        pair = _bits(gen.next())
        assert pair not in bits, f"{who} and {bits[pair]} share bits {pair}"
        bits[pair] = who
    assert bits[(3, 2 * 5 + 1)] == "node 3 slot 5 lane 1"  # worker bits node, process 2*slot+lane
    assert bits[(TOOLS_NODE, 7)] == "admin on node 7"


def test_the_single_host_default_is_bits_zero() -> None:
    assert _bits(SnowflakeGenerator.for_worker(0, 0, 0, clock=_clock).next()) == (0, 0)


@pytest.mark.parametrize(("node", "slot", "lane"),
                         [(-1, 0, 0), (TOOLS_NODE, 0, 0), (0, WORKER_SLOTS, 0), (0, -1, 0),
                          (0, 0, 2), (0, 0, -1)])
def test_bits_outside_the_layout_are_refused(node: int, slot: int, lane: int) -> None:
    with pytest.raises(ValueError):
        SnowflakeGenerator.for_worker(node, slot, lane)


def test_a_tool_needs_a_host_s_node_id() -> None:
    with pytest.raises(ValueError):
        SnowflakeGenerator.for_tool(TOOLS_NODE)


def test_config_takes_node_id_from_flag_env_and_file(tmp_path: Path) -> None:
    assert Config.load({}).node_id == 0
    (tmp_path / "c.toml").write_text("node_id = 5\n")
    assert Config.load({}, toml_path=str(tmp_path / "c.toml")).node_id == 5
    assert Config.load({"DISCORD_ARCH_NODE_ID": "7"}).node_id == 7
    assert Config.load({"DISCORD_ARCH_NODE_ID": "7"}, {"node_id": 9}).node_id == 9


@pytest.mark.parametrize("node_id", [-1, 31, 1000])
def test_config_refuses_a_node_id_outside_0_to_30(node_id: int) -> None:
    with pytest.raises(ConfigError, match=r"node_id must be 0\.\.30"):
        Config(node_id=node_id)


def test_config_caps_workers_at_16_per_host_and_says_why() -> None:
    assert Config(workers=16, redis_url=REDIS).workers == 16
    with pytest.raises(ConfigError, match=r"workers must be 1\.\.16 per host, got 17 .*node_id"):
        Config(workers=17, redis_url=REDIS)
