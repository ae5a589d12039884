"""Argument groups and helpers shared by every sub-command."""

from __future__ import annotations

import argparse

from querygym.converters import load_tasks as load
from querygym.converters.builtin import builtin_tasks
from querygym.errors import QueryGymError


def dataset_args(p: argparse.ArgumentParser, *, neighbours: bool = True) -> None:
    p.add_argument("--bird", metavar="QUESTIONS", help="a BIRD-format question file (default: the built-in tasks)")
    p.add_argument("--data", metavar="PATH", help="a dataset file or folder in any supported format")
    p.add_argument("--format", metavar="NAME", help="the format of --data (detected from its contents by default)")
    p.add_argument("--db-root", metavar="DIR", help="folder holding <db_id>/<db_id>.sqlite, a .db file, or a PostgreSQL server URL")
    p.add_argument("--tables", metavar="FILE", help="a tables.json giving schemas")
    p.add_argument("--task", action="append", metavar="ID", help="only this task (repeatable)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N tasks")
    if neighbours:
        p.add_argument("--neighbours", metavar="DIR", help="neighbour databases (written by `querygym synth-db --neighbours K`):"
                                                           " a task is solved only when right on each of them too")


def env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dialect", default="sqlite", help="database engine dialect (default: sqlite)")
    p.add_argument("--max-steps", type=int, default=30, help="steps per episode before truncation (default: 30)")
    p.add_argument("--timeout", type=float, default=5.0, help="time limit per query in seconds (default: 5)")


def load_tasks(args: argparse.Namespace):
    """The task set the dataset arguments name (the built-in tasks when none is given)."""
    if args.bird and args.data:
        raise QueryGymError("give --bird QUESTIONS or --data PATH, not both")
    if args.bird:
        tasks = load(args.bird, db_root=args.db_root, tables=args.tables, format="bird")
    elif args.data:
        tasks = load(args.data, db_root=args.db_root, tables=args.tables, format=args.format)
    else:
        if args.db_root or args.tables or args.format:
            raise QueryGymError("--db-root, --tables and --format go with --bird QUESTIONS or --data PATH")
        tasks = builtin_tasks()
    if args.task:
        tasks = tasks.select(args.task)
    if args.limit is not None:
        tasks = tasks.select(tasks.ids[: args.limit])
    if getattr(args, "neighbours", None):
        tasks.with_neighbours(args.neighbours)
    return tasks
