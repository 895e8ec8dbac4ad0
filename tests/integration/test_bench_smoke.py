"""Smoke test of the gateway benchmark (``bench.gateway``), so that its code cannot rot.

It runs the fanout scenario for about a second with 10 receivers, against the gateway and the
bare picows peer, unpinned, and checks the shape of the results and that messages arrived; the
guilds scenario with three guilds of six users, checking that every receiver got exactly what it
may see (no private-channel message reached a member without the role); idle and storm with
20 sessions against the gateway and the bare picows peer (the peers' results under ``peers``,
the gateway's where they always were, and the report's tables of both); and the socket-less
hub micro-benchmark (``bench.hub_fanout``) with 20 receivers; ``bench.send_floor`` with 20 sockets.
Nothing here is timed: benchmark figures are not asserted, only that there are some.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import gateway_report, hub_fanout

_REPO = Path(__file__).resolve().parents[2]
_STEP_FIELDS = {
    "offered_msg_s", "offered_events_s", "sent_msg_s", "delivered_events_s", "completion",
    "p50_ms", "p99_ms", "p999_ms", "max_ms", "samples", "server_cpu_pct", "server_rss_kib",
    "client_cpu_pct", "connected", "errors", "frame_bytes",
}


def test_fanout_smoke_run_reports_deliveries(tmp_path: Path) -> None:
    out = tmp_path / "fanout.json"
    cmd = [sys.executable, "-m", "bench.gateway", "fanout", "--receivers", "10", "--rates", "20",
           "--duration", "1", "--drain", "2", "--targets", "gateway,bare_picows",
           "--fixed-rates", "20", "--fixed-duration", "1", "--op50-senders", "2",
           "--server-cpu", "none", "--client-cpus", "none", "--json", str(out), "--no-report"]
    run = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True, timeout=170,
                         env={**os.environ, "PYTHONPATH": str(_REPO)})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["scenario"] == "fanout" and result["command"].startswith(".venv/bin/python")
    assert set(result["targets"]) == {"gateway", "bare_picows"}
    assert "bare_picows" in result["ratios"]
    for name, target in result["targets"].items():
        assert target["receivers"] == 10 and target["connect"]["ok"] == 10, name
        assert target["steps"] and target["saturation_events_s"] > 0, name
        for step in [*target["steps"], target["half"]]:
            assert _STEP_FIELDS <= set(step), name
        step = target["steps"][0]
        assert step["delivered_events_s"] > 0 and step["samples"] > 0, name
        assert step["completion"] > 0.5 and step["connected"] == 10, name
    # The fixed rates: the gateway by REST and by op 50, the peer by its socket; the gateway's
    # steps carry the per-message timeline of the step (every message traced by default).
    fixed = {name: t["fixed"] for name, t in result["targets"].items()}
    assert set(fixed["gateway"]) == {"rest", "op50"} and set(fixed["bare_picows"]) == {"ws"}
    for kind, steps in [*fixed["gateway"].items(), *fixed["bare_picows"].items()]:
        (step,) = steps
        assert step["offered_msg_s"] == 20 and step["samples"] > 0, kind
        assert {"server_user_us_per_delivery", "server_sys_us_per_delivery"} <= set(step), kind
        assert ("timeline" in step) == (kind != "ws"), kind
    for kind, (step,) in fixed["gateway"].items():
        timeline = step["timeline"]
        assert timeline["traces"] > 0, kind
        assert {"durable", "written"} <= set(timeline["stages"]), kind
        assert ("handled" in timeline["stages"]) == (kind == "op50"), kind
        assert "receive_to_durable" in timeline["spans"], kind
    summary = gateway_report.summary(result)
    assert "| gateway |" in summary
    assert "| gateway/op50 | 20 |" in summary and "| bare_picows | 20 |" in summary


def test_guilds_smoke_run_delivers_exactly_what_each_receiver_may_see(tmp_path: Path) -> None:
    out = tmp_path / "guilds.json"
    # A drain ends when deliveries stop: a long limit costs nothing and spares a busy machine.
    cmd = [sys.executable, "-m", "bench.gateway", "guilds", "--mix", "6x1,3x2", "--rates", "20",
           "--duration", "1", "--drain", "5", "--server-cpu", "none", "--client-cpus", "none",
           "--json", str(out), "--no-report"]
    run = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True, timeout=110,
                         env={**os.environ, "PYTHONPATH": str(_REPO)})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["scenario"] == "guilds" and result["command"].startswith(".venv/bin/python")
    assert result["guilds"] == 3 and result["memberships"] == 12
    assert result["users"] == 6 and result["connect"]["ok"] == 6
    assert [c["size"] for c in result["classes"]] == [6, 3]
    assert 1 < result["events_per_msg"] < 6
    steps = [*result["steps"], result["half"]]
    for step in steps:
        assert _STEP_FIELDS | {"expected_events", "receivers_over", "receivers_under"} <= set(step)
        assert step["connected"] == 6 and step["delivered_events_s"] > 0
        # Each receiver's count against the messages sent to the channels it may see: a private
        # message that reached a member without the role makes it "over" (and completion > 1).
        assert step["receivers_over"] == 0 and step["events_over"] == 0
        assert step["receivers_under"] == 0 and step["completion"] == 1.0
    assert sum(s["sent_private"] for s in steps) > 0  # the VIEW_CHANNEL filter had work
    assert "| 6 | 1 |" in gateway_report.summary(result)


def _tiny(scenario: str, out: Path) -> dict[str, Any]:
    """``scenario`` with 20 sessions against the gateway and the bare picows peer, unpinned."""
    # idle measures after every session's first heartbeat ACK: a short interval (above the
    # load client's 1 s tick, which must not make it late).
    cmd = [sys.executable, "-m", "bench.gateway", scenario, "--sessions", "20",
           "--targets", "gateway,bare_picows", "--settle", "0.2", "--heartbeat-ms", "2000",
           "--server-cpu", "none",
           "--client-cpus", "none", "--json", str(out), "--no-report"]
    run = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True, timeout=110,
                         env={**os.environ, "PYTHONPATH": str(_REPO)})
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["scenario"] == scenario and result["command"].startswith(".venv/bin/python")
    assert set(result["peers"]) == {"bare_picows"} and set(result["ratios"]) == {"bare_picows"}
    assert result["peers_note"]  # what the peers do not do, said in the results
    return result


def _as_workers2(result: dict[str, Any], path: Path) -> None:
    """A copy of an embedded run, as a gateway-only workers2 run would write it."""
    other = {k: v for k, v in result.items() if k not in ("peers", "peers_note", "ratios",
                                                           "cpu_ratios")}
    other["deployment"] = {**result["deployment"], "name": "workers2", "label": "workers2"}
    path.write_text(json.dumps(other))


def test_idle_smoke_run_measures_the_gateway_and_a_peer(tmp_path: Path) -> None:
    result = _tiny("idle", tmp_path / "idle.json")
    assert "no IDENTIFY" in result["peers_note"]
    # The gateway's fields where they always were.
    assert result["sessions"] == 20 and result["ready"] == 20
    assert [p["sessions"] for p in result["points"]] == [0, 5, 10, 15, 20]
    assert [c["ok"] for c in result["connects"]] == [5, 5, 5, 5]
    assert {"kib_per_session", "kib_per_session_second_half", "slab_kib_per_socket"} <= set(result)
    assert result["layout"] == "one-guild" and result["heartbeat_interval_ms"] == 2000
    assert [p.get("acked") for p in result["points"][1:]] == [5, 10, 15, 20]  # measured after
    peer = result["peers"]["bare_picows"]
    assert peer["connections"] == 20 and peer["connected"] == 20
    assert [p["connections"] for p in peer["points"]] == [0, 5, 10, 15, 20]
    assert all(p["rss_kib"] > 0 for p in peer["points"])
    assert [c["ok"] for c in peer["connects"]] == [5, 5, 5, 5]
    assert {"kib_per_connection", "kib_per_connection_second_half"} <= set(peer)
    ratio = result["ratios"]["bare_picows"]  # None only if the peer's RSS did not grow
    assert ratio is None or ratio == result["kib_per_session"] / peer["kib_per_connection"]
    text = gateway_report.summary(result)
    assert "**idle, with the peers**" in text and "| bare_picows | 20 |" in text
    assert "| gateway (IDENTIFIED sessions) | 20 |" in text
    _as_workers2(result, tmp_path / "idle_workers2.json")
    section = gateway_report.section(tmp_path, tmp_path)
    assert "| deployment | server | sessions | KiB per session | × embedded | × bare_picows |" \
        in section


def test_idle_small_guilds_layout_measures_after_every_session_heartbeated(tmp_path: Path
                                                                          ) -> None:
    from bench.small_guilds import plan_small_guilds

    plan = plan_small_guilds(20, 3, 5)
    assert len(plan) == 12 and all(len(set(m)) == 5 for m in plan)
    assert sorted(u for m in plan for u in m) == sorted(list(range(20)) * 3)  # 3 guilds each
    out = tmp_path / "idle.json"
    cmd = [sys.executable, "-m", "bench.gateway", "idle", "--sessions", "20", "--layout",
           "small-guilds", "--small-guilds", "3x5", "--heartbeat-ms", "2000", "--targets",
           "gateway", "--settle", "0.2", "--server-cpu", "none", "--client-cpus", "none",
           "--json", str(out), "--no-report"]
    run = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True, timeout=110,
                         env={**os.environ, "PYTHONPATH": str(_REPO)})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["layout"] == "small-guilds" and result["small_guilds"] == "3x5"
    assert result["sessions"] == 20 and result["ready"] == 20
    assert [c["ok"] for c in result["connects"]] == [5, 5, 5, 5]
    # Each quarter measured only once all its sessions had a heartbeat ACKed.
    assert [p.get("acked") for p in result["points"]] == [None, 5, 10, 15, 20]
    assert result["heartbeat_interval_ms"] == 2000 and "kib_per_session" in result
    assert "**idle**: 20 IDENTIFIED sessions" in gateway_report.summary(result)


def test_storm_smoke_run_resumes_the_gateway_and_reconnects_a_peer(tmp_path: Path) -> None:
    result = _tiny("storm", tmp_path / "storm.json")
    assert "only reconnect" in result["peers_note"]
    assert result["sessions"] == 20 and result["resumed"] == 20 and not result["errors"]
    assert result["connect"]["ok"] == 20 and result["all_resumed_s"] > 0
    peer = result["peers"]["bare_picows"]
    assert peer["connections"] == 20 and peer["reconnected"] == 20 and not peer["errors"]
    assert peer["connect"]["ok"] == 20 and 0 < peer["p50_ms"] <= peer["p99_ms"]
    assert peer["all_back_s"] > 0 and peer["server_cpu_s"] >= 0
    assert set(peer["tcp_counters"]) >= {"ListenOverflows", "TCPSynRetrans"}
    assert result["ratios"]["bare_picows"] == result["all_resumed_s"] / peer["all_back_s"]
    assert set(result["cpu_ratios"]) == {"bare_picows"}
    text = gateway_report.summary(result)
    assert "**storm, with the peers**" in text and "| bare_picows | reconnect | 20 | 20 |" in text
    assert "| gateway | RESUME | 20 | 20 |" in text
    _as_workers2(result, tmp_path / "storm_workers2.json")
    section = gateway_report.section(tmp_path, tmp_path)
    assert "| all resumed after s | × bare_picows |" in section


def test_hub_fanout_smoke_run_counts_one_write_per_connection() -> None:
    rows = asyncio.run(hub_fanout.measure(20, [1, 4], 2)) + asyncio.run(
        hub_fanout.measure(20, [1], 2, cold_mib=1))  # the caches evicted before each round
    assert [(r["batch"], r["cold_mib"]) for r in rows] == [(1, 0), (4, 0), (1, 1)]
    for row in rows:
        assert row["writes_per_conn"] == 1.0  # one write per connection per flush, coalesced
        assert row["publish_ns"] > 0 and row["flush_ns"] > 0


def test_send_floor_measures_every_size_and_the_reader_gets_every_byte() -> None:
    from bench import send_floor

    result = send_floor.measure(20, [930, 3720], 2, None, None)
    assert [row["frame_bytes"] for row in result["sizes"]] == [930, 3720]
    assert result["sent_bytes"] == 20 * 5 * (930 + 3720)  # 3 warm-up rounds + 2 measured
    assert result["received_bytes"] == result["sent_bytes"]
    for row in result["sizes"]:
        assert row["wall_us_per_send"] > 0 and row["round_ms"] > 0
    assert "| 3,720 |" in send_floor.table(result)


def test_compressed_fanout_smoke_run_decodes_every_variant(tmp_path: Path) -> None:
    # bench.compressed: uncompressed, zlib-stream (own stream, and shared), zstd-stream; the
    # receivers inflate every message, so a delivery counted is a delivery decoded.
    out = tmp_path / "compressed.json"
    cmd = [sys.executable, "-m", "bench.gateway", "fanout", "--receivers", "10",
           "--compress", "none,zlib-stream:6,zlib-stream:shared,zstd-stream", "--rates", "20",
           "--duration", "1", "--drain", "2", "--senders", "2", "--server-cpu", "none",
           "--client-cpus", "none", "--json", str(out), "--no-report"]
    run = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(_REPO)})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    labels = [v["label"] for v in result["variants"]]
    assert labels == ["none", "zlib-stream:6", "zlib-stream:shared", "zstd-stream"]
    assert result["variants"][2]["server_env"] == {"DISCORD_ARCH_GATEWAY_ZLIB_SHARED": "true"}
    for variant in result["variants"]:
        (step,) = variant["steps"]
        assert variant["connect"]["ok"] == 10, variant["label"]
        assert step["samples"] > 0 and step["completion"] > 0.5, variant["label"]
        assert step["server_us_per_delivery"] is None or step["server_us_per_delivery"] > 0
    assert set(result["cpu_ratio_to_uncompressed"]) <= set(labels[1:])
