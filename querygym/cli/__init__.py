"""The ``querygym`` command: one module per sub-command, each with ``register(subparsers)``.

querygym run      play an agent (the built-in reference scripts by default) and write trajectories
querygym play     type actions by hand at a prompt
querygym tasks    list a dataset's tasks (``--check`` computes every target)
querygym actions  print the action catalog
querygym convert  write any supported dataset in BIRD format
querygym load-db  copy SQLite databases into PostgreSQL or DuckDB
querygym bench    decomposition coverage and cross-engine agreement of a dataset
querygym serve    the web app: explore tasks step by step, analyse one SQL query, watch agents
querygym analyze  where a text-to-SQL system's predictions go wrong, step by step
querygym serve-env  serve the environment to OpenEnv clients (extra ``openenv``)
querygym synth-db synthesise databases (and neighbour databases) for a dataset's schemas
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from querygym import __version__
from querygym.cli import actions, analyze, bench, convert, load_db, play, run, serve, serve_env, synth_db, tasks
from querygym.cli.common import plain
from querygym.errors import QueryGymError

#: the sub-commands, in the order ``querygym --help`` lists them
COMMANDS = (run, play, tasks, actions, convert, load_db, bench, analyze, synth_db, serve, serve_env)


def build_parser() -> argparse.ArgumentParser:
    """The ``querygym`` argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="querygym", description=plain(__doc__.split("\n\n")[0]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"querygym {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for an error of the user's, with one line)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except QueryGymError as exc:
        print(f"querygym: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
