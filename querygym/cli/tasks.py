"""``querygym tasks``: list a dataset's tasks; ``--check`` computes every target."""

from __future__ import annotations

import argparse
import sys

from querygym.cli.common import dataset_args, load_tasks
from querygym.converters.check import check_tasks, dataset_report


def register(subparsers) -> None:
    """Add ``querygym tasks`` to the command line."""
    tasks = subparsers.add_parser("tasks", help="list a dataset's tasks")
    dataset_args(tasks)
    tasks.add_argument("--check", action="store_true", help="run every gold query and report failures")
    tasks.add_argument("--timeout", type=float, default=30.0, help="time limit per gold query (default: 30)")
    tasks.set_defaults(func=cmd_tasks)


def cmd_tasks(args: argparse.Namespace) -> int:
    """List the dataset's tasks with their status (``--check`` computes every target first)."""
    tasks = load_tasks(args)
    if args.check:
        check_tasks(tasks, timeout_s=args.timeout)  # setup SQL (BIRD-Critic) runs in a sandbox copy
    for t in tasks:
        status = "ok" if t.playable else f"unplayable: {t.problem}"
        question = " ".join(t.question.split())
        question = question if len(question) <= 70 else question[:69] + "…"
        print(f"{t.id}\t{t.db_id}\t{t.difficulty or '-'}\t{status}\t{question}")
    playable = len(tasks.playable())
    print(f"{len(tasks)} task(s), {playable} playable, {len(tasks.problems)} with problems", file=sys.stderr)
    print(dataset_report(tasks, checked=args.check), file=sys.stderr)
    return 0
