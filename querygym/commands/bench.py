"""``querygym bench decompose``: decomposition coverage of a dataset's gold SQL."""

from __future__ import annotations

import json
from pathlib import Path

from querygym.commands.common import bench_parsers, dataset_args


def register(subparsers) -> None:
    p = bench_parsers(subparsers).add_parser(
        "decompose", help="how many gold queries decompose into steps and replay to the answer")
    dataset_args(p)
    p.add_argument("--out", metavar="DIR", help="write DIR/decompose.json with every failure")
    p.add_argument("--timeout", type=float, default=10.0, help="time limit per query in seconds (default: 10)")
    p.add_argument("--examples", type=int, default=3, help="example failures shown per cause (default: 3)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from querygym.bench import bench_decompose, format_decompose_report
    from querygym.commands.common import load_tasks

    tasks = load_tasks(args)
    report = bench_decompose(tasks, args.out, timeout_s=args.timeout)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "failures"}, indent=2))
    else:
        print(format_decompose_report(report, examples=args.examples))
    if args.out:
        print(f"wrote {Path(args.out) / 'decompose.json'}")
    return 0
