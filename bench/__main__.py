"""``python -m bench SCENARIO [options]``: the benchmarks as one tool.

Scenarios (the options after SCENARIO go to the module that runs it, unchanged):

  fanout, guilds, idle, storm   bench.gateway  (python -m bench fanout --help)
  send, history                 bench.rest_send (python -m bench send --help)
  bigchannel                    bench.big_channel: 10,000 members of one channel connected,
                                loop lag, heartbeats, the connect storm, one message to all
                                (not in ``all``: ~6 min)
  report                        bench.report: RESULTS.md's generated sections and the plots,
                                from bench/results/*.json (--results DIR --out FILE)
  all                           every scenario in each deployment (embedded, then workers2;
                                send and history also embedded on PostgreSQL), default sizes,
                                then report: the one command that regenerates bench/RESULTS.md
                                (python -m bench all --help); fanout, idle and storm
                                measure the peers in the embedded run only

Every scenario takes ``--deploy embedded|workers2`` (bench.deploy) and writes
``bench/results/<scenario>.json`` (embedded) or ``<scenario>_<deployment>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "plan"]

_REPO = Path(__file__).resolve().parent.parent
GATEWAY_SCENARIOS = ("fanout", "guilds", "idle", "storm")
REST_SCENARIOS = ("send", "history")
PEER_SCENARIOS = ("fanout", "idle", "storm")  # measure the peers too (embedded runs only)
SCENARIOS = (*GATEWAY_SCENARIOS, *REST_SCENARIOS)


def _all_parser() -> argparse.ArgumentParser:
    from bench import deploy

    p = argparse.ArgumentParser(
        prog="python -m bench all",
        description="Run every scenario at its default size in each deployment, one after the "
                    "other (each in its own process, results in bench/results/), then regenerate "
                    "bench/RESULTS.md and the plots. Roughly 20 to 30 minutes on a 2-core "
                    "machine (an estimate: RESULTS.md then lists how long each run took).")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help="comma-separated, in this order (default: all of them)")
    p.add_argument("--deploys", default=",".join(deploy.DEPLOYS),
                   help="comma-separated deployments (default: embedded,workers2)")
    p.add_argument("--mongo-url", default="",
                   help="workers2 keeps messages in this MongoDB (a real, throwaway mongod)")
    p.add_argument("--postgres-url", default=deploy.DEFAULT_POSTGRES_URL,
                   help="where workers2's fresh databases are created")
    p.add_argument("--redis-url", default=deploy.DEFAULT_REDIS_URL, help="workers2's Redis")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    return p


def plan(args: argparse.Namespace) -> list[list[str]]:
    """The argv (after ``python -m bench``) of every run of ``all``: per scenario, each
    deployment in turn (runs to compare are made close in time); ``send`` and ``history``
    also embedded on PostgreSQL (one worker), which tells the store's part from the
    workers'."""
    from bench import deploy

    runs = []
    for scenario in args.scenarios.split(","):
        if scenario not in SCENARIOS:
            raise SystemExit(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
        for name in args.deploys.split(","):
            if name not in deploy.DEPLOYS:
                raise SystemExit(f"unknown deployment {name!r}: one of {', '.join(deploy.DEPLOYS)}")
            argv = [scenario]
            if name != "embedded":
                argv += ["--deploy", name]
                if scenario in PEER_SCENARIOS:
                    argv += ["--targets", "gateway"]  # the peers ran with the embedded one
                if args.mongo_url:
                    argv += ["--mongo-url", args.mongo_url]
                argv += _postgres(args)
                if args.redis_url != deploy.DEFAULT_REDIS_URL:
                    argv += ["--redis-url", args.redis_url]
            runs.append([*argv, "--no-report"])
            if name == "embedded" and scenario in REST_SCENARIOS:
                runs.append([scenario, "--backend", "postgres", *_postgres(args), "--no-report"])
    return runs


def _postgres(args: argparse.Namespace) -> list[str]:
    from bench import deploy

    return ["--postgres-url", args.postgres_url] \
        if args.postgres_url != deploy.DEFAULT_POSTGRES_URL else []


def run_all(argv: Sequence[str]) -> int:
    from bench import gateway_report, report

    args = _all_parser().parse_args(argv)
    runs = plan(args)
    if args.dry_run:
        for run in runs:
            print(" ".join([".venv/bin/python -m bench", *run]))
        print(".venv/bin/python -m bench report")
        return 0
    meta = gateway_report.machine(["all", *argv], "bench")
    done = []
    start = time.monotonic()
    for i, run in enumerate(runs, 1):
        command = " ".join([".venv/bin/python -m bench", *run])
        print(f"\n[{i}/{len(runs)}] {command}", file=sys.stderr)
        t0 = time.monotonic()
        rc = subprocess.run([sys.executable, "-m", "bench", *run], cwd=_REPO).returncode
        done.append({"command": command, "seconds": time.monotonic() - t0, "returncode": rc})
        print(f"[{i}/{len(runs)}] {'done' if rc == 0 else f'FAILED ({rc})'} in "
              f"{done[-1]['seconds'] / 60:.1f} min", file=sys.stderr)
    record = {**meta, "runs": done, "total_s": time.monotonic() - start}
    report.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (report.RESULTS_DIR / "all.json").write_text(json.dumps(record, indent=1) + "\n")
    report.write(report.RESULTS_DIR, report.RESULTS_MD)
    failed = [r["command"] for r in done if r["returncode"]]
    print(f"\nall: {len(done) - len(failed)}/{len(done)} runs ok in "
          f"{record['total_s'] / 60:.0f} min; {report.RESULTS_MD} regenerated", file=sys.stderr)
    for command in failed:
        print(f"FAILED: {command}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    scenario, rest = argv[0], argv[1:]
    if scenario in GATEWAY_SCENARIOS:
        from bench import gateway

        return gateway.main([scenario, *rest], prog="bench")
    if scenario in REST_SCENARIOS:
        from bench import rest_send

        return rest_send.main([scenario, *rest], prog="bench")
    if scenario == "bigchannel":
        from bench import big_channel

        return big_channel.main(rest, prog="bench bigchannel")
    if scenario == "report":
        from bench import report

        return report.main(rest)
    if scenario == "all":
        return run_all(rest)
    print(f"python -m bench: unknown scenario {scenario!r}; one of "
          f"{', '.join([*SCENARIOS, 'bigchannel', 'report', 'all'])}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
