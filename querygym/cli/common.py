"""Argument groups and helpers shared by every sub-command."""

from __future__ import annotations

import argparse
import re
from collections import Counter

from querygym.converters import detect_format
from querygym.converters import load_tasks as load
from querygym.converters.builtin import builtin_tasks
from querygym.dialects import available
from querygym.converters.tasks import TaskSet
from querygym.errors import DatasetError, QueryGymError

#: what gives each format its databases: named when a dataset loads with nothing playable
DATABASE_OPTIONS = {
    "bird": "--db-root DIR (the folder holding <db_id>/<db_id>.sqlite, or a PostgreSQL server URL)",
    "spider": "--db-root DIR (the folder holding <db_id>/<db_id>.sqlite, e.g. ../spider_dev/database)",
    "sparc": "--db-root DIR (the folder holding <db_id>/<db_id>.sqlite; SParC's are Spider's: "
             "../spider_dev/database)",
    "cosql": "--db-root DIR (the folder holding <db_id>/<db_id>.sqlite)",
    "wikisql": "--db-root FILE.db (the dataset's database) or --tables FILE.tables.jsonl (its tables)",
    "criteria2sql": "--db-root FILE.db (the dataset's database) or --tables FILE.tables.jsonl (its tables)",
    "bird_critic": "--db-root URL (the PostgreSQL server holding its databases; with --tables dev_schema.json "
                   "missing ones are created)",
}


def dataset_args(p: argparse.ArgumentParser, *, neighbours: bool = True) -> None:
    """The options that name a dataset (the built-in tasks when none is given)."""
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


def plain(text: str) -> str:
    """Docstring text as a terminal shows it: reStructuredText roles and literals become plain words.

    >>> plain("Reads ``dev.json`` with :func:`querygym.load_bird`.")
    'Reads dev.json with querygym.load_bird.'
    """
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"``([^`]+)``", r"\1", text)


def env_args(p: argparse.ArgumentParser) -> None:
    """The options that configure the environment: engine, steps, time limit."""
    # not argparse choices: an unknown name gets querygym's one-line error with the closest name
    p.add_argument("--dialect", default="sqlite", metavar="NAME",
                   help=f"database engine: {', '.join(available())} (default: sqlite)")
    p.add_argument("--max-steps", type=int, default=30, help="steps per episode before truncation (default: 30)")
    p.add_argument("--timeout", type=float, default=5.0, help="time limit per query in seconds (default: 5)")


def load_tasks(args: argparse.Namespace, *, playable: bool = True):
    """The task set the dataset arguments name (the built-in tasks when none is given).

    A dataset of which no question can be played (its databases are not where it looks) is an
    error naming the option that is missing, not a task set of unplayable tasks; ``playable=False``
    accepts it (for what needs the gold SQL only, as ``bench decompose``).
    """
    if args.bird and args.data:
        raise QueryGymError("give --bird QUESTIONS or --data PATH, not both")
    if args.bird:
        tasks = load(args.bird, db_root=args.db_root, tables=args.tables, format="bird")
        if playable:
            require_playable(tasks, args.bird, db_root=args.db_root)
    elif args.data:
        tasks = load(args.data, db_root=args.db_root, tables=args.tables, format=args.format)
        if playable:
            require_playable(tasks, args.data, db_root=args.db_root)
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
    if not len(tasks):
        raise QueryGymError(f"no task selected: --limit {args.limit} leaves none" if args.limit is not None
                            else "no task selected: the dataset holds none")
    return tasks


def require_playable(tasks: TaskSet, source, *, db_root=None) -> None:
    """Raise a one-line :class:`DatasetError` naming the missing option when no task of ``tasks`` can be played.

    A dataset of which only some questions can be played is fine: the others are listed as problems.
    """
    if tasks.playable():
        return
    if not len(tasks):
        found = len(tasks.problems)
        raise DatasetError(f"{source}: no question loaded" + (f" ({found} reported as problems: "
                           f"{tasks.problems[0].reason})" if found else " (the file holds none)"))
    reason, count = Counter(t.problem or "its database is not available" for t in tasks).most_common(1)[0]
    name = getattr(tasks, "format", None) or detect_format(source)
    hint = DATABASE_OPTIONS.get(name, "--db-root and --tables")
    if db_root is None:
        raise DatasetError(f"{source}: none of its {len(tasks)} question(s) can be played: no database found "
                           f"beside it; give {hint}")
    raise DatasetError(f"{source}: none of its {len(tasks)} question(s) can be played with --db-root {db_root} "
                       f"({count} × {reason})")
