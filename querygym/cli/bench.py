"""``querygym bench``: ``decompose`` (how many gold queries decompose into steps and replay to the
answer) and ``engines`` (one plan on every engine: agreement, causes, step times)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from querygym.agents.oracle import oracle_scripts
from querygym.agents.scripts import load_scripts
from querygym.bench.decompose import bench_decompose, format_decompose_report
from querygym.bench.engines import (
    available_engines,
    bench_engines,
    format_engines_report,
)
from querygym.cli.common import dataset_args, load_tasks
from querygym.converters.builtin import builtin_references


def register(subparsers) -> None:
    """Add ``querygym bench decompose`` and ``querygym bench engines`` to the command line."""
    bench = subparsers.add_parser("bench", help="measure querygym on a dataset").add_subparsers(dest="bench", required=True)
    p = bench.add_parser(
        "decompose", help="how many gold queries decompose into steps and replay to the answer")
    dataset_args(p)
    p.add_argument("--out", metavar="DIR", help="write DIR/decompose.json with every failure")
    p.add_argument("--timeout", type=float, default=10.0, help="time limit per query in seconds (default: 10)")
    p.add_argument("--examples", type=int, default=3, help="example failures shown per cause (default: 3)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_decompose)

    b = bench.add_parser(
        "engines", help="replay oracle trajectories on every engine and compare the final tables",
        description="Replays each task's action script (the oracle's decomposition of its gold SQL, --scripts, "
                    "or the built-in references) on every available engine, and reports per engine pair the "
                    "share of tasks whose final tables agree, the cause of each disagreement, compile failures "
                    "and per-step times.  Writes OUT/engines.json, OUT/disagreements.jsonl, OUT/failures.json.")
    dataset_args(b)
    b.add_argument("--scripts", metavar="PATH", help="action scripts (JSON, JSONL or folder) instead of the oracle's")
    b.add_argument("--engines", default=None, help="comma-separated engines (default: every installed one)")
    b.add_argument("--timeout", type=float, default=10.0, help="time limit per query in seconds (default: 10)")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.set_defaults(func=run_bench)


def run_decompose(args) -> int:
    """Measure how many gold queries decompose and replay; print the report, write it with ``--out``."""
    tasks = load_tasks(args, playable=False)  # decomposing gold SQL needs no database
    report = bench_decompose(tasks, args.out, timeout_s=args.timeout)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "failures"}, indent=2))
    else:
        print(format_decompose_report(report, examples=args.examples))
    if args.out:
        print(f"wrote {Path(args.out) / 'decompose.json'}")
    return 0


def run_bench(args) -> int:
    """Replay each task's script on every engine and report where the final tables agree."""
    tasks = load_tasks(args)
    if args.scripts:
        scripts = load_scripts(args.scripts)
    elif args.bird or args.data:
        scripts, _ = oracle_scripts(t for t in tasks if t.playable)
    else:
        scripts = builtin_references()
    engines = args.engines.split(",") if args.engines else available_engines()
    report = bench_engines(tasks, scripts, args.out, engines=engines, timeout_s=args.timeout, progress=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(format_engines_report(report))
    print(f"wrote {Path(args.out) / 'engines.json'}")
    return 0
