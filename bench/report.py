"""RESULTS.md's generated sections and the plots, from the results JSON of every scenario.

Usage::

    python -m bench report [--results bench/results] [--out bench/RESULTS.md]

Three sections are generated, each between its pair of HTML comments, and replaced whole; the
text written by hand around them is left alone. A missing section is inserted next to the
others (else after the title); one without any results is left as it is.

- ``bench.all``: the last ``python -m bench all`` run: every command and how long it took;
- ``bench.gateway``: fanout, guilds, idle and storm (``bench.gateway_report``) and
  ``fanout.png``;
- ``bench.rest``: ``send`` and ``history`` per deployment, and ``sends.png``.

Plots are written next to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import gateway_report
from bench.gateway_report import deployments, head, label, where

__all__ = ["main", "rest_section", "write"]

_REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = _REPO / "bench" / "results"
RESULTS_MD = _REPO / "bench" / "RESULTS.md"
ALL = ("<!-- bench.all:begin -->", "<!-- bench.all:end -->")
GATEWAY = (gateway_report.BEGIN, gateway_report.END)
REST = ("<!-- bench.rest:begin -->", "<!-- bench.rest:end -->")


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _x(value: float, base: float | None) -> str:
    return f"{value / base:.2f}×" if base else ""


# -- send and history -------------------------------------------------------------------------


def _lat(lat: dict[str, Any] | None, base: dict[str, Any] | None) -> str:
    """``msg/s | × base | p50 | p99 | server CPU`` cells of one phase."""
    if not lat:
        return " | | | | "
    return (f"{_n(lat['per_s'])} | {_x(lat['per_s'], base['per_s'] if base else None)} | "
            f"{lat['p50_ms']:.1f} | {lat['p99_ms']:.1f} | {lat.get('server_cpu_pct', 0):.0f}%")


def _errors(v: dict[str, Any], phases: Sequence[str]) -> int:
    return sum(v[p]["errors"] for p in phases if v.get(p))


def _send(runs: Sequence[dict[str, Any]]) -> list[str]:
    first = runs[0]
    lines = [
        f"**send**: closed loop, each sender awaiting its answer before the next message; "
        f"~100-byte messages. REST: {first['senders']} accounts post {first['messages']:,} "
        f"messages in all to one channel of one guild (keep-alive connections), answered 200 "
        f"once the message's write batch is durable. Gateway: {first['ws_senders']} senders "
        f"send {first['messages']:,} messages in all with op 50, each acked by its own "
        f"MESSAGE_CREATE echo (the nonce), which the server sends only after the write is "
        f"durable. The gateway allows 120 payloads per connection per 60 s, so each sender "
        f"moves to a fresh READY session every {first['ws_per_session']} messages "
        f"({first.get('ws_sessions', first['ws_senders'])} sessions in all, IDENTIFYed with GUILDS | GUILD_MESSAGES); "
        f"each session is alone in a guild of its own, so the echo is the message's one "
        f"delivery. *server CPU*: of one core, over the phase, summed over the server's "
        f"processes.", "",
        "| deployment | server | variant | REST msg/s | × embedded | p50 ms | p99 ms "
        "| server CPU | gateway msg/s | × embedded | p50 ms | p99 ms | server CPU | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {v["variant"]: v for v in first["variants"]}
    for r in runs:
        for v in r["variants"]:
            b = base.get(v["variant"], {})
            lines.append(f"| {label(r)} | {where(r)} | {v['variant']} | "
                         f"{_lat(v.get('rest_send'), b.get('rest_send'))} | "
                         f"{_lat(v.get('gateway_send'), b.get('gateway_send'))} | "
                         f"{_errors(v, ('rest_send', 'gateway_send'))} |")
    return lines + [""]


def _history(runs: Sequence[dict[str, Any]]) -> list[str]:
    first = runs[0]
    lines = [
        f"**history**: {first['messages']:,} messages posted over REST first (set-up; its rate "
        f"is in the JSON as `fill`), then {first['readers']} readers make {first['reads']} "
        f"requests each, one at a time, of the newest page (`GET /channels/{{id}}/messages?"
        f"limit=50`), then as many of a deep page (`...&before=` the id of a message 10% into "
        f"the run). With Redis, the newest page may come from the recent-messages cache.", "",
        "| deployment | server | newest page/s | × embedded | p50 ms | p99 ms | server CPU "
        "| deep page/s | × embedded | p50 ms | p99 ms | server CPU | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    b = first["variants"][0]
    for r in runs:
        for v in r["variants"]:
            lines.append(f"| {label(r)} | {where(r)} | "
                         f"{_lat(v.get('newest_page'), b.get('newest_page'))} | "
                         f"{_lat(v.get('deep_page'), b.get('deep_page'))} | "
                         f"{_errors(v, ('newest_page', 'deep_page'))} |")
    return lines + [""]


def _plot(send: Sequence[dict[str, Any]], history: Sequence[dict[str, Any]], path: Path) -> None:
    """Per deployment, bars of REST and gateway sends/s and history pages/s, p99 above each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("REST send", send, "rest_send"), ("gateway send (op 50)", send, "gateway_send"),
              ("newest page", history, "newest_page"), ("deep page", history, "deep_page")]
    labels = list(dict.fromkeys(label(r) for r in [*send, *history]))
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    width = 0.8 / max(1, len(labels))
    for i, lab in enumerate(labels):
        xs, ys, p99s = [], [], []
        for g, (_, runs, key) in enumerate(groups):
            run = next((r for r in runs if label(r) == lab), None)
            lat = run["variants"][0].get(key) if run else None
            if lat:
                xs.append(g + (i - (len(labels) - 1) / 2) * width)
                ys.append(lat["per_s"])
                p99s.append(lat["p99_ms"])
        bars = ax.bar(xs, ys, width, label=lab)
        for bar, p99 in zip(bars, p99s, strict=True):
            ax.annotate(f"p99 {p99:.0f} ms", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(groups)), [g[0] for g in groups])
    ax.set_ylabel("messages or pages per second")
    date = next((r["date"] for r in [*send, *history]), "")
    pinned = all(r.get("server_cpu", 0) is not None for r in [*send, *history])
    ax.set_title(f"Sends and history reads per deployment, server "
                 f"{'on one core' if pinned else 'unpinned'} ({date})", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def rest_section(results_dir: Path, plot_dir: Path) -> str:
    """The send/history section (between its markers); draws ``plot_dir/sends.png``. Empty
    without any results."""
    send, history = deployments(results_dir, "send"), deployments(results_dir, "history")
    if not send and not history:
        return ""
    parts = ["## Sends and history per deployment (`python -m bench send`, `... history`)", "",
             "Generated by `python -m bench report` from `bench/results/send*.json` and "
             "`history*.json` (`bench.rest_send`). Server pinned to CPU 0 (with `--deploy "
             "workers2` both workers share it: the figures compare the cost of the "
             "multi-worker path, Redis and PostgreSQL on one core's budget, not scaling; "
             "Redis, PostgreSQL and mongod are not pinned), the load client on CPU 1. "
             "No peers: they have no store.", ""]
    for name, runs, table in (("send", send, _send), ("history", history, _history)):
        if not runs:
            continue
        parts += [f"### {name}", "", *table(runs)]
        for r in runs:
            parts += [f"#### {name}: {label(r)}", "", *head(r)]
    _plot(send, history, plot_dir / "sends.png")
    parts += ["![sends and reads per second](sends.png)", ""]
    return "\n".join([REST[0], *parts, REST[1]])


# -- python -m bench all ----------------------------------------------------------------------


def all_section(results_dir: Path) -> str:
    """What the last ``python -m bench all`` ran and how long each run took."""
    path = results_dir / "all.json"
    if not path.is_file():
        return ""
    a = json.loads(path.read_text())
    lines = ["## The last full run (`python -m bench all`)", "",
             f"Started {a['date']} at commit {a['commit']}, {a['cpu']}; "
             f"{a['total_s'] / 60:.0f} min in all.", "", "```sh", a["command"], "```", "",
             "| run | took | status |", "|---|---|---|"]
    for run in a["runs"]:
        lines.append(f"| `{run['command']}` | {run['seconds'] / 60:.1f} min | "
                     f"{'ok' if run['returncode'] == 0 else 'FAILED (' + str(run['returncode']) + ')'} |")
    return "\n".join([ALL[0], *lines, "", ALL[1]])


# -- the file -----------------------------------------------------------------------------------


def _put(text: str, markers: tuple[str, str], section: str, after: str = "",
         before: str = "") -> str:
    """Replace the section between ``markers``; else insert it after the marker ``after`` or
    before ``before``, whichever is there, else after the title line. An empty ``section``
    leaves the text as it is."""
    begin, end = markers
    if not section:
        return text
    if begin in text and end in text:
        return text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    if after and after in text:
        i = text.index(after) + len(after)
        return f"{text[:i]}\n\n{section}{text[i:]}"
    if before and before in text:
        i = text.index(before)
        return f"{text[:i]}{section}\n\n{text[i:]}"
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{section}\n{rest}"


def write(results_dir: Path, out: Path) -> None:
    """Regenerate every generated section of ``out`` and its plots from ``results_dir``."""
    text = out.read_text() if out.exists() else "# Benchmark results\n"
    text = _put(text, ALL, all_section(results_dir), before=GATEWAY[0])
    text = _put(text, GATEWAY, gateway_report.section(results_dir, out.parent), ALL[1],
                REST[0])
    text = _put(text, REST, rest_section(results_dir, out.parent), GATEWAY[1])
    out.write_text(text)


def save(result: dict[str, Any], path: Path, regenerate: bool) -> None:
    """Write one run's results JSON to ``path``; with ``regenerate``, rewrite RESULTS.md from
    the results directory (where every scenario saves by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"results: {path}", file=sys.stderr)
    if regenerate:
        write(RESULTS_DIR, RESULTS_MD)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench report", description=__doc__.split("\n")[0])
    p.add_argument("--results", type=Path, default=RESULTS_DIR, help="the results JSON files")
    p.add_argument("--out", type=Path, default=RESULTS_MD,
                   help="the markdown file to regenerate (plots go beside it)")
    args = p.parse_args(argv)
    write(args.results, args.out)
    print(f"regenerated {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
