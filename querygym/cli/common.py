"""Argument groups and helpers shared by every sub-command."""

from __future__ import annotations

import argparse
import re

from querygym.converters import load_tasks as load
from querygym.converters.builtin import builtin_tasks
from querygym.dialects import available
from querygym.errors import QueryGymError


def dataset_args(p: argparse.ArgumentParser) -> None:
    """The options that name a dataset (the built-in tasks when none is given)."""
    p.add_argument("--bird", metavar="QUESTIONS", help="a BIRD-format question file (default: the built-in tasks)")
    p.add_argument("--data", metavar="PATH", help="a dataset file or folder in any supported format")
    p.add_argument("--format", metavar="NAME", help="the format of --data (detected from its contents by default)")
    p.add_argument("--db-root", metavar="DIR", help="folder holding <db_id>/<db_id>.sqlite, a .db file, or a PostgreSQL server URL")
    p.add_argument("--tables", metavar="FILE", help="a tables.json giving schemas")
    p.add_argument("--task", action="append", metavar="ID", help="only this task (repeatable)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N tasks")


def plain(text: str) -> str:
    """Docstring text as a terminal shows it: reStructuredText roles and literals become plain words.

    >>> plain("Reads ``dev.json`` with :func:`querygym.load_bird`.")
    'Reads dev.json with querygym.load_bird.'
    """
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"``([^`]+)``", r"\1", text)


def env_args(p: argparse.ArgumentParser) -> None:
    """The options that configure the environment: engine, steps, time limit."""
    p.add_argument("--dialect", default="sqlite", choices=available(),
                   help="database engine (default: sqlite; installed: %(choices)s)")
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
    return tasks
