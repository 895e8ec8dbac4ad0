"""Reporting for ``bench.gateway``: machine facts, markdown tables, the RESULTS.md section and
the latency plot (``bench/fanout.png``), all from the JSON files in ``bench/results/``.

The gateway section of RESULTS.md sits between two HTML comments and is regenerated whole
(by ``bench.report``, with the other generated sections); the analysis written by hand around
it is left alone. A scenario run in several deployments (``fanout.json`` embedded,
``fanout_workers2.json``, ...) gets a table of the deployments side by side, then each run.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["deployments", "head", "machine", "section", "summary"]

_REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bench.gateway:begin -->", "<!-- bench.gateway:end -->"
# The targets (fanout at 1,000 receivers; idle at 10,000 sessions).
TARGET_VS_BARE, TARGET_VS_AIOHTTP, TARGET_P99_MS, TARGET_IDLE_KIB = 2.0, 3.0, 25.0, 16.0
_COLORS = {"gateway": "tab:red", "bare_picows": "tab:blue", "aiohttp": "tab:green",
           "websockets": "tab:purple"}


def machine(argv: Sequence[str], prog: str = "bench.gateway") -> dict[str, Any]:
    """Where and when a run happened, and the exact command (``python -m prog argv``)."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, cwd=_REPO,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    versions = {}
    for name in ("picows", "uvloop", "aiohttp", "websockets", "orjson"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "-"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([f".venv/bin/python -m {prog}", *argv]),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", "gateway", "core")),
        "cpu": f"{os.cpu_count()} × {cpu}", "kernel": platform.release(),
        "python": platform.python_version(), "versions": versions,
        "loadavg": os.getloadavg()[0],
    }


def _n(x: float) -> str:
    return f"{x:,.0f}"


# Issue 16's everyday-load targets, against the bare picows loop at the same offered rate.
TARGET_FIXED_P50, TARGET_FIXED_P99, TARGET_FIXED_CPU, TARGET_DURABLE_P99_MS = 1.5, 2.0, 1.2, 5.0
_TIMELINE_STAGES = ("handled", "validated", "queued", "writing", "durable", "published", "hub",
                    "fanned", "written")


def _cpu_us(s: dict[str, Any]) -> float:
    return float(s.get("server_user_us_per_delivery", 0) + s.get("server_sys_us_per_delivery", 0))


def _p(summary: dict[str, Any] | None, key: str) -> str:
    return f"{summary[key]:.2f}" if summary else ""


def fixed_series(r: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each (target, way in)'s fixed-rate steps: ``gateway/op50``, ``bare_picows``..."""
    out = []
    for name, t in r["targets"].items():
        for kind, steps in t.get("fixed", {}).items():
            out.append((name if kind == "ws" else f"{name}/{kind}", steps))
    return out


def fixed_lines(r: dict[str, Any]) -> list[str]:
    """The fixed-rate table (everyday load), each target beside the bare loop at the same
    rate, and the gateway's per-message timeline at each rate."""
    series = fixed_series(r)
    if not series:
        return []
    n = next(iter(r["targets"].values()))["receivers"]
    bare = {s["offered_msg_s"]: s for s in r["targets"].get("bare_picows", {})
            .get("fixed", {}).get("ws", [])}
    lines = [
        f"**fanout at fixed rates**: {n:,} receivers in one channel; the gateway's messages "
        "sent by REST (`rest`) or by op 50 from sessions that receive nothing (`op50`), the "
        "peers' from one socket; latency send → receive at every 10th receiver; server CPU "
        "per delivery from `/proc` over the step (user and system apart); *× bare*: over "
        "bare_picows at the same offered rate (targets: p50 ≤ "
        f"{TARGET_FIXED_P50:g}×, p99 ≤ {TARGET_FIXED_P99:g}×, CPU ≤ {TARGET_FIXED_CPU:g}×).", "",
        "| target | offered msg/s | delivered ev/s | p50 ms | p99 ms | p99.9 ms | "
        "CPU µs/delivery (user + sys) | p50 × bare | p99 × bare | CPU × bare | "
        "receive → durable p99 ms | waited |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, steps in series:
        for s in steps:
            b = bare.get(s["offered_msg_s"]) if not name.startswith("bare_picows") else None
            durable = s.get("timeline", {}).get("spans", {}).get("receive_to_durable")
            lines.append(
                f"| {name} | {_n(s['offered_msg_s'])} | {_n(s['delivered_events_s'])} | "
                f"{s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['p999_ms']:.2f} | "
                f"{_cpu_us(s):.1f} ({s.get('server_user_us_per_delivery', 0):.1f} + "
                f"{s.get('server_sys_us_per_delivery', 0):.1f}) | "
                f"{_x(s['p50_ms'], b['p50_ms']) if b else ''} | "
                f"{_x(s['p99_ms'], b['p99_ms']) if b else ''} | "
                f"{_x(_cpu_us(s), _cpu_us(b)) if b else ''} | "
                f"{_p(durable, 'p99')} | "
                f"{s.get('server_wait_pct', 0):.0f}% |")
    timed = [(name, s) for name, steps in series for s in steps if s.get("timeline")]
    if timed:
        lines += ["", "The gateway's per-message timeline (`core.timeline`, every "
                  f"{r.get('trace_every', 1)} message traced), each stage's time from the "
                  "one before it, p50 / p99 ms: *handled*: op 50's command task picks it up "
                  "after its frame was decoded (REST: none); *validated*: access, body, "
                  "mentions built; *queued*: into the router; *writing*: the writer took "
                  "its batch; *durable*: `insert_many` returned; *published*: mention rows, "
                  "then the bus; *hub*: the bus delivered it to the hub; *fanned*: pushed to "
                  "every session; *written*: the flush that wrote it to the sockets ended.", "",
                  "| target | msg/s | traced | " + " | ".join(_TIMELINE_STAGES)
                  + " | receive → written |",
                  "|---|---|---|" + "---|" * (len(_TIMELINE_STAGES) + 1)]
        for name, s in timed:
            tl = s["timeline"]
            cells = [f"{v['p50']:.2f} / {v['p99']:.2f}" if (v := tl["stages"].get(k)) else ""
                     for k in _TIMELINE_STAGES]
            total = tl["spans"].get("receive_to_written")
            lines.append(f"| {name} | {_n(s['offered_msg_s'])} | {tl['traces']} | "
                         + " | ".join(cells)
                         + f" | {_p(total, 'p50')} / {_p(total, 'p99')} |")
    return [*lines, ""]


def plot_fixed(runs: Sequence[dict[str, Any]], path: Path) -> None:
    """Latency (p50, p99) against fixed offered msg/s, one colour per target and way in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    extra = iter(("tab:orange", "tab:brown", "tab:olive", "tab:cyan", "tab:pink", "black",
                  "tab:grey", "gold"))
    for i, r in enumerate(runs):
        for name, steps in fixed_series(r):
            base = name.split("/")[0]
            first = i == 0 and name in ("gateway/op50", base)
            color = _COLORS.get(base) if first else next(extra, "grey")
            where_ = "" if i == 0 else f" ({label(r)})"  # other deployments' runs
            x = [s["offered_msg_s"] for s in steps]
            for key, style in (("p50_ms", "-"), ("p99_ms", "--")):
                ax.plot(x, [max(0.01, s[key]) for s in steps], style, color=color, marker="o",
                        label=f"{name}{where_} {key[:-3]}")
    ax.set_yscale("log")
    ax.set_xlabel("offered msg/s (each to every receiver)")
    ax.set_ylabel("send → receive latency, ms")
    n = next(iter(runs[0]["targets"].values()))["receivers"]
    ax.set_title(f"Fanout to {n:,} receivers at fixed offered rates, server on one core "
                 f"({runs[0]['date']})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fanout(r: dict[str, Any]) -> list[str]:
    targets = r["targets"]
    if not all("steps" in t for t in targets.values()):  # --no-ladder: fixed rates only
        return fixed_lines(r)
    n = next(iter(targets.values()))["receivers"]
    lines = [
        f"**fanout**: {n:,} receivers in one channel, one sender account per REST request "
        f"in flight (gateway) or one sender socket (peers); message frames of "
        f"{next(iter(targets.values()))['frame_bytes']} bytes.",
        "",
        "| target | saturation deliveries/s | gateway × | saturated at msg/s | server CPU | client CPU "
        "| half load msg/s | p50 ms | p99 ms | p99.9 ms | most waited |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    g = targets.get("gateway", {}).get("saturation_events_s")
    for name, t in targets.items():
        best = max(t["steps"], key=lambda s: s["delivered_events_s"])
        h = t["half"]
        ratio = f"{g / t['saturation_events_s']:.2f}×" if g and name != "gateway" else ""
        lines.append(
            f"| {name} | {_n(t['saturation_events_s'])} | {ratio} | "
            f"{_n(t['saturated_at_msg_s']) if t['saturated_at_msg_s'] else 'not reached'} | "
            f"{best['server_cpu_pct']:.0f}% | {best['client_cpu_pct']:.0f}% | "
            f"{_n(h['offered_msg_s'])} | {h['p50_ms']:.2f} | {h['p99_ms']:.2f} | {h['p999_ms']:.2f} | "
            f"{max(s.get('server_wait_pct', 0) for s in [*t['steps'], h]):.0f}% |")
    lines += ["", "*most waited*: the largest share of a step's time the server spent runnable while "
              "something else had its core. The peers are one thread: above ~5% another process "
              "disturbed them. The gateway also waits for its own threads (the SQLite writer, the "
              "thread pools), pinned to the same core.", ""]
    if g:
        checks = []
        for peer, want in (("bare_picows", TARGET_VS_BARE), ("aiohttp", TARGET_VS_AIOHTTP)):
            ratio = r.get("ratios", {}).get(peer)
            if ratio is not None:
                checks.append(f"≥ {want:g}× {peer}: {ratio:.2f}× — {'met' if ratio >= want else 'MISSED'}")
        p99 = targets["gateway"]["half"]["p99_ms"]
        checks.append(f"p99 ≤ {TARGET_P99_MS:g} ms at half load: {p99:.2f} ms — "
                      f"{'met' if p99 <= TARGET_P99_MS else 'MISSED'}")
        lines += ["Targets: " + "; ".join(checks) + ".", ""]
    lines += ["Every step (offered → delivered; latency send → receive in ms; CPU of one core):", "",
              "| target | offered msg/s | offered ev/s | delivered ev/s | completion | p50 | p99 "
              "| p99.9 | max | server CPU (sys) | waited | ev per CPU-s | frames/read "
              "| router batch | server RSS MiB | client CPU | saturated |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, t in targets.items():
        for s in [*t["steps"], {**t["half"], "saturated": "(half load)"}]:
            batch = s.get("router_batch")
            lines.append(
                f"| {name} | {_n(s['offered_msg_s'])} | {_n(s['offered_events_s'])} | "
                f"{_n(s['delivered_events_s'])} | {s['completion']:.3f} | {s['p50_ms']:.2f} | "
                f"{s['p99_ms']:.2f} | {s['p999_ms']:.2f} | {s['max_ms']:.1f} | "
                f"{s['server_cpu_pct']:.0f}% ({s.get('server_sys_pct', 0):.0f}%) | "
                f"{s.get('server_wait_pct', 0):.0f}% | {_n(s.get('events_per_cpu_s', 0))} | "
                f"{s.get('frames_per_read', 0):.1f} | {f'{batch:.1f}' if batch else ''} | "
                f"{s['server_rss_kib'] / 1024:.0f} | "
                f"{s['client_cpu_pct']:.0f}% | {s.get('saturated') or ''}"
                f"{'re-run: ' + s['retried'] if s.get('retried') else ''} |")
    lines += ["", "*waited*: time the server was runnable while something else had its core "
              "(`/proc/<pid>/task/*/schedstat`; for the gateway, its own threads too); *ev per CPU-s*: deliveries per second of server "
              "CPU; *frames/read*: message frames per socket read at the receivers (coalescing); "
              "*router batch*: mean messages per write batch of the router (`/metrics`).", ""]
    return lines + fixed_lines(r)


def _guilds(r: dict[str, Any]) -> list[str]:
    h = r["half"]
    sat = r["saturated_at_msg_s"]
    lines = [
        f"**guilds**: {r['guilds']:,} guilds (`--mix {r['mix']}`), {r['users']:,} receivers in "
        f"{r['memberships'] / r['users']:.1f} guilds each on average ({r['memberships']:,} "
        f"memberships; everyone is in some guild, members of large guilds also in small ones). "
        f"Each guild has a public channel and a private one that denies VIEW_CHANNEL to "
        f"@everyone and allows it to a role held by half its members. A message goes to a guild "
        f"drawn by Zipf over its rank by size (exponent {r['zipf']:g}), then to its private "
        f"channel with probability {r['private_share']:g}, posted over REST by one of up to "
        f"{r['senders_per_channel']} members who may; {r['events_per_msg']:,.1f} deliveries per "
        f"message on average. Set-up (not measured) took {r['setup_s']:.0f} s.",
        "",
        "| guild size | guilds | share of messages | share of deliveries |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c['size']:,} | {c['guilds']} | {c['msg_share']:.1%} | {c['events_share']:.1%} |"
              for c in r["classes"]]
    lines += ["", f"Saturation: {_n(r['saturation_events_s'])} deliveries/s"
              f"{f', saturated at {_n(sat)} msg/s' if sat else ' (not reached)'}; at half load "
              f"({_n(h['offered_msg_s'])} msg/s) p50 {h['p50_ms']:.2f}, p99 {h['p99_ms']:.2f}, "
              f"p99.9 {h['p999_ms']:.2f} ms. No peers: they have no guilds or permissions.", "",
              "| offered msg/s | expected ev/s | delivered ev/s | completion | p50 | p99 | p99.9 "
              "| server CPU (sys) | waited | ev per CPU-s | server RSS MiB | receivers over / under "
              "| saturated |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in [*r["steps"], {**h, "saturated": "(half load)"}]:
        lines.append(
            f"| {_n(s['offered_msg_s'])} | {_n(s['offered_events_s'])} | "
            f"{_n(s['delivered_events_s'])} | {s['completion']:.3f} | {s['p50_ms']:.2f} | "
            f"{s['p99_ms']:.2f} | {s['p999_ms']:.2f} | {s['server_cpu_pct']:.0f}% "
            f"({s['server_sys_pct']:.0f}%) | {s['server_wait_pct']:.0f}% | "
            f"{_n(s['events_per_cpu_s'])} | {s['server_rss_kib'] / 1024:.0f} | "
            f"{s['receivers_over']} / {s['receivers_under']} | {s.get('saturated') or ''}"
            f"{'re-run: ' + s['retried'] if s.get('retried') else ''} |")
    lines += [
        "", "What it shows: in *fanout* every message goes to one channel that every session "
        "sees; here most messages reach few sessions, so the work that is paid per message (the "
        "REST request, the write batch, the publish, encoding the dispatch once) weighs more "
        "against the deliveries, the hub fans out per guild (a session gets the events of all "
        "its guilds), and private-channel messages go through the VIEW_CHANNEL filter (roles "
        "and overwrites) that leaves out the members without the role. *ev per CPU-s* against "
        "fanout's tells what those per-message and per-guild costs take from the delivery "
        "rate; msg/s at saturation, how far the send path carries small-guild traffic. "
        "*expected ev/s*: the offered msg/s times the deliveries due per message sent in the "
        "step (a step's Zipf draws stray from the mean above); *completion* is "
        "exact: each receiver's deliveries against the messages sent to the channels it may see "
        "(*over*: receivers that got more than their due, as a leaked private message would; "
        "*under*: fewer, a step not drained).", ""]
    return lines


def _idle(r: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "kib_per_session" in r:  # the gateway ran (a peers-only run has only ``peers``)
        per = r["kib_per_session"]
        lines += [f"**idle**: {r['sessions']:,} IDENTIFIED sessions ({r['ready']:,} READY at the "
                  "end), connected in quarters; server RSS after each quarter (and the machine's "
                  "kernel slab, where both ends' sockets live; other processes move it too):", "",
                  "| sessions | server RSS MiB | machine slab MiB |", "|---|---|---|"]
        lines += [f"| {p['sessions']:,} | {p['rss_kib'] / 1024:.1f} | {p['slab_kib'] / 1024:.1f} |"
                  for p in r["points"]]
        lines += ["", f"RSS growth per session: **{per:.1f} KiB** over all {r['sessions']:,} "
                  f"({r['kib_per_session_second_half']:.1f} KiB over the second half); kernel slab "
                  f"~{r['slab_kib_per_socket']:.1f} KiB per socket (not in RSS). Target ≤ "
                  f"{TARGET_IDLE_KIB:g} KiB: {'met' if per <= TARGET_IDLE_KIB else 'MISSED'}.", ""]
    if r.get("peers"):
        lines += _idle_peers(r)
    return lines


def _idle_peers(r: dict[str, Any]) -> list[str]:
    """The gateway and the peers of one idle run side by side."""
    peers = r["peers"]
    n = next(iter(peers.values()))["connections"]
    g = r.get("kib_per_session")
    lines = [f"**idle, with the peers** (same run, same load client, a fresh server each): "
             f"{n:,} idle connections to each peer's `/recv`, connected in quarters as the "
             "gateway's sessions were, without IDENTIFY (the peers have no protocol: a "
             "connection is the websocket handshake and nothing else), server RSS after each "
             "quarter. *gateway ×*: the gateway's KiB per session over the peer's KiB per "
             "connection. The peers run as `bench/peers/` writes them, with their libraries' "
             "defaults: bare picows starts each connection's read buffer at 16 KiB and runs on "
             "aiofastnet's transports when that package is installed; the gateway starts it at "
             "2 KiB and runs on uvloop's (`gateway/server.py`).", "",
             "| target | connections | KiB per connection (gateway: per session) | gateway × "
             "| KiB over the second half | RSS at 0 MiB | RSS after each quarter MiB |",
             "|---|---|---|---|---|---|---|"]
    rows = [("gateway (IDENTIFIED sessions)", r["sessions"], g, r["kib_per_session_second_half"],
             r["points"])] if g is not None else []
    rows += [(name, p["connections"], p["kib_per_connection"],
              p["kib_per_connection_second_half"], p["points"]) for name, p in peers.items()]
    for name, count, per, half, points in rows:
        ratio = _x(g, per) if g is not None and not name.startswith("gateway") and per > 0 \
            else ""
        lines.append(f"| {name} | {count:,} | {per:.1f} | {ratio} | {half:.1f} | "
                     f"{points[0]['rss_kib'] / 1024:.1f} | "
                     + " / ".join(f"{p['rss_kib'] / 1024:.1f}" for p in points[1:]) + " |")
    return lines + [""]


def _storm(r: dict[str, Any]) -> list[str]:
    how = ("all at once" if not r["storm_concurrency"]
           else f"{r['storm_concurrency']} in flight")
    lines: list[str] = []
    if "all_resumed_s" in r:  # the gateway ran
        lines += [f"**storm**: {r['sessions']:,} READY sessions dropped at once (socket aborted, no "
                  f"close frame), then RESUME {how}:", "",
                  "| sessions | resumed | all resumed after s | p50 ms | p99 ms | errors | server CPU s "
                  "| accept queue overflows | SYN retransmits |",
                  "|---|---|---|---|---|---|---|---|---|",
                  f"| {r['sessions']:,} | {r['resumed']:,} | {r['all_resumed_s']:.2f} | "
                  f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['errors'] or 'none'} | "
                  f"{r['server_cpu_s']:.1f} | {r['tcp_counters']['ListenOverflows']:,} | "
                  f"{r['tcp_counters']['TCPSynRetrans']:,} |", ""]
    if r.get("peers"):
        lines += _storm_peers(r, how)
    return lines


def _storm_peers(r: dict[str, Any], how: str) -> list[str]:
    """The gateway and the peers of one storm run side by side."""
    peers = r["peers"]
    n = next(iter(peers.values()))["connections"]
    g, g_cpu = r.get("all_resumed_s"), r.get("server_cpu_s")
    lines = [f"**storm, with the peers** (same run, same load client, a fresh server each): "
             f"{n:,} connections to each peer's `/recv` dropped the same way (socket aborted, no "
             f"close frame), then reconnecting {how}. The peers only reconnect: they have "
             "no protocol and no session to resume, so the comparison is the time until every "
             "connection is back to receiving (for a peer, its websocket handshake done; for "
             "the gateway, RESUMED: the handshake, HELLO, the RESUME's token checked, the "
             "session found and its missed events replayed, none here). *gateway ×*: the "
             "gateway's time (or server CPU) over the peer's.", "",
             "| target | back by | connections | back | all back after s | gateway × | p50 ms "
             "| p99 ms | errors | server CPU s | gateway × CPU | accept queue overflows "
             "| SYN retransmits |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = [("gateway", "RESUME", r["sessions"], r["resumed"], r)] if g is not None else []
    rows += [(name, "reconnect", p["connections"], p["reconnected"], p)
             for name, p in peers.items()]
    for name, by, count, back, t in rows:
        secs = t.get("all_resumed_s", t.get("all_back_s", 0.0))
        peer = name != "gateway" and g is not None
        lines.append(
            f"| {name} | {by} | {count:,} | {back:,} | {secs:.2f} | "
            f"{_x(g, secs) if peer and secs > 0 else ''} | {t['p50_ms']:.0f} | "
            f"{t['p99_ms']:.0f} | {t['errors'] or 'none'} | {t['server_cpu_s']:.1f} | "
            f"{_x(g_cpu, t['server_cpu_s']) if peer and t['server_cpu_s'] > 0 else ''} | "
            f"{t['tcp_counters']['ListenOverflows']:,} | {t['tcp_counters']['TCPSynRetrans']:,} |")
    over = [name for name, _, _, _, t in rows if t["tcp_counters"]["ListenOverflows"]]
    if over:
        lines += ["", f"The accept queue overflowed for {', '.join(over)}: the kernel dropped "
                  "SYNs and those clients retried after 1 s, 3 s, ... (*SYN retransmits*), so "
                  "their time until all are back is mostly that back-off, not the server's work "
                  "(server CPU compares the work). The peers listen with their libraries' "
                  "default backlog (100 or 128: `bench/peers/` sets none); the gateway sets its "
                  "own (`LISTEN_BACKLOG` in `gateway/server.py`)."]
    return lines + [""]


def label(r: dict[str, Any]) -> str:
    """The deployment a run was made in (runs from before deployments were recorded:
    embedded)."""
    return str(r.get("deployment", {}).get("label", "embedded"))


def where(r: dict[str, Any]) -> str:
    """The server's processes and stores, and its pinning, in a few words."""
    d = r.get("deployment") or {"workers": 1, "metadata": "sqlite", "messages": "sqlite",
                                "bus": "in-process"}
    cpu = r.get("server_cpu", 0)
    stores = d["metadata"] if d["messages"] == d["metadata"] else \
        f"{d['metadata']} + {d['messages']} for messages"
    return (f"{d['workers']} worker{'s' if d['workers'] > 1 else ''}, {stores}, "
            f"{d['bus']} bus, {'unpinned' if cpu is None else f'pinned to CPU {cpu}'}")


def head(r: dict[str, Any]) -> list[str]:
    """A run's machine line, deployment and exact command (markdown lines)."""
    return [f"{r['date']}, commit {r['commit']}{' (+ uncommitted gateway/core changes)' if r['dirty'] else ''}, "
            f"{r['cpu']}, Linux {r['kernel']}, Python {r['python']}, "
            + ", ".join(f"{k} {v}" for k, v in r["versions"].items())
            + f"; load average {r['loadavg']:.2f} before the run. Deployment "
            f"**{label(r)}**: {where(r)}.", "",
            "```sh", r["command"], "```", ""]


def summary(r: dict[str, Any]) -> str:
    """The markdown of one scenario's results, with its machine, date and command."""
    body = {"fanout": _fanout, "guilds": _guilds, "idle": _idle,
            "storm": _storm}[r["scenario"]](r)
    return "\n".join(head(r) + body)


def plot(r: dict[str, Any], path: Path, others: Sequence[dict[str, Any]] = ()) -> None:
    """Latency percentiles against offered load, one colour per target; the gateway of the
    ``others`` runs (other deployments) too, dashed-dotted in its own colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    lines = [(name, t, _COLORS.get(name)) for name, t in r["targets"].items()]
    extra_colors = iter(("tab:orange", "tab:brown", "tab:olive", "tab:cyan"))
    for other in others:
        if "gateway" in other["targets"]:
            lines.append((f"gateway {label(other)}", other["targets"]["gateway"],
                          next(extra_colors, "black")))
    for name, t, color in lines:
        steps = t["steps"]
        x = [s["offered_events_s"] for s in steps]
        for key, style, pct in (("p50_ms", "-", "p50"), ("p99_ms", "--", "p99"),
                                ("p999_ms", ":", "p99.9")):
            ax.plot(x, [max(0.01, s[key]) for s in steps], style, color=color, marker=".",
                    label=f"{name} {pct}")
        ax.axvline(t["saturation_events_s"], color=color, alpha=0.25, linewidth=4)
    ax.axhline(TARGET_P99_MS, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered deliveries/s (msg/s × receivers); shaded: saturation deliveries/s")
    ax.set_ylabel("send → receive latency, ms")
    n = next(iter(r["targets"].values()))["receivers"]
    core = "server on one core" if r.get("server_cpu", 0) is not None else "server unpinned"
    ax.set_title(f"Fanout to {n:,} receivers, {core} ({r['date']})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_guilds(runs: Sequence[dict[str, Any]], path: Path) -> None:
    """The guilds ladder: latency percentiles against offered messages/s, one colour per
    deployment (msg/s, not deliveries: a message reaches ~300 sessions on average here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    colors = iter(("tab:red", "tab:orange", "tab:brown", "tab:olive"))
    for r in runs:
        color, steps = next(colors, "black"), r["steps"]
        x = [s["offered_msg_s"] for s in steps]
        for key, style, pct in (("p50_ms", "-", "p50"), ("p99_ms", "--", "p99"),
                                ("p999_ms", ":", "p99.9")):
            ax.plot(x, [max(0.01, s[key]) for s in steps], style, color=color, marker=".",
                    label=f"{label(r)} {pct}")
        if r.get("saturated_at_msg_s"):
            ax.axvline(r["saturated_at_msg_s"], color=color, alpha=0.25, linewidth=4)
    ax.axhline(TARGET_P99_MS, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered messages/s (Zipf over guilds by size); shaded: saturated at")
    ax.set_ylabel("send → receive latency, ms")
    first = runs[0]
    ax.set_title(f"{first['guilds']} guilds ({first['mix']}), {first['users']:,} receivers, "
                 f"server on one core ({first['date']})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# -- deployments side by side -----------------------------------------------------------------


def deployments(results_dir: Path, scenario: str) -> list[dict[str, Any]]:
    """The runs of ``scenario``: ``<scenario>.json`` (embedded) first, then
    ``<scenario>_<deployment>.json`` by name."""
    paths = [results_dir / f"{scenario}.json", *sorted(results_dir.glob(f"{scenario}_*.json"))]
    return [json.loads(p.read_text()) for p in paths if p.is_file()]


def _x(value: float, base: float | None) -> str:
    return f"{value / base:.2f}×" if base else ""


def _side_fanout(runs: Sequence[dict[str, Any]]) -> list[str]:
    peers = next((r["targets"] for r in runs if "bare_picows" in r["targets"]), {})
    bare = peers.get("bare_picows", {}).get("saturation_events_s")
    aio = peers.get("aiohttp", {}).get("saturation_events_s")
    base = runs[0]["targets"].get("gateway", {}).get("saturation_events_s")
    lines = ["| deployment | server | saturation deliveries/s | × embedded | × bare_picows "
             "| × aiohttp | saturated at msg/s | ev per CPU-s | half load msg/s | p50 ms "
             "| p99 ms | p99.9 ms |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        t = r["targets"].get("gateway")
        if t is None:
            continue
        best = max(t["steps"], key=lambda s: s["delivered_events_s"])
        h, sat = t["half"], t["saturation_events_s"]
        lines.append(
            f"| {label(r)} | {where(r)} | {_n(sat)} | {_x(sat, base)} | {_x(sat, bare)} | "
            f"{_x(sat, aio)} | {_n(t['saturated_at_msg_s']) if t['saturated_at_msg_s'] else 'not reached'} | "
            f"{_n(best.get('events_per_cpu_s', 0))} | {_n(h['offered_msg_s'])} | "
            f"{h['p50_ms']:.2f} | {h['p99_ms']:.2f} | {h['p999_ms']:.2f} |")
    return lines + ["", "The peers (one process each) ran in the embedded run; their ratios "
                    "are against the gateway of each deployment.", ""]


def _side_guilds(runs: Sequence[dict[str, Any]]) -> list[str]:
    base = runs[0]["saturation_events_s"]
    lines = ["| deployment | server | saturation deliveries/s | × embedded | saturated at msg/s "
             "| ev per CPU-s | half load msg/s | p50 ms | p99 ms | receivers over / under |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        best = max(r["steps"], key=lambda s: s["delivered_events_s"])
        h, steps = r["half"], [*r["steps"], r["half"]]
        lines.append(
            f"| {label(r)} | {where(r)} | {_n(r['saturation_events_s'])} | "
            f"{_x(r['saturation_events_s'], base)} | "
            f"{_n(r['saturated_at_msg_s']) if r['saturated_at_msg_s'] else 'not reached'} | "
            f"{_n(best['events_per_cpu_s'])} | {_n(h['offered_msg_s'])} | {h['p50_ms']:.2f} | "
            f"{h['p99_ms']:.2f} | {max(s['receivers_over'] for s in steps)} / "
            f"{max(s['receivers_under'] for s in steps)} |")
    return lines + [""]


def _peer_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The peers' results of the first run that measured them (the embedded one)."""
    return next((r["peers"] for r in runs if r.get("peers")), {})


def _side_idle(runs: Sequence[dict[str, Any]]) -> list[str]:
    runs = [r for r in runs if "kib_per_session" in r]
    if not runs:
        return []
    base = runs[0]["kib_per_session"]
    peers = _peer_runs(runs)
    lines = ["| deployment | server | sessions | KiB per session | × embedded | "
             + "".join(f"× {name} | " for name in peers)
             + "RSS at 0 MiB | RSS at the end MiB |",
             "|---|---|---|---|---|" + "---|" * len(peers) + "---|---|"]
    for r in runs:
        per = r["kib_per_session"]
        lines.append(f"| {label(r)} | {where(r)} | {r['sessions']:,} | "
                     f"{per:.1f} | {_x(per, base)} | "
                     + "".join(f"{_x(per, p['kib_per_connection'] if p['kib_per_connection'] > 0 else None)} | "
                               for p in peers.values())
                     + f"{r['points'][0]['rss_kib'] / 1024:.1f} | "
                     f"{r['points'][-1]['rss_kib'] / 1024:.1f} |")
    return lines + ["", "RSS is summed over the server's processes (with workers: the "
                    "supervisor and each worker, each with its own interpreter)."
                    + (" The peers ran in the embedded run (no IDENTIFY: they have no "
                       "protocol); × a peer: the deployment's KiB per session over the peer's "
                       "KiB per idle connection." if peers else ""), ""]


def _side_storm(runs: Sequence[dict[str, Any]]) -> list[str]:
    runs = [r for r in runs if "all_resumed_s" in r]
    if not runs:
        return []
    peers = _peer_runs(runs)
    lines = ["| deployment | server | sessions | resumed | all resumed after s | "
             + "".join(f"× {name} | " for name in peers)
             + "p50 ms | p99 ms | errors | server CPU s |",
             "|---|---|---|---|---|" + "---|" * len(peers) + "---|---|---|---|"]
    for r in runs:
        secs = r["all_resumed_s"]
        lines.append(f"| {label(r)} | {where(r)} | {r['sessions']:,} | {r['resumed']:,} | "
                     f"{secs:.2f} | "
                     + "".join(f"{_x(secs, p['all_back_s'] if p['all_back_s'] > 0 else None)} | "
                               for p in peers.values())
                     + f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                     f"{r['errors'] or 'none'} | {r['server_cpu_s']:.1f} |")
    return lines + (["", "The peers ran in the embedded run and only reconnect (no session to "
                     "resume); × a peer: the deployment's time until all resumed over the "
                     "peer's until all reconnected."] if peers else []) + [""]


_SIDE = {"fanout": _side_fanout, "guilds": _side_guilds, "idle": _side_idle,
         "storm": _side_storm}


def section(results_dir: Path, plot_dir: Path) -> str:
    """The gateway section (between its markers) from ``results_dir``; draws
    ``plot_dir/fanout.png`` and ``guilds.png``. Empty without any results."""
    if not any(deployments(results_dir, name) for name in _SIDE):
        return ""
    parts = ["## Gateway (`bench.gateway`): fanout, guilds, idle sessions, resume storm", "",
             "Generated by `python -m bench report` from `bench/results/*.json`; "
             "each run's own machine line, deployment, date and exact command are given with "
             "it. Server pinned to CPU 0 (`taskset -c 0`; with `--deploy workers2` both workers "
             "share it), load client and controller on CPU 1.", ""]
    for name in ("fanout", "fixedrate", "guilds", "idle", "storm"):
        runs = deployments(results_dir, name)
        if not runs:
            continue
        if name == "fixedrate":  # fanout --no-ladder: the fixed rates alone
            parts += ["### fanout at fixed rates (`python -m bench fanout --no-ladder`)", ""]
            for r in runs:
                parts += [summary(r), ""]
            plot_fixed(runs[:1], plot_dir / "fixedrate.png")  # the embedded run: readable
            parts += ["![latency vs fixed offered load](fixedrate.png)", ""]
            continue
        parts += [f"### {name}", ""]
        if len(runs) > 1:
            parts += ["Deployments side by side (each run in full below):", "",
                      *_SIDE[name](runs)]
        for r in runs:
            if len(runs) > 1:
                parts += [f"#### {name}: {label(r)}", ""]
            parts += [summary(r), ""]
        if name == "fanout":
            plot(runs[0], plot_dir / "fanout.png", runs[1:])
            parts += ["![latency vs offered load](fanout.png)", ""]
        if name == "guilds":
            plot_guilds(runs, plot_dir / "guilds.png")
            parts += ["![guilds: latency vs offered load](guilds.png)", ""]
    return "\n".join([BEGIN, *parts, END])
